"""All SQL of the ledger. Every statement is scoped by tenant and customer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis import metrics
from fidelis.db.tables import (
    account,
    customer,
    entry,
    hold,
    hold_part,
    lot,
    lot_movement,
    purchase,
    redemption,
    transfer,
)
from fidelis.ledger.model import (
    GIVEN_BACK_BY_REDEMPTION,
    OF_AN_ORDER,
    SPENT_ON_REDEMPTION,
    AccountKind,
    Balances,
    HistoryItem,
    Hold,
    HoldStatus,
    Lot,
    LotStatus,
    PointType,
    Transfer,
    TransferType,
)

_CUSTOMER_SIDE = (AccountKind.available, AccountKind.pending, AccountKind.held, AccountKind.debt)


def dialect_insert(conn: AsyncConnection, table: Table) -> Any:
    """An INSERT that supports ON CONFLICT on both databases."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# The statements every movement runs are built once (building one costs more than running
# it); each takes the tenant as a bind parameter, which SQLAlchemy refuses to leave unset.
_ADD_TRANSFER = insert(transfer).returning(transfer.c.id)
_ADD_ENTRY = insert(entry)
_ADD_LOT = insert(lot).returning(lot.c.id)


def built_per_dialect(build: Callable[[Callable[[Table], Any]], Any]) -> Callable[..., Any]:
    """For an ON CONFLICT statement built once: `build(insert_of)` for each database; the
    returned function gives the one for a connection (`dialect_insert`, prebuilt)."""
    built = {"postgresql": build(postgresql.insert), "sqlite": build(sqlite.insert)}

    def of(conn: AsyncConnection) -> Any:
        return built[conn.dialect.name]

    return of


def _balances_upsert(insert_of: Callable[[Table], Any]) -> Any:
    """Add each row's `balance` to its account, creating the account if it is new."""
    upsert = insert_of(account)
    return upsert.on_conflict_do_update(
        index_elements=[account.c.tenant_id, account.c.customer_id, account.c.kind],
        set_={"balance": account.c.balance + upsert.excluded.balance},
    ).returning(account.c.id, account.c.kind)


_move_balances = built_per_dialect(_balances_upsert)


async def add_transfer(
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
    reverses_id: int | None = None,
    order_ref: str | None = None,
    expires_at: datetime | None = None,
    source: AccountKind | None = None,
    destination: AccountKind | None = None,
    points: int | None = None,
    point_type: PointType | None = None,
) -> Transfer:
    """Insert the transfer, move the balances of both accounts and write both entries.

    `source`/`destination` default to the type's accounts; `points`/`point_type` (what the
    customer's history shows) default to the type's sign times `amount` and its PointType;
    `expires_at` is a credit's lot's expiry, which the history shows with the movement.
    """
    source = source or type.kind.source
    destination = destination or type.kind.destination
    if points is None:
        points = type.kind.history_sign * amount
    if point_type is None:
        point_type = type.kind.point_type
    transfer_id = (
        await conn.execute(
            _ADD_TRANSFER,
            {
                "tenant_id": tenant_id,
                "customer_id": customer_id,
                "type": type.value,
                "amount": amount,
                "points": points,
                "point_type": int(point_type) if point_type is not None else None,
                "reason": reason,
                "customer_reason": customer_reason,
                "change_key": change_key,
                "reverses_id": reverses_id,
                "order_ref": order_ref,
                "created_at": now,
                "expires_at": expires_at,
            },
        )
    ).scalar_one()
    moved = [
        {"tenant_id": tenant_id, "customer_id": customer_id, "kind": k, "balance": b}
        for k, b in ((source.value, -amount), (destination.value, amount))
    ]
    account_ids = {row.kind: row.id for row in await conn.execute(_move_balances(conn), moved)}
    await conn.execute(
        _ADD_ENTRY,
        [
            {"tenant_id": tenant_id, "transfer_id": transfer_id, "account_id": i, "amount": a}
            for i, a in (
                (account_ids[source.value], -amount),
                (account_ids[destination.value], amount),
            )
        ],
    )
    metrics.count_transfer(type.value, amount)
    return Transfer(id=transfer_id, type=type, amount=amount, created_at=now)


