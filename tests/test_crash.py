"""Crash: `kill -9` every server process in the middle of a load, restart, and account for
every acknowledged request.

Real `fidelis serve` processes (two, with two workers each, on PostgreSQL; one on SQLite) take
a bounded load of points changes, checkout redeems and lock → commit flows from client threads
that record every request the server acknowledged (200). Mid-load the servers are SIGKILLed
as a group. After a restart:

- every points change ever attempted is sent again with its `ChangeKey`: an acknowledged one
  must answer 409 (it is in the ledger), an unacknowledged one may answer either; afterwards
  each customer's balance must equal the sum of every attempted change exactly, so nothing was
  lost and nothing applied twice;
- every acknowledged checkout redeem replays its `OriginalKey` to the same redemption;
- every acknowledged commit answers `committed` again with the same value;
- `fidelis ledger check` is clean (nothing half-applied).
"""

from __future__ import annotations

import threading
from decimal import Decimal
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
from tests.faults import Load, ServeProcess

pytestmark = pytest.mark.slow

WORKERS = 9  # three per kind of request


def kind_of(worker: int) -> str:
    return ("points", "checkout", "lock")[worker % 3]


def customer_of(worker: int) -> str:
    return f"crash-{worker}@example.com"


def test_kill_9_mid_load_loses_nothing_that_was_acknowledged(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    postgres = server.database_url.startswith("postgresql")
    for worker in range(WORKERS):
        upsert(tenant, customer_of(worker))
        if kind_of(worker) != "points":
            assert add_points(tenant, customer_of(worker), 1_000_000).status_code == 200
    attempted_points: list[tuple[str, str, int]] = []
    attempted_lock = threading.Lock()
    brand = {"brand": tenant.slug}

    def step(client: httpx.Client, worker: int, n: int) -> Any:
        customer = customer_of(worker)
        kind = kind_of(worker)
        if kind == "points":
            key, amount = f"crash-w{worker}-n{n}", worker * 1000 + n
            with attempted_lock:
                attempted_points.append((customer, key, amount))
            response = client.post(
                f"/v1/pvt/Customer/{customer}/points",
                json={"Points": amount, "OperationType": 0, "Reason": "crash", "ChangeKey": key},
            )
            return ("points", key) if response.status_code == 200 else None
        if kind == "checkout":
            body = {
                "CustomerId": customer,
                "CheckoutId": f"cart-{n % 3}",
                "CashbackValue": "0.25",
                "OriginalKey": f"crash-co-w{worker}-n{n}",
            }
            response = client.post("/v1/pvt/Checkout/redeem", json=body)
            if response.status_code != 200:
                return None
            return ("checkout", body, response.json()["Result"]["RewardId"])
        locked = client.post(
            "/v1/rewards/lock",
            json={"customer_id": customer, "total": "0.40", "lock_key": f"crash-lk-{worker}-{n}"},
            headers=brand,
        )
        if locked.status_code != 200:
            return None
        token = locked.json()["lock_token"]
        committed = client.post(
            "/v1/rewards/commit", json={"lock_token": token, "value": "0.30"}, headers=brand
        )
        return ("lock", token) if committed.status_code == 200 else None

    forget_failures_of_this_machine(server)  # others' deliberate failed logins
    servers = [ServeProcess(server.database_url, workers=2 if postgres else 1)]
    if postgres:
        servers.append(ServeProcess(server.database_url, workers=2))
    for serve in servers:
        serve.start(tmp_path)
    load = Load(step, [s.base_url for s in servers], tenant.auth, workers=WORKERS)
    try:
        load.start()
        load.wait_for(250)
        for serve in servers:
            serve.kill()
    finally:
        load.stop()
        for serve in servers:
            serve.kill()
    acknowledged = list(load.acknowledged)
    assert len(acknowledged) >= 250, (len(acknowledged), load.errors)
    assert load.errors > 0 or load.attempted > len(acknowledged)

    restarted = ServeProcess(server.database_url)
    restarted.start(tmp_path)
    try:
        with httpx.Client(base_url=restarted.base_url, auth=tenant.auth, timeout=30) as client:
            check_points(client, attempted_points, acknowledged)
            check_checkouts(client, acknowledged)
            check_locks(client, acknowledged, brand)
    finally:
        restarted.stop()
    assert check_ledger(server.database_url, [tenant.id]) == []


def check_points(
    client: httpx.Client, attempted: list[tuple[str, str, int]], acknowledged: list[Any]
) -> None:
    acked = {record[1] for record in acknowledged if record[0] == "points"}
    expected: dict[str, int] = {}
    for customer, key, amount in attempted:
        response = client.post(
            f"/v1/pvt/Customer/{customer}/points",
            json={"Points": amount, "OperationType": 0, "Reason": "crash", "ChangeKey": key},
        )
        assert response.status_code in (200, 409), response.text
        if key in acked:
            assert response.status_code == 409, f"acknowledged {key} was lost"
        expected[customer] = expected.get(customer, 0) + amount
    for customer, total in expected.items():
        balance = client.get(f"/v1/pvt/Customer/{customer}/points").json()["PointsBalance"]
        assert balance == total, (customer, balance, total)


def check_checkouts(client: httpx.Client, acknowledged: list[Any]) -> None:
    records = [r for r in acknowledged if r[0] == "checkout"]
    assert records
    for _, body, reward_id in records:
        record = client.get(f"/v1/pvt/Rewards/{reward_id}")
        assert record.status_code == 200, f"acknowledged redemption {reward_id} was lost"
        assert Decimal(str(record.json()["CashValue"])) == Decimal("0.25")
        again = client.post("/v1/pvt/Checkout/redeem", json=body)
        assert again.json()["CodeName"] == "AlreadyProcessed", again.text
        assert again.json()["Result"]["RewardId"] == reward_id


def check_locks(client: httpx.Client, acknowledged: list[Any], brand: dict[str, str]) -> None:
    records = [r for r in acknowledged if r[0] == "lock"]
    assert records
    for _, token in records:
        again = client.post("/v1/rewards/commit", json={"lock_token": token}, headers=brand)
        assert again.status_code == 200, again.text
        assert (again.json()["status"], again.json()["value"]) == ("committed", "0.30")


def test_balances_after_the_crash_are_consistent_for_every_reader(
    server: Server, tenant: TenantHandle, tmp_path: Path
) -> None:
    """A crash between two requests of one customer leaves a state every face agrees on."""
    upsert(tenant, "solo@example.com")
    add_points(tenant, "solo@example.com", 500)
    forget_failures_of_this_machine(server)  # others' deliberate failed logins
    serve = ServeProcess(server.database_url)
    serve.start(tmp_path)
    try:
        with httpx.Client(base_url=serve.base_url, auth=tenant.auth, timeout=30) as client:
            locked = client.post(
                "/v1/rewards/lock",
                json={"customer_id": "solo@example.com", "total": "2.00"},
                headers={"brand": tenant.slug},
            )
            assert locked.status_code == 200, locked.text
    finally:
        serve.kill()
    points = points_of(tenant, "solo@example.com")
    assert (points["PointsBalance"], points["HeldPoints"]) == (300, 200)
