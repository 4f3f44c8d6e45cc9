"""SQL for idempotency keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.db.tables import idempotency_key
from fidelis.ledger.repository import built_per_dialect


def _claim(insert_of: Callable[[Table], Any]) -> Any:
    return (
        insert_of(idempotency_key)
        .on_conflict_do_nothing(
            index_elements=[
                idempotency_key.c.tenant_id,
                idempotency_key.c.scope,
                idempotency_key.c.key,
            ]
        )
        .returning(idempotency_key.c.key)
    )


# Built once: a key is claimed by most writes.
_claim_statement = built_per_dialect(_claim)


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
    values = {
        "tenant_id": tenant_id,
        "scope": scope,
        "key": key,
        "request_hash": request_hash,
        "customer_id": customer_id,
        "created_at": now,
    }
    return (await conn.execute(_claim_statement(conn), values)).first() is not None


@dataclass(frozen=True, slots=True)
class StoredKey:
    request_hash: str
    result: dict[str, Any] | None


async def get(conn: AsyncConnection, *, tenant_id: int, scope: str, key: str) -> StoredKey | None:
    row = (
        await conn.execute(
            select(idempotency_key.c.request_hash, idempotency_key.c.result).where(
                idempotency_key.c.tenant_id == tenant_id,
                idempotency_key.c.scope == scope,
                idempotency_key.c.key == key,
            )
        )
    ).first()
    return None if row is None else StoredKey(row.request_hash, row.result)


async def set_result(
    conn: AsyncConnection, *, tenant_id: int, scope: str, key: str, result: dict[str, Any]
) -> None:
    await conn.execute(
        update(idempotency_key)
        .where(
            idempotency_key.c.tenant_id == tenant_id,
            idempotency_key.c.scope == scope,
            idempotency_key.c.key == key,
        )
        .values(result=result)
    )