async def add_lot(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    customer_id: int,
    transfer_id: int,
    origin: str,
    amount: int,
    status: LotStatus,
    available_at: datetime,
    expires_at: datetime | None,
    now: datetime,
) -> int:
    result = await conn.execute(
        _ADD_LOT,
        {
            "tenant_id": tenant_id,
            "customer_id": customer_id,
            "transfer_id": transfer_id,
            "origin": origin,
            "amount": amount,
            "remaining": amount,
            "held": 0,
            "status": status.value,
            "available_at": available_at,
            "expires_at": expires_at,
            "created_at": now,
        },
    )
    return int(result.scalar_one())


def _lot(row: Any) -> Lot:
    return Lot(
        id=row.id,
        amount=row.amount,
        remaining=row.remaining,
        held=row.held,
        status=LotStatus(row.status),
        available_at=row.available_at,
        expires_at=row.expires_at,
    )


_SUM_EXPIRING = (
    select(lot.c.expires_at, func.sum(lot.c.remaining - lot.c.held).label("points"))
    .where(
        lot.c.tenant_id == bindparam("tenant_id"),
        lot.c.customer_id == bindparam("customer_id"),
        lot.c.status == LotStatus.available.value,
        lot.c.expires_at.is_not(None),
        lot.c.expires_at > bindparam("after"),
        lot.c.remaining > lot.c.held,
    )
    .group_by(lot.c.expires_at)
    .order_by(lot.c.expires_at)
)


async def sum_expiring(
    conn: AsyncConnection, tenant_id: int, customer_id: int, *, after: datetime
) -> list[tuple[datetime, int]]:
    """Free points of available lots that expire after `after`, summed per expiry, soonest
    first (the database adds them up: a customer may hold thousands of lots)."""
    rows = await conn.execute(
        _SUM_EXPIRING, {"tenant_id": tenant_id, "customer_id": customer_id, "after": after}
    )
    return [(r.expires_at, int(r.points)) for r in rows]


async def list_open_lots(conn: AsyncConnection, tenant_id: int, customer_id: int) -> list[Lot]:
    """Pending and available lots with points left, in spending order.

    Spending order: earliest expiry first, lots without expiry last, then oldest first.
    """
    rows = await conn.execute(
        select(lot)
        .where(
            lot.c.tenant_id == tenant_id,
            lot.c.customer_id == customer_id,
            lot.c.status.in_([LotStatus.pending.value, LotStatus.available.value]),
            lot.c.remaining > 0,
        )
        .order_by(lot.c.expires_at.is_(None), lot.c.expires_at, lot.c.id)
    )
    return [_lot(r) for r in rows]


async def consume_lots(
    conn: AsyncConnection, *, tenant_id: int, transfer_id: int, parts: Sequence[tuple[int, int]]
) -> None:
    """Take `points` from each `(lot_id, points)` and record the movements."""
    if not parts:
        return
    await conn.execute(
        update(lot)
        .where(lot.c.tenant_id == bindparam("t_id"), lot.c.id == bindparam("l_id"))
        .values(remaining=lot.c.remaining - bindparam("points")),
        [{"t_id": tenant_id, "l_id": lot_id, "points": points} for lot_id, points in parts],
    )
    await conn.execute(
        insert(lot_movement).values(
            [
                {
                    "tenant_id": tenant_id,
                    "lot_id": lot_id,
                    "transfer_id": transfer_id,
                    "consumed": points,
                }
                for lot_id, points in parts
            ]
        )
    )


async def set_lot_status(
    conn: AsyncConnection, tenant_id: int, lot_ids: Sequence[int], status: LotStatus
) -> None:
    if lot_ids:
        await conn.execute(
            update(lot)
            .where(lot.c.tenant_id == tenant_id, lot.c.id.in_(lot_ids))
            .values(status=status.value)
        )


_GET_BALANCES = select(account.c.kind, account.c.balance).where(
    account.c.tenant_id == bindparam("tenant_id"),
    account.c.customer_id == bindparam("customer_id"),
    account.c.kind.in_([k.value for k in _CUSTOMER_SIDE]),
)


