"""SQL of the admin reports and the staff's views of a customer: reads only, tenant-scoped.

Nothing here writes: the ledger's tables are read as they are (sums over accounts, transfers
joined to their entries' accounts), and only `fidelis.ledger` ever changes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.customer import repository as customer_repository
from fidelis.customer.repository import Customer
from fidelis.db.engine import LOWER_SQLITE
from fidelis.db.tables import (
    account,
    cashback_lock,
    customer,
    entry,
    hold,
    hold_part,
    lot,
    lot_movement,
    redemption,
    transfer,
)


@dataclass(frozen=True, slots=True)
class FlowRow:
    """Points moved from one account kind to another (on one UTC day, when grouped by day)."""

    day: str | None
    source: str
    destination: str
    points: int


@dataclass(frozen=True, slots=True)
class MovementRow:
    id: int
    type: str
    source: str
    destination: str
    amount: int
    points: int
    point_type: int | None
    reason: str | None
    customer_reason: str | None
    change_key: str | None
    order_ref: str | None
    reverses_id: int | None
    reversed_by_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LotRow:
    id: int
    origin: str
    amount: int
    remaining: int
    held: int
    status: str
    available_at: datetime
    expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HoldRow:
    id: int
    purpose: str
    amount: int
    expires_at: datetime | None
    created_at: datetime
    lock_id: int | None
    redemption_code: str | None
    lots: list[tuple[int, int]]


# --- liability and flows ------------------------------------------------------------------------


async def sum_balances(conn: AsyncConnection, tenant_id: int) -> dict[str, int]:
    """The cached balances of every account kind, summed over the tenant's customers."""
    rows = await conn.execute(
        select(account.c.kind, func.coalesce(func.sum(account.c.balance), 0).label("total"))
        .where(account.c.tenant_id == tenant_id)
        .group_by(account.c.kind)
    )
    return {row.kind: int(row.total) for row in rows}


async def count_customers(conn: AsyncConnection, tenant_id: int) -> int:
    result = await conn.execute(select(func.count()).where(customer.c.tenant_id == tenant_id))
    return int(result.scalar_one())


async def list_due_customers(
    conn: AsyncConnection, tenant_id: int, now: datetime
) -> list[tuple[int, datetime]]:
    """Customers with a release or expiry due that no writer has settled yet."""
    rows = await conn.execute(
        select(customer.c.id, customer.c.settle_at).where(
            customer.c.tenant_id == tenant_id,
            customer.c.settle_at.is_not(None),
            customer.c.settle_at <= now,
        )
    )
    return [(int(r.id), r.settle_at) for r in rows]


