"""The ledger's one public API for moving points. Nothing else writes entries, balances or lots.

Design overview
---------------
- A **transfer** moves N > 0 points between two **accounts** of one customer and writes two
  **entries** (-N, +N), so every transfer sums to zero. Transfers and entries are append-only;
  a correction is a new transfer that names the one it reverses (at most once).
- Each account row caches its balance, updated in the same transaction as its entries, so a
  balance read is O(1) however long the history grows (`fidelis ledger check` proves it).
- A credit creates a **lot** (its own availability and expiry). A debit consumes lots earliest
  expiry first (lots without expiry last, then oldest first) and records each consumption as a
  lot movement, so a later cancel can give points back to the exact lots they came from.
- **Settling** writes down what time has done: pending lots whose `available_at` passed are
  released, available lots whose `expires_at` passed are expired. Writers settle a customer
  inside their own transaction before anything else; readers compute the same result without
  writing (`effective_balances`), so balances are right at every instant, job or no job.

Callers hold the customer's row lock (`customer.repository.lock`) for the whole transaction:
that is what serializes concurrent writers of one customer on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.errors import InsufficientBalance
from fidelis.ledger import repository
from fidelis.ledger.model import (
    AccountKind,
    Balances,
    Lot,
    LotStatus,
    Transfer,
    TransferType,
)


async def credit(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    customer_id: int,
    type: TransferType,
    amount: int,
    origin: str,
    now: datetime,
    available_at: datetime | None = None,
    expires_at: datetime | None = None,
    reason: str | None = None,
    customer_reason: str | None = None,
    change_key: str | None = None,
) -> Transfer:
    """Give the customer `amount` points in a new lot (pending until `available_at`)."""
    available_at = available_at or now
    pending = available_at > now
    destination = AccountKind.pending if pending else AccountKind.available
    moved = await repository.add_transfer(
        conn,
        tenant_id=tenant_id,
        customer_id=customer_id,
        type=type,
        amount=amount,
        now=now,
        reason=reason,
        customer_reason=customer_reason,
        change_key=change_key,
        destination=destination,
    )
    await repository.add_lot(
        conn,
        tenant_id=tenant_id,
        customer_id=customer_id,
        transfer_id=moved.id,
        origin=origin,
        amount=amount,
        status=LotStatus.pending if pending else LotStatus.available,
        available_at=available_at,
        expires_at=expires_at,
        now=now,
    )
    next_event = available_at if pending else expires_at
    if next_event is not None:
        await repository.lower_settle_at(conn, tenant_id, customer_id, next_event)
    return moved


async def debit(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    customer_id: int,
    type: TransferType,
    amount: int,
    now: datetime,
    reason: str | None = None,
    customer_reason: str | None = None,
    change_key: str | None = None,
) -> Transfer:
    """Take `amount` available points, consuming lots earliest expiry first.

    Raises:
        InsufficientBalance: fewer than `amount` points are available (nothing changes).
    """
    lots = [
        lot
        for lot in await repository.list_open_lots(conn, tenant_id, customer_id)
        if lot.is_available(now)
    ]
    parts = plan_consumption(lots, amount)
    if parts is None:
        raise InsufficientBalance(available=sum(lot.free for lot in lots), requested=amount)
    moved = await repository.add_transfer(
        conn,
        tenant_id=tenant_id,
        customer_id=customer_id,
        type=type,
        amount=amount,
        now=now,
        reason=reason,
        customer_reason=customer_reason,
        change_key=change_key,
    )
    await repository.consume_lots(conn, tenant_id=tenant_id, transfer_id=moved.id, parts=parts)
    return moved


def plan_consumption(lots: list[Lot], amount: int) -> list[tuple[int, int]] | None:
    """`(lot_id, points)` taken from `lots` in their order, or None when they fall short."""
    parts: list[tuple[int, int]] = []
    left = amount
    for lot in lots:
        if left == 0:
            break
        take = min(lot.free, left)
        if take > 0:
            parts.append((lot.id, take))
            left -= take
    return None if left > 0 else parts


async def settle(conn: AsyncConnection, *, tenant_id: int, customer_id: int, now: datetime) -> None:
    """Release pending lots and expire available ones whose time has come."""
    lots = await repository.list_open_lots(conn, tenant_id, customer_id)
    released: list[int] = []
    expired: list[int] = []
    next_event: datetime | None = None
    for lot in lots:
        status = lot.status
        if status == LotStatus.pending and lot.available_at <= now:
            await repository.add_transfer(
                conn,
                tenant_id=tenant_id,
                customer_id=customer_id,
                type=TransferType.release,
                amount=lot.remaining,
                now=now,
            )
            released.append(lot.id)
            status = LotStatus.available
        if status == LotStatus.available and lot.expires_at is not None and lot.expires_at <= now:
            if lot.free > 0:
                moved = await repository.add_transfer(
                    conn,
                    tenant_id=tenant_id,
                    customer_id=customer_id,
                    type=TransferType.expiration,
                    amount=lot.free,
                    now=now,
                )
                await repository.consume_lots(
                    conn, tenant_id=tenant_id, transfer_id=moved.id, parts=[(lot.id, lot.free)]
                )
            expired.append(lot.id)
            continue
        upcoming = lot.available_at if status == LotStatus.pending else lot.expires_at
        if upcoming is not None and (next_event is None or upcoming < next_event):
            next_event = upcoming
    await repository.set_lot_status(conn, tenant_id, released, LotStatus.available)
    await repository.set_lot_status(conn, tenant_id, expired, LotStatus.expired)
    await repository.set_settle_at(conn, tenant_id, customer_id, next_event)


async def settle_if_due(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    customer_id: int,
    settle_at: datetime | None,
    now: datetime,
) -> None:
    if settle_at is not None and settle_at <= now:
        await settle(conn, tenant_id=tenant_id, customer_id=customer_id, now=now)


async def effective_balances(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    customer_id: int,
    settle_at: datetime | None,
    now: datetime,
) -> Balances:
    """The balances as they are at `now`, settled or not, without writing anything."""
    cached = await repository.get_balances(conn, tenant_id, customer_id)
    if settle_at is None or settle_at > now:
        return cached
    return project(cached, await repository.list_open_lots(conn, tenant_id, customer_id), now)


def project(cached: Balances, lots: list[Lot], now: datetime) -> Balances:
    """Apply the releases and expiries due at `now` to cached balances (what `settle` writes)."""
    available, pending = cached.available, cached.pending
    for lot in lots:
        released = lot.status == LotStatus.pending and lot.available_at <= now
        if released:
            pending -= lot.remaining
            available += lot.remaining
        spendable = released or lot.status == LotStatus.available
        if spendable and lot.expires_at is not None and lot.expires_at <= now:
            available -= lot.free
    return Balances(available=available, pending=pending, held=cached.held)


async def open_lots(conn: AsyncConnection, *, tenant_id: int, customer_id: int) -> list[Lot]:
    return await repository.list_open_lots(conn, tenant_id, customer_id)
