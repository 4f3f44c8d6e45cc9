"""Adding and removing points or cashback by hand, with the Private API's rules in their order.

The order is part of the contract (api-pvt.md): customer exists, amount not zero, sign matches
the operation, reason present, customer-facing reason short enough, customer enabled, key
unused, enough balance. Each failure raises before anything is written, and the whole change
happens in the caller's one transaction, so a failure changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.customer import service as customer_service
from fidelis.customer.repository import Customer
from fidelis.customer.service import PointsSummary
from fidelis.errors import (
    CashbackNotEnabled,
    ChangeKeyAlreadyUsed,
    CustomerDisabled,
    CustomerReasonTooLong,
    FidelisError,
    InvalidField,
    InvalidValue,
    OperationTypeMismatch,
    PointsCannotBeZero,
    ReasonRequired,
)
from fidelis.idempotency import repository as keys
from fidelis.idempotency.service import request_hash
from fidelis.kit import money
from fidelis.kit.text import blank, strip_html
from fidelis.ledger import hotpath
from fidelis.ledger import service as ledger
from fidelis.ledger.model import PlainCredit, TransferType
from fidelis.program.schemas import ProgramSettings
from fidelis.tenant.keys import KeyCheck

if TYPE_CHECKING:
    from fidelis.db.engine import Database

ADD, REMOVE = 0, 1
CUSTOMER_REASON_MAX = 255
REASON_MAX = 1000  # `transfer.reason`; the API's schema refuses more before this does
CHANGE_KEY_SCOPE = "change"


@dataclass(frozen=True, slots=True)
class Change:
    """One manual change as the store asked for it."""

    operation: int
    reason: str | None
    customer_reason: str | None = None
    change_key: str | None = None
    expiration_date: datetime | None = None


async def change_points(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    program: ProgramSettings,
    ident: str,
    points: int,
    change: Change,
    now: datetime,
) -> PointsSummary:
    """Add (`points` > 0) or remove (`points` < 0) points.

    Raises:
        CustomerNotFound, PointsCannotBeZero, OperationTypeMismatch, ReasonRequired,
        CustomerReasonTooLong, CustomerDisabled, ChangeKeyAlreadyUsed, InsufficientBalance,
        InvalidValue (an expiration date that is not in the future).
    """
    customer = await customer_service.lock(conn, tenant_id, ident, now=now)
    if points == 0:
        raise PointsCannotBeZero()
    return await _apply(
        conn,
        tenant_id=tenant_id,
        program=program,
        customer=customer,
        ident=ident,
        points=points,
        change=change,
        now=now,
        endpoint="points",
        fingerprint={"Points": points},
    )


async def add_points_at_once(
    db: Database,
    *,
    queue: str | None,
    check: KeyCheck,
    tenant_id: int,
    program: ProgramSettings,
    ident: str,
    points: int,
    change: Change,
    now: datetime,
) -> PointsSummary | None:
    """`change_points` for the plain add on the hot path (`Database.at_once`: one round
    trip on PostgreSQL); None, having written nothing, whenever any rule could refuse
    the change or more work is due, or when `check` fails: the caller then authenticates the
    request in full and runs `change_points`, which decides.
    """
    if points <= 0:
        return None
    try:
        customer_reason = _checked_request(change, points)
        expires_at = _expiry(program, change.expiration_date, now)
    except FidelisError:
        return None  # the general path raises it, in the contract's order
    credit = PlainCredit(
        tenant_id=tenant_id,
        original_id=ident,
        type=TransferType.adjustment_credit,
        amount=points,
        origin="adjustment",
        now=now,
        expires_at=expires_at,
        reason=(change.reason or "").strip(),
        customer_reason=customer_reason,
        key_scope=CHANGE_KEY_SCOPE,
        key=change.change_key,
        key_hash=_fingerprint("points", ident, change, {"Points": points}),
        history=customer_service.POINTS_HISTORY_SIZE,
    )
    found = await hotpath.credit_now(db, queue=queue, check=check, credit=credit)
    return None if found is None else customer_service.summary_of(found)


async def change_cashback(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    program: ProgramSettings,
    ident: str,
    value: Decimal,
    change: Change,
    now: datetime,
) -> PointsSummary:
    """Add or remove cashback (R$), converted exactly to points at the program's `PointValue`.

    Raises:
        CustomerNotFound, CashbackNotEnabled, InvalidValue, and the rules of `change_points`.
    """
    customer = await customer_service.lock(conn, tenant_id, ident, now=now)
    if not program.CashbackEnabled:
        raise CashbackNotEnabled()
    if value == 0:
        raise InvalidValue("Value cannot be zero.")
    try:
        points = money.to_points(value, program.PointValue)
    except money.InexactAmount as exc:
        raise InvalidValue(f"Value {exc}.") from None
    if abs(points) > money.MAX_POINTS:
        raise InvalidValue("Value is too large.")
    return await _apply(
        conn,
        tenant_id=tenant_id,
        program=program,
        customer=customer,
        ident=ident,
        points=points,
        change=change,
        now=now,
        endpoint="cashback",
        fingerprint={"Value": value},
    )


async def _apply(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    program: ProgramSettings,
    customer: Customer,
    ident: str,
    points: int,
    change: Change,
    now: datetime,
    endpoint: str,
    fingerprint: dict[str, object],
) -> PointsSummary:
    customer_reason = _checked_request(change, points)
    if not customer.is_enabled:
        raise CustomerDisabled()
    expires_at = _expiry(program, change.expiration_date, now) if points > 0 else None
    if change.change_key is not None:
        claimed = await keys.claim(
            conn,
            tenant_id=tenant_id,
            scope=CHANGE_KEY_SCOPE,
            key=change.change_key,
            request_hash=_fingerprint(endpoint, ident, change, fingerprint),
            customer_id=customer.id,
            now=now,
        )
        if not claimed:
            summary = await customer_service.points_summary(conn, tenant_id, customer, now=now)
            raise ChangeKeyAlreadyUsed(summary=summary)
    common = {
        "tenant_id": tenant_id,
        "customer_id": customer.id,
        "amount": abs(points),
        "now": now,
        "reason": (change.reason or "").strip(),
        "customer_reason": customer_reason,
        "change_key": change.change_key,
    }
    if points > 0:
        await ledger.credit(
            conn,
            type=TransferType.adjustment_credit,
            origin="adjustment",
            expires_at=expires_at,
            **common,  # type: ignore[arg-type]
        )
    else:
        await ledger.debit(conn, type=TransferType.adjustment_debit, **common)  # type: ignore[arg-type]
    return await customer_service.points_summary(conn, tenant_id, customer, now=now)


def _checked_request(change: Change, points: int) -> str | None:
    """The rules that need no database, in the contract's order; the customer-facing reason
    as stored (sanitized, None when blank).

    Raises:
        OperationTypeMismatch, ReasonRequired, InvalidField (a reason too long),
        CustomerReasonTooLong.
    """
    if (change.operation == ADD) != (points > 0):
        raise OperationTypeMismatch()
    if blank(change.reason):
        raise ReasonRequired()
    if len(change.reason or "") > REASON_MAX:
        # Every caller, the console's form too: the column holds no more.
        raise InvalidField(f"Reason is longer than {REASON_MAX} characters.")
    if blank(change.customer_reason):
        return None
    customer_reason = strip_html(change.customer_reason or "")
    if len(customer_reason) > CUSTOMER_REASON_MAX:
        raise CustomerReasonTooLong()
    return customer_reason or None


def _fingerprint(endpoint: str, ident: str, change: Change, fields: dict[str, object]) -> str:
    """The ChangeKey's request hash: the request as sent (the customer as it was named)."""
    return request_hash(
        endpoint,
        ident,
        {
            **fields,
            "OperationType": change.operation,
            "Reason": change.reason,
            "CustomerReason": change.customer_reason,
        },
    )


def _expiry(program: ProgramSettings, requested: datetime | None, now: datetime) -> datetime | None:
    if requested is not None:
        if requested <= now:
            raise InvalidValue("ExpirationDate must be in the future.")
        return requested
    if program.PointsExpireAfterDays is None:
        return None
    return now + timedelta(days=program.PointsExpireAfterDays)
