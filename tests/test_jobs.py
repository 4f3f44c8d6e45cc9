"""`fidelis jobs run`: settling customers nobody touches, safely from several processes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from fidelis.db.engine import Database
from fidelis.job import service as job_service
from tests.conftest import (
    Clock,
    Server,
    TenantHandle,
    add_points,
    execute,
    points_of,
    run_async,
    upsert,
)


def jobs_run(server: Server, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "FIDELIS_DATABASE_URL": server.database_url}
    return subprocess.Popen(
        [sys.executable, "-m", "fidelis", "jobs", "run", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def expirations(tenant: TenantHandle, customer: str) -> list[int]:
    history = points_of(tenant, customer)["PointHistory"]
    return [item["Points"] for item in history if item["PointType"] == 4]


def test_job_writes_down_the_expiry_that_reads_already_showed(
    server: Server, clock: Clock, tenant: TenantHandle
) -> None:
    upsert(tenant, "joana@example.com")
    tomorrow = server.clock() + timedelta(days=1)
    add_points(tenant, "joana@example.com", 100, ExpirationDate=tomorrow.isoformat())
    add_points(tenant, "joana@example.com", 30)

    clock.advance(days=2)
    # Right at once, before any job: the expired lot no longer counts...
    assert points_of(tenant, "joana@example.com")["PointsBalance"] == 30
    # ...but nothing has been written yet.
    assert expirations(tenant, "joana@example.com") == []

    job = jobs_run(server, "--once", "--now", server.clock().isoformat())
    out, err = job.communicate(timeout=60)
    assert job.returncode == 0, err
    assert out.startswith("settled ")

    assert expirations(tenant, "joana@example.com") == [-100]
    assert points_of(tenant, "joana@example.com")["PointsBalance"] == 30


def test_two_job_runners_never_expire_twice(
    server: Server, clock: Clock, tenant: TenantHandle
) -> None:
    tomorrow = server.clock() + timedelta(days=1)
    customers = [f"c{i}@example.com" for i in range(30)]
    for customer in customers:
        upsert(tenant, customer)
        add_points(tenant, customer, 10, ExpirationDate=tomorrow.isoformat())
    clock.advance(days=2)
    instant = server.clock().isoformat()

    jobs = [jobs_run(server, "--once", "--now", instant) for _ in range(2)]
    for job in jobs:
        _, err = job.communicate(timeout=60)
        assert job.returncode == 0, err

    for customer in customers:
        assert expirations(tenant, customer) == [-10]
        assert points_of(tenant, customer)["PointsBalance"] == 0


def settle_batch(
    server: Server,
    tenant: TenantHandle,
    now: datetime,
    limit: int = job_service.BATCH_SIZE,
    after: job_service.Cursor | None = None,
) -> job_service.Batch:
    """One batch of the job, as `jobs run` runs it: one tenant, one transaction."""

    async def work(db: Database) -> job_service.Batch:
        async with db.write() as conn:
            return await job_service.settle_due_batch(
                conn, tenant_id=tenant.id, now=now, limit=limit, after=after
            )

    return run_async(server.database_url, work)


def test_a_customer_whose_rows_refuse_settling_is_named_and_the_rest_are_settled(
    server: Server, clock: Clock, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    assert tenant.http.put("/v1/admin/program", json={"LockTtlSeconds": 60}).status_code == 200
    tomorrow = server.clock() + timedelta(days=1)
    for each in (tenant, other_tenant):
        for customer in ("ana@example.com", "bia@example.com"):
            upsert(each, customer)
            add_points(each, customer, 100, ExpirationDate=tomorrow.isoformat())
    locked = tenant.http.post(
        "/v1/rewards/lock",
        json={"customer_id": "ana@example.com", "total": "0.40"},
        headers={"brand": tenant.slug},
    )
    assert locked.status_code == 200, locked.text
    # Ana's lock claims more of her lot than the lot has held: giving it back would make the
    # lot's held points negative, which the database refuses.
    breaking = "UPDATE hold_part SET amount = amount + 1000 WHERE tenant_id = :t"
    assert execute(server, breaking, t=tenant.id) == 1
    try:
        clock.advance(days=2)
        # A batch names her (the soonest due: her lock ran out first) and the next one goes
        # on past her rather than meet her again.
        first = settle_batch(server, tenant, server.clock(), limit=1)
        assert (first.taken, first.settled, len(first.failed)) == (1, 0, 1)
        again = settle_batch(server, tenant, server.clock(), limit=1, after=first.last)
        assert (again.taken, again.settled) == (1, 1)
        assert again.failed == []
        job = jobs_run(server, "--once", "--now", server.clock().isoformat())
        out, err = job.communicate(timeout=60)
        assert job.returncode == 1, out + err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith(f"error: tenant {tenant.id} customer "), err
        assert "not settled" in lines[0]
        assert "Traceback" not in err
        assert expirations(tenant, "bia@example.com") == [-100]
        assert expirations(other_tenant, "ana@example.com") == [-100]
        assert expirations(other_tenant, "bia@example.com") == [-100]
        assert expirations(tenant, "ana@example.com") == []
    finally:
        mending = "UPDATE hold_part SET amount = amount - 1000 WHERE tenant_id = :t"
        assert execute(server, mending, t=tenant.id) == 1
    job = jobs_run(server, "--once", "--now", server.clock().isoformat())
    _, err = job.communicate(timeout=60)
    assert job.returncode == 0, err
    # Her lot's free 60 expire, then the 40 her lock held, with it.
    assert expirations(tenant, "ana@example.com") == [-40, -60]


def test_each_transaction_settles_one_tenant_and_a_pass_settles_them_all(
    server: Server, clock: Clock, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    tomorrow = server.clock() + timedelta(days=1)
    for each in (tenant, other_tenant):
        upsert(each, "joana@example.com")
        add_points(each, "joana@example.com", 100, ExpirationDate=tomorrow.isoformat())
    clock.advance(days=2)

    # A batch settles its own tenant's customers and nobody else's.
    assert settle_batch(server, tenant, server.clock()).settled == 1
    assert expirations(tenant, "joana@example.com") == [-100]
    assert expirations(other_tenant, "joana@example.com") == []
    assert settle_batch(server, tenant, server.clock()).taken == 0

    job = jobs_run(server, "--once", "--now", server.clock().isoformat())
    _, err = job.communicate(timeout=60)
    assert job.returncode == 0, err
    assert expirations(other_tenant, "joana@example.com") == [-100]
    assert expirations(tenant, "joana@example.com") == [-100]


@pytest.mark.parametrize("interval", ["0", "-1", "0.01", "nan"])
def test_an_interval_too_short_is_one_line(server: Server, interval: str) -> None:
    job = jobs_run(server, "--interval", interval)
    _, err = job.communicate(timeout=60)
    assert job.returncode == 2
    assert err.strip() == "error: --interval must be at least 0.1 seconds"


@pytest.mark.parametrize("now", ["yesterday", "9999-12-31T23:00:00-05:00"])
def test_bad_now_is_one_line(server: Server, now: str) -> None:
    job = jobs_run(server, "--once", "--now", now)
    _, err = job.communicate(timeout=60)
    assert job.returncode != 0
    assert err.strip().startswith("error: --now must be an ISO-8601 instant")
    assert len(err.strip().splitlines()) == 1


def test_two_job_runners_release_and_expire_order_points_once(
    server: Server, clock: Clock, tenant: TenantHandle
) -> None:
    """Order points wait 7 days, live 30; two runners settle 40 days later, at the same time."""
    response = tenant.http.put(
        "/v1/admin/program", json={"OrderPointsPendingDays": 7, "PointsExpireAfterDays": 30}
    )
    assert response.status_code == 200, response.text
    customers = [f"o{i}@example.com" for i in range(25)]
    completed = server.clock().isoformat()
    for n, customer in enumerate(customers):
        order = {
            "OriginalId": f"order-{n}",
            "Customer": {"OriginalId": customer},
            "OrderTotal": f"{10 + n}.00",
            "IsCompleted": True,
            "OrderCompletedDate": completed,
        }
        assert tenant.http.post("/v1/pvt/Order", json=order).status_code == 200
    clock.advance(days=8)
    assert points_of(tenant, customers[3])["PointsBalance"] == 13
    clock.advance(days=32)
    instant = server.clock().isoformat()

    jobs = [jobs_run(server, "--once", "--now", instant) for _ in range(2)]
    for job in jobs:
        _, err = job.communicate(timeout=60)
        assert job.returncode == 0, err

    for n, customer in enumerate(customers):
        points = points_of(tenant, customer)
        assert (points["PointsBalance"], points["PendingPoints"]) == (0, 0)
        assert expirations(tenant, customer) == [-(10 + n)]