async def get_balances(conn: AsyncConnection, tenant_id: int, customer_id: int) -> Balances:
    rows = await conn.execute(_GET_BALANCES, {"tenant_id": tenant_id, "customer_id": customer_id})
    by_kind = {row.kind: row.balance for row in rows}
    return Balances(
        available=by_kind.get(AccountKind.available, 0),
        pending=by_kind.get(AccountKind.pending, 0),
        held=by_kind.get(AccountKind.held, 0),
        debt=by_kind.get(AccountKind.debt, 0),
    )


async def set_settle_at(
    conn: AsyncConnection, tenant_id: int, customer_id: int, settle_at: datetime | None
) -> None:
    await conn.execute(
        update(customer)
        .where(customer.c.tenant_id == tenant_id, customer.c.id == customer_id)
        .values(settle_at=settle_at)
    )


async def lower_settle_at(
    conn: AsyncConnection, tenant_id: int, customer_id: int, when: datetime
) -> None:
    """Make sure settling runs no later than `when` for this customer."""
    await conn.execute(
        update(customer)
        .where(
            customer.c.tenant_id == tenant_id,
            customer.c.id == customer_id,
            (customer.c.settle_at.is_(None)) | (customer.c.settle_at > when),
        )
        .values(settle_at=when)
    )


def _history() -> Any:
    """The customer's visible movements, newest first, a page of them.

    The page is cut from the customer's transfers first; each one's reversal is then looked up
    by index (a correlated subquery), which no join order or stale statistics can turn into a
    scan of the tenant's transfers. So is the source of a movement of a redemption or an order
    (`model.SPENT_ON_REDEMPTION` and the like say which), only for those movements: the
    history names the redemption and the branch the store sent (`pgfunctions.SUMMARY_V3`).
    """
    reversal = transfer.alias("reversal")
    canceled = (
        select(reversal.c.id)
        .where(
            reversal.c.tenant_id == transfer.c.tenant_id, reversal.c.reverses_id == transfer.c.id
        )
        .exists()
    )
    spent = transfer.c.point_type.in_([int(t) for t in SPENT_ON_REDEMPTION])
    given_back = transfer.c.point_type.in_([int(t) for t in GIVEN_BACK_BY_REDEMPTION])
    of_an_order = transfer.c.point_type.in_([int(t) for t in OF_AN_ORDER])

    def redemption_of(via: Any, column: Any) -> Any:
        """`column` of the redemption whose spending or cancelling transfer (`via`) this is."""
        return (
            select(column)
            .where(redemption.c.tenant_id == transfer.c.tenant_id, via == transfer.c.id)
            .scalar_subquery()
        )

    spending, giving_back = redemption.c.transfer_id, redemption.c.cancel_transfer_id
    order_details = (
        select(purchase.c.details)
        .where(
            purchase.c.tenant_id == transfer.c.tenant_id,
            purchase.c.original_id == transfer.c.order_ref,
        )
        .scalar_subquery()
    )
    page = (
        select(
            transfer.c.id,
            transfer.c.type,
            transfer.c.points,
            transfer.c.point_type,
            transfer.c.created_at,
            transfer.c.customer_reason,
            transfer.c.order_ref,
            transfer.c.expires_at,
            canceled.label("canceled"),
            case(
                (spent, redemption_of(spending, redemption.c.id)),
                (given_back, redemption_of(giving_back, redemption.c.id)),
            ).label("reward_id"),
            case(
                (spent, redemption_of(spending, redemption.c.details)),
                (given_back, redemption_of(giving_back, redemption.c.details)),
                (of_an_order, order_details),
            ).label("source"),
        )
        .where(
            transfer.c.tenant_id == bindparam("tenant_id"),
            transfer.c.customer_id == bindparam("customer_id"),
            transfer.c.points != 0,
        )
        .order_by(transfer.c.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("h")
    )
    source = type_coerce(page.c.source, JSON)
    return select(
        *(c for c in page.c if c.name != "source"),
        source[("Branch", "OriginalId")].as_string().label("branch_id"),
        source[("Branch", "Name")].as_string().label("branch_name"),
    ).order_by(page.c.id.desc())


_HISTORY = _history()


async def list_history(
    conn: AsyncConnection,
    tenant_id: int,
    customer_id: int,
    *,
    limit: int,
    offset: int = 0,
) -> list[HistoryItem]:
    """The customer's visible movements, newest first (`_history`)."""
    rows = await conn.execute(
        _HISTORY,
        {"tenant_id": tenant_id, "customer_id": customer_id, "limit": limit, "offset": offset},
    )
    return [
        HistoryItem(
            id=r.id,
            type=TransferType(r.type),
            points=r.points,
            point_type=PointType(r.point_type) if r.point_type is not None else None,
            created_at=r.created_at,
            customer_reason=r.customer_reason,
            order_ref=r.order_ref,
            expires_at=r.expires_at,
            is_canceled=bool(r.canceled),
            reward_id=r.reward_id,
            branch_id=r.branch_id,
            branch_name=r.branch_name,
        )
        for r in rows
    ]


async def count_history(conn: AsyncConnection, tenant_id: int, customer_id: int) -> int:
    result = await conn.execute(
        select(func.count()).where(
            transfer.c.tenant_id == tenant_id,
            transfer.c.customer_id == customer_id,
            transfer.c.points != 0,
        )
    )
    return int(result.scalar_one())


async def get_transfer(conn: AsyncConnection, tenant_id: int, transfer_id: int) -> Any:
    """The transfer row with its source and destination account kinds, or None."""
    source = account.alias("source")
    destination = account.alias("destination")
    debit = entry.alias("debit")
    credit = entry.alias("credit")
    row = (
        await conn.execute(
            select(
                transfer.c.id,
                transfer.c.customer_id,
                transfer.c.type,
                transfer.c.amount,
                transfer.c.points,
                transfer.c.point_type,
                source.c.kind.label("source"),
                destination.c.kind.label("destination"),
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
                    and_(
                        source.c.tenant_id == transfer.c.tenant_id,
                        source.c.id == debit.c.account_id,
                    ),
                )
                .join(
                    destination,
                    and_(
                        destination.c.tenant_id == transfer.c.tenant_id,
                        destination.c.id == credit.c.account_id,
                    ),
                )
            )
            .where(transfer.c.tenant_id == tenant_id, transfer.c.id == transfer_id)
        )
    ).first()
    return row


