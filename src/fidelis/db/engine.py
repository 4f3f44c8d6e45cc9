"""The database handle: one engine per process and the two ways to open a transaction.

`Database.write()` is the only way to change data. On PostgreSQL it is an ordinary
transaction; per-customer serialization comes from the row lock the services take. On SQLite
it is `BEGIN IMMEDIATE`, which takes the database's single write lock up front (so a
transaction never fails half-way on a lock upgrade), and inside one process writers also queue
on an `asyncio.Lock`, so they wait in line instead of spinning on SQLite's busy handler.
Other processes on the same file are serialized by SQLite itself, within `busy_timeout`.

`Database.read()` is a plain transaction for consistent reads.

Both raise `ServiceUnavailable` (503, retry) when the database cannot be reached or is
saturated — connection refused or lost, pool or lock wait over the timeout, server shutting
down or starting up — whether that happens when the transaction opens or half-way through it
(the transaction is then rolled back, so nothing is half-written).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from fidelis.db import sqlite_inline
from fidelis.db.batches import Batches, Call
from fidelis.errors import FidelisError, ServiceUnavailable

# The connection type services take; entry points name it without depending on SQLAlchemy.
Connection = AsyncConnection


def async_url(url: str) -> URL:
    """Map the user-facing URL (`sqlite:///`, `postgresql://`) to its async driver."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed.set(drivername="sqlite+aiosqlite")
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        return parsed.set(drivername="postgresql+asyncpg")
    return parsed


