"""Admin reports (liability, daily flows) and the staff's views of a customer. Reads only.

Flows are classified by the accounts a transfer moves points between, not by its type, so a
reversal counts as what it really did:

- **issued**: `issued` → the customer (credits: adjustments, order points);
- **reversed**: the customer → `issued` (credits taken back: order cancels, reversed credits);
- **redeemed**: the customer → `redeemed` (spends: rewards, cashback, manual removals);
- **expired**: the customer → `expired`;
- **refunded**: `redeemed`/`expired` → the customer (cancelled redemptions, refunded captures).

Moves inside the customer's side (pending → available, holds, debt repayment) are not flows.
So over any period: Δ(net outstanding) = issued - reversed - redeemed - expired + refunded.

Days are UTC calendar days; a movement belongs to the day its transfer was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.customer.repository import Customer
from fidelis.errors import CustomerNotFound, InvalidField
from fidelis.kit.clock import accepted_utc
from fidelis.kit.document import digits as document_digits
from fidelis.kit.document import only_document_characters
from fidelis.ledger import repository as ledger_repository
from fidelis.ledger import service as ledger
from fidelis.ledger.model import AccountKind, Balances, TransferType
from fidelis.report import repository
from fidelis.report.repository import HoldRow, LotRow, MovementRow

# ChangeKeys that the admin console generates start with this, so the ledger shows who did it.
CONSOLE_KEY_PREFIX = "console-"
MAX_DAYS = 366
DEFAULT_DAYS = 30
LOTS_SHOWN = 200

_CUSTOMER_SIDE = {
    AccountKind.available.value,
    AccountKind.pending.value,
    AccountKind.held.value,
    AccountKind.debt.value,
}
_SPENT = {AccountKind.redeemed.value, AccountKind.expired.value}


@dataclass(slots=True)
class Flows:
    issued: int = 0
    redeemed: int = 0
    expired: int = 0
    reversed: int = 0
    refunded: int = 0

    def add(self, source: str, destination: str, points: int) -> None:
        kind = classify(source, destination)
        if kind is not None:
            setattr(self, kind, getattr(self, kind) + points)


def classify(source: str, destination: str) -> str | None:
    """The flow a move between two account kinds counts as, or None for an internal move."""
    if source == AccountKind.issued and destination in _CUSTOMER_SIDE:
        return "issued"
    if source in _CUSTOMER_SIDE and destination == AccountKind.issued:
        return "reversed"
    if source in _CUSTOMER_SIDE and destination == AccountKind.redeemed:
        return "redeemed"
    if source in _CUSTOMER_SIDE and destination == AccountKind.expired:
        return "expired"
    if source in _SPENT and destination in _CUSTOMER_SIDE:
        return "refunded"
    return None


@dataclass(frozen=True, slots=True)
class Period:
    """Whole UTC days, both ends included."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=UTC)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def period(first: date | None, last: date | None, *, now: datetime) -> Period:
    """The period asked for; by default the last 30 UTC days, today included.

    Raises:
        InvalidField: a day outside the years Fidelis takes (`kit.clock.EARLIEST`), `From`
            after `To`, or more than 366 days.
    """
    for name, day in (("From", first), ("To", last)):
        if day is not None:
            try:
                accepted_utc(datetime.combine(day, time(0), tzinfo=UTC))
            except ValueError as refused:
                raise InvalidField(f"{name} {refused}.") from None
    if last is None:
        last = (first + timedelta(days=DEFAULT_DAYS - 1)) if first else now.astimezone(UTC).date()
    if first is None:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidField("From must not be after To.")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidField(f"The period may span at most {MAX_DAYS} days.")
    return Period(first, last)


@dataclass(frozen=True, slots=True)
class Liability:
    as_of: datetime
    customers: int
    balances: Balances
    period: Period
    flows: Flows

    @property
    def outstanding(self) -> int:
        """What the program owes its customers: available, pending and held points (debt is
        what customers owe back, shown on its own, never netted against others' points)."""
        return self.balances.available + self.balances.pending + self.balances.held


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    flows: Flows


