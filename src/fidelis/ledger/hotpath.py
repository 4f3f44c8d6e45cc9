"""The ledger's hot paths: the two requests stores send most — add points, read a customer's
points — and the reservation API's lock and commit, without SQLAlchemy's per-statement work.

On PostgreSQL each is one call of a function in `pgfunctions.py` instead of a dozen
statements: the function does the same writes and reads as `ledger.service` and
`ledger.repository` do statement by statement, inside the database, and is its own
transaction (`Database.at_once`, the driver's own connection). On SQLite the same statements
run from Python on the `sqlite3` connection (`sqlitepath.py`: adding and reading points; lock
and commit take the general path there).

Each also carries the request's `KeyCheck` (`tenant.keys`): when the key was revoked, the
program settings changed or the client is blocked, the work is not done and None comes back.

They cover the plain case only and return None otherwise, having written nothing: the caller
then runs the general path, which does the rare work (settling, paying off debt) or raises
the right error. The tests run every points test on both paths' databases, and `fidelis ledger
check` holds after each.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from fidelis import metrics
from fidelis.db.batches import Call
from fidelis.ledger import pgfunctions, sqlitepath
from fidelis.ledger.model import (
    PlainCredit,
    PointType,
    SummedPoints,
    TransferType,
)
from fidelis.tenant.keys import KeyCheck

if TYPE_CHECKING:
    from fidelis.db.engine import Database


CREDIT = Call.of(
    "fidelis_credit_now_for_key",
    pgfunctions.CREDIT_NOW_FOR_KEY_PARAMS,
    "customer_id, name, transfer_id, summary",
)
LOCK = Call.of("fidelis_lock_now", pgfunctions.LOCK_NOW_PARAMS, "spendable, parts, locked")
COMMIT_LOCK = Call.of(
    "fidelis_commit_lock_now",
    pgfunctions.COMMIT_LOCK_NOW_PARAMS,
    "locked",
    alone="f::cashback_lock AS locked",
)
# A read: whether the key check runs before or after the customer's lookup, no row comes back
# unless it passes.
SUMMARY = (
    "SELECT c.id, c.name, fidelis_points_summary(c.tenant_id, c.id, $3, $4)"
    " FROM customer c"
    " WHERE c.tenant_id = $1 AND c.original_id = $2"
    " AND (c.settle_at IS NULL OR c.settle_at > $3)"
    " AND fidelis_key_allows($1, $5, $6, $7, $8, $9, $10)"
)


async def credit_now(
    db: Database, *, queue: str | None, check: KeyCheck, credit: PlainCredit
) -> SummedPoints | None:
    """`ledger.service.credit` of available points to the customer whose OriginalId is
    `credit.original_id`, with the key claimed first, then the customer's summary. On
    PostgreSQL, credits of concurrent requests go in one call and one commit
    (`Database.batched`); on SQLite, in the process's batch of hot-path writes
    (`Database.at_once`, `queue` as there).

    None (nothing written) unless: `check` passes, the customer exists, is enabled, has
    nothing due to settle and no debt, and the key (if any) was not used.
    """
    if db.is_sqlite:
        async with db.at_once(queue=queue) as driver:
            return sqlitepath.credit_now(driver, check=check, credit=credit)
    kind = credit.type.kind
    assert kind.history_sign == 1, "a credit"
    assert kind.point_type is not None, "shown in the history"
    args = (
        *check.args(),
        credit.tenant_id,
        credit.original_id,
        credit.now,
        credit.amount,
        credit.type.value,
        int(kind.point_type),
        credit.origin,
        credit.expires_at,
        credit.reason,
        credit.customer_reason,
        credit.key_scope,
        credit.key,
        credit.key_hash,
        credit.history,
    )
    row = await db.batched(CREDIT, args)
    if row is None:
        return None
    metrics.count_transfer(credit.type.value, credit.amount)
    return _summary(row["customer_id"], row["name"], row["summary"])


async def summary(
    driver: Any, *, check: KeyCheck, tenant_id: int, original_id: str, now: datetime, history: int
) -> SummedPoints | None:
    """The points of the customer whose OriginalId is `original_id`; None when `check` fails,
    there is no such customer or something of theirs is due to settle (then only the general
    path can work out the balances)."""
    if isinstance(driver, sqlite3.Connection):
        return sqlitepath.summary(
            driver,
            check=check,
            tenant_id=tenant_id,
            original_id=original_id,
            now=now,
            history=history,
        )
    row = await driver.fetchrow(SUMMARY, tenant_id, original_id, now, history, *check.args())
    return None if row is None else _summary(row[0], row[1], row[2])


@dataclass(frozen=True, slots=True)
class LockHeld:
    """A cashback lock taken: the customer's spendable points before it, the lots it holds
    points of (lot id, points, the lot's expiry) in spending order, and its `cashback_lock`
    row (a mapping of its columns)."""

    spendable: int
    parts: list[tuple[int, int, datetime | None]]
    lock: Any


async def hold_for_lock(
    db: Database,
    *,
    check: KeyCheck,
    tenant_id: int,
    original_id: str,
    now: datetime,
    most: int | None,
    token: str,
    total_cents: int,
    details: dict[str, Any],
    expires_at: datetime,
) -> LockHeld | None:
    """`ledger.service.hold` of the customer's spendable points, `most` at most (None: all),
    and the cashback lock over it, for the customer whose OriginalId is `original_id`.

    None (nothing written) unless: `check` passes, the customer exists, is enabled, has
    nothing due to settle and no debt, and has points to hold.
    """
    args = (
        *check.args(),
        tenant_id,
        original_id,
        now,
        most,
        TransferType.hold.value,
        token,
        total_cents,
        orjson.dumps(details).decode(),
        expires_at,
    )
    row = await db.batched(LOCK, args)
    if row is None:
        return None
    locked = row["locked"]
    metrics.count_transfer(TransferType.hold.value, locked["points"])
    return LockHeld(
        spendable=row["spendable"],
        parts=[(i, p, _instant(e) if e is not None else None) for i, p, e in row["parts"]],
        lock=locked,
    )


async def capture_lock(
    db: Database,
    *,
    check: KeyCheck,
    tenant_id: int,
    token: str,
    now: datetime,
    order_ref: str | None,
) -> Any | None:
    """`ledger.service.capture` of everything an active cashback lock holds, and the lock
    committed: its `cashback_lock` row as it is now (a mapping of its columns).

    None (nothing written) unless: `check` passes, the lock exists and is active, its
    customer has nothing due to settle, and its hold is active and whole.
    """
    args = (
        *check.args(),
        tenant_id,
        token,
        now,
        order_ref,
        TransferType.capture.value,
        int(PointType.CashbackUsed),
    )
    row = await db.batched(COMMIT_LOCK, args)
    if row is None:
        return None
    locked = row["locked"]
    metrics.count_transfer(TransferType.capture.value, locked["committed_points"])
    return locked


def _summary(customer_id: int, name: str | None, data: Any) -> SummedPoints:
    """`data`: the summary document, already decoded by the connection's json codec."""
    return SummedPoints.from_rows(
        customer_id, name, data["balances"], data["expiring"], data["history"], _instant
    )


def _instant(text: str) -> datetime:
    """A timestamptz as PostgreSQL writes it in JSON (ISO 8601 with the session's offset)."""
    return datetime.fromisoformat(text).astimezone(UTC)
