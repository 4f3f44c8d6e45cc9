"""The ledger's hot paths on SQLite: the statements of `pgfunctions.py`, run from Python.

SQLite has no stored functions, but it needs none to skip the cost the PostgreSQL functions
skip: its statements run in this process, microseconds each, so what a points request pays on
the general path is SQLAlchemy's work around a dozen statements, not the statements. Here they
go straight to the `sqlite3` connection, inside the transaction `Database.at_once` opened
(`BEGIN IMMEDIATE` for a write: the database's write lock is held throughout), with no await
between them.

Each function mirrors its PostgreSQL counterpart statement by statement, with the same plain
case and the same answer: None, having written nothing, whenever the general path must decide
(a failed key check, an unknown or disabled customer, something due to settle, debt, a used
key). `tests/test_points_paths.py` runs the same requests through both paths on both databases
and compares answers and ledgers.

Instants are written and read as `db.types.UtcDateTime` stores them on SQLite (`sqlite_text`):
naive UTC text with microseconds, whose order is time order.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from fidelis import metrics
from fidelis.db.types import from_sqlite_text, sqlite_text
from fidelis.ledger.model import (
    AccountKind,
    PlainCredit,
    SummedPoints,
)
from fidelis.tenant.keys import KeyCheck

# `fidelis_key_allows`.
_KEY_ALLOWS = """
SELECT EXISTS (
        SELECT 1 FROM api_key k JOIN tenant t ON t.id = k.tenant_id
        WHERE k.id = ? AND k.tenant_id = ? AND k.revoked_at IS NULL
          AND CAST(t.program AS TEXT) = ?)
   AND (SELECT count(*) FROM (
            SELECT 1 FROM auth_failure f
            WHERE f.scope = ? AND f.client = ? AND f.failed_at > ?
            LIMIT ?)) < ?
