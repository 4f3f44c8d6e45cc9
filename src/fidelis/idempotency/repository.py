"""SQL for idempotency keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.db.tables import idempotency_key
from fidelis.ledger.repository import dialect_insert


async def claim(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    scope: str,
    key: str,
    request_hash: str,
    customer_id: int | None,
    now: datetime,
) -> bool:
    """Record the key; False when it already exists (committed by someone else).

    On PostgreSQL a concurrent, uncommitted claim of the same key makes this wait until that
    transaction ends, so two duplicates can never both get True.
    """
    statement = (
        dialect_insert(conn, idempotency_key)
        .values(
            tenant_id=tenant_id,
            scope=scope,
            key=key,
            request_hash=request_hash,
            customer_id=customer_id,
            created_at=now,
        )
        .on_conflict_do_nothing(
            index_elements=[
                idempotency_key.c.tenant_id,
                idempotency_key.c.scope,
                idempotency_key.c.key,
            ]
        )
        .returning(idempotency_key.c.key)
    )
    return (await conn.execute(statement)).first() is not None


async def get_hash(conn: AsyncConnection, *, tenant_id: int, scope: str, key: str) -> str | None:
    result = await conn.execute(
        select(idempotency_key.c.request_hash).where(
            idempotency_key.c.tenant_id == tenant_id,
            idempotency_key.c.scope == scope,
            idempotency_key.c.key == key,
        )
    )
    return result.scalar_one_or_none()
