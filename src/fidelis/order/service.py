"""Order rules: the state machine, earning once on completion, giving back on (partial) cancel.

States: Pending (1) → Completed (2) → Cancelled (3), or Pending → Cancelled. A transition
happens once; Completed → Pending and Cancelled → anything else are `InvalidOrderTransition`.

Completing earns `floor(OrderTotal * PointsPerCurrency)` points in one lot, pending until
`OrderCompletedDate + OrderPointsPendingDays`, expiring `PointsExpireAfterDays` after that.
Cancelling takes back what is still owed; partial cancels take back
`floor(EarnedPoints * RefundedTotal / OrderTotal)` cumulatively, so refunds that add up to the
total take back exactly every earned point. Points of the order's lot that already expired are
not taken back (they already left); points already spent become debt.

An order whose `Coupon` is a redemption's ExternalCode (or coupon code) is linked to that
redemption, once, when the code belongs to the order's customer and no other order uses it.
Cancelling the order (in full, or by refunds that reach its total) also cancels the linked
redemption when the program's `RefundRedeemOnOrderCancel` says so; the redemption's points go
back first, so they can cover what the order takes back before any debt is left. Cashback
locks committed with the order's `OriginalId` or `Coupon` as their `order_id` are given back
the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.customer import service as customer_service
from fidelis.customer.repository import Customer
from fidelis.errors import (
    IdempotencyKeyConflict,
    InvalidField,
    InvalidOrderTransition,
    InvalidValue,
    OrderNotFound,
    RefundExceedsOrderTotal,
)
from fidelis.idempotency import repository as keys
from fidelis.idempotency.service import request_hash
from fidelis.kit import money
from fidelis.ledger import service as ledger
from fidelis.ledger.model import TransferType
from fidelis.lock import service as lock_service
from fidelis.order import repository
from fidelis.order.repository import Order
from fidelis.program.schemas import ProgramSettings
from fidelis.redemption import service as redemption_service

PENDING, COMPLETED, CANCELLED = 1, 2, 3
CANCEL_KEY_SCOPE = "cancel"


@dataclass(frozen=True, slots=True)
class OrderReport:
    """An order as the store reported it in `POST /v1/pvt/Order`."""

    original_id: str
    total: Decimal | None
    is_completed: bool = False
    is_cancelled: bool = False
    placed_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    status_text: str | None = None
    coupon: str | None = None
    customer: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    order: Order
    customer: Customer
    # True when nothing was done because it had been done before (a warning, not an error).
    already: bool = False


def _cents(value: Decimal, name: str) -> int:
    if not money.cents_exact(value):
        raise InvalidValue(f"{name} must have at most 2 decimal places.")
    return int(value * 100)


async def upsert(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    program: ProgramSettings,
    report: OrderReport,
    now: datetime,
) -> Outcome:
    """Create or update an order and apply its state transition, once.

    Raises:
        InvalidField (missing customer or completion date), InvalidValue (total),
        InvalidOrderTransition, CustomerNotFound.
    """
    target = CANCELLED if report.is_cancelled else COMPLETED if report.is_completed else PENDING
    if target == COMPLETED and report.completed_at is None:
        raise InvalidField("OrderCompletedDate is required when IsCompleted is true.")
    total_cents = _cents(report.total, "OrderTotal") if report.total is not None else None
    existing = await _lock_existing(conn, tenant_id, report.original_id, now)
    if existing is None:
        order, customer = await _create(conn, tenant_id, report, total_cents, now)
    else:
        order, customer = existing
    if order.state == CANCELLED and target != CANCELLED:
        raise InvalidOrderTransition("A cancelled order cannot change state.")
    if order.state == COMPLETED and target == PENDING:
        raise InvalidOrderTransition("A completed order cannot go back to pending.")
    changes: dict[str, Any] = {"updated_at": now}
    if total_cents is not None and total_cents != order.total_cents:
        if order.state != PENDING:
            raise InvalidOrderTransition(
                "OrderTotal cannot change once the order is completed; use partialcancel."
            )
        changes["total_cents"] = total_cents
    for name, value in (
        ("status_text", report.status_text),
        ("coupon", report.coupon),
        ("placed_at", report.placed_at),
    ):
        if value is not None:
            changes[name] = value
    if report.details:
        # Each of Products, Branch, SalesPerson and Metadatas sent replaces its old value; one
        # left out keeps it, like every other field of a re-post.
        changes["details"] = {**order.details, **report.details}
    if order.state != CANCELLED:
        # A cancelled order is done with: its re-post must not spend a checkout's cashback
        # that no cancel would give back.
        linked = await _link(conn, tenant_id, order, report.coupon or order.coupon, now)
        if linked is not None:
            changes["redemption_id"] = linked
    await repository.change(conn, tenant_id, order.id, changes)
    order = await _reload(conn, tenant_id, order.original_id)
    if target == COMPLETED and order.state == PENDING:
        assert report.completed_at is not None
        order = await _complete(conn, tenant_id, program, order, customer, report.completed_at, now)
    if target == CANCELLED and order.state != CANCELLED:
        cancelled_at = report.cancelled_at or now
        order = await _cancel(conn, tenant_id, program, order, cancelled_at, None, now)
    return Outcome(order, await customer_service.get_by_id(conn, tenant_id, customer.id))


async def _create(
    conn: AsyncConnection,
    tenant_id: int,
    report: OrderReport,
    total_cents: int | None,
    now: datetime,
) -> tuple[Order, Customer]:
    if report.customer is None:
        raise InvalidField("Customer is required for a new order.")
    if total_cents is None:
        raise InvalidField("OrderTotal is required for a new order.")
    customer, _ = await customer_service.upsert(conn, tenant_id, report.customer, now=now)
    customer = await customer_service.lock_by_id(conn, tenant_id, customer.id, now=now)
    try:
        async with conn.begin_nested():
            await repository.add(
                conn,
                tenant_id,
                {
                    "original_id": report.original_id,
                    "customer_id": customer.id,
                    "state": PENDING,
                    "total_cents": total_cents,
                    "refunded_cents": 0,
                    "earned_points": 0,
                    "reversed_points": 0,
                    "details": report.details,
                    "created_at": now,
                    "updated_at": now,
                },
            )
    except IntegrityError:
        # The same order was reported concurrently and the other request created it.
        pass
    order = await _reload(conn, tenant_id, report.original_id, for_update=True)
    if order.customer_id != customer.id:
        customer = await customer_service.lock_by_id(conn, tenant_id, order.customer_id, now=now)
    return order, customer


async def _link(
    conn: AsyncConnection, tenant_id: int, order: Order, coupon: str | None, now: datetime
) -> int | None:
    """The id of the redemption the order's coupon links it to, if one can be linked."""
    if coupon is None or order.redemption_id is not None:
        return None
    linked = await redemption_service.link_order(
        conn,
        tenant_id=tenant_id,
        code=coupon,
        customer_id=order.customer_id,
        order_ref=order.original_id,
        now=now,
    )
    return None if linked is None else linked.id


