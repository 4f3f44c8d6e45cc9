"""Failed-authentication throttling per client address, shared by every server process.

Two real `fidelis serve` processes with a low limit share the database: failures counted by
one block the address on the other. A blocked address gets 429 even with the right
credentials (so a guesser cannot tell a right guess), and is let in again once its failures
leave the one-minute window.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, TenantHandle
from tests.faults import ServeProcess

pytestmark = pytest.mark.slow

LIMIT = 5


def test_failures_on_one_server_block_the_address_on_every_server(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    env = {"FIDELIS_AUTH_FAILURES_PER_MINUTE": str(LIMIT)}
    first = ServeProcess(server.database_url, extra_env=env)
    second = ServeProcess(server.database_url, extra_env=env)
    first.start(tmp_path)
    second.start(tmp_path)
    wrong = (tenant.api_token, "not-the-key")
    path = "/v1/admin/program"
    try:
        with (
            httpx.Client(base_url=first.base_url, timeout=30) as one,
            httpx.Client(base_url=second.base_url, timeout=30) as two,
        ):
            assert one.get(path, auth=tenant.auth).status_code == 200
            statuses = [one.get(path, auth=wrong).status_code for _ in range(LIMIT)]
            assert statuses == [401] * LIMIT
            # The address is now blocked on both servers, for right and wrong credentials.
            for client in (one, two):
                for auth in (wrong, tenant.auth):
                    refused = client.get(path, auth=auth)
                    answer = refused.json()
                    assert (refused.status_code, answer["CodeName"], answer["Code"]) == (
                        429,
                        "RateLimited",
                        "42",
                    )
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


def test_the_window_passes_and_the_address_is_let_in_again(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    serve = ServeProcess(server.database_url, extra_env={"FIDELIS_AUTH_FAILURES_PER_MINUTE": "2"})
    serve.start(tmp_path)
    try:
        with httpx.Client(base_url=serve.base_url, timeout=30) as client:
            for _ in range(2):
                client.get("/v1/admin/program", auth=(tenant.api_token, "nope"))
            assert client.get("/v1/admin/program", auth=tenant.auth).status_code == 429
            # The window is one minute of real time for a real server process.
            deadline = time.monotonic() + 75
            while time.monotonic() < deadline:
                if client.get("/v1/admin/program", auth=tenant.auth).status_code == 200:
                    break
                time.sleep(2)
            else:
                pytest.fail("the address stayed blocked after its failures left the window")
    finally:
        serve.stop()
