"""Redeeming rewards at the point of sale, and cancelling a redemption.

Rules of a redeem, in the order they are checked (api-pvt.md, Point of sale):

1. the customer exists (`CustomerNotFound`; the customer is in the body, so 400);
2. the reward exists in this tenant (`RewardNotFound`, 404);
3. the `OriginalKey` (scope "redeem", per tenant) is claimed: the same request again answers
   the stored result (`AlreadyProcessed`), another request with it is `IdempotencyKeyConflict`;
4. the reward is active and today is within `ValidDateStart`/`ValidDateEnd` (`RewardInactive`);
5. the customer is enabled (`CustomerDisabled`) and owes no points (`CustomerInDebt`);
6. usage limits, per customer and global, count non-cancelled redemptions
   (`RewardRequirementsNotMet`);
7. the reward's requirements on the purchase, when the till names it (`PurchaseValue`): the
   same reasons the list of available rewards shows (`redemption/offer.py`), refused as
   `RewardRequirementsNotMet`; a customer not enrolled is refused whether or not it does;
8. the cost: `Points` of the reward; a Cashback reward takes exactly one of `Value` (R$,
   converted exactly at `PointValue`) or `Points`, > 0 (`CashbackNotEnabled`, `InvalidValue`),
   and at most what the redemption rule lets this purchase use (`CashbackValueTooHigh`);
9. enough available points (`NotEnoughPoints`).

The points are spent with one ledger debit (lots earliest expiry first); cancelling reverses
that debit, so the points go back to the exact lots they came from, keeping their expiry.

A coupon redeem (`RewardConfigurations/{id}/redeem`) is the same redeem that also generates a
coupon: `CodePrefix` + a random code of `CouponCodeLength`, unique in the tenant, valid
`ValidDays` from the redemption (forever without it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.customer import service as customer_service
from fidelis.customer.repository import Customer
from fidelis.errors import (
    CashbackNotEnabled,
    CashbackValueTooHigh,
    CustomerDisabled,
    CustomerInDebt,
    IdempotencyKeyConflict,
    InsufficientBalance,
    InvalidValue,
    NotEnoughPoints,
    RedeemNotFound,
    RewardInactive,
    RewardNotFound,
    RewardRequirementsNotMet,
)
from fidelis.idempotency import repository as keys
from fidelis.idempotency.service import request_hash
from fidelis.kit import money
from fidelis.ledger import service as ledger
from fidelis.ledger.model import Balances, HoldStatus, PointType, TransferType
from fidelis.program.schemas import ProgramSettings
from fidelis.redemption import offer, repository, rule
from fidelis.redemption.offer import CannotUse
from fidelis.redemption.repository import Redemption
from fidelis.reward import repository as reward_repository
from fidelis.reward.repository import Reward
from fidelis.reward.service import RewardType

REDEEM_KEY_SCOPE = "redeem"
# Upper-case letters and digits without the look-alikes 0/O, 1/I/L: safe to type at a till.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
EXTERNAL_CODE_LENGTH = 8
CODE_ATTEMPTS = 10

# Reasons of `offer.py` that a redeem refuses as RewardRequirementsNotMet (the others have
# codes of their own, checked in their own step).
REFUSED: dict[CannotUse, str] = {
    CannotUse.CustomerNotEnrolled: "The customer is not enrolled in the program.",
    CannotUse.CannotUseCumulativeDiscount: "This reward does not combine with other discounts.",
    CannotUse.MinimumValueNotReached: "The purchase is under this reward's minimum value.",
    CannotUse.RewardValueExceedsPurchase: "The reward is worth more than the purchase.",
    CannotUse.MinimumPurchasePercentNotReached: "This purchase may not use cashback.",
}


@dataclass(frozen=True, slots=True)
class RedeemRequest:
    """A PoS redeem as the store sent it."""

    reward_id: int
    ident: str
    # Which endpoint it came to ("pos-redeem", "coupon-redeem"): part of "the same request" for
    # its OriginalKey.
    endpoint: str
    points: int | None = None
    value: Decimal | None = None
    original_key: str | None = None
    redeem_origin: int | None = None
    force_coupon: bool = False
    # What the till said of the purchase (PurchaseValue, DiscountValue, Products), if anything.
    purchase: rule.Purchase = field(default_factory=rule.Purchase)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Redeemed:
    redemption: Redemption
    # For a replayed OriginalKey: the result first given (nothing was done this time).
    replayed: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Record:
    redemption: Redemption
    customer: Customer
    # True when nothing was done because it had been done before (a warning).
    already: bool = False


def new_code(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


async def redeem(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    program: ProgramSettings,
    request: RedeemRequest,
    now: datetime,
) -> Redeemed:
    """Spend the customer's points on a reward (rules in the module docstring).

    Raises:
        CustomerNotFound, RewardNotFound, IdempotencyKeyConflict, RewardInactive,
        CustomerDisabled, CustomerInDebt, RewardRequirementsNotMet, CashbackNotEnabled,
        InvalidValue, CashbackValueTooHigh, NotEnoughPoints.
    """
    customer = await customer_service.lock(conn, tenant_id, request.ident, now=now)
    reward = await reward_repository.get(conn, tenant_id, request.reward_id)
    if reward is None:
        raise RewardNotFound(f"reward {request.reward_id} not found")
    if request.original_key is not None:
        fingerprint = request_hash(
            request.endpoint,
            customer.id,
            {
                "RewardId": reward.id,
                "Points": request.points,
                "Value": request.value,
                "Coupon": request.force_coupon,
                "PurchaseValue": request.purchase.total,
                "DiscountValue": request.purchase.discount,
            },
        )
        claimed = await keys.claim(
            conn,
            tenant_id=tenant_id,
            scope=REDEEM_KEY_SCOPE,
            key=request.original_key,
            request_hash=fingerprint,
            customer_id=customer.id,
            now=now,
        )
        if not claimed:
            stored = await keys.get(
                conn, tenant_id=tenant_id, scope=REDEEM_KEY_SCOPE, key=request.original_key
            )
            assert stored is not None
            if stored.request_hash != fingerprint or stored.result is None:
                raise IdempotencyKeyConflict("This OriginalKey was used for another redemption.")
            found = await repository.get_by_original_key(conn, tenant_id, request.original_key)
            assert found is not None
            return Redeemed(found, stored.result)
    _check_active(reward, now)
    if not customer.is_enabled:
        raise CustomerDisabled()
    balances = await ledger.effective_balances(
        conn, tenant_id=tenant_id, customer_id=customer.id, settle_at=None, now=now
    )
    if balances.debt < 0:
        raise CustomerInDebt()
    await _check_limits(conn, tenant_id, reward, customer)
    reason = offer.offer(
        reward,
        customer=customer,
        spendable=balances.spendable,
        program=program,
        purchase=request.purchase,
    ).reason
    if reason in REFUSED:
        raise RewardRequirementsNotMet(REFUSED[reason])
    points, value_cents = _cost(reward, program, request)
    if reward.reward_type == RewardType.Cashback:
        capped = rule.cap(program.RedemptionRule, request.purchase).value
        most = rule.limit_points(capped, program.PointValue, money.MAX_POINTS)
        if points > most:
            raise CashbackValueTooHigh(
                f"This purchase may use at most R$ {money.to_money(most, program.PointValue)}."
            )
    try:
        spent = await ledger.debit(
            conn,
            tenant_id=tenant_id,
            customer_id=customer.id,
            type=TransferType.redemption,
            amount=points,
            now=now,
            reason=f"reward {reward.id}",
        )
    except InsufficientBalance:
        raise NotEnoughPoints(
            f"The reward costs {points} points; {balances.available} are available."
        ) from None
    values: dict[str, Any] = {
        "customer_id": customer.id,
        "reward_id": reward.id,
        "reward_type": reward.reward_type,
        "original_key": request.original_key,
        "points": points,
        "value_cents": value_cents,
        "transfer_id": spent.id,
        "is_canceled": False,
        "redeem_origin": request.redeem_origin,
        "details": request.details,
        "created_at": now,
    }
    coupon = None
    if request.force_coupon:
        valid_until = None
        if reward.valid_days is not None:
            valid_until = now + timedelta(days=reward.valid_days)
        coupon = Coupon(reward.code_prefix or "", reward.coupon_code_length, valid_until)
    return Redeemed(await add(conn, tenant_id, values, coupon=coupon))


@dataclass(frozen=True, slots=True)
class Coupon:
    """How to make a redemption's coupon code."""

    prefix: str
    length: int
    valid_until: datetime | None