async def _reload(
    conn: AsyncConnection, tenant_id: int, original_id: str, *, for_update: bool = False
) -> Order:
    order = await repository.get(conn, tenant_id, original_id, for_update=for_update)
    assert order is not None
    return order


async def _complete(
    conn: AsyncConnection,
    tenant_id: int,
    program: ProgramSettings,
    order: Order,
    customer: Customer,
    completed_at: datetime,
    now: datetime,
) -> Order:
    # A disabled customer's order is recorded (it is a fact) but earns nothing.
    points = 0
    if customer.is_enabled:
        points = money.floor_points(Decimal(order.total_cents) / 100 * program.PointsPerCurrency)
    changes: dict[str, Any] = {
        "state": COMPLETED,
        "completed_at": completed_at,
        "earned_points": points,
        "updated_at": now,
    }
    if points > 0:
        available_at = completed_at + timedelta(days=program.OrderPointsPendingDays)
        expires_at = None
        if program.PointsExpireAfterDays is not None:
            expires_at = available_at + timedelta(days=program.PointsExpireAfterDays)
        earned = await ledger.credit(
            conn,
            tenant_id=tenant_id,
            customer_id=customer.id,
            type=TransferType.order_earn,
            amount=points,
            origin="order",
            now=now,
            available_at=available_at,
            expires_at=expires_at,
            order_ref=order.original_id,
        )
        changes["earn_transfer_id"] = earned.id
    await repository.change(conn, tenant_id, order.id, changes)
    return await _reload(conn, tenant_id, order.original_id)


