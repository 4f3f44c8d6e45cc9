"""Migrations that move data: what a database upgraded with history in it holds afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.customer import service as customer_service
from fidelis.db.engine import Database
from fidelis.db.migrate import alembic_config, upgrade_to_head
from fidelis.db.tables import tenant as tenant_table
from fidelis.db.tables import transfer
from fidelis.job import service as job_service
from fidelis.kit.clock import utc_now
from fidelis.ledger import check
from fidelis.ledger import repository as ledger_repository
from fidelis.ledger import service as ledger
from fidelis.ledger.model import HoldStatus, TransferType
from fidelis.tenant import service as tenant_service
from tests.conftest import empty_database, run_async


@pytest.fixture
def new_database() -> Iterator[str]:
    with empty_database("fidelis_migrations") as url:
        yield url


async def a_customer(conn: AsyncConnection, slug: str) -> dict[str, int]:
    """A new tenant's customer "ana": the `tenant_id` and `customer_id` the ledger takes."""
    now = utc_now()
    await tenant_service.create(conn, slug=slug, name=slug.title(), now=now)
    tenant_id = (
        await conn.execute(select(tenant_table.c.id).where(tenant_table.c.slug == slug))
    ).scalar_one()
    customer, _ = await customer_service.upsert(conn, tenant_id, {"original_id": "ana"}, now=now)
    return {"tenant_id": tenant_id, "customer_id": customer.id}


def run_jobs(url: str, tenant_id: int) -> int:
    """One batch of `jobs run` for the tenant; how many customers it settled."""

    async def work(db: Database) -> int:
        async with db.write() as conn:
            batch = await job_service.settle_due_batch(conn, tenant_id=tenant_id, now=utc_now())
            return batch.settled

    return run_async(url, work)


def test_0020_copies_each_credit_lots_expiry_onto_its_transfer(new_database: str) -> None:
    """A database with history (credits with and without an expiry, a debit), taken back to
    0019 (which drops the column and every copy in it) and upgraded again: each credit's
    transfer has its lot's expiry, the others none, and the ledger check holds."""
    expiry = utc_now() + timedelta(days=30)

    async def write_history() -> tuple[int, int, int]:
        db = Database(new_database)
        try:
            async with db.write() as conn:
                now = utc_now()
                ids = await a_customer(conn, "mig")
                tenant_id, customer_id = ids["tenant_id"], ids["customer_id"]
                credits = [
                    await ledger.credit(
                        conn,
                        tenant_id=tenant_id,
                        customer_id=customer_id,
                        type=TransferType.adjustment_credit,
                        amount=amount,
                        origin="adjustment",
                        now=now,
                        expires_at=expires_at,
                    )
                    for amount, expires_at in ((100, expiry), (50, None))
                ]
                await ledger.debit(
                    conn,
                    tenant_id=tenant_id,
                    customer_id=customer_id,
                    type=TransferType.adjustment_debit,
                    amount=30,
                    now=now,
                )
            return tenant_id, credits[0].id, credits[1].id
        finally:
            await db.dispose()

    async def expiries(tenant_id: int) -> tuple[dict[int, object], list[check.Violation]]:
        db = Database(new_database)
        try:
            async with db.read() as conn:
                rows = await conn.execute(
                    select(transfer.c.id, transfer.c.expires_at).where(
                        transfer.c.tenant_id == tenant_id
                    )
                )
                found = {row.id: row.expires_at for row in rows}
                return found, await check.check_tenant(conn, tenant_id)
        finally:
            await db.dispose()

    upgrade_to_head(new_database)
    tenant_id, expiring, lasting = asyncio.run(write_history())
    config = alembic_config(new_database)
    command.downgrade(config, "0019")  # the column and its copies are gone
    command.upgrade(config, "0020")

    found, violations = asyncio.run(expiries(tenant_id))
    assert violations == []
    assert len(found) == 3
    assert found.pop(expiring) == expiry
    assert found.pop(lasting) is None
    assert list(found.values()) == [None]  # the debit