async def is_reversed(conn: AsyncConnection, tenant_id: int, transfer_id: int) -> bool:
    result = await conn.execute(
        select(transfer.c.id).where(
            transfer.c.tenant_id == tenant_id, transfer.c.reverses_id == transfer_id
        )
    )
    return result.first() is not None


async def list_movements(
    conn: AsyncConnection, tenant_id: int, transfer_id: int
) -> list[tuple[Lot, int]]:
    """The lots a transfer consumed from (or gave back to), with the points of each."""
    rows = await conn.execute(
        select(lot, lot_movement.c.consumed)
        .join(
            lot_movement,
            and_(lot_movement.c.tenant_id == lot.c.tenant_id, lot_movement.c.lot_id == lot.c.id),
        )
        .where(lot_movement.c.tenant_id == tenant_id, lot_movement.c.transfer_id == transfer_id)
        .order_by(lot_movement.c.id)
    )
    return [(_lot(r), int(r.consumed)) for r in rows]


async def get_lot_of(conn: AsyncConnection, tenant_id: int, transfer_id: int) -> Lot | None:
    """The lot a credit transfer created."""
    row = (
        await conn.execute(
            select(lot).where(lot.c.tenant_id == tenant_id, lot.c.transfer_id == transfer_id)
        )
    ).first()
    return None if row is None else _lot(row)


async def change_lot_held(
    conn: AsyncConnection, *, tenant_id: int, parts: Sequence[tuple[int, int]]
) -> None:
    """Add `delta` to the held points of each `(lot_id, delta)`."""
    if parts:
        await conn.execute(
            update(lot)
            .where(lot.c.tenant_id == bindparam("t_id"), lot.c.id == bindparam("l_id"))
            .values(held=lot.c.held + bindparam("delta")),
            [{"t_id": tenant_id, "l_id": lot_id, "delta": delta} for lot_id, delta in parts],
        )