async def _take_back_until(
    conn: AsyncConnection, tenant_id: int, order: Order, reversed_after: int, now: datetime
) -> None:
    """Take back points so that `reversed_after` of the earned points are reversed in all."""
    collectible = order.earned_points
    lot_id = None
    if order.earn_transfer_id is not None:
        lot = await ledger.lot_of(conn, tenant_id=tenant_id, transfer_id=order.earn_transfer_id)
        if lot is not None:
            lot_id = lot.id
            collectible -= await ledger.expired_from_lot(conn, tenant_id=tenant_id, lot_id=lot.id)
    amount = min(reversed_after, collectible) - min(order.reversed_points, collectible)
    if amount > 0:
        await ledger.take_back(
            conn,
            tenant_id=tenant_id,
            customer_id=order.customer_id,
            amount=amount,
            now=now,
            from_lot=lot_id,
            order_ref=order.original_id,
        )


async def _refund_redemption(
    conn: AsyncConnection, tenant_id: int, program: ProgramSettings, order: Order, now: datetime
) -> None:
    """Give back what the customer spent on this order: its linked redemption and the cashback
    locks committed for it (by `OriginalId` or `Coupon`)."""
    if not program.RefundRedeemOnOrderCancel:
        return
    if order.redemption_id is not None:
        await redemption_service.cancel(
            conn, tenant_id=tenant_id, redemption_id=order.redemption_id, now=now
        )
    refs = [order.original_id] + ([order.coupon] if order.coupon else [])
    await lock_service.give_back_for_order(
        conn, tenant_id=tenant_id, customer_id=order.customer_id, order_refs=refs, now=now
    )


async def _cancel(
    conn: AsyncConnection,
    tenant_id: int,
    program: ProgramSettings,
    order: Order,
    cancelled_at: datetime,
    status_text: str | None,
    now: datetime,
) -> Order:
    await _refund_redemption(conn, tenant_id, program, order, now)
    await _take_back_until(conn, tenant_id, order, order.earned_points, now)
    changes: dict[str, Any] = {
        "state": CANCELLED,
        "cancelled_at": cancelled_at,
        "updated_at": now,
        "reversed_points": order.earned_points,
        "refunded_cents": order.total_cents,
    }
    if status_text is not None:
        changes["status_text"] = status_text
    await repository.change(conn, tenant_id, order.id, changes)
    return await _reload(conn, tenant_id, order.original_id)


async def get(conn: AsyncConnection, tenant_id: int, original_id: str) -> Outcome:
    """Raises:
    OrderNotFound: no order of this tenant has this id.
    """
    order = await repository.get(conn, tenant_id, original_id)
    if order is None:
        raise OrderNotFound(f"order {original_id!r} not found")
    return Outcome(order, await customer_service.get_by_id(conn, tenant_id, order.customer_id))


async def _locked(
    conn: AsyncConnection, tenant_id: int, original_id: str, now: datetime
) -> tuple[Order, Customer]:
    existing = await _lock_existing(conn, tenant_id, original_id, now)
    if existing is None:
        raise OrderNotFound(f"order {original_id!r} not found")
    return existing