def test_0023_makes_a_debt_beside_free_points_due_and_settling_pays_it_off(
    new_database: str,
) -> None:
    """A customer left by an older version owing 100 points with 100 free ones (a lock given
    back without paying the debt first, as it was done then): after 0023 reads see the debt
    paid at once, and settling writes it down."""

    async def older_state() -> tuple[int, int]:
        db = Database(new_database)
        try:
            async with db.write() as conn:
                now = utc_now()
                ids = await a_customer(conn, "old")
                tenant_id, customer_id = ids["tenant_id"], ids["customer_id"]
                await ledger.credit(
                    conn, **ids, type=TransferType.order_earn, amount=100, origin="o", now=now
                )
                held = await ledger.hold(conn, **ids, amount=100, purpose="lock", now=now)
                assert await ledger.take_back(conn, **ids, amount=100, now=now) == 100
                # The give-back of before: the points back to `available`, the debt left.
                parts = await ledger.hold_parts(conn, tenant_id=tenant_id, hold_id=held.id)
                await ledger_repository.change_lot_held(
                    conn, tenant_id=tenant_id, parts=[(lot.id, -p) for lot, p in parts]
                )
                await ledger_repository.add_transfer(
                    conn, **ids, type=TransferType.hold_release, amount=100, now=now
                )
                await ledger_repository.resolve_hold(
                    conn,
                    tenant_id=tenant_id,
                    hold_id=held.id,
                    status=HoldStatus.released,
                    captured=0,
                    now=now,
                )
                await ledger_repository.set_settle_at(conn, tenant_id, customer_id, None)
            return tenant_id, customer_id
        finally:
            await db.dispose()

    async def state(tenant_id: int, customer_id: int) -> tuple[Any, Any, list[str]]:
        db = Database(new_database)
        try:
            async with db.read() as conn:
                found = await customer_service.get_by_id(conn, tenant_id, customer_id)
                seen = await customer_service.balances_of(conn, tenant_id, found, now=utc_now())
                stored = await ledger_repository.get_balances(conn, tenant_id, customer_id)
                rules = [v.rule for v in await check.check_tenant(conn, tenant_id)]
                return seen, stored, rules
        finally:
            await db.dispose()

    config = alembic_config(new_database)
    upgrade_to_head(new_database)
    command.downgrade(config, "0022")
    tenant_id, customer_id = asyncio.run(older_state())
    seen, stored, rules = asyncio.run(state(tenant_id, customer_id))
    assert (stored.available, stored.debt) == (100, -100)
    assert rules == ["debt-paid-first"]

    command.upgrade(config, "0023")
    seen, stored, rules = asyncio.run(state(tenant_id, customer_id))
    assert (seen.available, seen.debt) == (0, 0)  # read at once
    assert (stored.available, stored.debt) == (100, -100)  # not written yet
    assert run_jobs(new_database, tenant_id) == 1
    seen, stored, rules = asyncio.run(state(tenant_id, customer_id))
    assert (stored.available, stored.debt) == (0, 0)
    assert rules == []


def test_0023_schedules_again_points_given_back_to_a_lot_spent_empty(new_database: str) -> None:
    """A customer left by an older version with points given back to a lot spent empty and no
    `settle_at` (so they would never expire): after 0023 the customer is due, and settling
    schedules the lot's expiry."""
    expiry = utc_now() + timedelta(days=10)

    async def older_state() -> tuple[int, int]:
        db = Database(new_database)
        try:
            async with db.write() as conn:
                now = utc_now()
                ids = await a_customer(conn, "old")
                tenant_id, customer_id = ids["tenant_id"], ids["customer_id"]
                await ledger.credit(
                    conn,
                    **ids,
                    type=TransferType.adjustment_credit,
                    amount=100,
                    origin="adjustment",
                    now=now,
                    expires_at=expiry,
                )
                spent = await ledger.debit(
                    conn, **ids, type=TransferType.adjustment_debit, amount=100, now=now
                )
                await ledger_repository.set_settle_at(conn, tenant_id, customer_id, None)
                await ledger.reverse(conn, tenant_id=tenant_id, transfer_id=spent.id, now=now)
                # What the reversal of before left: nothing scheduled.
                await ledger_repository.set_settle_at(conn, tenant_id, customer_id, None)
            return tenant_id, customer_id
        finally:
            await db.dispose()

    async def scheduled(tenant_id: int, customer_id: int) -> tuple[Any, list[str]]:
        db = Database(new_database)
        try:
            async with db.read() as conn:
                found = await customer_service.get_by_id(conn, tenant_id, customer_id)
                rules = [v.rule for v in await check.check_tenant(conn, tenant_id)]
                return found.settle_at, rules
        finally:
            await db.dispose()

    config = alembic_config(new_database)
    upgrade_to_head(new_database)
    command.downgrade(config, "0022")
    tenant_id, customer_id = asyncio.run(older_state())
    settle_at, rules = asyncio.run(scheduled(tenant_id, customer_id))
    assert (settle_at, rules) == (None, ["settle-at-in-time"])

    command.upgrade(config, "0023")
    settle_at, rules = asyncio.run(scheduled(tenant_id, customer_id))
    assert settle_at is not None
    assert settle_at <= utc_now()
    assert rules == []
    assert run_jobs(new_database, tenant_id) == 1
    settle_at, rules = asyncio.run(scheduled(tenant_id, customer_id))
    assert (settle_at, rules) == (expiry, [])
