"""Cashback locks: reserve the cashback a purchase may use, then commit (spend) or roll back.

A lock is a ledger hold with an expiry (`LockTtlSeconds`) plus this record of its state:

    active → committed | rolled_back | expired      (exactly once)

Every transition runs under the customer's row lock, in the transaction that moves the points,
so a commit racing a rollback, another commit or the expiry resolves the lock once and the
loser answers with the state that won. An active lock whose time ran out reads as expired at
once (`CashbackLock.status_at`); its hold is released by the next writer or `jobs run`.

The amount of a lock is the redemption rule's (`redemption/rule.py`): min(the customer's
available cashback, the rule's cap on the purchase), down to the cent and to whole points. An
amount of 0 holds nothing and says why (`Reason`).

A committed lock tied to an `order_id` is given back when that order (matched by its
`OriginalId` or its `Coupon`) is cancelled and the program's `RefundRedeemOnOrderCancel` is on.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.customer import service as customer_service
from fidelis.errors import (
    HoldNotActive,
    IdempotencyKeyConflict,
    InvalidValue,
    LockAlreadyCommitted,
    LockExpired,
    LockNotFound,
    LockRolledBack,
    ValueExceedsLock,
)
from fidelis.idempotency import repository as keys
from fidelis.idempotency.service import request_hash
from fidelis.kit import money
from fidelis.ledger import hotpath
from fidelis.ledger import service as ledger
from fidelis.ledger.model import Balances, HoldStatus, Lot, PointType
from fidelis.lock import repository
from fidelis.lock.repository import CashbackLock, LockStatus
from fidelis.program.schemas import ProgramSettings
from fidelis.redemption import rule
from fidelis.tenant.keys import KeyCheck

if TYPE_CHECKING:
    from fidelis.db.engine import Database

KEY_SCOPE = "lock"


class Reason(StrEnum):
    """Why a purchase may use no cashback."""

    CASHBACK_DISABLED = "CASHBACK_DISABLED"
    CUSTOMER_DISABLED = "CUSTOMER_DISABLED"
    NO_BALANCE = "NO_BALANCE"
    STORE_NOT_ALLOWED = "STORE_NOT_ALLOWED"
    SOURCE_NOT_ALLOWED = "SOURCE_NOT_ALLOWED"
    BELOW_MIN_PURCHASE = "BELOW_MIN_PURCHASE"
    NOTHING_ELIGIBLE = "NOTHING_ELIGIBLE"


REFUSALS = {
    rule.Refusal.store_not_allowed: Reason.STORE_NOT_ALLOWED,
    rule.Refusal.source_not_allowed: Reason.SOURCE_NOT_ALLOWED,
    rule.Refusal.below_minimum: Reason.BELOW_MIN_PURCHASE,
    rule.Refusal.nothing_eligible: Reason.NOTHING_ELIGIBLE,
}


@dataclass(frozen=True, slots=True)
class Quote:
    """The cashback one purchase may use: `points` (0 with a `reason`) of `spendable`."""

    points: int
    spendable: int
    reason: Reason | None = None


def quote(
    program: ProgramSettings, purchase: rule.Purchase, spendable: int, *, enabled: bool = True
) -> Quote:
    """The lock amount for this purchase and balance (pure)."""
    spendable = max(spendable, 0)
    if not program.CashbackEnabled:
        return Quote(0, spendable, Reason.CASHBACK_DISABLED)
    if not enabled:
        return Quote(0, spendable, Reason.CUSTOMER_DISABLED)
    capped = rule.cap(program.RedemptionRule, purchase)
    if capped.refusal in REFUSALS:
        return Quote(0, spendable, REFUSALS[capped.refusal])
    if spendable == 0:
        return Quote(0, 0, Reason.NO_BALANCE)
    points = rule.limit_points(capped.value, program.PointValue, spendable)
    return Quote(points, spendable, None if points else Reason.NOTHING_ELIGIBLE)


@dataclass(frozen=True, slots=True)
class LockRequest:
    ident: str
    purchase: rule.Purchase
    lock_key: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HeldPart:
    """Points a lock holds of one lot."""

    lot_id: int
    points: int
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Locked:
    """A lock taken (`lock` and the lots it holds), nothing held (`quote.reason`), or the
    answer first given to this `lock_key`."""

    quote: Quote | None = None
    lock: CashbackLock | None = None
    parts: list[HeldPart] = field(default_factory=list)
    replayed: dict[str, Any] | None = None


async def simulate(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    program: ProgramSettings,
    ident: str,
    purchase: rule.Purchase,
    now: datetime,
) -> Quote:
    """The amount a lock would take now; holds nothing.

    Raises:
        CustomerNotFound.
    """
    customer = await customer_service.get(conn, tenant_id, ident)
    balances = await customer_service.balances_of(conn, tenant_id, customer, now=now)
    return quote(program, purchase, balances.spendable, enabled=customer.is_enabled)


def _fingerprint(customer_id: int, request: LockRequest) -> str:
    """The whole request: the purchase, and the seller, vouchers and custom data kept with
    the lock (added only when sent: a key stored before they counted still matches a retry
    that sends none of them; one that does answers `IDEMPOTENCY_KEY_CONFLICT`)."""
    purchase = request.purchase
    fields: dict[str, Any] = {
        "total": purchase.total,
        "discount": purchase.discount,
        "store": purchase.store,
        "source": purchase.source,
        "products": [[i.sku, i.category, i.unit_price, i.quantity] for i in purchase.items],
    }
    kept = {k: v for k, v in request.details.items() if k not in ("store_id", "source")}
    if kept:
        fields["details"] = kept
    return request_hash("lock", customer_id, fields)


async def _replay(
    conn: AsyncConnection, tenant_id: int, key: str, fingerprint: str
) -> dict[str, Any] | None:
    stored = await keys.get(conn, tenant_id=tenant_id, scope=KEY_SCOPE, key=key)
    if stored is None:
        return None
    if stored.request_hash != fingerprint or stored.result is None:
        raise IdempotencyKeyConflict("This lock_key was used for another lock.")
    return stored.result


async def lock(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    program: ProgramSettings,
    request: LockRequest,
    now: datetime,
) -> Locked:
    """Reserve the cashback this purchase may use (rules in the module docstring).

    Raises:
        CustomerNotFound, IdempotencyKeyConflict.
    """
    customer = await customer_service.lock(conn, tenant_id, request.ident, now=now)
    fingerprint = _fingerprint(customer.id, request)
    key = request.lock_key
    if key is not None:
        replayed = await _replay(conn, tenant_id, key, fingerprint)
        if replayed is not None:
            return Locked(replayed=replayed)
    balances = await customer_service.balances_of(conn, tenant_id, customer, now=now)
    found = quote(program, request.purchase, balances.spendable, enabled=customer.is_enabled)
    if found.points == 0:
        # Nothing is held, so the key is not spent: the same request may lock later.
        return Locked(quote=found)
    if key is not None:
        claimed = await keys.claim(
            conn,
            tenant_id=tenant_id,
            scope=KEY_SCOPE,
            key=key,
            request_hash=fingerprint,
            customer_id=customer.id,
            now=now,
        )
        if not claimed:
            # The same key, used at the same moment for another customer's lock.
            replayed = await _replay(conn, tenant_id, key, fingerprint)
            if replayed is None:  # pragma: no cover - a claim exists, so _replay answers
                raise IdempotencyKeyConflict("This lock_key was used for another lock.")
            return Locked(replayed=replayed)
    held = await ledger.hold(
        conn,
        tenant_id=tenant_id,
        customer_id=customer.id,
        amount=found.points,
        purpose="lock",
        now=now,
        expires_at=_expiry(program, now),
    )
    assert held.expires_at is not None
    created = await repository.add(
        conn,
        tenant_id,
        {
            "token": _new_token(),
            "customer_id": customer.id,
            "hold_id": held.id,
            "status": LockStatus.active.value,
            "points": found.points,
            "lock_key": key,
            "total_cents": _total_cents(request),
            "details": request.details,
            "created_at": now,
            "expires_at": held.expires_at,
        },
    )
    parts = await ledger.hold_parts(conn, tenant_id=tenant_id, hold_id=held.id)
    return Locked(
        quote=found,
        lock=created,
        parts=[HeldPart(lot.id, points, lot.expires_at) for lot, points in parts],
    )


# More points than any customer holds: a quote with this balance is limited by the rule alone.
_UNBOUNDED = 2**62


async def lock_at_once(
    db: Database,
    *,
    check: KeyCheck,
    tenant_id: int,
    program: ProgramSettings,
    request: LockRequest,
    now: datetime,
) -> Locked | None:
    """`lock` in one round trip (PostgreSQL, `Database.batched`) when it takes a lock
    without a `lock_key`; None, having written nothing, whenever it would not (no customer by
    that OriginalId, nothing to hold, a reason, debt, something due, a key) or `check` fails:
    the caller then authenticates in full and runs `lock`, which decides.
    """
    if request.lock_key is not None or money.cent_step(program.PointValue) != 1:
        # A key to claim, or points worth fractions of a cent: a balance that limits the lock
        # may need trimming to whole cents (`quote`), which the database's function does not do.
        return None
    # The rule's cap alone; the database limits it to the customer's balance.
    capped = quote(program, request.purchase, _UNBOUNDED)
    if capped.points == 0:
        return None
    held = await hotpath.hold_for_lock(
        db,
        check=check,
        tenant_id=tenant_id,
        original_id=request.ident,
        now=now,
        most=None if capped.points == _UNBOUNDED else capped.points,
        token=_new_token(),
        total_cents=_total_cents(request),
        details=request.details,
        expires_at=_expiry(program, now),
    )
    if held is None:
        return None
    created = repository.lock_of(held.lock)
    return Locked(
        quote=Quote(created.points, held.spendable),
        lock=created,
        parts=[HeldPart(lot_id, points, expires_at) for lot_id, points, expires_at in held.parts],
    )


def _new_token() -> str:
    return secrets.token_urlsafe(24)


def _total_cents(request: LockRequest) -> int:
    return int((request.purchase.total or Decimal(0)) * 100)


def _expiry(program: ProgramSettings, now: datetime) -> datetime:
    return now + timedelta(seconds=program.LockTtlSeconds)


async def remember_result(
    conn: AsyncConnection, *, tenant_id: int, lock_key: str, result: dict[str, Any]
) -> None:
    """Keep the answer of a lock so a replay of its lock_key repeats it."""
    await keys.set_result(conn, tenant_id=tenant_id, scope=KEY_SCOPE, key=lock_key, result=result)


async def _locked(conn: AsyncConnection, tenant_id: int, token: str, now: datetime) -> CashbackLock:
    """The lock, with its customer's row locked (and settled) first, as every write does."""
    found = await repository.get_by_token(conn, tenant_id, token)
    if found is None:
        raise LockNotFound()
    await customer_service.lock_by_id(conn, tenant_id, found.customer_id, now=now)
    locked = await repository.get_by_token(conn, tenant_id, token, for_update=True)
    assert locked is not None
    return locked