async def _lock_existing(
    conn: AsyncConnection, tenant_id: int, original_id: str, now: datetime
) -> tuple[Order, Customer] | None:
    """The order and its customer, both locked, or None if there is no such order.

    The customer's lock first, as every write (and creating an order) takes it, then the
    order's own row: two requests on one order never wait for each other in a circle. (An
    order's customer never changes, so the unlocked read names the right one.)
    """
    found = await repository.get(conn, tenant_id, original_id)
    if found is None:
        return None
    customer = await customer_service.lock_by_id(conn, tenant_id, found.customer_id, now=now)
    return await _reload(conn, tenant_id, original_id, for_update=True), customer


async def cancel(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    program: ProgramSettings,
    original_id: str,
    cancelled_at: datetime | None,
    status_text: str | None,
    now: datetime,
) -> Outcome:
    """Cancel an order, taking back the points still owed (`already` when it was cancelled).

    Raises:
        OrderNotFound.
    """
    order, customer = await _locked(conn, tenant_id, original_id, now)
    if order.state == CANCELLED:
        return Outcome(order, customer, already=True)
    order = await _cancel(conn, tenant_id, program, order, cancelled_at or now, status_text, now)
    return Outcome(order, await customer_service.get_by_id(conn, tenant_id, customer.id))


async def partial_cancel(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    program: ProgramSettings,
    original_id: str,
    value: Decimal,
    cancel_key: str | None,
    now: datetime,
) -> tuple[Outcome, dict[str, Any] | None]:
    """Refund part of a completed order and take back its share of the points.

    Returns the outcome and, for a replayed `CancelKey`, the result first given.

    Raises:
        OrderNotFound, InvalidValue, RefundExceedsOrderTotal, InvalidOrderTransition,
        IdempotencyKeyConflict.
    """
    order, customer = await _locked(conn, tenant_id, original_id, now)
    if value <= 0:
        raise InvalidValue("ValueToRefund must be greater than zero.")
    cents = _cents(value, "ValueToRefund")
    if cancel_key is not None:
        fingerprint = request_hash("partialcancel", order.id, {"ValueToRefund": value})
        claimed = await keys.claim(
            conn,
            tenant_id=tenant_id,
            scope=CANCEL_KEY_SCOPE,
            key=cancel_key,
            request_hash=fingerprint,
            customer_id=customer.id,
            now=now,
        )
        if not claimed:
            stored = await keys.get(
                conn, tenant_id=tenant_id, scope=CANCEL_KEY_SCOPE, key=cancel_key
            )
            assert stored is not None
            if stored.request_hash != fingerprint:
                raise IdempotencyKeyConflict("This CancelKey was used for another refund.")
            return Outcome(order, customer, already=True), stored.result
    if order.state != COMPLETED:
        raise InvalidOrderTransition("Only a completed order can be partially cancelled.")
    if cents > order.total_cents - order.refunded_cents:
        raise RefundExceedsOrderTotal()
    refunded = order.refunded_cents + cents
    reversed_after = (order.earned_points * refunded) // order.total_cents
    if refunded == order.total_cents:
        await _refund_redemption(conn, tenant_id, program, order, now)
    await _take_back_until(conn, tenant_id, order, reversed_after, now)
    changes: dict[str, Any] = {
        "refunded_cents": refunded,
        "reversed_points": reversed_after,
        "updated_at": now,
    }
    if refunded == order.total_cents:
        changes.update(state=CANCELLED, cancelled_at=now)
    await repository.change(conn, tenant_id, order.id, changes)
    order = await _reload(conn, tenant_id, original_id)
    return Outcome(order, await customer_service.get_by_id(conn, tenant_id, customer.id)), None


async def remember_result(
    conn: AsyncConnection, *, tenant_id: int, cancel_key: str, result: dict[str, Any]
) -> None:
    """Keep the answer of a partial cancel so a replay of its CancelKey repeats it."""
    await keys.set_result(
        conn, tenant_id=tenant_id, scope=CANCEL_KEY_SCOPE, key=cancel_key, result=result
    )
