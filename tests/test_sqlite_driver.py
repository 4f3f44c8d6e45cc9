"""The SQLite driver of the request paths (`fidelis.db.sqlite_inline`) runs statements on the
event loop's thread, except those that may wait for another connection. While another process
holds SQLite's write lock, a write waits for it off the loop: the server keeps answering
everything else meanwhile, and the write goes through once the lock is free.
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import Server, TenantHandle, add_points, points_of, upsert

pytestmark = pytest.mark.skipif(
    "os.environ.get('FIDELIS_TEST_DATABASE_URL', '').startswith('postgres')",
    reason="SQLite's database-wide write lock; PostgreSQL locks rows (test_concurrency.py)",
)


def test_a_write_waiting_for_the_write_lock_does_not_hold_up_other_requests(
    server: Server, tenant: TenantHandle
) -> None:
    upsert(tenant, "wait-1")
    path = make_url(server.database_url).database
    assert path
    other_process = sqlite3.connect(path, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")  # as `fidelis jobs run` would, mid-batch
    try:
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(add_points, tenant, "wait-1", 10)
            time.sleep(0.5)  # let it reach BEGIN IMMEDIATE (an ordering, not a measure)
            # Answered while the add still waits for the lock.
            assert tenant.http.get("/health").status_code == 200
            assert points_of(tenant, "wait-1")["PointsBalance"] == 0
            assert not waiting.done()
            other_process.execute("ROLLBACK")
            assert waiting.result(timeout=30).status_code == 200
    finally:
        other_process.close()
    assert points_of(tenant, "wait-1")["PointsBalance"] == 10