"""

_CUSTOMER = """
SELECT id, name, is_enabled, settle_at FROM customer WHERE tenant_id = ? AND original_id = ?
"""
_SETTLED_CUSTOMER = """
SELECT id, name FROM customer
WHERE tenant_id = ? AND original_id = ? AND (settle_at IS NULL OR settle_at > ?)
"""
_DEBT = "SELECT balance FROM account WHERE tenant_id = ? AND customer_id = ? AND kind = 'debt'"
_CLAIM_KEY = """
INSERT INTO idempotency_key (tenant_id, scope, key, request_hash, customer_id, created_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""
_ADD_TRANSFER = """
INSERT INTO transfer (tenant_id, customer_id, type, amount, points, point_type, reason,
                      customer_reason, change_key, created_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
RETURNING id
"""
# A customer's accounts exist after their first movement; the write lock is held, so when
# the UPDATE finds none the INSERT cannot collide.
_MOVE_BALANCE = """
UPDATE account SET balance = balance + ? WHERE tenant_id = ? AND customer_id = ? AND kind = ?
RETURNING id
"""
_ADD_ACCOUNT = """
INSERT INTO account (tenant_id, customer_id, kind, balance) VALUES (?, ?, ?, ?) RETURNING id
"""
_ADD_ENTRIES = """
INSERT INTO entry (tenant_id, transfer_id, account_id, amount) VALUES (?, ?, ?, ?), (?, ?, ?, ?)
"""
_ADD_LOT = """
INSERT INTO lot (tenant_id, customer_id, transfer_id, origin, amount, remaining, held, status,
                 available_at, expires_at, created_at)
VALUES (?, ?, ?, ?, ?, ?, 0, 'available', ?, ?, ?)
"""
_LOWER_SETTLE_AT = "UPDATE customer SET settle_at = ? WHERE tenant_id = ? AND id = ?"

# `fidelis_points_summary`.
_BALANCES = """
SELECT kind, balance FROM account
WHERE tenant_id = ? AND customer_id = ? AND kind IN ('available', 'pending', 'held', 'debt')
"""
_EXPIRING = """
SELECT expires_at, sum(remaining - held) FROM lot
WHERE tenant_id = ? AND customer_id = ? AND status = 'available' AND expires_at IS NOT NULL
  AND expires_at > ? AND remaining > held
GROUP BY expires_at
ORDER BY expires_at
"""
_HISTORY = """
SELECT id, type, points, point_type, created_at, customer_reason, order_ref, expires_at,
       canceled, reward_id,
       json_extract(source, '$.Branch.OriginalId'), json_extract(source, '$.Branch.Name')
FROM (
    SELECT t.id, t.type, t.points, t.point_type, t.created_at, t.customer_reason, t.order_ref,
           t.expires_at,
           EXISTS (SELECT 1 FROM transfer r
                   WHERE r.tenant_id = t.tenant_id AND r.reverses_id = t.id) AS canceled,
           CASE WHEN t.point_type IN (5, 7) THEN
                    (SELECT s.id FROM redemption s
                     WHERE s.tenant_id = t.tenant_id AND s.transfer_id = t.id)
                WHEN t.point_type IN (6, 8) THEN
                    (SELECT s.id FROM redemption s
                     WHERE s.tenant_id = t.tenant_id AND s.cancel_transfer_id = t.id)
           END AS reward_id,
           CASE WHEN t.point_type IN (5, 7) THEN
                    (SELECT s.details FROM redemption s
                     WHERE s.tenant_id = t.tenant_id AND s.transfer_id = t.id)
                WHEN t.point_type IN (6, 8) THEN
                    (SELECT s.details FROM redemption s
                     WHERE s.tenant_id = t.tenant_id AND s.cancel_transfer_id = t.id)
                WHEN t.point_type IN (2, 3) THEN
                    (SELECT o.details FROM purchase o
                     WHERE o.tenant_id = t.tenant_id AND o.original_id = t.order_ref)
           END AS source
    FROM transfer t
    WHERE t.tenant_id = ? AND t.customer_id = ? AND t.points <> 0
    ORDER BY t.id DESC
    LIMIT ?
)
ORDER BY id DESC
"""


def credit_now(
    db: sqlite3.Connection, *, check: KeyCheck, credit: PlainCredit
) -> SummedPoints | None:
    """`hotpath.credit_now` (`fidelis_credit_now_for_key`) inside a write transaction."""
    tenant_id, amount, key = credit.tenant_id, credit.amount, credit.key
    kind = credit.type.kind
    assert kind.history_sign == 1, "a credit"
    assert kind.point_type is not None, "shown in the history"
    if not _key_allows(db, tenant_id, check):
        return None
    at = sqlite_text(credit.now)
    found = db.execute(_CUSTOMER, (tenant_id, credit.original_id)).fetchone()
    if found is None:
        return None
    customer_id, name, enabled, settle_at = found
    if not enabled or (settle_at is not None and settle_at <= at):
        return None
    debt = db.execute(_DEBT, (tenant_id, customer_id)).fetchone()
    if debt is not None and debt[0] < 0:
        return None
    if key is not None:
        claim = (tenant_id, credit.key_scope, key, credit.key_hash, customer_id, at)
        if db.execute(_CLAIM_KEY, claim).rowcount == 0:
            return None
    expiry = None if credit.expires_at is None else sqlite_text(credit.expires_at)
    (transfer_id,) = db.execute(
        _ADD_TRANSFER,
        (
            tenant_id,
            customer_id,
            credit.type.value,
            amount,
            amount,
            int(kind.point_type),
            credit.reason,
            credit.customer_reason,
            key,
            at,
            expiry,
        ),
    ).fetchone()
    issued = _move(db, tenant_id, customer_id, kind.source, -amount)
    available = _move(db, tenant_id, customer_id, AccountKind.available, amount)
    db.execute(
        _ADD_ENTRIES,
        (tenant_id, transfer_id, issued, -amount, tenant_id, transfer_id, available, amount),
    )
    db.execute(
        _ADD_LOT,
        (tenant_id, customer_id, transfer_id, credit.origin, amount, amount, at, expiry, at),
    )
    if expiry is not None and (settle_at is None or settle_at > expiry):
        db.execute(_LOWER_SETTLE_AT, (expiry, tenant_id, customer_id))
    metrics.count_transfer(credit.type.value, amount)
    return _summed(db, tenant_id, customer_id, name, at, credit.history)


def summary(
    db: sqlite3.Connection,
    *,
    check: KeyCheck,
    tenant_id: int,
    original_id: str,
    now: datetime,
    history: int,
) -> SummedPoints | None:
    """`hotpath.summary` inside a read transaction."""
    at = sqlite_text(now)
    found = db.execute(_SETTLED_CUSTOMER, (tenant_id, original_id, at)).fetchone()
    if found is None or not _key_allows(db, tenant_id, check):
        return None
    return _summed(db, tenant_id, found[0], found[1], at, history)


def _key_allows(db: sqlite3.Connection, tenant_id: int, check: KeyCheck) -> bool:
    allowed = db.execute(
        _KEY_ALLOWS,
        (
            check.key_id,
            tenant_id,
            check.program,
            check.scope,
            check.client,
            sqlite_text(check.since),
            check.failures,
            check.failures,
        ),
    ).fetchone()
    return bool(allowed[0])


def _move(
    db: sqlite3.Connection, tenant_id: int, customer_id: int, kind: AccountKind, amount: int
) -> int:
    """Add `amount` to the customer's `kind` account (made if new); its id."""
    moved = db.execute(_MOVE_BALANCE, (amount, tenant_id, customer_id, kind.value)).fetchone()
    if moved is None:
        moved = db.execute(_ADD_ACCOUNT, (tenant_id, customer_id, kind.value, amount)).fetchone()
    account_id: int = moved[0]
    return account_id


def _summed(
    db: sqlite3.Connection, tenant_id: int, customer_id: int, name: str | None, at: str, limit: int
) -> SummedPoints:
    balances = dict(db.execute(_BALANCES, (tenant_id, customer_id)).fetchall())
    expiring = db.execute(_EXPIRING, (tenant_id, customer_id, at)).fetchall()
    history = db.execute(_HISTORY, (tenant_id, customer_id, limit)).fetchall()
    return SummedPoints.from_rows(customer_id, name, balances, expiring, history, from_sqlite_text)
