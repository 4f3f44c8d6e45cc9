"""`fidelis ledger check`: prove every invariant of the ledger, per tenant.

Each check is one aggregate query that returns the rows that break it, so a clean ledger costs
a handful of scans and a broken one names exactly what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, and_, case, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.db.tables import (
    account,
    customer,
    entry,
    hold,
    hold_part,
    lot,
    lot_movement,
    transfer,
)
from fidelis.ledger.model import AccountKind, HoldStatus, LotStatus


@dataclass(frozen=True, slots=True)
class Violation:
    tenant_id: int
    rule: str
    detail: str


@dataclass(frozen=True, slots=True)
class Summary:
    tenant_id: int
    transfers: int
    entries: int
    accounts: int
    lots: int


async def check_tenant(conn: AsyncConnection, tenant_id: int) -> list[Violation]:
    found: list[Violation] = []

    def report(rule: str, detail: str) -> None:
        found.append(Violation(tenant_id, rule, detail))

    # 1. Every transfer has entries and they sum to zero.
    sums = (
        select(
            transfer.c.id,
            func.count(entry.c.id).label("n"),
            func.coalesce(func.sum(entry.c.amount), 0).label("total"),
        )
        .select_from(
            transfer.outerjoin(
                entry,
                and_(
                    entry.c.tenant_id == transfer.c.tenant_id, entry.c.transfer_id == transfer.c.id
                ),
            )
        )
        .where(transfer.c.tenant_id == tenant_id)
        .group_by(transfer.c.id)
        .having((func.count(entry.c.id) < 2) | (func.coalesce(func.sum(entry.c.amount), 0) != 0))
    )
    for row in await conn.execute(sums):
        report(
            "transfer-sums-to-zero", f"transfer {row.id}: {row.n} entries summing to {row.total}"
        )

    # 2. Every entry belongs to an account of the transfer's own customer.
    stray = (
        select(entry.c.id, entry.c.transfer_id)
        .select_from(
            entry.join(
                transfer,
                and_(
                    transfer.c.tenant_id == entry.c.tenant_id, transfer.c.id == entry.c.transfer_id
                ),
            ).outerjoin(
                account,
                and_(account.c.tenant_id == entry.c.tenant_id, account.c.id == entry.c.account_id),
            )
        )
        .where(
            entry.c.tenant_id == tenant_id,
            (account.c.id.is_(None)) | (account.c.customer_id != transfer.c.customer_id),
        )
    )
    for row in await conn.execute(stray):
        report(
            "entry-account-owner",
            f"entry {row.id} of transfer {row.transfer_id} posts to another customer's account",
        )

    # 3. Every cached balance equals the sum of its entries.
    entry_sums = (
        select(entry.c.account_id, func.sum(entry.c.amount).label("total"))
        .where(entry.c.tenant_id == tenant_id)
        .group_by(entry.c.account_id)
        .subquery()
    )
    balances = (
        select(
            account.c.id,
            account.c.customer_id,
            account.c.kind,
            account.c.balance,
            func.coalesce(entry_sums.c.total, 0).label("total"),
        )
        .select_from(account.outerjoin(entry_sums, entry_sums.c.account_id == account.c.id))
        .where(
            account.c.tenant_id == tenant_id,
            account.c.balance != func.coalesce(entry_sums.c.total, 0),
        )
    )
    for row in await conn.execute(balances):
        report(
            "cached-balance",
            f"account {row.id} ({row.kind} of customer {row.customer_id}) caches "
            f"{row.balance} but its entries sum to {row.total}",
        )

    # 4. Every lot's remaining equals its amount minus what was consumed from it.
    consumed = (
        select(lot_movement.c.lot_id, func.sum(lot_movement.c.consumed).label("total"))
        .where(lot_movement.c.tenant_id == tenant_id)
        .group_by(lot_movement.c.lot_id)
        .subquery()
    )
    lots = (
        select(
            lot.c.id,
            lot.c.amount,
            lot.c.remaining,
            func.coalesce(consumed.c.total, 0).label("total"),
        )
        .select_from(lot.outerjoin(consumed, consumed.c.lot_id == lot.c.id))
        .where(
            lot.c.tenant_id == tenant_id,
            lot.c.remaining != lot.c.amount - func.coalesce(consumed.c.total, 0),
        )
    )
    for row in await conn.execute(lots):
        report(
            "lot-remaining",
            f"lot {row.id}: remaining {row.remaining}, but {row.amount} - {row.total} consumed",
        )

    # 5. Customer balances agree with their lots:
    #    available = Σ free points of available lots; pending = Σ remaining of pending lots;
    #    held = Σ held points of every lot.
    per_lot = (
        select(
            lot.c.customer_id,
            func.sum(
                case(
                    (lot.c.status == LotStatus.available.value, lot.c.remaining - lot.c.held),
                    else_=0,
                )
            ).label("available"),
            func.sum(
                case((lot.c.status == LotStatus.pending.value, lot.c.remaining), else_=0)
            ).label("pending"),
            func.sum(lot.c.held).label("held"),
        )
        .where(lot.c.tenant_id == tenant_id)
        .group_by(lot.c.customer_id)
        .subquery()
    )
    customer_side = (
        select(
            account.c.customer_id,
            func.sum(
                case((account.c.kind == AccountKind.available.value, account.c.balance), else_=0)
            ).label("available"),
            func.sum(
                case((account.c.kind == AccountKind.pending.value, account.c.balance), else_=0)
            ).label("pending"),
            func.sum(
                case((account.c.kind == AccountKind.held.value, account.c.balance), else_=0)
            ).label("held"),
        )
        .where(account.c.tenant_id == tenant_id)
        .group_by(account.c.customer_id)
        .subquery()
    )
    both = union_all(
        select(
            per_lot.c.customer_id,
            per_lot.c.available,
            per_lot.c.pending,
            per_lot.c.held,
            literal(1).label("side"),
        ),
        select(
            customer_side.c.customer_id,
            -customer_side.c.available,
            -customer_side.c.pending,
            -customer_side.c.held,
            literal(2).label("side"),
        ),
    ).subquery()
    mismatches = (
        select(
            both.c.customer_id,
            func.sum(both.c.available).label("available"),
            func.sum(both.c.pending).label("pending"),
            func.sum(both.c.held).label("held"),
        )
        .group_by(both.c.customer_id)
        .having(
            (func.sum(both.c.available) != 0)
            | (func.sum(both.c.pending) != 0)
            | (func.sum(both.c.held) != 0)
        )
    )
    for row in await conn.execute(mismatches):
        report(
            "balances-match-lots",
            f"customer {row.customer_id}: lots minus accounts differ by "
            f"available {row.available}, pending {row.pending}, held {row.held}",
        )

    # 6. An expired lot keeps only points still held by an open reservation.
    for row in await conn.execute(
        select(lot.c.id, lot.c.remaining, lot.c.held).where(
            lot.c.tenant_id == tenant_id,
            lot.c.status == LotStatus.expired.value,
            lot.c.remaining != lot.c.held,
        )
    ):
        report(
            "expired-lot-empty",
            f"lot {row.id} is expired but keeps {row.remaining - row.held} unheld points",
        )

    # 7. Each lot's held points are exactly the parts of the active holds on it.
    active_parts = (
        select(hold_part.c.lot_id, func.sum(hold_part.c.amount).label("total"))
        .join(
            hold, and_(hold.c.tenant_id == hold_part.c.tenant_id, hold.c.id == hold_part.c.hold_id)
        )
        .where(hold_part.c.tenant_id == tenant_id, hold.c.status == HoldStatus.active.value)
        .group_by(hold_part.c.lot_id)
        .subquery()
    )
    for row in await conn.execute(
        select(lot.c.id, lot.c.held, func.coalesce(active_parts.c.total, 0).label("total"))
        .select_from(lot.outerjoin(active_parts, active_parts.c.lot_id == lot.c.id))
        .where(lot.c.tenant_id == tenant_id, lot.c.held != func.coalesce(active_parts.c.total, 0))
    ):
        report("lot-held", f"lot {row.id} marks {row.held} held, active holds on it: {row.total}")

    # 8. An active hold's parts add up to its amount.
    part_sums = (
        select(hold_part.c.hold_id, func.sum(hold_part.c.amount).label("total"))
        .where(hold_part.c.tenant_id == tenant_id)
        .group_by(hold_part.c.hold_id)
        .subquery()
    )
    for row in await conn.execute(
        select(hold.c.id, hold.c.amount, func.coalesce(part_sums.c.total, 0).label("total"))
        .select_from(hold.outerjoin(part_sums, part_sums.c.hold_id == hold.c.id))
        .where(hold.c.tenant_id == tenant_id, hold.c.amount != func.coalesce(part_sums.c.total, 0))
    ):
        report("hold-parts", f"hold {row.id} of {row.amount} has parts summing to {row.total}")

    # 9. Debt is never positive: it is what the customer owes.
    for row in await conn.execute(
        select(account.c.id, account.c.customer_id, account.c.balance).where(
            account.c.tenant_id == tenant_id,
            account.c.kind == AccountKind.debt.value,
            account.c.balance > 0,
        )
    ):
        report(
            "debt-not-positive",
            f"customer {row.customer_id}'s debt account {row.id} is {row.balance} > 0",
        )

    # 10. A customer who owes points has none available: whatever way points come back (a
    # credit, a release, a hold given back, a reversal), they pay off the debt first.
    debt = account.alias("debt")
    for row in await conn.execute(
        select(account.c.customer_id, account.c.balance, debt.c.balance.label("debt"))
        .join(
            debt,
            and_(
                debt.c.tenant_id == account.c.tenant_id,
                debt.c.customer_id == account.c.customer_id,
                debt.c.kind == AccountKind.debt.value,
            ),
        )
        .where(
            account.c.tenant_id == tenant_id,
            account.c.kind == AccountKind.available.value,
            account.c.balance > 0,
            debt.c.balance < 0,
        )
    ):
        report(
            "debt-paid-first",
            f"customer {row.customer_id} owes {-row.debt} points and has {row.balance} available",
        )

    # 11. A reversal names an existing transfer of the same customer.
    original = transfer.alias("original")
    for row in await conn.execute(
        select(transfer.c.id, transfer.c.reverses_id)
        .select_from(
            transfer.outerjoin(
                original,
                and_(
                    original.c.tenant_id == transfer.c.tenant_id,
                    original.c.id == transfer.c.reverses_id,
                ),
            )
        )
        .where(
            transfer.c.tenant_id == tenant_id,
            transfer.c.reverses_id.is_not(None),
            (original.c.id.is_(None)) | (original.c.customer_id != transfer.c.customer_id),
        )
    ):
        report(
            "reversal-target",
            f"transfer {row.id} reverses {row.reverses_id}, which is not the same customer's",
        )

    # 12. Nothing falls due before `customer.settle_at`: it is a lower bound of the open lots'
    # releases and expiries and the active holds' expiries, or settling would miss them.
    events = union_all(
        select(lot.c.customer_id, lot.c.expires_at.label("due")).where(
            lot.c.tenant_id == tenant_id,
            lot.c.status == LotStatus.available.value,
            lot.c.remaining > 0,
            lot.c.expires_at.is_not(None),
        ),
        select(lot.c.customer_id, lot.c.available_at.label("due")).where(
            lot.c.tenant_id == tenant_id,
            lot.c.status == LotStatus.pending.value,
            lot.c.remaining > 0,
        ),
        select(hold.c.customer_id, hold.c.expires_at.label("due")).where(
            hold.c.tenant_id == tenant_id,
            hold.c.status == HoldStatus.active.value,
            hold.c.expires_at.is_not(None),
        ),
    ).subquery()
    soonest = (
        select(events.c.customer_id, func.min(events.c.due).label("due"))
        .group_by(events.c.customer_id)
        .subquery()
    )
    for row in await conn.execute(
        select(customer.c.id, customer.c.settle_at, soonest.c.due)
        .join(
            soonest,
            and_(customer.c.tenant_id == tenant_id, customer.c.id == soonest.c.customer_id),
        )
        .where(customer.c.settle_at.is_(None) | (customer.c.settle_at > soonest.c.due))
    ):
        report(
            "settle-at-in-time",
            f"customer {row.id} is settled at {row.settle_at}, but something falls due at "
            f"{row.due}",
        )

    # 13. A transfer's expiry is its credit lot's (the history shows the copy), and a transfer
    # with no lot has none.
    for row in await conn.execute(
        select(transfer.c.id, transfer.c.expires_at, lot.c.expires_at.label("lot_expires_at"))
        .select_from(
            transfer.outerjoin(
                lot,
                and_(lot.c.tenant_id == transfer.c.tenant_id, lot.c.transfer_id == transfer.c.id),
            )
        )
        .where(
            transfer.c.tenant_id == tenant_id,
            transfer.c.expires_at.is_distinct_from(lot.c.expires_at),
        )
    ):
        report(
            "transfer-expiry",
            f"transfer {row.id} shows expiry {row.expires_at}, its lot {row.lot_expires_at}",
        )
    return found


async def summarize(conn: AsyncConnection, tenant_id: int) -> Summary:
    async def count(table: Table) -> int:
        result = await conn.execute(
            select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
        )
        return int(result.scalar_one())

    return Summary(
        tenant_id=tenant_id,
        transfers=await count(transfer),
        entries=await count(entry),
        accounts=await count(account),
        lots=await count(lot),
    )