async def liability(
    conn: AsyncConnection, tenant_id: int, *, span: Period, now: datetime
) -> Liability:
    """Outstanding points as they are at `now` (due releases and expiries counted even before a
    writer or the job has written them, as customers see them) and the flows of `span`."""
    totals = await repository.sum_balances(conn, tenant_id)
    available = totals.get(AccountKind.available, 0)
    pending = totals.get(AccountKind.pending, 0)
    held = totals.get(AccountKind.held, 0)
    debt = totals.get(AccountKind.debt, 0)
    for customer_id, settle_at in await repository.list_due_customers(conn, tenant_id, now):
        cached = await ledger_repository.get_balances(conn, tenant_id, customer_id)
        projected = await ledger.effective_balances(
            conn, tenant_id=tenant_id, customer_id=customer_id, settle_at=settle_at, now=now
        )
        available += projected.available - cached.available
        pending += projected.pending - cached.pending
        held += projected.held - cached.held
        debt += projected.debt - cached.debt
    flows = Flows()
    for row in await repository.sum_flows(
        conn, tenant_id, start=span.start, end=span.end, by_day=False
    ):
        flows.add(row.source, row.destination, row.points)
    return Liability(
        as_of=now,
        customers=await repository.count_customers(conn, tenant_id),
        balances=Balances(available=available, pending=pending, held=held, debt=debt),
        period=span,
        flows=flows,
    )


async def daily(conn: AsyncConnection, tenant_id: int, *, span: Period) -> list[Day]:
    """The flows of each UTC day of `span`, oldest first (days without movements as zeros)."""
    by_day = {d.isoformat(): Flows() for d in span.days()}
    for row in await repository.sum_flows(
        conn, tenant_id, start=span.start, end=span.end, by_day=True
    ):
        if row.day in by_day:
            by_day[row.day].add(row.source, row.destination, row.points)
    return [Day(date.fromisoformat(day), flows) for day, flows in by_day.items()]


# --- customers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerPage:
    items: list[tuple[Customer, Balances]]
    total: int


async def search_customers(
    conn: AsyncConnection, tenant_id: int, query: str | None, *, page: int, size: int, now: datetime
) -> CustomerPage:
    """Customers matching `query` by name, e-mail, OriginalId (any part, any case) or document
    (any part of its digits, punctuation ignored); everyone when `query` is blank."""
    text = (query or "").strip()
    digits = document_digits(text)
    # Only a query made of digits and document punctuation is looked up as a document.
    is_document_like = bool(digits) and only_document_characters(text)
    found, total = await repository.search_customers(
        conn,
        tenant_id,
        text=text or None,
        document_digits=digits if is_document_like else None,
        limit=size,
        offset=(page - 1) * size,
    )
    items = []
    for each in found:
        balances = await ledger.effective_balances(
            conn, tenant_id=tenant_id, customer_id=each.id, settle_at=each.settle_at, now=now
        )
        items.append((each, balances))
    return CustomerPage(items, total)


async def get_customer(conn: AsyncConnection, tenant_id: int, customer_id: int) -> Customer:
    """A customer by its internal id.

    Raises:
        CustomerNotFound: this tenant has no customer with this id.
    """
    found = await repository.get_customer(conn, tenant_id, customer_id)
    if found is None:
        raise CustomerNotFound(f"customer {customer_id} not found")
    return found


@dataclass(frozen=True, slots=True)
class Cause:
    """What made a movement happen: its kind and the thing it refers to."""

    kind: str
    ref: str | None


@dataclass(frozen=True, slots=True)
class Movement:
    row: MovementRow
    lots: list[tuple[int, int]]
    created_lot_id: int | None
    cause: Cause


