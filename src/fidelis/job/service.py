"""Settling due lots of customers no request has touched (releases and expiries)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.job import repository
from fidelis.ledger import service as ledger

BATCH_SIZE = 200


async def due_tenants(conn: AsyncConnection, *, now: datetime) -> list[int]:
    """The tenants with something due to settle at `now`."""
    return await repository.list_due_tenants(conn, now=now)


async def settle_due_batch(
    conn: AsyncConnection, *, tenant_id: int, now: datetime, limit: int = BATCH_SIZE
) -> int:
    """Settle up to `limit` of the tenant's customers with something due; returns how many.

    One tenant per call, so a batch's transaction never touches two tenants (ARCHITECTURE:
    scale-out). Each customer is settled exactly as a request touching it would, under
    its row lock, so a job and a request can never both write the same expiry.
    """
    due = await repository.lock_due_customers(conn, tenant_id=tenant_id, now=now, limit=limit)
    for customer_id in due:
        await ledger.settle(conn, tenant_id=tenant_id, customer_id=customer_id, now=now)
    return len(due)
