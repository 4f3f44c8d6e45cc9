"""Customer rules: identification, upsert, status, and the points views."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.customer import repository
from fidelis.customer.repository import Customer
from fidelis.errors import CustomerNotFound, InvalidDocument, InvalidField, ReasonRequired
from fidelis.kit.document import InvalidDocumentNumber, looks_like_document, normalize_document
from fidelis.kit.document import digits as document_digits
from fidelis.kit.text import blank
from fidelis.ledger import hotpath
from fidelis.ledger import repository as ledger_repository
from fidelis.ledger import service as ledger
from fidelis.ledger.model import Balances, HistoryItem, SummedPoints
from fidelis.tenant.keys import KeyCheck

POINTS_HISTORY_SIZE = 20
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# The longest e-mail stored, as sent and as its lower-case lookup key (`customer.email_key`).
EMAIL_MAX = 255


@dataclass(frozen=True, slots=True)
class ExpiringPoints:
    points: int
    when: datetime


@dataclass(frozen=True, slots=True)
class PointsSummary:
    customer_id: int
    name: str | None
    balances: Balances
    to_expire: list[ExpiringPoints]
    history: list[HistoryItem]


@dataclass(frozen=True, slots=True)
class HistoryPage:
    items: list[HistoryItem]
    total: int


async def find(
    conn: AsyncConnection, tenant_id: int, ident: str, *, for_update: bool = False
) -> Customer | None:
    """The customer named by OriginalId, e-mail (any case) or CPF/CNPJ (any punctuation)."""
    found = await repository.get_by(conn, tenant_id, "original_id", ident, for_update=for_update)
    if found is None and "@" in ident:
        found = await repository.get_by(
            conn, tenant_id, "email_key", ident.strip().lower(), for_update=for_update
        )
    if found is None and looks_like_document(ident):
        found = await repository.get_by(
            conn, tenant_id, "document", document_digits(ident), for_update=for_update
        )
    return found


async def get(
    conn: AsyncConnection, tenant_id: int, ident: str, *, for_update: bool = False
) -> Customer:
    """Raises:
    CustomerNotFound: nobody in this tenant answers to `ident`.
    """
    found = await find(conn, tenant_id, ident, for_update=for_update)
    if found is None:
        raise CustomerNotFound(f"customer {ident!r} not found")
    return found


async def lock(conn: AsyncConnection, tenant_id: int, ident: str, *, now: datetime) -> Customer:
    """Find the customer, take its row lock for this transaction, and settle due lots.

    Every write that touches a customer's points starts here.

    Raises:
        CustomerNotFound: nobody in this tenant answers to `ident`.
    """
    found = await get(conn, tenant_id, ident, for_update=True)
    await ledger.settle_if_due(
        conn, tenant_id=tenant_id, customer_id=found.id, settle_at=found.settle_at, now=now
    )
    return found


async def lock_by_id(
    conn: AsyncConnection, tenant_id: int, customer_id: int, *, now: datetime
) -> Customer:
    """`lock` for a customer already known by id (an order's or a redemption's)."""
    found = await repository.get_by_id(conn, tenant_id, customer_id, for_update=True)
    assert found is not None, "rows that name a customer always name one of their tenant"
    await ledger.settle_if_due(
        conn, tenant_id=tenant_id, customer_id=found.id, settle_at=found.settle_at, now=now
    )
    return found


async def get_by_id(conn: AsyncConnection, tenant_id: int, customer_id: int) -> Customer:
    """A customer already known by id, as it is now in this transaction."""
    found = await repository.get_by_id(conn, tenant_id, customer_id)
    assert found is not None, "rows that name a customer always name one of their tenant"
    return found


async def upsert(
    conn: AsyncConnection, tenant_id: int, fields: dict[str, Any], *, now: datetime
) -> tuple[Customer, str]:
    """Create the customer named by `OriginalId`, or update the fields given.

    `fields` holds only what the caller sent (snake_case keys); a field left out keeps its
    value, a field sent as null is cleared.

    Raises:
        InvalidDocument: the document is not a valid CPF or CNPJ.
        InvalidField: e-mail malformed, or e-mail/document already used by another customer.
    """
    values = _clean(fields)
    original_id = values.pop("original_id")
    existing = await repository.get_by(conn, tenant_id, "original_id", original_id, for_update=True)
    for column, label in (("email_key", "Email"), ("document", "Document")):
        if values.get(column):
            owner = await repository.owner_of(conn, tenant_id, column, values[column])
            if owner is not None and existing is None:
                # A concurrent request may have just created this very customer: look again.
                existing = await repository.get_by(
                    conn, tenant_id, "original_id", original_id, for_update=True
                )
            if owner is not None and (existing is None or owner != existing.id):
                raise InvalidField(f"{label} is already used by another customer")
    operation = "updated"
    taken = InvalidField("Email or Document is already used by another customer")
    if existing is None:
        created = None
        try:
            # A savepoint, because ON CONFLICT only arbitrates the OriginalId index: a
            # concurrent creator of the same customer can make the e-mail or document index
            # fail first, and that must not abort the whole transaction.
            async with conn.begin_nested():
                created = await repository.add(
                    conn,
                    tenant_id,
                    {
                        "is_enrolled": True,
                        **values,
                        "original_id": original_id,
                        "is_enabled": True,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
        except IntegrityError:
            created = None
        if created is not None:
            operation = "created"
        else:
            # Someone created this OriginalId first (then we update it), or the e-mail or
            # document belongs to another customer (then there is nothing to update).
            existing = await repository.get_by(
                conn, tenant_id, "original_id", original_id, for_update=True
            )
            if existing is None:
                raise taken
    if existing is not None:
        try:
            async with conn.begin_nested():
                await repository.update_fields(
                    conn, tenant_id, existing.id, {**values, "updated_at": now}
                )
        except IntegrityError:
            # Another customer took the e-mail or document after our check.
            raise taken from None
    customer = await repository.get_by(conn, tenant_id, "original_id", original_id)
    assert customer is not None
    return customer, operation


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    values = dict(fields)
    if "email" in values:
        email = values["email"]
        if email is not None and not blank(email):
            email = email.strip()
            if not EMAIL.match(email):
                raise InvalidField("Email is not a valid e-mail address")
            key = email.lower()
            if len(key) > EMAIL_MAX:
                # Lower case can be longer ("İ" is two characters): the key is stored too.
                raise InvalidField(f"Email is longer than {EMAIL_MAX} characters in lower case")
            values["email"], values["email_key"] = email, key
        else:
            values["email"], values["email_key"] = None, None
    if "document" in values:
        document = values["document"]
        if document is not None and not blank(document):
            try:
                values["document"] = normalize_document(document)
            except InvalidDocumentNumber:
                raise InvalidDocument() from None
        else:
            values["document"] = None
    return values


async def change_status(
    conn: AsyncConnection,
    tenant_id: int,
    ident: str,
    *,
    is_enabled: bool,
    reason: str | None,
    now: datetime,
) -> Customer:
    """Enable or disable a customer (a disabled one cannot earn, receive or redeem).

    Raises:
        CustomerNotFound: nobody in this tenant answers to `ident`.
        ReasonRequired: no reason was given.
    """
    found = await get(conn, tenant_id, ident, for_update=True)
    if blank(reason):
        raise ReasonRequired()
    await repository.update_fields(
        conn,
        tenant_id,
        found.id,
        {"is_enabled": is_enabled, "status_reason": reason, "updated_at": now},
    )
    updated = await repository.get_by_id(conn, tenant_id, found.id)
    assert updated is not None
    return updated


async def points_summary(
    conn: AsyncConnection, tenant_id: int, found: Customer, *, now: datetime
) -> PointsSummary:
    """Balances, points about to expire and the newest movements, as they are at `now`."""
    due = found.settle_at is not None and found.settle_at <= now
    if due:
        # Something fell due and is not written yet: work it out from the lots themselves.
        settled = await ledger.effective_lots(
            conn, tenant_id=tenant_id, customer_id=found.id, settle_at=found.settle_at, now=now
        )
        balances = settled.balances
        expiring: dict[datetime, int] = {}
        for lot in settled.lots:
            if lot.expires_at is not None and lot.is_available(now) and lot.free > 0:
                expiring[lot.expires_at] = expiring.get(lot.expires_at, 0) + lot.free
        soonest = sorted(expiring.items())
    else:
        # Settled: the stored lots are right as they are, and the database can sum them.
        balances = await ledger_repository.get_balances(conn, tenant_id, found.id)
        soonest = await ledger_repository.sum_expiring(conn, tenant_id, found.id, after=now)
    history = await ledger_repository.list_history(
        conn, tenant_id, found.id, limit=POINTS_HISTORY_SIZE
    )
    return PointsSummary(
        customer_id=found.id,
        name=found.name,
        balances=balances,
        to_expire=[ExpiringPoints(points=p, when=w) for w, p in soonest],
        history=history,
    )


async def points_at_once(
    driver: Any, tenant_id: int, ident: str, *, check: KeyCheck, now: datetime
) -> PointsSummary | None:
    """`points_summary` on the hot path (`Database.at_once`: one round trip on PostgreSQL), for a
    customer named by OriginalId with nothing due to settle, if `check` passes; None
    otherwise."""
    found = await hotpath.summary(
        driver,
        check=check,
        tenant_id=tenant_id,
        original_id=ident,
        now=now,
        history=POINTS_HISTORY_SIZE,
    )
    return None if found is None else summary_of(found)


def summary_of(found: SummedPoints) -> PointsSummary:
    return PointsSummary(
        customer_id=found.customer_id,
        name=found.name,
        balances=found.balances,
        to_expire=[ExpiringPoints(points=p, when=w) for w, p in found.expiring],
        history=found.history,
    )


async def history_page(
    conn: AsyncConnection, tenant_id: int, found: Customer, *, page: int, size: int
) -> HistoryPage:
    items = await ledger_repository.list_history(
        conn, tenant_id, found.id, limit=size, offset=(page - 1) * size
    )
    total = await ledger_repository.count_history(conn, tenant_id, found.id)
    return HistoryPage(items=items, total=total)


async def balances_of(
    conn: AsyncConnection, tenant_id: int, found: Customer, *, now: datetime
) -> Balances:
    return await ledger.effective_balances(
        conn, tenant_id=tenant_id, customer_id=found.id, settle_at=found.settle_at, now=now
    )