DEADLOCK = "40P01"


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 20,
        hot_connections: int = 3,
        batches_in_flight: int = 1,
        timeout: float = 5.0,
    ) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._write_lock = asyncio.Lock()
        self._queues = KeyedLocks()
        # SQLite: the pooled connection `at_once` writes through, kept (`_sqlite_at_once`).
        self._writer: tuple[AsyncConnection, sqlite_inline.Connection] | None = None
        # SQLite: its transaction's batch of hot-path writes, until committed (`_sqlite_at_once`).
        self._batch: _Batch | None = None
        self.engine: AsyncEngine
        # Where long reads run (`snapshot`): on SQLite, aiosqlite's own thread per connection,
        # so a report or the ledger check does not hold up the event loop.
        self._long_reads: AsyncEngine
        if self.is_sqlite:
            self.engine = create_async_engine(
                self.url,
                module=sqlite_inline.dbapi(),
                connect_args={"timeout": timeout},
                pool_size=5,
                max_overflow=5,
            )
            self._long_reads = create_async_engine(
                self.url, connect_args={"timeout": timeout}, pool_size=2, max_overflow=3
            )
            for engine in (self.engine, self._long_reads):
                _configure_sqlite(engine, busy_timeout_ms=int(timeout * 1000))
        else:
            self.engine = create_async_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=0,
                pool_timeout=timeout,
                # No pre-ping: it costs two round trips per transaction. A connection that died
                # (database restarted) fails its request with a 503 instead, and SQLAlchemy then
                # drops every pooled connection older than the failure, so the next ones work.
                pool_pre_ping=False,
                json_deserializer=orjson.loads,
                connect_args={
                    "timeout": timeout,
                    "command_timeout": max(timeout * 6, 30),
                    "server_settings": {"lock_timeout": f"{int(timeout * 1000 * 3)}"},
                },
            )
            self._long_reads = self.engine
        self._kept = KeptConnections(
            self.engine, size=min(hot_connections, pool_size // 2), timeout=timeout
        )
        # PostgreSQL: the hot paths' batches, by function (`batched`).
        self._batches: dict[str, Batches] = {}
        self._batches_in_flight = batches_in_flight
        self._timeout = timeout

    @asynccontextmanager
    async def write(self, queue: str | None = None) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction: committed when the block ends, rolled back on any error.

        `queue` names what the transaction will lock (a customer): writers of the same name
        wait in line in this process *before* taking a pooled connection, so a burst on one
        customer holds one connection, not the whole pool, while the row lock serializes them
        anyway. (Across processes the row lock alone still decides.)
        """
        if self.is_sqlite:
            async with _guard(), self._write_lock:
                if self._batch is not None:
                    await _run_to_completion(self._commit_batch())
                async with self._transaction(begin="IMMEDIATE") as conn:
                    yield conn
        else:
            async with _guard(), self._queues.hold(queue), self._transaction() as conn:
                yield conn

    @asynccontextmanager
    async def at_once(self, queue: str | None = None, *, write: bool = True) -> AsyncIterator[Any]:
        """The driver's own connection, for the hot paths (`ledger.hotpath`), which do their
        whole work without SQLAlchemy's per-statement cost. `queue` as for `write()`.

        PostgreSQL: asyncpg's connection in autocommit; the hot path's one statement (a
        function of migrations 0012-0014) is its own transaction: one round trip, no BEGIN or
        COMMIT. The connection is one of those this process keeps for the hot paths
        (`KeptConnections`, which also handles lost connections).

        SQLite: the `sqlite3` connection inside a transaction. With `write`, `BEGIN IMMEDIATE`
        in this process's line of writers, as `write()` does, and the writers queued meanwhile
        join that transaction (group commit): the block runs in a savepoint of its own, rolled
        back alone on any error, and the block's end waits for the batch's one COMMIT, raising
        if it failed. The block must not wait for anything (the others queue behind it).
        Otherwise a read snapshot, as `read()` gives.
        """
        if self.is_sqlite:
            async with _guard(), self._sqlite_at_once(write) as connection:
                yield connection
            return
        async with _guard(), self._queues.hold(queue), self._kept.lend() as driver:
            yield driver

    async def batched(self, call: Call, args: tuple[Any, ...]) -> Any:
        """PostgreSQL: the row `call.one` gives for `args` (None when it gives none), run alone
        or with other requests' in one call of its batch form, on the hot paths' connections
        (`db.batches` says how, and what it keeps of each request's own transaction)."""
        assert not self.is_sqlite, "PostgreSQL only"
        batches = self._batches.get(call.function)
        if batches is None:
            batches = self._batches[call.function] = Batches(
                self._kept,
                call,
                lanes=self._batches_in_flight,
                timeout=self._timeout,
                alone_may_help=_alone_may_help,
            )
        async with _guard():
            return await batches.run(args)

    @asynccontextmanager
    async def _sqlite_at_once(self, write: bool) -> AsyncIterator[sqlite3.Connection]:
        if not write:
            async with self._connect() as conn:
                driver = await self._sqlite_driver(conn)
                driver.sqlite.execute("BEGIN DEFERRED")
                try:
                    yield driver.sqlite
                finally:
                    driver.sqlite.rollback()
            return
        batch: _Batch | None = None
        try:
            async with self._write_lock:
                # Writers take turns on this lock, so one connection serves them all: no pool
                # checkout per write (about a tenth of a hot-path add's time in this process).
                if self._writer is None:
                    conn = await self.engine.connect()
                    self._writer = (conn, await self._sqlite_driver(conn))
                driver = self._writer[1]
                connection = driver.sqlite
                batch = self._batch
                if batch is None:
                    await sqlite_inline.begin_immediate(connection, driver.busy_timeout_ms)
                    batch = self._batch = _Batch(connection.total_changes)
                connection.execute("SAVEPOINT at_once")
                try:
                    yield connection
                except BaseException:
                    _undo_part(connection)
                    raise
                connection.execute("RELEASE at_once")
        finally:
            # Also when this writer's part failed: the batch may hold others' parts.
            if batch is not None:
                await _run_to_completion(self._end_batch(batch))

    async def _end_batch(self, batch: _Batch) -> None:
        """Wait for `batch` to be committed, committing it if no writer has yet; raise its
        failure if the COMMIT failed (then none of its parts was written)."""
        if not batch.ended:
            async with self._write_lock:
                if not batch.ended:
                    await self._commit_batch()
        if batch.error is not None:
            raise batch.error

    async def _commit_batch(self) -> None:
        """End the open batch of hot-path writes (`_sqlite_at_once`), if any: one COMMIT, one
        wait for the disk, for every part in it. Called holding `_write_lock`. A failure is
        the batch's writers' to raise (`_end_batch`), not the caller's: a general-path writer
        ending the batch goes on with its own transaction."""
        batch = self._batch
        if batch is None:
            return
        assert self._writer is not None
        connection = self._writer[1].sqlite
        self._batch = None
        try:
            if not connection.in_transaction:
                # SQLite rolled the whole transaction back on an error of one part.
                raise sqlite3.OperationalError("the write batch was rolled back")
            if connection.total_changes == batch.changes:
                # Nothing written (every part declined): ending it needs no trip to the
                # disk's thread.
                connection.rollback()
            else:
                await asyncio.to_thread(connection.commit)
        except Exception as exc:
            # Also after a failed COMMIT, which may leave the transaction open: the next
            # writer's BEGIN would fail on this connection.
            if connection.in_transaction:
                connection.rollback()
            batch.error = exc
        finally:
            batch.ended = True

    @staticmethod
    async def _sqlite_driver(conn: AsyncConnection) -> sqlite_inline.Connection:
        driver = (await conn.get_raw_connection()).driver_connection
        assert isinstance(driver, sqlite_inline.Connection)
        return driver

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; nothing may be written through it.

        On SQLite it is a transaction (one snapshot for every statement, rolled back at the
        end). On PostgreSQL it runs in autocommit: at READ COMMITTED a transaction gives each
        statement its own snapshot anyway, so BEGIN and ROLLBACK would only add two round
        trips to every read.
        """
        async with _guard(), self._connect() as conn:
            if not self.is_sqlite:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn
                return
            await conn.execution_options(sqlite_begin="DEFERRED")
            async with conn.begin() as tx:
                yield conn
                await tx.rollback()

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction that sees one snapshot for all its statements (REPEATABLE
        READ on PostgreSQL), for readers that compare many rows while others write: the
        ledger check, reports."""
        async with _guard(), self._long_reads.connect() as conn:
            if self.is_sqlite:
                await conn.execution_options(sqlite_begin="DEFERRED")
            else:
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin() as tx:
                yield conn
                await tx.rollback()

    @asynccontextmanager
    async def _transaction(self, begin: str = "DEFERRED") -> AsyncIterator[AsyncConnection]:
        async with self._connect() as conn:
            await conn.execution_options(sqlite_begin=begin)
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection, given back when the block ends.

        SQLAlchemy's own `async with engine.connect()` gives the connection back from a task of
        its own, so that a cancellation cannot abandon that half-way; the connection stays
        checked out for a few more turns of the event loop meanwhile. On PostgreSQL that is
        kept (giving back may take a round trip). On SQLite giving back runs no statement that
        can wait (`sqlite_inline`: the reset's ROLLBACK runs in place), so it is done right
        here: under load the detour held several connections at once out of the pool, which
        then opened and closed a connection for most requests (and SQLite reads the whole
        schema again on each new connection).
        """
        if not self.is_sqlite:
            async with self.engine.connect() as conn:
                yield conn
            return
        conn = await self.engine.connect()
        try:
            yield conn
        finally:
            await conn.close()

    async def dispose(self) -> None:
        for batches in self._batches.values():
            await batches.wait_idle()
        await self._kept.close()
        async with self._write_lock:
            await _run_to_completion(self._commit_batch())
        if self._writer is not None:
            await self._writer[0].close()
            self._writer = None
        await self.engine.dispose()
        if self._long_reads is not self.engine:
            await self._long_reads.dispose()


@dataclass
class _Batch:
    """Hot-path writes on SQLite that share one transaction, each in a savepoint of its own,
    and its one COMMIT (`Database._sqlite_at_once`)."""

    changes: int  # the connection's `total_changes` when the transaction began
    ended: bool = False
    error: BaseException | None = None  # why the COMMIT failed


def _undo_part(connection: sqlite3.Connection) -> None:
    """Roll back one hot-path write's savepoint, keeping the batch's other parts; when SQLite
    already rolled back the whole transaction (some errors do), the batch's COMMIT fails."""
    if connection.in_transaction:
        try:
            connection.execute("ROLLBACK TO at_once")
            connection.execute("RELEASE at_once")
        except sqlite3.OperationalError:
            connection.rollback()


async def _run_to_completion(work: Awaitable[None]) -> None:
    """Await `work` even if the caller is cancelled meanwhile (then raise the cancellation
    once it is done): a batch's COMMIT, which other requests wait for, is never abandoned."""
    task = asyncio.ensure_future(work)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        if not task.cancelled():
            task.exception()  # seen: the cancellation is what the caller gets
        raise cancelled
    task.result()


# SQLSTATEs of an unreachable or overloaded server: connection exceptions (class 08), shutting
# down or starting up (57P01-57P03), a lock not granted within `lock_timeout` (55P03), and a
# deadlock's victim (40P01: its transaction undone whole; tried again, it finds the other gone).
UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "55P03", DEADLOCK)


def _alone_may_help(exc: BaseException) -> bool:
    """Whether the items of a batch PostgreSQL refused with `exc` are worth sending alone
    (`db.batches`): yes but for errors that say it cannot serve now, save a deadlock (the
    other transaction wins, and each item alone then goes through)."""
    return getattr(exc, "sqlstate", None) == DEADLOCK or not is_unavailable(exc)


def is_unavailable(exc: BaseException) -> bool:
    """True for errors that mean "the database cannot serve this now", not "this is wrong"."""
    if isinstance(exc, OSError | TimeoutError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        causes = [exc.orig, getattr(exc.orig, "__cause__", None)]
    elif type(exc).__module__.startswith("asyncpg"):
        causes = [exc]  # raised by the driver itself (`Database.at_once`)
    else:
        return False
    for cause in causes:
        if isinstance(cause, OSError | TimeoutError):
            return True
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(state, str) and state.startswith(UNAVAILABLE_STATES):
            return True
        name = type(cause).__name__
        if name in ("ConnectionDoesNotExistError", "InterfaceError", "CannotConnectNowError"):
            return True
    # SQLite: another process held the write lock for longer than busy_timeout (raised by
    # SQLAlchemy, or by the driver itself on `Database.at_once`).
    return isinstance(exc, sa_exc.OperationalError | sqlite3.OperationalError) and (
        "database is locked" in str(exc)
    )


@asynccontextmanager
async def _guard() -> AsyncIterator[None]:
    try:
        yield
    except FidelisError:
        raise
    except Exception as exc:
        if is_unavailable(exc):
            raise ServiceUnavailable() from exc
        raise


LOWER_SQLITE = "unicode_lower"


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    """WAL, foreign keys, and our own BEGIN (pysqlite's implicit one cannot be IMMEDIATE)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()
        # SQLite's own lower() changes ASCII letters only ("É" stays "É"): searches that
        # ignore case call this one, Python's (`LOWER_SQLITE`).
        dbapi_connection.create_function(LOWER_SQLITE, 1, _lower, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


class KeptConnections:
    """Connections of the pool that `Database.at_once` keeps checked out on PostgreSQL, so a
    hot-path request costs no pool checkout and return (SQLAlchemy's connection objects, its
    checkout and reset: about a twentieth of a points read's time in this process). At most
    `size` are kept (the `db_hot_connections` setting, never more than half the pool), so the
    general path always has the rest; with a pool of one connection, nothing is kept and each
    use checks one out. Requests beyond `size` wait here in line, in arrival order.

    SQLAlchemy never sees the driver's errors on these connections, so this does what it does
    on a lost connection: drop the pool's connections, kept ones included (after a server
    restart the others are as dead; those lent out at the time are closed when given back). A
    connection found closed before use (the server ended it while it sat here) is replaced at
    once; one lost during its use fails that request (503). One whose request was cancelled
    mid-statement is closed: its state is unknown.
    """

    def __init__(self, engine: AsyncEngine, *, size: int, timeout: float) -> None:
        self._engine = engine
        self._size = size
        self._timeout = timeout
        self._free: list[_Kept] = []
        self._turns = asyncio.Semaphore(max(size, 1))
        self._generation = 0  # raised when the pool's connections are dropped

    @asynccontextmanager
    async def lend(self) -> AsyncIterator[Any]:
        """The driver's connection of a kept connection, for the block's duration."""
        if self._turns.locked():
            # A deadline on the wait itself: `wait_for` would wrap it in a task of its own.
            async with asyncio.timeout(self._timeout):
                await self._turns.acquire()
        else:
            await self._turns.acquire()
        try:
            for _ in range(2):
                kept = self._free.pop() if self._free else await self._checkout()
                if kept.driver.is_closed():
                    await self._drop(kept)
                    continue
                try:
                    yield kept.driver
                except Exception:
                    await (self._drop(kept) if kept.driver.is_closed() else self._give_back(kept))
                    raise
                except BaseException:
                    await self._discard(kept)
                    raise
                await self._give_back(kept)
                return
            raise ServiceUnavailable()
        finally:
            self._turns.release()

    async def close(self) -> None:
        free, self._free = self._free, []
        for kept in free:
            await kept.conn.close()

    async def _checkout(self) -> _Kept:
        conn = await self._engine.connect()
        driver = (await conn.get_raw_connection()).driver_connection
        return _Kept(conn, driver, self._generation)

    async def _give_back(self, kept: _Kept) -> None:
        if kept.generation != self._generation:
            await self._discard(kept)
        elif self._size:
            self._free.append(kept)
        else:
            await kept.conn.close()

    async def _drop(self, lost: _Kept) -> None:
        self._generation += 1
        dropped, self._free = [lost, *self._free], []
        for kept in dropped:
            await self._discard(kept)
        await self._engine.dispose()

    @staticmethod
    async def _discard(kept: _Kept) -> None:
        await kept.conn.invalidate()
        await kept.conn.close()


@dataclass(slots=True)
class _Kept:
    conn: AsyncConnection
    driver: Any  # asyncpg's connection
    generation: int


class KeyedLocks:
    """One asyncio lock per name, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, name: str | None) -> AsyncIterator[None]:
        """Wait for and hold the lock of `name` (None: no lock, nothing to wait for)."""
        if name is None:
            yield
            return
        lock, users = self._locks.get(name, (asyncio.Lock(), 0))
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[name]
            if users == 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)
