"""Several `fidelis serve` processes and two `fidelis jobs run` loops at once.

A fixed script of requests per customer — points changes (some sent twice, to two different
servers, with the same ChangeKey), points that expire a few seconds later, lock → commit
flows and checkout redeems — is spread over two server processes while two job runners loop
beside them. The end state must be the one the script gives when run one request at a time:
the same balances, exactly one expiry per expiring lot, and a clean ledger.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    Server,
    TenantHandle,
    add_points,
    check_ledger,
    forget_failures_of_this_machine,
    points_of,
    upsert,
)
from tests.faults import ServeProcess

pytestmark = pytest.mark.slow

ADDERS = [f"adder-{n}@example.com" for n in range(4)]
SPENDERS = [f"spender-{n}@example.com" for n in range(4)]
EXPIRERS = [f"expirer-{n}@example.com" for n in range(4)]
EXPIRY_SECONDS = 10


def job_loop(database_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FIDELIS_DATABASE_URL": database_url}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "fidelis", "jobs", "run", "--interval", "0.2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def script(server: Server) -> list[tuple[str, str, dict[str, Any], dict[str, str]]]:
    """(customer, path, body, headers) of every request; adders' requests appear twice."""
    requests: list[tuple[str, str, dict[str, Any], dict[str, str]]] = []
    # Far enough ahead that even a slow machine sends every expiring add before it (an
    # ExpirationDate in the past is refused), near enough to keep the test short.
    soon = (server.clock() + timedelta(seconds=EXPIRY_SECONDS)).isoformat()
    for n, customer in enumerate(ADDERS):
        for i in range(10):
            body = {
                "Points": 10 * n + i + 1,
                "OperationType": 0,
                "Reason": "mp",
                "ChangeKey": f"{customer}-{i}",
            }
            path = f"/v1/pvt/Customer/{customer}/points"
            requests += [(customer, path, body, {}), (customer, path, body, {})]
    for customer in EXPIRERS:
        path = f"/v1/pvt/Customer/{customer}/points"
        for _ in range(3):
            expiring = {"Points": 100, "OperationType": 0, "Reason": "mp", "ExpirationDate": soon}
            requests.append((customer, path, expiring, {}))
            requests.append((customer, path, {"Points": 7, "OperationType": 0, "Reason": "mp"}, {}))
    for customer in SPENDERS:
        for i in range(4):
            requests.append(
                (customer, "lock+commit", {"customer_id": customer, "total": "1.00"}, {})
            )
            requests.append(
                (
                    customer,
                    "/v1/pvt/Checkout/redeem",
                    {"CustomerId": customer, "CheckoutId": f"cart-{i}", "CashbackValue": "0.50"},
                    {},
                )
            )
    return requests


def send(client: httpx.Client, slug: str, request: tuple[Any, ...]) -> int:
    _, path, body, headers = request
    if path != "lock+commit":
        return client.post(path, json=body, headers=headers).status_code
    brand = {"brand": slug}
    locked = client.post("/v1/rewards/lock", json=body, headers=brand)
    assert locked.status_code == 200, locked.text
    token = locked.json()["lock_token"]
    committed = client.post(
        "/v1/rewards/commit", json={"lock_token": token, "value": "0.60"}, headers=brand
    )
    return committed.status_code


def test_servers_and_job_runners_side_by_side_end_as_if_one_at_a_time(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    for customer in ADDERS + EXPIRERS:
        upsert(tenant, customer)
    for customer in SPENDERS:
        upsert(tenant, customer)
        assert add_points(tenant, customer, 10_000).status_code == 200
    forget_failures_of_this_machine(server)  # others' deliberate failed logins
    servers = [ServeProcess(server.database_url), ServeProcess(server.database_url)]
    jobs: list[subprocess.Popen[bytes]] = []
    try:
        for serve in servers:
            serve.start(tmp_path)
        jobs = [job_loop(server.database_url, tmp_path / f"jobs-{n}.log") for n in range(2)]
        started = time.monotonic()
        requests = script(server)
        clients = [httpx.Client(base_url=s.base_url, auth=tenant.auth, timeout=60) for s in servers]
        try:
            with ThreadPoolExecutor(max_workers=16) as pool:
                statuses = list(
                    pool.map(
                        lambda item: send(clients[item[0] % 2], tenant.slug, item[1]),
                        enumerate(requests),
                    )
                )
        finally:
            for client in clients:
                client.close()
        # Every adder request was sent twice with one key: one 200, one 409 for each key.
        assert statuses.count(409) == len(ADDERS) * 10
        assert set(statuses) <= {200, 409}
        # Let the expiring lots run out and the job runners write it down.
        time.sleep(max(0.0, started + EXPIRY_SECONDS + 1 - time.monotonic()))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
            expirations(tenant, c) == [-100] * 3 for c in EXPIRERS
        ):
            time.sleep(0.3)
    finally:
        for job in jobs:
            job.terminate()
            job.wait(timeout=30)
        for serve in servers:
            serve.stop()

    for n, customer in enumerate(ADDERS):
        expected = sum(10 * n + i + 1 for i in range(10))
        assert points_of(tenant, customer)["PointsBalance"] == expected
    for customer in EXPIRERS:
        points = points_of(tenant, customer)
        assert (points["PointsBalance"], points["PendingPoints"]) == (21, 0)
        assert expirations(tenant, customer) == [-100] * 3
    for customer in SPENDERS:
        points = points_of(tenant, customer)
        # 4 commits of 60 points; one checkout (the last applied) still holds 50.
        assert (points["PointsBalance"], points["HeldPoints"]) == (10_000 - 240 - 50, 50)
    assert check_ledger(server.database_url, [tenant.id]) == []


def expirations(tenant: TenantHandle, customer: str) -> list[int]:
    history = points_of(tenant, customer)["PointHistory"]
    return [item["Points"] for item in history if item["PointType"] == 4]
