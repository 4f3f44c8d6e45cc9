"""On SQLite the hot-path writes that arrive together share one transaction and one COMMIT
(`Database._sqlite_at_once`), each in a savepoint of its own: a part that fails is undone
alone, a COMMIT that fails fails every part of its batch, and nothing (a general-path writer, a
cancelled request) can leave a batch open.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from fidelis.db.engine import Database

pytestmark = pytest.mark.skipif(
    "os.environ.get('FIDELIS_TEST_DATABASE_URL', '').startswith('postgres')",
    reason="SQLite's batches of one writer (PostgreSQL's: test_batches.py)",
)


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "batches.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.executescript(
        """
        PRAGMA journal_mode = WAL;
        CREATE TABLE parent (id INTEGER PRIMARY KEY);
        CREATE TABLE part (
            n INTEGER PRIMARY KEY,
            parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED
        );
        INSERT INTO parent (id) VALUES (1);
        """
    )
    setup.close()
    return path


def _parts(path: Path) -> list[int]:
    other = sqlite3.connect(path)
    try:
        return [n for (n,) in other.execute("SELECT n FROM part ORDER BY n")]
    finally:
        other.close()


def _write_lock_is_free(path: Path) -> bool:
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


async def _write(
    db: Database, n: int, *, parent: int = 1, fail: bool = False, done: set[int] | None = None
) -> int:
    async with db.at_once() as connection:
        connection.execute("INSERT INTO part (n, parent_id) VALUES (?, ?)", (n, parent))
        if done is not None:
            done.add(n)
        if fail:
            raise ValueError(f"part {n} refused")
    return n


def test_a_failing_part_is_undone_alone(db_file: Path) -> None:
    async def work() -> list[int | BaseException]:
        db = Database(f"sqlite:///{db_file}")
        try:
            return await asyncio.gather(
                *(_write(db, n, fail=n == 4) for n in range(1, 9)), return_exceptions=True
            )
        finally:
            await db.dispose()

    answers = asyncio.run(work())
    assert isinstance(answers[3], ValueError)
    assert [a for a in answers if not isinstance(a, BaseException)] == [1, 2, 3, 5, 6, 7, 8]
    assert _parts(db_file) == [1, 2, 3, 5, 6, 7, 8]
    assert _write_lock_is_free(db_file)


def test_a_failing_commit_fails_every_part_of_its_batch(db_file: Path) -> None:
    # Part 3 names a parent that does not exist: the deferred foreign key fails the COMMIT of
    # the transaction the parts share, so no caller may be told its part was written.
    async def work() -> list[int | BaseException]:
        db = Database(f"sqlite:///{db_file}")
        try:
            return await asyncio.gather(
                *(_write(db, n, parent=99 if n == 3 else 1) for n in range(1, 6)),
                return_exceptions=True,
            )
        finally:
            await db.dispose()

    answers = asyncio.run(work())
    assert all(isinstance(a, sqlite3.IntegrityError) for a in answers), answers
    assert _parts(db_file) == []
    assert _write_lock_is_free(db_file)


def test_writes_after_a_failed_batch_go_through(db_file: Path) -> None:
    async def work() -> tuple[list[int | BaseException], int]:
        db = Database(f"sqlite:///{db_file}")
        try:
            failed = await asyncio.gather(_write(db, 1, parent=99), return_exceptions=True)
            return failed, await _write(db, 2)
        finally:
            await db.dispose()

    failed, written = asyncio.run(work())
    assert isinstance(failed[0], sqlite3.IntegrityError)
    assert written == 2
    assert _parts(db_file) == [2]


def test_a_general_path_writer_ends_the_open_batch_first(db_file: Path) -> None:
    async def general(db: Database) -> None:
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO part (n, parent_id) VALUES (100, 1)"))

    async def work() -> None:
        db = Database(f"sqlite:///{db_file}", timeout=2)
        try:
            # The general writer queues for the write lock between hot-path parts: it must
            # not wait on SQLite's lock held by the batch those parts left open.
            tasks = [_write(db, n) for n in range(1, 4)] + [general(db)]
            tasks += [_write(db, n) for n in range(4, 7)]
            await asyncio.wait_for(asyncio.gather(*tasks), 10)
        finally:
            await db.dispose()

    asyncio.run(work())
    assert _parts(db_file) == [1, 2, 3, 4, 5, 6, 100]


def test_cancelled_writers_never_leave_their_batch_open(db_file: Path) -> None:
    async def work() -> list[int | BaseException]:
        db = Database(f"sqlite:///{db_file}")
        try:
            done: set[int] = set()
            tasks = [asyncio.create_task(_write(db, n, done=done)) for n in range(1, 6)]
            # Let every part run (each in its turn on the write lock), then cancel the callers
            # while they wait for the batch's COMMIT, as a disconnecting client would.
            while len(done) < 5:
                await asyncio.sleep(0)
            for task in tasks:
                task.cancel()
            answers = await asyncio.gather(*tasks, return_exceptions=True)
            assert _write_lock_is_free(db_file)
            return answers
        finally:
            await db.dispose()

    answers = asyncio.run(work())
    assert all(isinstance(a, asyncio.CancelledError) for a in answers), answers
    # The parts were done and their COMMIT carried through: as after a reply lost on the way.
    assert _parts(db_file) == [1, 2, 3, 4, 5]
