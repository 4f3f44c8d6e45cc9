"""SQL for customers. Every statement takes the tenant id (a bind parameter SQLAlchemy refuses
to leave unset); the lookups every request makes are built once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.db.tables import customer
from fidelis.ledger.repository import dialect_insert


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    original_id: str
    email: str | None
    document: str | None
    name: str | None
    phone: str | None
    birthday_date: datetime | None
    signup_date: datetime | None
    is_enrolled: bool
    is_enabled: bool
    settle_at: datetime | None


def from_row(row: Any) -> Customer:
    """A `Customer` from a row that has the `COLUMNS`."""
    return Customer(
        id=row.id,
        original_id=row.original_id,
        email=row.email,
        document=row.document,
        name=row.name,
        phone=row.phone,
        birthday_date=row.birthday_date,
        signup_date=row.signup_date,
        is_enrolled=row.is_enrolled,
        is_enabled=row.is_enabled,
        settle_at=row.settle_at,
    )


COLUMNS = (
    customer.c.id,
    customer.c.original_id,
    customer.c.email,
    customer.c.document,
    customer.c.name,
    customer.c.phone,
    customer.c.birthday_date,
    customer.c.signup_date,
    customer.c.is_enrolled,
    customer.c.is_enabled,
    customer.c.settle_at,
)


def _lookup(column: str, *, for_update: bool) -> Any:
    statement = select(*COLUMNS).where(
        customer.c.tenant_id == bindparam("tenant_id"), customer.c[column] == bindparam("value")
    )
    return statement.with_for_update() if for_update else statement


_LOOKUPS = {
    (column, for_update): _lookup(column, for_update=for_update)
    for column in ("id", "original_id", "email_key", "document")
    for for_update in (False, True)
}


async def get_by(
    conn: AsyncConnection, tenant_id: int, column: str, value: str, *, for_update: bool = False
) -> Customer | None:
    """The customer whose `column` (original_id, email_key or document) equals `value`."""
    statement = _LOOKUPS[(column, for_update)]
    row = (await conn.execute(statement, {"tenant_id": tenant_id, "value": value})).first()
    return None if row is None else from_row(row)


async def get_by_id(
    conn: AsyncConnection, tenant_id: int, customer_id: int, *, for_update: bool = False
) -> Customer | None:
    statement = _LOOKUPS[("id", for_update)]
    row = (await conn.execute(statement, {"tenant_id": tenant_id, "value": customer_id})).first()
    return None if row is None else from_row(row)


async def add(conn: AsyncConnection, tenant_id: int, values: dict[str, Any]) -> int | None:
    """Insert unless the OriginalId exists (then None): safe against concurrent creators."""
    statement = (
        dialect_insert(conn, customer)
        .values(tenant_id=tenant_id, **values)
        .on_conflict_do_nothing(index_elements=[customer.c.tenant_id, customer.c.original_id])
        .returning(customer.c.id)
    )
    return (await conn.execute(statement)).scalar_one_or_none()


async def update_fields(
    conn: AsyncConnection, tenant_id: int, customer_id: int, values: dict[str, Any]
) -> None:
    await conn.execute(
        update(customer)
        .where(customer.c.tenant_id == tenant_id, customer.c.id == customer_id)
        .values(**values)
    )


async def owner_of(conn: AsyncConnection, tenant_id: int, column: str, value: str) -> int | None:
    """Id of the customer holding this e-mail key or document, if any."""
    result = await conn.execute(
        select(customer.c.id).where(customer.c.tenant_id == tenant_id, customer.c[column] == value)
    )
    return result.scalar_one_or_none()
