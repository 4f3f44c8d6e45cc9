"""The connections the hot paths keep on PostgreSQL (`db.engine.KeptConnections`): they never
take the whole pool from the general path, a request that waits for one longer than the
timeout is refused (503) without costing the others their turn, and one the server ended while
it was kept is replaced at once, without failing a request.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from fidelis.db.engine import Database
from fidelis.errors import ServiceUnavailable

pytestmark = pytest.mark.skipif(
    "not os.environ.get('FIDELIS_TEST_DATABASE_URL', '').startswith('postgres')",
    reason="PostgreSQL's hot-path connections (SQLite's hot path writes through one connection)",
)


async def _backend_pid(db: Database) -> int:
    async with db.at_once() as driver:
        pid: int = await driver.fetchval("SELECT pg_backend_pid()")
    return pid


async def _hold_kept(db: Database, held: asyncio.Event, release: asyncio.Event) -> None:
    """A hot-path request that keeps its connection until `release` is set."""
    async with db.at_once() as driver:
        await driver.fetchval("SELECT 1")
        held.set()
        await release.wait()


def test_hot_paths_leave_half_the_pool_to_the_general_path(database_url: str) -> None:
    async def work() -> None:
        db = Database(database_url, pool_size=4, timeout=2)
        try:
            held = asyncio.Event()
            release = asyncio.Event()
            # Two hot-path requests hold both kept connections; a third waits its turn.
            first = asyncio.create_task(_hold_kept(db, held, release))
            second = asyncio.create_task(_hold_kept(db, held, release))
            await held.wait()
            await asyncio.sleep(0)
            third = asyncio.create_task(_hold_kept(db, held, release))
            await asyncio.sleep(0.1)
            assert not third.done()
            # Meanwhile the general path has its two connections, both at once.
            async with db.read() as one, db.read() as two:
                assert (await one.execute(text("SELECT 1"))).scalar_one() == 1
                assert (await two.execute(text("SELECT 2"))).scalar_one() == 2
            release.set()
            await asyncio.wait_for(asyncio.gather(first, second, third), 10)
        finally:
            await db.dispose()

    asyncio.run(work())


def test_a_request_waiting_past_the_timeout_for_a_kept_connection_is_refused(
    database_url: str,
) -> None:
    async def work() -> None:
        db = Database(database_url, pool_size=2, timeout=0.3)  # one kept connection
        try:
            held = asyncio.Event()
            release = asyncio.Event()
            holder = asyncio.create_task(_hold_kept(db, held, release))
            await held.wait()

            async def wait_in_line() -> None:
                async with db.at_once():
                    pytest.fail("lent a connection that another request holds")

            # Refused at the database's timeout (0.3 s), long before the test's own 5 s.
            with pytest.raises(ServiceUnavailable):
                await asyncio.wait_for(wait_in_line(), 5)
            release.set()
            await holder
            # The line is whole again: the turn the refused request waited for was not lost.
            assert await _backend_pid(db) > 0
            assert await _backend_pid(db) > 0
        finally:
            await db.dispose()

    asyncio.run(work())


def test_a_pool_of_one_keeps_nothing(database_url: str) -> None:
    async def work() -> None:
        db = Database(database_url, pool_size=1, timeout=2)
        try:
            for _ in range(3):
                assert await _backend_pid(db) > 0
                # Were the one connection kept by the hot path, this would time out.
                async with db.read() as conn:
                    assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
        finally:
            await db.dispose()

    asyncio.run(work())


def test_a_kept_connection_the_server_ended_is_replaced_without_failing(
    database_url: str,
) -> None:
    async def work() -> None:
        db = Database(database_url, pool_size=4, timeout=2)
        try:
            first = await _backend_pid(db)
            assert await _backend_pid(db) == first  # kept: the same connection again
            async with db.read() as conn:
                ended = await conn.execute(text(f"SELECT pg_terminate_backend({first})"))
                assert ended.scalar_one() is True
                # Gone once its server process has exited (then the socket is closed).
                gone = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
                for _ in range(100):
                    if (await conn.execute(gone, {"pid": first})).scalar_one() == 0:
                        break
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)  # the event loop reads the closed socket
            # The next hot-path request gets a new connection, not an error.
            replaced = await _backend_pid(db)
            assert replaced != first
            assert await _backend_pid(db) == replaced
        finally:
            await db.dispose()

    asyncio.run(work())
