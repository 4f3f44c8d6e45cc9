"""Applying imported rows through the same services the API uses, one savepoint per row.

Each row goes through `customer.service.upsert` (CPF/CNPJ check digits, e-mail format,
e-mail/document owned by one customer, ...) and, for an opening balance, through
`adjustment.service.change_points` (customer enabled, reason, expiry from the program, ...).
A row that breaks a rule is rolled back to its savepoint and reported; the rows around it
stay in the caller's transaction.

Re-running a file changes nothing:
- a customer whose fields already hold the row's values is not written at all (not even
  `updated_at`);
- an opening balance is credited with the ChangeKey `import:<OriginalId>:opening` (see
  `opening_key`), claimed like any ChangeKey in the same transaction as the credit. The key
  depends only on the tenant (keys are per tenant) and the customer's OriginalId, not on the
  file, its name or the row's line: a second run, an edited copy of the file, or two imports
  racing each other can never credit the same customer's opening balance twice. The price:
  an opening balance cannot be corrected by importing again; use a points adjustment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.adjustment import service as adjustment
from fidelis.adjustment.service import ADD, CHANGE_KEY_SCOPE, Change
from fidelis.customer import repository as customer_repository
from fidelis.customer import service as customer_service
from fidelis.customer.repository import Customer
from fidelis.errors import ChangeKeyAlreadyUsed, FidelisError
from fidelis.idempotency import repository as keys
from fidelis.importer import repository
from fidelis.importer.csvfile import Row, RowError
from fidelis.kit.document import InvalidDocumentNumber, normalize_document
from fidelis.tenant.repository import Tenant

OPENING_REASON = "Saldo inicial (importação)"
CHANGE_KEY_MAX = 200

Kind = Literal["created", "updated", "unchanged", "error"]


@dataclass(frozen=True, slots=True)
class Outcome:
    line: int
    original_id: str | None
    kind: Kind
    credited: int = 0
    message: str | None = None


def opening_key(original_id: str) -> str:
    """The ChangeKey of a customer's imported opening balance (at most 200 characters)."""
    key = f"import:{original_id}:opening"
    if len(key) <= CHANGE_KEY_MAX:
        return key
    digest = hashlib.sha256(original_id.encode()).hexdigest()
    return f"import:sha256:{digest}:opening"


async def import_rows(
    conn: AsyncConnection,
    tenant: Tenant,
    rows: list[Row | RowError],
    *,
    now: datetime,
    keep_going: Callable[[], bool] = lambda: True,
) -> list[Outcome]:
    """Apply rows from the start of `rows` in the caller's transaction, each in its own
    savepoint, while `keep_going()` says so (at least one row); their outcomes, in order.

    Rows with nothing to do (customer already so, opening balance already credited) are found
    with two reads for the whole list and cost nothing more: a re-run is quick.
    """
    good = [r for r in rows if isinstance(r, Row)]
    current = await repository.list_customer_fields(conn, tenant.id, [r.original_id for r in good])
    used = await repository.list_used_keys(
        conn, tenant.id, CHANGE_KEY_SCOPE, [opening_key(r.original_id) for r in good if r.points]
    )

    def unchanged(row: Row) -> bool:
        return (
            row.original_id in current
            and not _differs(current[row.original_id], row.fields)
            and (row.points == 0 or opening_key(row.original_id) in used)
        )

    # The customers the rows change, locked now in one go (the order matters: a row's own
    # lock, taken in the file's order, could wait on a batch of points adds that waits on it).
    await repository.lock_customers(
        conn,
        tenant.id,
        [r.original_id for r in good if r.original_id in current and not unchanged(r)],
    )
    outcomes: list[Outcome] = []
    for row in rows:
        if outcomes and not keep_going():
            break
        if isinstance(row, Row) and unchanged(row):
            outcomes.append(Outcome(row.line, row.original_id, "unchanged"))
        else:
            outcomes.append(await import_row(conn, tenant, row, now=now))
    return outcomes


async def import_row(
    conn: AsyncConnection, tenant: Tenant, row: Row | RowError, *, now: datetime
) -> Outcome:
    """One row, all or nothing: a broken rule rolls back this row only and is reported."""
    if isinstance(row, RowError):
        return Outcome(row.line, row.original_id, "error", message=row.message)
    try:
        async with conn.begin_nested():
            return await _apply(conn, tenant, row, now=now)
    except FidelisError as exc:
        return Outcome(row.line, row.original_id, "error", message=exc.message)


async def _apply(conn: AsyncConnection, tenant: Tenant, row: Row, *, now: datetime) -> Outcome:
    existing = await customer_repository.get_by(
        conn, tenant.id, "original_id", row.original_id, for_update=True
    )
    kind: Kind = "unchanged"
    if existing is None or _differs(_fields_of(existing), row.fields):
        _, operation = await customer_service.upsert(
            conn, tenant.id, {**row.fields, "original_id": row.original_id}, now=now
        )
        kind = "created" if operation == "created" else "updated"
    credited = 0
    if row.points > 0:
        credited = await _open_balance(conn, tenant, row, now=now)
        if credited and kind == "unchanged":
            kind = "updated"
    return Outcome(row.line, row.original_id, kind, credited=credited)


async def _open_balance(conn: AsyncConnection, tenant: Tenant, row: Row, *, now: datetime) -> int:
    key = opening_key(row.original_id)
    if await keys.get(conn, tenant_id=tenant.id, scope=CHANGE_KEY_SCOPE, key=key) is not None:
        return 0  # credited by an earlier import
    try:
        await adjustment.change_points(
            conn,
            tenant_id=tenant.id,
            program=tenant.program,
            ident=row.original_id,
            points=row.points,
            change=Change(operation=ADD, reason=row.reason or OPENING_REASON, change_key=key),
            now=now,
        )
    except ChangeKeyAlreadyUsed:
        return 0  # a concurrent import of the same customer got there first
    return row.points


def _fields_of(customer: Customer) -> dict[str, Any]:
    return {name: getattr(customer, name) for name in repository.COMPARED}


def _differs(current: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Whether upserting `fields` would change a customer whose fields are `current`
    (fields absent from the row change nothing)."""
    for name, value in fields.items():
        if name == "email":
            value = value.strip()
        elif name == "document":
            try:
                value = normalize_document(value)
            except InvalidDocumentNumber:
                return True  # let the upsert reject it with its own error
        if current[name] != value:
            return True
    return False


async def refresh_statistics(conn: AsyncConnection) -> None:
    """Let the database plan with the import's new rows counted (autovacuum may be late or off).

    Called by the import between batches as the tables grow (after 500, 1 000, 2 000, ...
    written rows), so the cost stays small and each row stays as quick as the first.
    """
    await repository.refresh_statistics(conn)
