"""Settling due lots of customers no request has touched (releases and expiries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.errors import FidelisError, ServiceUnavailable
from fidelis.job import repository
from fidelis.ledger import service as ledger

# Customers per batch (one transaction). Each is settled inside its own savepoint, and
# PostgreSQL keeps track of 64 subtransactions per transaction in memory: past that every
# other session's snapshot looks them up on disk while the batch is open.
BATCH_SIZE = 50
Cursor = repository.Cursor


@dataclass(slots=True)
class Batch:
    """What one batch did: how many due customers it took, the last of them (where the pass
    goes on from), and those it could not settle."""

    taken: int = 0
    last: repository.Cursor | None = None
    failed: list[tuple[int, str]] = field(default_factory=list)  # (customer id, why)

    @property
    def settled(self) -> int:
        return self.taken - len(self.failed)


async def due_tenants(conn: AsyncConnection, *, now: datetime) -> list[int]:
    """The tenants with something due to settle at `now`."""
    return await repository.list_due_tenants(conn, now=now)


async def settle_due_batch(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    now: datetime,
    after: repository.Cursor | None = None,
    limit: int = BATCH_SIZE,
) -> Batch:
    """Settle up to `limit` of the tenant's customers with something due.

    One tenant per call, so a batch's transaction never touches two tenants (ARCHITECTURE:
    scale-out). Each customer is settled exactly as a request touching it would, under its row
    lock, so a job and a request can never both write the same expiry. A customer whose own
    rows refuse the settlement (a constraint, a value out of range: data to look into, not
    the database's health) is left as it was and named; the others go on. `after` is where
    the pass is (the previous batch's `last`), so it meets such a customer once.
    """
    batch = Batch()
    for customer_id, settle_at in await repository.lock_due_customers(
        conn, tenant_id=tenant_id, now=now, limit=limit, after=after
    ):
        batch.taken += 1
        batch.last = (settle_at, customer_id)
        try:
            async with conn.begin_nested():
                await ledger.settle(conn, tenant_id=tenant_id, customer_id=customer_id, now=now)
        except ServiceUnavailable:
            raise
        except (FidelisError, IntegrityError, DataError) as exc:
            why = exc.message if isinstance(exc, FidelisError) else str(exc.orig or exc)
            batch.failed.append((customer_id, why.splitlines()[0] if why else type(exc).__name__))
    return batch
