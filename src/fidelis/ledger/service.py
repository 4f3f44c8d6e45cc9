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
- A **hold** reserves points of specific lots (`available -> held`, `lot.held`); it is later
  **captured** (spent, possibly in part: `held -> redeemed`) or **released** (back to
  `available`, or straight to `expired` for the part of a lot that expired meanwhile).
- A **reversal** undoes one transfer (at most once): a debit's points go back to the exact lots
  they came from; a credit's points are taken back from the lot it created first.
- **Debt**, the one overdraft (an order cancelled after its points were spent), is paid off
  first by any points that come back: a credit, a release, a hold given back, a reversal of a
  debit. A customer who owes points has none available.
- **Settling** writes down what time has done: holds whose `expires_at` passed are released
  (status `expired`), pending lots whose `available_at` passed are released, available lots
  whose `expires_at` passed are expired. Writers settle a customer inside their own transaction
  before anything else; readers compute the same result without writing (`project`, through
  `effective_balances` and `effective_lots`), so balances, lots and holds are right at every
  instant, job or no job. `customer.settle_at` is no later than the earliest of those instants
  still to come (`fidelis ledger check` proves it).

Callers hold the customer's row lock (`customer.repository.lock`) for the whole transaction:
that is what serializes concurrent writers of one customer on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.errors import (
    HoldNotActive,
    HoldNotFound,
    InsufficientBalance,
    InvalidValue,
    TransferAlreadyReversed,
    TransferNotFound,
)
from fidelis.ledger import repository
from fidelis.ledger.model import (
    AccountKind,
    Balances,
    Hold,
    HoldStatus,
    Lot,
    LotStatus,
    PointType,
    Projection,
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
    order_ref: str | None = None,
) -> Transfer:
    """Give the customer `amount` points in a new lot (pending until `available_at`).

    Points that become available pay off the customer's debt first; points already past
    `expires_at` expire at once and pay nothing.
    """
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
        order_ref=order_ref,
        expires_at=expires_at,
        destination=destination,
    )
    lot_id = await repository.add_lot(
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
    if not pending and expires_at is not None and expires_at <= now:
        # Points already expired when they arrive (an order completed long ago) expire at
        # once, as settling would find them: they pay no debt, as they could buy nothing.
        await _take(conn, tenant_id, customer_id, TransferType.expiration, [(lot_id, amount)], now)
        await repository.set_lot_status(conn, tenant_id, [lot_id], LotStatus.expired)
        return moved
    next_event = available_at if pending else expires_at
    if next_event is not None:
        await repository.lower_settle_at(conn, tenant_id, customer_id, next_event)
    if not pending:
        await _repay_debt(conn, tenant_id, customer_id, [(lot_id, amount)], now)
    return moved


async def _take(
    conn: AsyncConnection,
    tenant_id: int,
    customer_id: int,
    type: TransferType,
    parts: list[tuple[int, int]],
    now: datetime,
) -> None:
    """One movement of `type` taking `(lot_id, points)` from their lots: an expiry, a debt
    repayment, a hold's points expiring with their lot."""
    moved = await repository.add_transfer(
        conn,
        tenant_id=tenant_id,
        customer_id=customer_id,
        type=type,
        amount=sum(points for _, points in parts),
        now=now,
    )
    await repository.consume_lots(conn, tenant_id=tenant_id, transfer_id=moved.id, parts=parts)


async def _repay_debt(
    conn: AsyncConnection,
    tenant_id: int,
    customer_id: int,
    freed: list[tuple[int, int]],
    now: datetime,
) -> None:
    """Pay off the customer's debt with points that just became free: `(lot_id, points)` in
    the order given (a new credit, a release, points given back by a hold or a reversal).

    Whatever way points come back, debt is paid first, so a customer never owes points and
    has some to spend at once, and every face sees the same balance.
    """
    if not freed:
        return
    owed = -(await repository.get_balances(conn, tenant_id, customer_id)).debt
    parts = repayment(owed, freed)
    if parts:
        await _take(conn, tenant_id, customer_id, TransferType.debt_repayment, parts, now)


def repayment(owed: int, freed: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The `(lot_id, points)` of `freed` that pay off `owed` points of debt, in order."""
    parts: list[tuple[int, int]] = []
    for lot_id, points in freed:
        if owed <= 0:
            break
        pay = min(owed, points)
        if pay > 0:
            parts.append((lot_id, pay))
            owed -= pay
    return parts


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
    parts = await _take_available(conn, tenant_id, customer_id, amount, now)
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


async def _available_lots(
    conn: AsyncConnection, tenant_id: int, customer_id: int, now: datetime
) -> list[Lot]:
    """The customer's spendable lots at `now`, in spending order."""
    lots = await repository.list_open_lots(conn, tenant_id, customer_id)
    return [lot for lot in lots if lot.is_available(now)]


async def _take_available(
    conn: AsyncConnection, tenant_id: int, customer_id: int, amount: int, now: datetime
) -> list[tuple[int, int]]:
    """Plan taking `amount` free points, or raise InsufficientBalance."""
    lots = await _available_lots(conn, tenant_id, customer_id, now)
    parts = plan_consumption(lots, amount)
    if parts is None:
        raise InsufficientBalance(available=sum(lot.free for lot in lots), requested=amount)
    return parts


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
    """Release pending lots, expire available ones, then expire holds whose time has come.

    Lots first: an expiring lot loses its free points and keeps its held ones; a hold that ran
    out then gives its points back, or, for such a lot, lets them expire too.
    """
    lots = await repository.list_open_lots(conn, tenant_id, customer_id)
    next_event: datetime | None = None
    released: list[int] = []
    expired: list[int] = []
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
            await _repay_debt(conn, tenant_id, customer_id, [(lot.id, lot.remaining)], now)
            lot = replace(lot, remaining=(await _remaining(conn, tenant_id, lot.id)))
        if status == LotStatus.available and lot.expires_at is not None and lot.expires_at <= now:
            if lot.free > 0:
                await _take(
                    conn, tenant_id, customer_id, TransferType.expiration, [(lot.id, lot.free)], now
                )
            expired.append(lot.id)
            continue
        upcoming = lot.available_at if status == LotStatus.pending else lot.expires_at
        if upcoming is not None and (next_event is None or upcoming < next_event):
            next_event = upcoming
    await repository.set_lot_status(conn, tenant_id, released, LotStatus.available)
    await repository.set_lot_status(conn, tenant_id, expired, LotStatus.expired)
    for due in await repository.list_holds_due(conn, tenant_id, customer_id):
        assert due.expires_at is not None
        if due.expires_at > now:
            next_event = due.expires_at if next_event is None else min(next_event, due.expires_at)
            break
        await release(conn, tenant_id=tenant_id, hold_id=due.id, now=now, status=HoldStatus.expired)
    await _repay_debt_beside_free_points(conn, tenant_id, customer_id, now)
    await repository.set_settle_at(conn, tenant_id, customer_id, next_event)


async def _repay_debt_beside_free_points(
    conn: AsyncConnection, tenant_id: int, customer_id: int, now: datetime
) -> None:
    """Points that came back pay off debt as they come, so a customer never owes points and has
    free ones at once; a ledger written before that rule can hold both (migration 0023 marks
    those customers due). Settling pays such a debt off from the free points, in spending
    order."""
    balances = await repository.get_balances(conn, tenant_id, customer_id)
    if balances.debt < 0 and balances.available > 0:
        lots = await _available_lots(conn, tenant_id, customer_id, now)
        await _repay_debt(conn, tenant_id, customer_id, [(lot.id, lot.free) for lot in lots], now)


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
    if settle_at is None or settle_at > now:
        return await repository.get_balances(conn, tenant_id, customer_id)
    settled = await effective_lots(
        conn, tenant_id=tenant_id, customer_id=customer_id, settle_at=settle_at, now=now
    )
    return settled.balances


async def effective_lots(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    customer_id: int,
    settle_at: datetime | None,
    now: datetime,
) -> Projection:
    """The balances and open lots as they are at `now`, settled or not, without writing."""
    cached = await repository.get_balances(conn, tenant_id, customer_id)
    lots = await repository.list_open_lots(conn, tenant_id, customer_id)
    if settle_at is None or settle_at > now:
        return Projection(cached, lots)
    expired_holds = await expired_hold_parts(conn, tenant_id, customer_id, now)
    return project(cached, lots, expired_holds, now)


async def expired_hold_parts(
    conn: AsyncConnection, tenant_id: int, customer_id: int, now: datetime
) -> list[tuple[Lot, int]]:
    """The lot parts of active holds whose time ran out at `now` (what `settle` gives back)."""
    parts: list[tuple[Lot, int]] = []
    for due in await repository.list_holds_due(conn, tenant_id, customer_id, until=now):
        parts += await repository.list_hold_parts(conn, tenant_id, due.id)
    return parts


def project(
    cached: Balances, lots: list[Lot], expired_holds: list[tuple[Lot, int]], now: datetime
) -> Projection:
    """Apply what is due at `now` to cached balances and open lots, step for step as `settle`
    writes it: pending lots are released (paying off debt first) and lots past their expiry
    lose their free points; then holds whose time ran out give their points back (paying off
    debt first), or let them expire with their lot; then free points left beside a debt (a
    ledger of before that rule) pay it off."""
    available, pending, held, debt = cached.available, cached.pending, cached.held, cached.debt
    view: dict[int, Lot] = {}
    for lot in lots:
        if lot.status == LotStatus.pending and lot.available_at <= now:
            repaid = min(-debt, lot.remaining)
            pending -= lot.remaining
            available += lot.remaining - repaid
            debt += repaid
            lot = replace(lot, status=LotStatus.available, remaining=lot.remaining - repaid)
        if lot.status == LotStatus.available and _lost(lot, now):
            available -= lot.free
            lot = replace(lot, status=LotStatus.expired, remaining=lot.held)
        view[lot.id] = lot
    for lot, part in expired_holds:
        held -= part
        if _lost(lot, now):
            gone = part  # expires with its lot
        else:
            gone = min(-debt, part)  # pays off debt first
            available += part - gone
            debt += gone
        seen = view.get(lot.id)
        if seen is not None:
            view[lot.id] = replace(seen, held=seen.held - part, remaining=seen.remaining - gone)
    if debt < 0 and available > 0:
        # Debt beside free points (a ledger of before the rule that points pay debt as they
        # come back): settling pays it from them, in spending order.
        for lot in list(view.values()):
            if debt == 0:
                break
            if lot.status == LotStatus.available and not _lost(lot, now) and lot.free > 0:
                gone = min(-debt, lot.free)
                available -= gone
                debt += gone
                view[lot.id] = replace(lot, remaining=lot.remaining - gone)
    still_open = [
        lot for lot in view.values() if lot.status != LotStatus.expired and lot.remaining > 0
    ]
    return Projection(Balances(available, pending, held, debt), still_open)


def _lost(lot: Lot, now: datetime) -> bool:
    """True when points given back to this lot would already be expired."""
    return lot.status == LotStatus.expired or (lot.expires_at is not None and lot.expires_at <= now)


async def hold(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    customer_id: int,
    amount: int,
    purpose: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> Hold:
    """Reserve `amount` available points (earliest expiry first) until captured or released.

    Raises:
        InsufficientBalance: fewer than `amount` points are free (nothing changes).
    """
    parts = await _take_available(conn, tenant_id, customer_id, amount, now)
    moved = await repository.add_transfer(
        conn,
        tenant_id=tenant_id,
        customer_id=customer_id,
        type=TransferType.hold,
        amount=amount,
        now=now,
    )
    await repository.change_lot_held(conn, tenant_id=tenant_id, parts=parts)
    if expires_at is not None:
        await repository.lower_settle_at(conn, tenant_id, customer_id, expires_at)
    return await repository.add_hold(
        conn,
        tenant_id=tenant_id,
        customer_id=customer_id,
        purpose=purpose,
        amount=amount,
        transfer_id=moved.id,
        parts=parts,
        expires_at=expires_at,
        now=now,
    )


async def _active_hold(conn: AsyncConnection, tenant_id: int, hold_id: int) -> Hold:
    found = await repository.get_hold(conn, tenant_id, hold_id)
    if found is None:
        raise HoldNotFound()
    if found.status != HoldStatus.active:
        raise HoldNotActive(status=found.status)
    return found


async def capture(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    hold_id: int,
    now: datetime,
    amount: int | None = None,
    type: TransferType = TransferType.capture,
    point_type: PointType | None = None,
    reason: str | None = None,
    customer_reason: str | None = None,
) -> Transfer | None:
    """Spend `amount` (default: all) of a hold's points; the rest is released.

    Returns the capture transfer, or None when `amount` is 0 (everything released).

    Raises:
        HoldNotFound, HoldNotActive, InvalidValue (amount above what is held).
    """
    found = await _active_hold(conn, tenant_id, hold_id)
    amount = found.amount if amount is None else amount
    if not 0 <= amount <= found.amount:
        raise InvalidValue(f"cannot capture {amount} of a hold of {found.amount}")
    parts = await repository.list_hold_parts(conn, tenant_id, hold_id)
    taken: list[tuple[int, int]] = []
    left_over: list[tuple[Lot, int]] = []
    want = amount
    for lot, part in parts:
        take = min(part, want)
        want -= take
        if take:
            taken.append((lot.id, take))
        if part - take:
            left_over.append((lot, part - take))
    moved = None
    if amount:
        moved = await repository.add_transfer(
            conn,
            tenant_id=tenant_id,
            customer_id=found.customer_id,
            type=type,
            amount=amount,
            now=now,
            point_type=point_type,
            reason=reason,
            customer_reason=customer_reason,
        )
        await repository.change_lot_held(
            conn, tenant_id=tenant_id, parts=[(lot_id, -p) for lot_id, p in taken]
        )
        await repository.consume_lots(conn, tenant_id=tenant_id, transfer_id=moved.id, parts=taken)
    await _give_back(conn, tenant_id, found.customer_id, left_over, now)
    await repository.resolve_hold(
        conn,
        tenant_id=tenant_id,
        hold_id=hold_id,
        status=HoldStatus.captured,
        captured=amount,
        now=now,
    )
    return moved


async def release(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    hold_id: int,
    now: datetime,
    status: HoldStatus = HoldStatus.released,
) -> Hold:
    """Give a hold's points back (`released`, or `expired` when its time ran out).

    Raises:
        HoldNotFound, HoldNotActive.
    """
    found = await _active_hold(conn, tenant_id, hold_id)
    parts = await repository.list_hold_parts(conn, tenant_id, hold_id)
    await _give_back(conn, tenant_id, found.customer_id, parts, now)
    await repository.resolve_hold(
        conn, tenant_id=tenant_id, hold_id=hold_id, status=status, captured=0, now=now
    )
    return found


async def _give_back(
    conn: AsyncConnection,
    tenant_id: int,
    customer_id: int,
    parts: list[tuple[Lot, int]],
    now: datetime,
) -> None:
    """Un-hold points: back to `available` (paying off debt first), or to `expired` for lots
    whose time has passed."""
    kept = [(lot.id, p) for lot, p in parts if not _lost(lot, now)]
    lost = [(lot.id, p) for lot, p in parts if _lost(lot, now)]
    back = sum(p for _, p in kept)
    await repository.change_lot_held(
        conn, tenant_id=tenant_id, parts=[(lot.id, -p) for lot, p in parts]
    )
    if back:
        await repository.add_transfer(
            conn,
            tenant_id=tenant_id,
            customer_id=customer_id,
            type=TransferType.hold_release,
            amount=back,
            now=now,
        )
        await _repay_debt(conn, tenant_id, customer_id, kept, now)
    if lost:
        await _take(conn, tenant_id, customer_id, TransferType.hold_expiration, lost, now)
        # Any lot among them that has not been marked yet is expired now.
        await repository.set_lot_status(
            conn, tenant_id, [lot_id for lot_id, _ in lost], LotStatus.expired
        )


async def reverse(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    transfer_id: int,
    now: datetime,
    point_type: PointType | None = None,
    reason: str | None = None,
    customer_reason: str | None = None,
) -> Transfer:
    """Undo one transfer, at most once.

    A debit's points go back to the exact lots they came from (keeping their expiry; the part
    of a lot that expired meanwhile expires again at once; the rest pays off debt first). A
    credit's points are taken back, from the lot it created first, then from the others,
    earliest expiry first.

    Raises:
        TransferNotFound, TransferAlreadyReversed,
        InsufficientBalance (a credit whose points were already spent).
    """
    original = await repository.get_transfer(conn, tenant_id, transfer_id)
    if original is None:
        raise TransferNotFound()
    if await repository.is_reversed(conn, tenant_id, transfer_id):
        raise TransferAlreadyReversed()
    source, destination = AccountKind(original.destination), AccountKind(original.source)
    common = {
        "tenant_id": tenant_id,
        "customer_id": original.customer_id,
        "type": TransferType.reversal,
        "amount": original.amount,
        "now": now,
        "reverses_id": transfer_id,
        "points": -original.points,
        "point_type": point_type
        or (PointType(original.point_type) if original.point_type is not None else None),
        "reason": reason,
        "customer_reason": customer_reason,
    }
    movements = await repository.list_movements(conn, tenant_id, transfer_id)
    if movements:
        # Points given back to their lots are free points of those lots: `available`, even
        # when they were spent from a hold (a capture's source is `held`).
        moved = await repository.add_transfer(
            conn, source=source, destination=AccountKind.available, **common
        )
        await repository.consume_lots(
            conn,
            tenant_id=tenant_id,
            transfer_id=moved.id,
            parts=[(lot.id, -consumed) for lot, consumed in movements],
        )
        lost = [(lot.id, consumed) for lot, consumed in movements if _lost(lot, now)]
        if lost:
            await _take(conn, tenant_id, original.customer_id, TransferType.expiration, lost, now)
        kept = [(lot, consumed) for lot, consumed in movements if not _lost(lot, now)]
        # A lot spent empty left settling's reckoning (it looks at open lots only): its expiry
        # is an event again.
        expiries = [lot.expires_at for lot, _ in kept if lot.expires_at is not None]
        if expiries:
            await repository.lower_settle_at(conn, tenant_id, original.customer_id, min(expiries))
        freed = [(lot.id, consumed) for lot, consumed in kept]
        await _repay_debt(conn, tenant_id, original.customer_id, freed, now)
        return moved
    created = await repository.get_lot_of(conn, tenant_id, transfer_id)
    if created is None:
        raise TransferNotFound("this movement cannot be reversed")
    if created.status == LotStatus.pending:
        source, parts = AccountKind.pending, [(created.id, original.amount)]
        if created.remaining < original.amount:
            raise InsufficientBalance(available=created.remaining, requested=original.amount)
    else:
        source = AccountKind.available
        lots = await _available_lots(conn, tenant_id, original.customer_id, now)
        own = [lot for lot in lots if lot.id == created.id]
        planned = plan_consumption(
            own + [lot for lot in lots if lot.id != created.id], original.amount
        )
        if planned is None:
            raise InsufficientBalance(
                available=sum(lot.free for lot in lots), requested=original.amount
            )
        parts = planned
    moved = await repository.add_transfer(conn, source=source, destination=destination, **common)
    await repository.consume_lots(conn, tenant_id=tenant_id, transfer_id=moved.id, parts=parts)
    return moved


async def get_hold(conn: AsyncConnection, *, tenant_id: int, hold_id: int) -> Hold | None:
    return await repository.get_hold(conn, tenant_id, hold_id)


async def _remaining(conn: AsyncConnection, tenant_id: int, lot_id: int) -> int:
    lots = await repository.list_lots_by_id(conn, tenant_id, [lot_id])
    return lots[0].remaining if lots else 0


async def take_back(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    customer_id: int,
    amount: int,
    now: datetime,
    from_lot: int | None = None,
    order_ref: str | None = None,
    reason: str | None = None,
) -> int:
    """Take back `amount` points earned by an order; what was already spent becomes debt.

    Points come from `from_lot` (the order's own lot, pending or not) first, then from the
    customer's other available lots, earliest expiry first. Returns the debt created.
    """
    lots = await repository.list_open_lots(conn, tenant_id, customer_id)
    own = [lot for lot in lots if lot.id == from_lot]
    left = amount
    if own and own[0].status == LotStatus.pending and own[0].available_at > now:
        take = min(own[0].remaining, left)
        if take:
            moved = await repository.add_transfer(
                conn,
                tenant_id=tenant_id,
                customer_id=customer_id,
                type=TransferType.order_reversal,
                amount=take,
                now=now,
                source=AccountKind.pending,
                order_ref=order_ref,
                reason=reason,
            )
            await repository.consume_lots(
                conn, tenant_id=tenant_id, transfer_id=moved.id, parts=[(own[0].id, take)]
            )
            left -= take
        own = []
    spendable = [lot for lot in lots if lot.is_available(now) and lot.id != from_lot]
    order = [lot for lot in own if lot.is_available(now)] + spendable
    parts: list[tuple[int, int]] = []
    for lot in order:
        take = min(lot.free, left)
        if take > 0:
            parts.append((lot.id, take))
            left -= take
    taken = sum(p for _, p in parts)
    if taken:
        moved = await repository.add_transfer(
            conn,
            tenant_id=tenant_id,
            customer_id=customer_id,
            type=TransferType.order_reversal,
            amount=taken,
            now=now,
            order_ref=order_ref,
            reason=reason,
        )
        await repository.consume_lots(conn, tenant_id=tenant_id, transfer_id=moved.id, parts=parts)
    if left:
        await repository.add_transfer(
            conn,
            tenant_id=tenant_id,
            customer_id=customer_id,
            type=TransferType.debt,
            amount=left,
            now=now,
            order_ref=order_ref,
            reason=reason,
        )
    return left


async def expired_from_lot(conn: AsyncConnection, *, tenant_id: int, lot_id: int) -> int:
    return await repository.expired_from_lot(conn, tenant_id, lot_id)


async def lot_of(conn: AsyncConnection, *, tenant_id: int, transfer_id: int) -> Lot | None:
    return await repository.get_lot_of(conn, tenant_id, transfer_id)


async def hold_parts(
    conn: AsyncConnection, *, tenant_id: int, hold_id: int
) -> list[tuple[Lot, int]]:
    """The lots a hold reserves points of, and how many of each."""
    return await repository.list_hold_parts(conn, tenant_id, hold_id)