def _day(conn: AsyncConnection, column: Any) -> ColumnElement[str]:
    """The UTC calendar day (YYYY-MM-DD) of a timestamp column, in SQL."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    # SQLite keeps naive UTC text `YYYY-MM-DD HH:MM:SS...` (`UtcDateTime`).
    return func.substr(column, 1, 10)


async def sum_flows(
    conn: AsyncConnection,
    tenant_id: int,
    *,
    start: datetime,
    end: datetime,
    by_day: bool,
) -> list[FlowRow]:
    """Points moved between account kinds by transfers written in `[start, end)`."""
    debit = entry.alias("debit")
    credit = entry.alias("credit")
    source = account.alias("source")
    destination = account.alias("destination")
    kinds: list[Any] = [source.c.kind.label("source"), destination.c.kind.label("destination")]
    groups: list[Any] = (
        [_day(conn, transfer.c.created_at).label("day"), *kinds] if by_day else kinds
    )
    statement = (
        select(*groups, func.sum(transfer.c.amount).label("points"))
        .select_from(
            transfer.join(
                debit,
                and_(
                    debit.c.tenant_id == transfer.c.tenant_id,
                    debit.c.transfer_id == transfer.c.id,
                    debit.c.amount < 0,
                ),
            )
            .join(
                credit,
                and_(
                    credit.c.tenant_id == transfer.c.tenant_id,
                    credit.c.transfer_id == transfer.c.id,
                    credit.c.amount > 0,
                ),
            )
            .join(
                source,
                and_(source.c.tenant_id == transfer.c.tenant_id, source.c.id == debit.c.account_id),
            )
            .join(
                destination,
                and_(
                    destination.c.tenant_id == transfer.c.tenant_id,
                    destination.c.id == credit.c.account_id,
                ),
            )
        )
        .where(
            transfer.c.tenant_id == tenant_id,
            transfer.c.created_at >= start,
            transfer.c.created_at < end,
        )
        .group_by(*groups)
    )
    return [
        FlowRow(
            day=row.day if by_day else None,
            source=row.source,
            destination=row.destination,
            points=int(row.points),
        )
        for row in await conn.execute(statement)
    ]


# --- customers ----------------------------------------------------------------------------------


def _like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_customers(
    conn: AsyncConnection,
    tenant_id: int,
    *,
    text: str | None,
    document_digits: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Customer], int]:
    """Customers whose name, e-mail or OriginalId contains `text` (any case) or whose document
    contains `document_digits`, newest first, with the total count."""
    conditions = []
    if text:
        # Both sides in the database's lower case (on SQLite, Python's: its own lower() is ASCII
        # only); the e-mail's key is stored in Python's.
        lower = getattr(func, LOWER_SQLITE) if conn.dialect.name == "sqlite" else func.lower
        pattern = lower(literal(_like(text)))
        conditions += [
            lower(customer.c.name).like(pattern, escape="\\"),
            customer.c.email_key.like(_like(text.lower()), escape="\\"),
            lower(customer.c.original_id).like(pattern, escape="\\"),
        ]
    if document_digits:
        conditions.append(customer.c.document.like(_like(document_digits), escape="\\"))
    where = [customer.c.tenant_id == tenant_id]
    if conditions:
        where.append(or_(*conditions))
    rows = await conn.execute(
        select(*customer_repository.COLUMNS)
        .where(*where)
        .order_by(customer.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    found = [customer_repository.from_row(r) for r in rows]
    total = (await conn.execute(select(func.count()).where(*where))).scalar_one()
    return found, int(total)


async def get_customer(conn: AsyncConnection, tenant_id: int, customer_id: int) -> Customer | None:
    row = (
        await conn.execute(
            select(*customer_repository.COLUMNS).where(
                customer.c.tenant_id == tenant_id, customer.c.id == customer_id
            )
        )
    ).first()
    return None if row is None else customer_repository.from_row(row)


# --- a customer's ledger --------------------------------------------------------------------------


async def list_movements(
    conn: AsyncConnection, tenant_id: int, customer_id: int, *, limit: int, offset: int
) -> list[MovementRow]:
    """Every transfer of the customer (internal ones too), newest first."""
    debit = entry.alias("debit")
    credit = entry.alias("credit")
    source = account.alias("source")
    destination = account.alias("destination")
    reversal = transfer.alias("reversal")
    rows = await conn.execute(
        select(
            transfer,
            source.c.kind.label("source"),
            destination.c.kind.label("destination"),
            reversal.c.id.label("reversed_by_id"),
        )
        .select_from(
            transfer.join(
                debit,
                and_(
                    debit.c.tenant_id == transfer.c.tenant_id,
                    debit.c.transfer_id == transfer.c.id,
                    debit.c.amount < 0,
                ),
            )
            .join(
                credit,
                and_(
                    credit.c.tenant_id == transfer.c.tenant_id,
                    credit.c.transfer_id == transfer.c.id,
                    credit.c.amount > 0,
                ),
            )
            .join(
                source,
                and_(source.c.tenant_id == transfer.c.tenant_id, source.c.id == debit.c.account_id),
            )
            .join(
                destination,
                and_(
                    destination.c.tenant_id == transfer.c.tenant_id,
                    destination.c.id == credit.c.account_id,
                ),
            )
            .outerjoin(
                reversal,
                and_(
                    reversal.c.tenant_id == transfer.c.tenant_id,
                    reversal.c.reverses_id == transfer.c.id,
                ),
            )
        )
        .where(transfer.c.tenant_id == tenant_id, transfer.c.customer_id == customer_id)
        .order_by(transfer.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        MovementRow(
            id=r.id,
            type=r.type,
            source=r.source,
            destination=r.destination,
            amount=int(r.amount),
            points=int(r.points),
            point_type=r.point_type,
            reason=r.reason,
            customer_reason=r.customer_reason,
            change_key=r.change_key,
            order_ref=r.order_ref,
            reverses_id=r.reverses_id,
            reversed_by_id=r.reversed_by_id,
            created_at=r.created_at,
        )
        for r in rows
    ]


async def count_movements(conn: AsyncConnection, tenant_id: int, customer_id: int) -> int:
    result = await conn.execute(
        select(func.count()).where(
            transfer.c.tenant_id == tenant_id, transfer.c.customer_id == customer_id
        )
    )
    return int(result.scalar_one())


async def lot_movements_of(
    conn: AsyncConnection, tenant_id: int, transfer_ids: Sequence[int]
) -> dict[int, list[tuple[int, int]]]:
    """`(lot_id, points taken (+) or given back (-))` of each transfer."""
    found: dict[int, list[tuple[int, int]]] = {}
    if not transfer_ids:
        return found
    rows = await conn.execute(
        select(lot_movement.c.transfer_id, lot_movement.c.lot_id, lot_movement.c.consumed)
        .where(
            lot_movement.c.tenant_id == tenant_id,
            lot_movement.c.transfer_id.in_(list(transfer_ids)),
        )
        .order_by(lot_movement.c.id)
    )
    for row in rows:
        found.setdefault(int(row.transfer_id), []).append((int(row.lot_id), int(row.consumed)))
    return found


async def lots_created_by(
    conn: AsyncConnection, tenant_id: int, transfer_ids: Sequence[int]
) -> dict[int, int]:
    """The lot each credit transfer created: transfer id -> lot id."""
    if not transfer_ids:
        return {}
    rows = await conn.execute(
        select(lot.c.transfer_id, lot.c.id).where(
            lot.c.tenant_id == tenant_id, lot.c.transfer_id.in_(list(transfer_ids))
        )
    )
    return {int(r.transfer_id): int(r.id) for r in rows}


async def redemptions_of(
    conn: AsyncConnection, tenant_id: int, transfer_ids: Sequence[int]
) -> dict[int, str]:
    """The ExternalCode of the redemption each transfer spent or refunded."""
    if not transfer_ids:
        return {}
    ids = list(transfer_ids)
    rows = await conn.execute(
        select(
            redemption.c.transfer_id, redemption.c.cancel_transfer_id, redemption.c.external_code
        ).where(
            redemption.c.tenant_id == tenant_id,
            or_(redemption.c.transfer_id.in_(ids), redemption.c.cancel_transfer_id.in_(ids)),
        )
    )
    found: dict[int, str] = {}
    for row in rows:
        for transfer_id in (row.transfer_id, row.cancel_transfer_id):
            if transfer_id is not None:
                found[int(transfer_id)] = row.external_code
    return found


async def locks_of(
    conn: AsyncConnection, tenant_id: int, transfer_ids: Sequence[int]
) -> dict[int, int]:
    """The cashback lock each transfer captured or refunded: transfer id -> lock id."""
    if not transfer_ids:
        return {}
    ids = list(transfer_ids)
    rows = await conn.execute(
        select(
            cashback_lock.c.id,
            cashback_lock.c.capture_transfer_id,
            cashback_lock.c.refund_transfer_id,
        ).where(
            cashback_lock.c.tenant_id == tenant_id,
            or_(
                cashback_lock.c.capture_transfer_id.in_(ids),
                cashback_lock.c.refund_transfer_id.in_(ids),
            ),
        )
    )
    found: dict[int, int] = {}
    for row in rows:
        for transfer_id in (row.capture_transfer_id, row.refund_transfer_id):
            if transfer_id is not None:
                found[int(transfer_id)] = int(row.id)
    return found


async def holds_of(
    conn: AsyncConnection, tenant_id: int, transfer_ids: Sequence[int]
) -> dict[int, tuple[int, str]]:
    """The hold each `hold` transfer opened: transfer id -> (hold id, purpose)."""
    if not transfer_ids:
        return {}
    rows = await conn.execute(
        select(hold.c.transfer_id, hold.c.id, hold.c.purpose).where(
            hold.c.tenant_id == tenant_id, hold.c.transfer_id.in_(list(transfer_ids))
        )
    )
    return {int(r.transfer_id): (int(r.id), r.purpose) for r in rows}


async def list_lots(
    conn: AsyncConnection, tenant_id: int, customer_id: int, *, limit: int
) -> list[LotRow]:
    """The customer's lots, newest first (used and expired ones too)."""
    rows = await conn.execute(
        select(lot)
        .where(lot.c.tenant_id == tenant_id, lot.c.customer_id == customer_id)
        .order_by(lot.c.id.desc())
        .limit(limit)
    )
    return [
        LotRow(
            id=r.id,
            origin=r.origin,
            amount=int(r.amount),
            remaining=int(r.remaining),
            held=int(r.held),
            status=r.status,
            available_at=r.available_at,
            expires_at=r.expires_at,
            created_at=r.created_at,
        )
        for r in rows
    ]


