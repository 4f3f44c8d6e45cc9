"""Checkout cashback: apply the customer's cashback to an e-commerce checkout, remove it,
re-check it after the cart changed.

Applied cashback is a checkout redemption whose points are **held** (not spendable elsewhere)
until an order with `Coupon` = its ExternalCode spends them (`redemption.service.link_order`),
it is removed or replaced (refunded), or `CheckoutHoldHours` pass without an order (the hold
runs out: refunded for every reader at that instant, written down by the next writer or
`fidelis jobs run`). A customer has at most one applied checkout redemption at a time.

Rules of an apply, in the order they are checked:

1. the customer exists (`CustomerNotFound`), `CheckoutId` is given (`CheckoutIdRequired`),
   cashback is enabled (`CashbackNotEnabled`), the customer is enabled (`CustomerDisabled`);
2. `CashbackValue`, when given, is > 0, has at most 2 decimals and is a whole number of points
   (`InvalidValue`);
3. the `OriginalKey` (scope "redeem", shared with PoS and coupon redeems) is claimed: the same
   request again answers the stored result (`AlreadyProcessed`), another request with it is
   `IdempotencyKeyConflict`;
4. the customer's applied cashback, on this checkout or another, is refunded;
5. limit = min(spendable points, the redemption rule's cap on the purchase) (`redemption/rule.py`:
   base = `Total`, or the eligible `Items`); a limit of 0 applies nothing (`CashbackNotApplied`,
   and step 4 is undone: nothing changes);
6. the amount is `CashbackValue` or, without it, the limit; above the limit it is
   `CashbackValueTooHigh` (nothing changes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.checkout import repository
from fidelis.customer import service as customer_service
from fidelis.customer.repository import Customer
from fidelis.errors import (
    CashbackNotEnabled,
    CashbackValueTooHigh,
    CheckoutIdRequired,
    CustomerDisabled,
    IdempotencyKeyConflict,
    InvalidValue,
)
from fidelis.idempotency import repository as keys
from fidelis.idempotency.service import request_hash
from fidelis.kit import money
from fidelis.ledger import service as ledger
from fidelis.program.schemas import ProgramSettings
from fidelis.redemption import repository as redemption_repository
from fidelis.redemption import rule
from fidelis.redemption import service as redemption_service
from fidelis.redemption.repository import Redemption
from fidelis.reward.service import RewardType

KEY_SCOPE = redemption_service.REDEEM_KEY_SCOPE
CHECKOUT_ORIGIN = 3


@dataclass(frozen=True, slots=True)
class ApplyRequest:
    ident: str
    checkout_ref: str | None
    value: Decimal | None = None
    purchase: rule.Purchase = field(default_factory=rule.Purchase)
    original_key: str | None = None
    redeem_origin: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Applied:
    """What an apply did: a redemption, nothing (limit 0), or the answer first given."""

    redemption: Redemption | None = None
    # The transfer that moved the points to `held` (the result's `Point.PointId`).
    hold_transfer_id: int | None = None
    replayed: dict[str, Any] | None = None


class State(StrEnum):
    """What remove / refresh found and did (the API names them with catalogue codes)."""

    checkout_not_found = "checkout_not_found"
    not_applied = "not_applied"
    removed = "removed"
    still_applied = "still_applied"
    removed_by_cart_change = "removed_by_cart_change"


async def _customer_and_checkout(
    conn: AsyncConnection, tenant_id: int, ident: str, checkout_ref: str | None, now: datetime
) -> tuple[Customer, str]:
    customer = await customer_service.lock(conn, tenant_id, ident, now=now)
    if checkout_ref is None or not checkout_ref.strip():
        raise CheckoutIdRequired()
    return customer, checkout_ref


def _points_of(value: Decimal, program: ProgramSettings) -> int:
    if value <= 0:
        raise InvalidValue("CashbackValue must be greater than zero.")
    try:
        return money.to_points(value, program.PointValue)
    except money.InexactAmount as exc:
        raise InvalidValue(f"CashbackValue {exc}.") from None


async def apply(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    program: ProgramSettings,
    request: ApplyRequest,
    now: datetime,
) -> Applied:
    """Apply cashback to a checkout (rules in the module docstring).

    Raises:
        CustomerNotFound, CheckoutIdRequired, CashbackNotEnabled, CustomerDisabled,
        InvalidValue, IdempotencyKeyConflict, CashbackValueTooHigh.
    """
    customer, checkout_ref = await _customer_and_checkout(
        conn, tenant_id, request.ident, request.checkout_ref, now
    )
    if not program.CashbackEnabled:
        raise CashbackNotEnabled()
    if not customer.is_enabled:
        raise CustomerDisabled()
    wanted = None if request.value is None else _points_of(request.value, program)
    total = request.purchase.total
    total_cents = None if total is None or not money.cents_exact(total) else int(total * 100)
    seen = await repository.get(conn, tenant_id, customer.id, checkout_ref)
    if seen is None:
        await repository.add(
            conn,
            tenant_id,
            customer_id=customer.id,
            checkout_ref=checkout_ref,
            total_cents=total_cents,
            now=now,
        )
    elif total_cents is not None:
        await repository.change_total(conn, tenant_id, seen.id, total_cents, now)
    # Everything below is undone when nothing can be applied (a 200 warning, not an error).
    try:
        async with conn.begin_nested():
            return await _apply(
                conn, tenant_id, program, customer, checkout_ref, wanted, request, now
            )
    except _NothingToApply:
        return Applied()


class _NothingToApply(Exception):
    """The limit is 0: roll back the refund of the previous checkout and the key's claim."""


