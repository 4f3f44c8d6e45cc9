"""SQL for background jobs: the only place that looks across tenants for due work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.db.tables import customer, tenant


async def list_due_tenants(conn: AsyncConnection, *, now: datetime) -> list[int]:
    """The tenants with a customer due to settle at `now` (a plain read: nothing is locked),
    each asked by one probe of `ix_customer_settle_at`."""
    due = (
        select(customer.c.id)
        .where(customer.c.tenant_id == tenant.c.id, customer.c.settle_at <= now)
        .exists()
    )
    rows = await conn.execute(select(tenant.c.id).where(due).order_by(tenant.c.id))
    return [row.id for row in rows]


# Where a pass is in a tenant's due customers: the last one a batch took, by (settle_at, id).
Cursor = tuple[datetime, int]


async def lock_due_customers(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    now: datetime,
    limit: int,
    after: Cursor | None = None,
) -> list[tuple[int, datetime]]:
    """`(id, settle_at)` of the tenant's customers with lots due, soonest first and past
    `after`, locked for this transaction.

    `SKIP LOCKED` lets several job runners (and the API) work side by side: a customer being
    settled or changed elsewhere is simply left for the next pass.
    """
    statement = select(customer.c.id, customer.c.settle_at).where(
        customer.c.tenant_id == tenant_id, customer.c.settle_at <= now
    )
    if after is not None:
        statement = statement.where(
            tuple_(customer.c.settle_at, customer.c.id)
            > tuple_(literal(after[0], customer.c.settle_at.type), after[1])
        )
    rows = await conn.execute(
        statement.order_by(customer.c.settle_at, customer.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(row.id, row.settle_at) for row in rows]
