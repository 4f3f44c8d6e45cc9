"""The SQLite driver of the request paths: aiosqlite's interface, with statements run on the
event loop's own thread instead of a thread of their own.

aiosqlite hands every call (open a cursor, execute, fetch, close) to the connection's thread
and waits for the answer: about fifty thread hand-offs for one points request, each costing
more than the statement it carries. A statement on a local SQLite file takes microseconds and
never waits for another connection inside a transaction that already holds the write lock
(`BEGIN IMMEDIATE`), so here it runs where it is called. The calls that can wait never block
the event loop: `COMMIT` (it waits for the disk) and `BEGIN EXCLUSIVE` run on a worker thread;
`BEGIN IMMEDIATE` is tried here without waiting, which succeeds unless another process, such
as `fidelis jobs run`, holds the write lock, and only then waits for it, up to `busy_timeout`,
on a worker thread (`begin_immediate`). Long reads (reports, the ledger check) use aiosqlite
itself (`Database.snapshot`).

SQLAlchemy's aiosqlite dialect drives it unchanged (`create_async_engine(..., module=DBAPI)`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import Callable, Generator, Iterable, Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

# What SQLAlchemy's adapter reads off the driver module: sqlite3's own errors and version.
DatabaseError = sqlite3.DatabaseError
Error = sqlite3.Error
IntegrityError = sqlite3.IntegrityError
NotSupportedError = sqlite3.NotSupportedError
OperationalError = sqlite3.OperationalError
ProgrammingError = sqlite3.ProgrammingError
sqlite_version = sqlite3.sqlite_version
sqlite_version_info = sqlite3.sqlite_version_info

# Statements that may wait for another connection: they run on a worker thread.
_MAY_WAIT = ("BEGIN EXCLUSIVE", "COMMIT")
_BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"


async def begin_immediate(connection: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """`BEGIN IMMEDIATE` on `connection`: at once when SQLite's write lock is free, otherwise
    waiting for it on a worker thread, up to `busy_timeout_ms`."""
    connection.execute("PRAGMA busy_timeout = 0")
    try:
        connection.execute(_BEGIN_IMMEDIATE)
        return
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
            raise
    finally:
        connection.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    await asyncio.to_thread(connection.execute, _BEGIN_IMMEDIATE)


class Cursor:
    def __init__(self, cursor: sqlite3.Cursor, busy_timeout_ms: int) -> None:
        self._cursor = cursor
        self._busy_timeout_ms = busy_timeout_ms

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        # The statement's first words only: upper-casing a whole INSERT per call is waste.
        start = sql.lstrip()[:16].upper()
        if start.startswith(_BEGIN_IMMEDIATE):
            await begin_immediate(self._cursor.connection, self._busy_timeout_ms)
        elif start.startswith(_MAY_WAIT):
            await asyncio.to_thread(self._cursor.execute, sql, parameters)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> Sequence[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _RunAtOnce:
    """aiosqlite's queue of calls for its thread, as SQLAlchemy's isolation-level setter uses
    it: here each call runs as it is queued."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)


class Connection:
    def __init__(self, connection: sqlite3.Connection, busy_timeout_ms: int) -> None:
        self._conn = connection
        self.busy_timeout_ms = busy_timeout_ms
        self._connection: sqlite3.Connection | None = connection
        self._tx = _RunAtOnce()

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The `sqlite3` connection itself (`Database.at_once`)."""
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        self._conn.isolation_level = value

    def cursor(self) -> Cursor:
        return Cursor(self._conn.cursor(), self.busy_timeout_ms)

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        await asyncio.to_thread(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        self._connection = None
        self._conn.close()


class _Opening:
    """What `connect` returns: awaited for the connection. SQLAlchemy marks aiosqlite's thread
    as a daemon on it; there is no thread here."""

    def __init__(self, database: str, kwargs: dict[str, Any]) -> None:
        self._thread = SimpleNamespace(daemon=True)
        self._database = database
        self._kwargs = kwargs

    def __await__(self) -> Generator[Any, None, Connection]:
        return self._open().__await__()

    async def _open(self) -> Connection:
        # Used from the loop's thread and, for BEGIN IMMEDIATE and COMMIT, a worker thread:
        # never from two at once (a connection belongs to one transaction at a time).
        options = {**self._kwargs, "check_same_thread": False}
        busy_timeout_ms = int(options.get("timeout", 5.0) * 1000)
        return Connection(sqlite3.connect(self._database, **options), busy_timeout_ms)


def connect(database: str, **kwargs: Any) -> _Opening:
    return _Opening(database, kwargs)


def dbapi() -> Any:
    """This module as SQLAlchemy's aiosqlite dialect takes a driver (`module=`)."""
    return AsyncAdapt_aiosqlite_dbapi(sys.modules[__name__], sqlite3)