async def list_active_holds(
    conn: AsyncConnection, tenant_id: int, customer_id: int
) -> list[HoldRow]:
    """The customer's open holds (checkout redemptions, cashback locks) with what opened them."""
    rows = (
        await conn.execute(
            select(
                hold.c.id,
                hold.c.purpose,
                hold.c.amount,
                hold.c.expires_at,
                hold.c.created_at,
                cashback_lock.c.id.label("lock_id"),
                redemption.c.external_code,
            )
            .select_from(
                hold.outerjoin(
                    cashback_lock,
                    and_(
                        cashback_lock.c.tenant_id == hold.c.tenant_id,
                        cashback_lock.c.hold_id == hold.c.id,
                    ),
                ).outerjoin(
                    redemption,
                    and_(
                        redemption.c.tenant_id == hold.c.tenant_id,
                        redemption.c.hold_id == hold.c.id,
                    ),
                )
            )
            .where(
                hold.c.tenant_id == tenant_id,
                hold.c.customer_id == customer_id,
                hold.c.status == "active",
            )
            .order_by(hold.c.id)
        )
    ).all()
    parts: dict[int, list[tuple[int, int]]] = {}
    if rows:
        part_rows = await conn.execute(
            select(hold_part.c.hold_id, hold_part.c.lot_id, hold_part.c.amount)
            .where(
                hold_part.c.tenant_id == tenant_id,
                hold_part.c.hold_id.in_([r.id for r in rows]),
            )
            .order_by(hold_part.c.id)
        )
        for part in part_rows:
            parts.setdefault(int(part.hold_id), []).append((int(part.lot_id), int(part.amount)))
    return [
        HoldRow(
            id=r.id,
            purpose=r.purpose,
            amount=int(r.amount),
            expires_at=r.expires_at,
            created_at=r.created_at,
            lock_id=r.lock_id,
            redemption_code=r.external_code,
            lots=parts.get(int(r.id), []),
        )
        for r in rows
    ]