async def add(
    conn: AsyncConnection, tenant_id: int, values: dict[str, Any], *, coupon: Coupon | None = None
) -> Redemption:
    """Record a redemption under a new unique ExternalCode (and coupon code, when asked)."""
    for _ in range(CODE_ATTEMPTS):
        values["external_code"] = new_code(EXTERNAL_CODE_LENGTH)
        if coupon is not None:
            values["coupon_code"] = coupon.prefix + new_code(coupon.length)
            values["coupon_valid_until"] = coupon.valid_until
        redemption_id = await repository.try_add(conn, tenant_id, values)
        if redemption_id is not None:
            break
    else:  # pragma: no cover - 31^8 codes: ten collisions in a row do not happen
        raise RuntimeError("could not generate a unique ExternalCode")
    created = await repository.get(conn, tenant_id, redemption_id)
    assert created is not None
    return created


def _inactive(reward: Reward, now: datetime) -> str | None:
    """Why the reward cannot be redeemed at all at `now`, or None."""
    if not reward.is_active:
        return RewardInactive.default_message
    if reward.valid_date_start is not None and now < reward.valid_date_start:
        return "This reward is not valid yet."
    if reward.valid_date_end is not None and now > reward.valid_date_end:
        return "This reward is no longer valid."
    return None


def _check_active(reward: Reward, now: datetime) -> None:
    reason = _inactive(reward, now)
    if reason is not None:
        raise RewardInactive(reason)