@dataclass(frozen=True, slots=True)
class LedgerPage:
    items: list[Movement]
    total: int


async def customer_ledger(
    conn: AsyncConnection, tenant_id: int, found: Customer, *, page: int, size: int
) -> LedgerPage:
    """Every movement of the customer, newest first, internal ones included, with the internal
    reason, the lots it touched and what caused it."""
    rows = await repository.list_movements(
        conn, tenant_id, found.id, limit=size, offset=(page - 1) * size
    )
    ids = [r.id for r in rows]
    touched = await repository.lot_movements_of(conn, tenant_id, ids)
    created = await repository.lots_created_by(conn, tenant_id, ids)
    redemptions = await repository.redemptions_of(conn, tenant_id, ids)
    locks = await repository.locks_of(conn, tenant_id, ids)
    holds = await repository.holds_of(conn, tenant_id, ids)
    items = [
        Movement(
            row=r,
            lots=touched.get(r.id, []),
            created_lot_id=created.get(r.id),
            cause=_cause(r, redemptions.get(r.id), locks.get(r.id), holds.get(r.id)),
        )
        for r in rows
    ]
    return LedgerPage(items, await repository.count_movements(conn, tenant_id, found.id))


def _cause(
    row: MovementRow, redemption: str | None, lock_id: int | None, hold: tuple[int, str] | None
) -> Cause:
    kind = row.type
    if kind in (TransferType.adjustment_credit, TransferType.adjustment_debit):
        key = row.change_key
        via = "ConsoleAdjustment" if key and key.startswith(CONSOLE_KEY_PREFIX) else "Adjustment"
        return Cause(via, key)
    if redemption is not None:
        return Cause("RedemptionCanceled" if row.reverses_id else "Redemption", redemption)
    if lock_id is not None:
        return Cause("CashbackLockRefund" if row.reverses_id else "CashbackLock", str(lock_id))
    if row.order_ref is not None:
        return Cause("Order", row.order_ref)
    if hold is not None:
        return Cause("Hold", f"{hold[1]} #{hold[0]}")
    if kind in (TransferType.hold_release, TransferType.hold_expiration, TransferType.capture):
        return Cause("Hold", None)
    if kind in (TransferType.release, TransferType.expiration):
        return Cause("Settlement", None)
    if kind == TransferType.debt_repayment:
        # Points that came back (a credit, a release, a hold or redemption given back) paying
        # what the customer owed.
        return Cause("DebtRepayment", None)
    if row.reverses_id is not None:
        return Cause("Reversal", str(row.reverses_id))
    return Cause(kind, None)


@dataclass(frozen=True, slots=True)
class CustomerFile:
    """Everything the console's customer page shows."""

    customer: Customer
    balances: Balances
    lots: list[LotRow]
    holds: list[HoldRow]
    now: datetime = field(compare=False)


async def customer_file(
    conn: AsyncConnection, tenant_id: int, found: Customer, *, now: datetime
) -> CustomerFile:
    balances = await ledger.effective_balances(
        conn, tenant_id=tenant_id, customer_id=found.id, settle_at=found.settle_at, now=now
    )
    lots = await repository.list_lots(conn, tenant_id, found.id, limit=LOTS_SHOWN)
    # A hold past its expiry reads as released, whether or not a writer has written it.
    holds = [
        h
        for h in await repository.list_active_holds(conn, tenant_id, found.id)
        if h.expires_at is None or h.expires_at > now
    ]
    return CustomerFile(found, balances, lots, holds, now)


def lot_state(lot: LotRow, now: datetime) -> str:
    """The lot's state as it is at `now` (settled or not): pending, available, used, expired."""
    if lot.status == "expired" or (lot.expires_at is not None and lot.expires_at <= now):
        return "used" if lot.remaining == 0 and lot.status != "expired" else "expired"
    if lot.remaining == 0:
        return "used"
    if lot.status == "pending" and lot.available_at > now:
        return "pending"
    return "available"