@dataclass(frozen=True, slots=True)
class Resolved:
    lock: CashbackLock
    status: LockStatus


async def commit(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    program: ProgramSettings,
    token: str,
    value: Decimal | None,
    order_ref: str | None,
    now: datetime,
) -> Resolved:
    """Spend a lock's cashback (all, or `value` and release the rest); again: the same answer.

    Raises:
        LockNotFound, LockRolledBack, LockExpired, InvalidValue, ValueExceedsLock.
    """
    locked = await _locked(conn, tenant_id, token, now)
    status = locked.status_at(now)
    if status == LockStatus.committed:
        return Resolved(locked, status)
    if status == LockStatus.rolled_back:
        raise LockRolledBack()
    if status == LockStatus.expired:
        raise LockExpired()
    points = locked.points
    if value is not None:
        if value <= 0:
            raise InvalidValue("value must be greater than zero.")
        try:
            points = money.to_points(value, program.PointValue)
        except money.InexactAmount as exc:
            raise InvalidValue(f"value {exc}.") from None
        if points > locked.points:
            raise ValueExceedsLock(
                f"value is more than the {money.to_money(locked.points, program.PointValue)} "
                "this lock reserved."
            )
    try:
        spent = await ledger.capture(
            conn,
            tenant_id=tenant_id,
            hold_id=locked.hold_id,
            amount=points,
            now=now,
            point_type=PointType.CashbackUsed,
            reason=capture_reason(locked.id, order_ref),
        )
    except HoldNotActive as exc:
        _raise_unless_expired(exc)
        raise LockExpired() from None
    assert spent is not None
    changed = await repository.change(
        conn,
        tenant_id,
        locked.id,
        {
            "status": LockStatus.committed.value,
            "committed_points": points,
            "capture_transfer_id": spent.id,
            "order_ref": order_ref,
            "resolved_at": now,
        },
    )
    return Resolved(changed, changed.status)