@dataclass(frozen=True, slots=True)
class Offers:
    """The rewards of the catalogue as one customer may use them on one purchase."""

    customer: Customer | None
    balances: Balances | None
    # The most points of cashback this purchase may use (0 for an unknown customer).
    cashback_points: int
    offers: list[offer.Offer]


async def offers(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    program: ProgramSettings,
    ident: str,
    purchase: rule.Purchase,
    now: datetime,
) -> Offers:
    """Every reward that can be redeemed today, usable by this customer on this purchase or not
    (an unknown customer gets every reward with reason NoCustomer)."""
    customer = await customer_service.find(conn, tenant_id, ident)
    balances = None
    spendable = 0
    if customer is not None:
        balances = await customer_service.balances_of(conn, tenant_id, customer, now=now)
        spendable = balances.spendable
    found = [
        offer.offer(r, customer=customer, spendable=spendable, program=program, purchase=purchase)
        for r in await reward_repository.list_(conn, tenant_id)
        if _inactive(r, now) is None
    ]
    limit = 0 if customer is None else offer.cashback_limit(program, purchase, spendable)
    return Offers(customer, balances, limit, found)


async def _check_limits(
    conn: AsyncConnection, tenant_id: int, reward: Reward, customer: Customer
) -> None:
    limit = reward.same_customer_usage_limit
    if reward.has_same_customer_usage_limit and limit is not None:
        used = await repository.count_active(conn, tenant_id, reward.id, customer_id=customer.id)
        if used >= limit:
            raise RewardRequirementsNotMet("The customer reached this reward's usage limit.")
    limit = reward.global_usage_limit
    if reward.has_global_usage_limit and limit is not None:
        # Redeemers of other customers do not share our row lock: the reward's lock orders them.
        await reward_repository.get(conn, tenant_id, reward.id, for_update=True)
        if await repository.count_active(conn, tenant_id, reward.id) >= limit:
            raise RewardRequirementsNotMet("This reward reached its usage limit.")


def _cost(
    reward: Reward, program: ProgramSettings, request: RedeemRequest
) -> tuple[int, int | None]:
    """(points spent, value x 100) of this redemption."""
    if reward.reward_type != RewardType.Cashback:
        assert reward.points is not None
        return reward.points, reward.value_cents
    if not program.CashbackEnabled:
        raise CashbackNotEnabled()
    if (request.value is None) == (request.points is None):
        raise InvalidValue("A cashback reward needs exactly one of Value or Points.")
    if request.value is not None:
        if request.value <= 0:
            raise InvalidValue("Value must be greater than zero.")
        try:
            points = money.to_points(request.value, program.PointValue)
        except money.InexactAmount as exc:
            raise InvalidValue(f"Value {exc}.") from None
        value = request.value
    else:
        assert request.points is not None
        if request.points <= 0:
            raise InvalidValue("Points must be greater than zero.")
        points = request.points
        value = points * program.PointValue
        if not money.cents_exact(value):
            # Spent in full but shown (and refunded) in cents: it must be a whole number of them.
            raise InvalidValue(f"{points} points are R$ {value}, not a whole number of cents.")
    if not 0 < points <= money.MAX_POINTS:
        raise InvalidValue("Value is out of range.")
    return points, int(value * 100)


async def _find(
    conn: AsyncConnection, tenant_id: int, redemption_id: int | None, original_key: str | None
) -> Redemption:
    found = None
    if redemption_id is not None:
        found = await repository.get(conn, tenant_id, redemption_id)
    elif original_key is not None:
        found = await repository.get_by_original_key(conn, tenant_id, original_key)
    if found is None:
        raise RedeemNotFound()
    return found