async def _apply(
    conn: AsyncConnection,
    tenant_id: int,
    program: ProgramSettings,
    customer: Customer,
    checkout_ref: str,
    wanted: int | None,
    request: ApplyRequest,
    now: datetime,
) -> Applied:
    """Steps 3-6 of an apply, inside a savepoint."""
    if request.original_key is not None:
        replayed = await _claim(conn, tenant_id, customer, checkout_ref, request, now)
        if replayed is not None:
            return Applied(replayed=replayed)
    previous = await redemption_repository.get_open_checkout(conn, tenant_id, customer.id, now=now)
    if previous is not None:
        await redemption_service.cancel(
            conn, tenant_id=tenant_id, redemption_id=previous.id, now=now
        )
    balances = await customer_service.balances_of(
        conn, tenant_id, await customer_service.get_by_id(conn, tenant_id, customer.id), now=now
    )
    capped = rule.cap(program.RedemptionRule, request.purchase)
    limit = rule.limit_points(capped.value, program.PointValue, balances.spendable)
    if limit == 0:
        raise _NothingToApply()
    points = limit if wanted is None else wanted
    if points > limit:
        raise CashbackValueTooHigh(
            f"At most R$ {money.to_money(limit, program.PointValue)} can be used on this checkout."
        )
    held = await ledger.hold(
        conn,
        tenant_id=tenant_id,
        customer_id=customer.id,
        amount=points,
        purpose="checkout",
        now=now,
        expires_at=now + timedelta(hours=program.CheckoutHoldHours),
    )
    created = await redemption_service.add(
        conn,
        tenant_id,
        {
            "customer_id": customer.id,
            "reward_id": None,
            "reward_type": RewardType.Cashback,
            "original_key": request.original_key,
            "points": points,
            "value_cents": int(money.to_money(points, program.PointValue) * 100),
            "transfer_id": None,
            "is_canceled": False,
            "checkout_ref": checkout_ref,
            "hold_id": held.id,
            "hold_expires_at": held.expires_at,
            "redeem_origin": request.redeem_origin,
            "details": request.details,
            "created_at": now,
        },
    )
    return Applied(created, held.transfer_id)


async def _claim(
    conn: AsyncConnection,
    tenant_id: int,
    customer: Customer,
    checkout_ref: str,
    request: ApplyRequest,
    now: datetime,
) -> dict[str, Any] | None:
    """Claim the OriginalKey; the stored answer when this request was already done."""
    assert request.original_key is not None
    purchase = request.purchase
    fingerprint = request_hash(
        "checkout-redeem",
        customer.id,
        {
            "CheckoutId": checkout_ref,
            "CashbackValue": request.value,
            "Total": purchase.total,
            "Items": [[i.sku, i.unit_price, i.quantity] for i in purchase.items],
        },
    )
    claimed = await keys.claim(
        conn,
        tenant_id=tenant_id,
        scope=KEY_SCOPE,
        key=request.original_key,
        request_hash=fingerprint,
        customer_id=customer.id,
        now=now,
    )
    if claimed:
        return None
    stored = await keys.get(conn, tenant_id=tenant_id, scope=KEY_SCOPE, key=request.original_key)
    assert stored is not None
    if stored.request_hash != fingerprint or stored.result is None:
        raise IdempotencyKeyConflict("This OriginalKey was used for another redemption.")
    return stored.result


async def _applied_on(
    conn: AsyncConnection, tenant_id: int, customer: Customer, checkout_ref: str, now: datetime
) -> tuple[bool, Redemption | None]:
    """(checkout seen, the cashback applied on it now)."""
    if await repository.get(conn, tenant_id, customer.id, checkout_ref) is None:
        return False, None
    found = await redemption_repository.get_open_checkout(conn, tenant_id, customer.id, now=now)
    return True, found if found is not None and found.checkout_ref == checkout_ref else None


async def remove(
    conn: AsyncConnection, *, tenant_id: int, ident: str, checkout_ref: str | None, now: datetime
) -> State:
    """Refund the cashback applied on a checkout.

    Raises:
        CustomerNotFound, CheckoutIdRequired.
    """
    customer, checkout_ref = await _customer_and_checkout(conn, tenant_id, ident, checkout_ref, now)
    seen, applied = await _applied_on(conn, tenant_id, customer, checkout_ref, now)
    if not seen:
        return State.checkout_not_found
    if applied is None:
        return State.not_applied
    await redemption_service.cancel(conn, tenant_id=tenant_id, redemption_id=applied.id, now=now)
    return State.removed


async def refresh(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    program: ProgramSettings,
    ident: str,
    checkout_ref: str | None,
    purchase: rule.Purchase,
    now: datetime,
) -> State:
    """Re-check the cashback applied on a checkout against the cart as it is now; refund it
    when the cart no longer allows that much.

    Raises:
        CustomerNotFound, CheckoutIdRequired.
    """
    customer, checkout_ref = await _customer_and_checkout(conn, tenant_id, ident, checkout_ref, now)
    seen, applied = await _applied_on(conn, tenant_id, customer, checkout_ref, now)
    if not seen:
        return State.checkout_not_found
    if applied is None:
        return State.not_applied
    # The applied points are the customer's already (held): only the cart's cap can refuse.
    capped = rule.cap(program.RedemptionRule, purchase)
    if applied.points <= rule.limit_points(capped.value, program.PointValue, money.MAX_POINTS):
        return State.still_applied
    await redemption_service.cancel(conn, tenant_id=tenant_id, redemption_id=applied.id, now=now)
    return State.removed_by_cart_change


async def remember_result(
    conn: AsyncConnection, *, tenant_id: int, original_key: str, result: dict[str, Any]
) -> None:
    """Keep the answer of an apply so a replay of its OriginalKey repeats it."""
    await redemption_service.remember_result(
        conn, tenant_id=tenant_id, original_key=original_key, result=result
    )
