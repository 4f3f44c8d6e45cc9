"""SQL for checkouts (table `checkout`), always scoped by tenant and customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.db.tables import checkout


@dataclass(frozen=True, slots=True)
class Checkout:
    id: int
    customer_id: int
    checkout_ref: str
    total_cents: int | None


def _checkout(row: Any) -> Checkout:
    return Checkout(
        id=row.id,
        customer_id=row.customer_id,
        checkout_ref=row.checkout_ref,
        total_cents=row.total_cents,
    )


async def get(
    conn: AsyncConnection, tenant_id: int, customer_id: int, checkout_ref: str
) -> Checkout | None:
    row = (
        await conn.execute(
            select(checkout).where(
                checkout.c.tenant_id == tenant_id,
                checkout.c.customer_id == customer_id,
                checkout.c.checkout_ref == checkout_ref,
            )
        )
    ).first()
    return None if row is None else _checkout(row)


async def add(
    conn: AsyncConnection,
    tenant_id: int,
    *,
    customer_id: int,
    checkout_ref: str,
    total_cents: int | None,
    now: datetime,
) -> None:
    await conn.execute(
        insert(checkout).values(
            tenant_id=tenant_id,
            customer_id=customer_id,
            checkout_ref=checkout_ref,
            total_cents=total_cents,
            created_at=now,
            updated_at=now,
        )
    )


async def change_total(
    conn: AsyncConnection, tenant_id: int, checkout_id: int, total_cents: int | None, now: datetime
) -> None:
    await conn.execute(
        update(checkout)
        .where(checkout.c.tenant_id == tenant_id, checkout.c.id == checkout_id)
        .values(total_cents=total_cents, updated_at=now)
    )