async def cancel(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    now: datetime,
    redemption_id: int | None = None,
    original_key: str | None = None,
) -> Record:
    """Cancel a redemption: its points go back to the lots they came from, once.

    Raises:
        RedeemNotFound.
    """
    found = await _find(conn, tenant_id, redemption_id, original_key)
    # The customer's lock first, as every write; then the redemption's own row.
    customer = await customer_service.lock_by_id(conn, tenant_id, found.customer_id, now=now)
    locked = await repository.get(conn, tenant_id, found.id, for_update=True)
    assert locked is not None
    if locked.is_canceled:
        return Record(locked, customer, already=True)
    already = False
    changes: dict[str, Any] = {"is_canceled": True, "canceled_at": now}
    if locked.transfer_id is None:
        # A checkout redemption not yet used by an order: its points are only held.
        assert locked.hold_id is not None
        already = not await release_hold(conn, tenant_id, locked.hold_id, now)
    else:
        back = await ledger.reverse(
            conn,
            tenant_id=tenant_id,
            transfer_id=locked.transfer_id,
            now=now,
            point_type=(
                PointType.CheckoutCashbackRefund
                if locked.checkout_ref is not None
                else PointType.RedemptionCanceled
            ),
        )
        changes["cancel_transfer_id"] = back.id
    await repository.change(conn, tenant_id, locked.id, changes)
    reloaded = await repository.get(conn, tenant_id, locked.id)
    assert reloaded is not None
    customer = await customer_service.get_by_id(conn, tenant_id, customer.id)
    return Record(reloaded, customer, already=already)


async def release_hold(conn: AsyncConnection, tenant_id: int, hold_id: int, now: datetime) -> bool:
    """Give back a checkout redemption's held points; False when its hold had already run out
    (the points went back then)."""
    held = await ledger.get_hold(conn, tenant_id=tenant_id, hold_id=hold_id)
    if held is None or held.status != HoldStatus.active:
        return False
    await ledger.release(conn, tenant_id=tenant_id, hold_id=hold_id, now=now)
    return True


async def link_order(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    code: str,
    customer_id: int,
    order_ref: str,
    now: datetime,
) -> Redemption | None:
    """Tie the redemption an order names in its `Coupon` (ExternalCode or coupon code) to it.

    None when nothing can be tied: no such code, another customer's redemption, a cancelled
    one, one already tied to another order (a code is used by one order only), or a checkout
    redemption whose hold ran out. A checkout redemption's held cashback is spent now.
    """
    found = await repository.get_by_code(conn, tenant_id, code)
    if found is None or found.customer_id != customer_id or found.is_canceled:
        return None
    if found.order_ref is not None and found.order_ref != order_ref:
        return None
    if found.order_ref is None:
        changes: dict[str, Any] = {"order_ref": order_ref}
        if found.transfer_id is None:
            # A checkout redemption: the order spends the held cashback, which makes it final.
            # One whose hold ran out was refunded and is not the order's any more.
            assert found.hold_id is not None
            held = await ledger.get_hold(conn, tenant_id=tenant_id, hold_id=found.hold_id)
            if held is None or held.status != HoldStatus.active:
                return None
            spent = await ledger.capture(
                conn,
                tenant_id=tenant_id,
                hold_id=found.hold_id,
                now=now,
                point_type=PointType.CheckoutCashback,
                reason=f"checkout {found.checkout_ref} used by order {order_ref}",
            )
            assert spent is not None
            changes["transfer_id"] = spent.id
        await repository.change(conn, tenant_id, found.id, changes)
    return found


@dataclass(frozen=True, slots=True)
class CouponPage:
    items: list[Redemption]
    total: int


async def available_coupons(
    conn: AsyncConnection, tenant_id: int, ident: str, *, now: datetime, page: int, size: int
) -> CouponPage:
    """The customer's coupons that can still be used: not cancelled, not used, not expired.

    Raises:
        CustomerNotFound.
    """
    customer = await customer_service.get(conn, tenant_id, ident)
    items, total = await repository.list_open_coupons(
        conn, tenant_id, customer.id, now=now, limit=size, offset=(page - 1) * size
    )
    return CouponPage(items, total)


async def get(conn: AsyncConnection, tenant_id: int, redemption_id: int) -> Record:
    """Raises:
    RedeemNotFound.
    """
    found = await _find(conn, tenant_id, redemption_id, None)
    return Record(found, await customer_service.get_by_id(conn, tenant_id, found.customer_id))


async def remember_result(
    conn: AsyncConnection, *, tenant_id: int, original_key: str, result: dict[str, Any]
) -> None:
    """Keep the answer of a redeem so a replay of its OriginalKey repeats it."""
    await keys.set_result(
        conn, tenant_id=tenant_id, scope=REDEEM_KEY_SCOPE, key=original_key, result=result
    )