def capture_reason(lock_id: int, order_ref: str | None) -> str:
    """The ledger's reason for a lock's capture. `fidelis_commit_lock_now` writes the same text
    in SQL (the lock's id is known only there); `tests/test_lock_paths.py` holds both to it."""
    return f"cashback lock {lock_id}" + (f" for order {order_ref}" if order_ref else "")


async def commit_at_once(
    db: Database,
    *,
    check: KeyCheck,
    tenant_id: int,
    token: str,
    value: Decimal | None,
    order_ref: str | None,
    now: datetime,
) -> Resolved | None:
    """`commit` of a whole active lock in one round trip (PostgreSQL,
    `Database.batched`); None, having written nothing, for anything else (a `value`, a
    lock not active, something due) or when `check` fails: the caller then authenticates in
    full and runs `commit`, which decides.
    """
    if value is not None:
        return None
    row = await hotpath.capture_lock(
        db, check=check, tenant_id=tenant_id, token=token, now=now, order_ref=order_ref
    )
    if row is None:
        return None
    committed = repository.lock_of(row)
    return Resolved(committed, committed.status)


async def rollback(conn: AsyncConnection, *, tenant_id: int, token: str, now: datetime) -> Resolved:
    """Give a lock's cashback back; a lock already rolled back or expired answers its state.

    Raises:
        LockNotFound, LockAlreadyCommitted.
    """
    locked = await _locked(conn, tenant_id, token, now)
    status = locked.status_at(now)
    if status == LockStatus.committed:
        raise LockAlreadyCommitted()
    if status != LockStatus.active:
        return Resolved(locked, status)
    try:
        await ledger.release(conn, tenant_id=tenant_id, hold_id=locked.hold_id, now=now)
    except HoldNotActive as exc:
        _raise_unless_expired(exc)
        return Resolved(locked, LockStatus.expired)
    changed = await repository.change(
        conn,
        tenant_id,
        locked.id,
        {"status": LockStatus.rolled_back.value, "resolved_at": now},
    )
    return Resolved(changed, changed.status)


