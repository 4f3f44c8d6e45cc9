"""Failed-authentication throttling per client address, shared by every server process.

Two real `fidelis serve` processes with a low limit share the database: failures counted by
one block the address on the other. A blocked address gets 429 even with the right
credentials (so a guesser cannot tell a right guess), and is let in again once its failures
leave the one-minute window (shown on the database with moved time).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from fidelis.db.engine import Database
from fidelis.kit.clock import utc_now
from fidelis.throttle import service as throttle
from tests.conftest import (
    Server,
    TenantHandle,
    forget_failures_of_this_machine,
    points_of,
    run_async,
    upsert,
)
from tests.faults import ServeProcess

pytestmark = pytest.mark.slow

LIMIT = 5


def test_failures_on_one_server_block_the_address_on_every_server(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    forget_failures_of_this_machine(server)
    env = {"FIDELIS_AUTH_FAILURES_PER_MINUTE": str(LIMIT)}
    first = ServeProcess(server.database_url, extra_env=env)
    second = ServeProcess(server.database_url, extra_env=env)
    first.start(tmp_path)
    second.start(tmp_path)
    wrong = (tenant.api_token, "not-the-key")
    path = "/v1/admin/program"
    upsert(tenant, "blocked-1")
    points = "/v1/pvt/Customer/blocked-1/points"
    add = {"Points": 10, "OperationType": 0, "Reason": "test"}
    try:
        with (
            httpx.Client(base_url=first.base_url, timeout=30) as one,
            httpx.Client(base_url=second.base_url, timeout=30) as two,
        ):
            assert one.get(path, auth=tenant.auth).status_code == 200
            # Points by OriginalId take the one-statement paths, which skip the key lookup
            # of a key the server has seen: the block must reach them too.
            for client in (one, two):
                assert client.post(points, json=add, auth=tenant.auth).status_code == 200
                assert client.get(points, auth=tenant.auth).status_code == 200
            statuses = [one.get(path, auth=wrong).status_code for _ in range(LIMIT)]
            assert statuses == [401] * LIMIT
            # The address is now blocked on both servers, for right and wrong credentials.
            for client in (one, two):
                for auth in (wrong, tenant.auth):
                    for refused in (
                        client.get(path, auth=auth),
                        client.post(points, json=add, auth=auth),
                        client.get(points, auth=auth),
                    ):
                        answer = refused.json()
                        assert (refused.status_code, answer["CodeName"], answer["Code"]) == (
                            429,
                            "RateLimited",
                            "42",
                        ), refused.text
                        assert refused.headers["retry-after"] == "60"
            locked = two.post(
                "/v1/rewards/lock",
                json={"customer_id": "x", "total": "1"},
                auth=tenant.auth,
                headers={"brand": tenant.slug},
            )
            assert (locked.status_code, locked.json()["error"]["code"]) == (429, "RATE_LIMITED")
            # Public routes stay open.
            assert one.get("/health").status_code == 200
    finally:
        first.stop()
        second.stop()
    forget_failures_of_this_machine(server)
    # Only the two adds before the block were applied.
    assert points_of(tenant, "blocked-1")["PointsBalance"] == 20


def test_the_window_passes_and_the_address_is_let_in_again(server: Server) -> None:
    """The window, on the real database with moved time (a real server would wait a minute)."""
    limit = throttle.Limit("test", 2, timedelta(minutes=1))
    client = f"10.9.8.{uuid.uuid4().int % 250}"
    start = utc_now()

    async def work(db: Database) -> list[bool]:
        seen = []
        for seconds in (0, 1):
            async with db.write() as conn:
                await throttle.record_failure(
                    conn, limit, client, now=start + timedelta(seconds=seconds)
                )
        for seconds in (2, 59, 61):
            async with db.read() as conn:
                seen.append(
                    await throttle.is_blocked(
                        conn, limit, client, now=start + timedelta(seconds=seconds)
                    )
                )
        async with db.write() as conn:
            await throttle.forget(conn, limit, client)
        async with db.read() as conn:
            seen.append(await throttle.is_blocked(conn, limit, client, now=start))
        return seen

    # Blocked at once, still within the window, free once the first failure leaves it;
    # a success forgets the failures.
    assert run_async(server.database_url, work) == [True, True, False, False]