def _hold(row: Any) -> Hold:
    return Hold(
        id=row.id,
        customer_id=row.customer_id,
        purpose=row.purpose,
        amount=row.amount,
        captured=row.captured,
        status=HoldStatus(row.status),
        transfer_id=row.transfer_id,
        expires_at=row.expires_at,
        created_at=row.created_at,
    )


async def add_hold(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    customer_id: int,
    purpose: str,
    amount: int,
    transfer_id: int,
    parts: Sequence[tuple[int, int]],
    expires_at: datetime | None,
    now: datetime,
) -> Hold:
    hold_id = (
        await conn.execute(
            insert(hold)
            .values(
                tenant_id=tenant_id,
                customer_id=customer_id,
                purpose=purpose,
                amount=amount,
                captured=0,
                status=HoldStatus.active.value,
                transfer_id=transfer_id,
                expires_at=expires_at,
                created_at=now,
            )
            .returning(hold.c.id)
        )
    ).scalar_one()
    await conn.execute(
        insert(hold_part).values(
            [
                {"tenant_id": tenant_id, "hold_id": hold_id, "lot_id": lot_id, "amount": points}
                for lot_id, points in parts
            ]
        )
    )
    return Hold(
        hold_id, customer_id, purpose, amount, 0, HoldStatus.active, transfer_id, expires_at, now
    )


async def get_hold(conn: AsyncConnection, tenant_id: int, hold_id: int) -> Hold | None:
    row = (
        await conn.execute(select(hold).where(hold.c.tenant_id == tenant_id, hold.c.id == hold_id))
    ).first()
    return None if row is None else _hold(row)


async def list_holds_due(
    conn: AsyncConnection, tenant_id: int, customer_id: int, *, until: datetime | None = None
) -> list[Hold]:
    """The customer's active holds that expire (all of them with an expiry, or those due by
    `until`), soonest first."""
    statement = (
        select(hold)
        .where(
            hold.c.tenant_id == tenant_id,
            hold.c.customer_id == customer_id,
            hold.c.status == HoldStatus.active.value,
            hold.c.expires_at.is_not(None),
        )
        .order_by(hold.c.expires_at, hold.c.id)
    )
    if until is not None:
        statement = statement.where(hold.c.expires_at <= until)
    return [_hold(r) for r in await conn.execute(statement)]


async def list_hold_parts(
    conn: AsyncConnection, tenant_id: int, hold_id: int
) -> list[tuple[Lot, int]]:
    rows = await conn.execute(
        select(lot, hold_part.c.amount.label("part"))
        .join(
            hold_part,
            and_(hold_part.c.tenant_id == lot.c.tenant_id, hold_part.c.lot_id == lot.c.id),
        )
        .where(hold_part.c.tenant_id == tenant_id, hold_part.c.hold_id == hold_id)
        .order_by(hold_part.c.id)
    )
    return [(_lot(r), int(r.part)) for r in rows]


async def resolve_hold(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    hold_id: int,
    status: HoldStatus,
    captured: int,
    now: datetime,
) -> None:
    await conn.execute(
        update(hold)
        .where(hold.c.tenant_id == tenant_id, hold.c.id == hold_id)
        .values(status=status.value, captured=captured, resolved_at=now)
    )


async def expired_from_lot(conn: AsyncConnection, tenant_id: int, lot_id: int) -> int:
    """Points of this lot that expired (so can no longer be taken back from the customer)."""
    result = await conn.execute(
        select(func.coalesce(func.sum(lot_movement.c.consumed), 0))
        .join(
            transfer,
            and_(
                transfer.c.tenant_id == lot_movement.c.tenant_id,
                transfer.c.id == lot_movement.c.transfer_id,
            ),
        )
        .where(
            lot_movement.c.tenant_id == tenant_id,
            lot_movement.c.lot_id == lot_id,
            transfer.c.type.in_(
                [TransferType.expiration.value, TransferType.hold_expiration.value]
            ),
        )
    )
    return int(result.scalar_one())


async def list_lots_by_id(
    conn: AsyncConnection, tenant_id: int, lot_ids: Sequence[int]
) -> list[Lot]:
    rows = await conn.execute(
        select(lot).where(lot.c.tenant_id == tenant_id, lot.c.id.in_(lot_ids))
    )
    return [_lot(r) for r in rows]