def _raise_unless_expired(exc: HoldNotActive) -> None:
    """A lock still active at the request's `now` whose hold ran out all the same: a writer
    that came after the expiry (the job, another request of the customer) settled it while
    this request waited for the customer. The expiry won, and the request answers that; any
    other state of the hold is a lock and hold out of step, raised as it is."""
    if exc.details.get("status") != HoldStatus.expired:
        raise exc


async def give_back_for_order(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    customer_id: int,
    order_refs: list[str],
    now: datetime,
) -> None:
    """Return the cashback of committed locks that paid for a cancelled order, once."""
    for found in await repository.list_committed_for_order(
        conn, tenant_id, customer_id, order_refs
    ):
        assert found.capture_transfer_id is not None
        back = await ledger.reverse(
            conn,
            tenant_id=tenant_id,
            transfer_id=found.capture_transfer_id,
            now=now,
            point_type=PointType.CashbackRefund,
        )
        await repository.change(conn, tenant_id, found.id, {"refund_transfer_id": back.id})


@dataclass(frozen=True, slots=True)
class CustomerBalance:
    balances: Balances
    lots: list[Lot]


async def balance(
    conn: AsyncConnection, *, tenant_id: int, ident: str, now: datetime
) -> CustomerBalance:
    """The customer's balances and open lots as they are at `now`.

    Raises:
        CustomerNotFound.
    """
    customer = await customer_service.get(conn, tenant_id, ident)
    settled = await ledger.effective_lots(
        conn, tenant_id=tenant_id, customer_id=customer.id, settle_at=customer.settle_at, now=now
    )
    live = [
        lot
        for lot in settled.lots
        if lot.free > 0 and (lot.expires_at is None or lot.expires_at > now)
    ]
    return CustomerBalance(settled.balances, live)
