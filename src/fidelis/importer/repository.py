"""Reads that let an import skip rows with nothing to do, a batch at a time (never writes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.db.tables import customer, idempotency_key

COMPARED = ("name", "email", "phone", "document", "birthday_date", "signup_date")


async def list_customer_fields(
    conn: AsyncConnection, tenant_id: int, original_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """OriginalId → the importable fields of each customer that exists."""
    if not original_ids:
        return {}
    rows = await conn.execute(
        select(customer.c.original_id, *(customer.c[name] for name in COMPARED)).where(
            customer.c.tenant_id == tenant_id, customer.c.original_id.in_(original_ids)
        )
    )
    return {row.original_id: {name: getattr(row, name) for name in COMPARED} for row in rows}


async def lock_customers(conn: AsyncConnection, tenant_id: int, original_ids: list[str]) -> None:
    """Lock the customers among `original_ids` that exist, in the order of their ids: the order
    a batch of hot-path writes locks customers in (`db.batches`), so the two cannot deadlock."""
    if original_ids:
        await conn.execute(
            select(customer.c.id)
            .where(customer.c.tenant_id == tenant_id, customer.c.original_id.in_(original_ids))
            .order_by(customer.c.id)
            .with_for_update()
        )


async def list_used_keys(
    conn: AsyncConnection, tenant_id: int, scope: str, keys: list[str]
) -> set[str]:
    if not keys:
        return set()
    rows = await conn.execute(
        select(idempotency_key.c.key).where(
            idempotency_key.c.tenant_id == tenant_id,
            idempotency_key.c.scope == scope,
            idempotency_key.c.key.in_(keys),
        )
    )
    return {row.key for row in rows}


# The tables an import grows. Without fresh statistics PostgreSQL plans lookups on a table it
# believes empty, scanning where an index would do, and each row gets slower than the last.
_GROWN = ("customer", "idempotency_key", "transfer", "entry", "account", "lot")


async def refresh_statistics(conn: AsyncConnection) -> None:
    """ANALYZE the tables an import grows (PostgreSQL; SQLite plans well without)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"ANALYZE {', '.join(_GROWN)}"))
