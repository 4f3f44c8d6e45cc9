"""SQL for orders (table `purchase`: ORDER is an SQL keyword)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.db.tables import purchase


@dataclass(frozen=True, slots=True)
class Order:
    id: int
    original_id: str
    customer_id: int
    state: int
    total_cents: int
    refunded_cents: int
    earned_points: int
    reversed_points: int
    earn_transfer_id: int | None
    coupon: str | None
    redemption_id: int | None
    status_text: str | None
    placed_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    updated_at: datetime
    # Products, Branch, SalesPerson and Metadatas as the store sent them.
    details: dict[str, Any]


def _order(row: Any) -> Order:
    return Order(
        id=row.id,
        original_id=row.original_id,
        customer_id=row.customer_id,
        state=row.state,
        total_cents=row.total_cents,
        refunded_cents=row.refunded_cents,
        earned_points=row.earned_points,
        reversed_points=row.reversed_points,
        earn_transfer_id=row.earn_transfer_id,
        coupon=row.coupon,
        redemption_id=row.redemption_id,
        status_text=row.status_text,
        placed_at=row.placed_at,
        completed_at=row.completed_at,
        cancelled_at=row.cancelled_at,
        updated_at=row.updated_at,
        details=row.details or {},
    )


async def get(
    conn: AsyncConnection, tenant_id: int, original_id: str, *, for_update: bool = False
) -> Order | None:
    statement = select(purchase).where(
        purchase.c.tenant_id == tenant_id, purchase.c.original_id == original_id
    )
    if for_update:
        statement = statement.with_for_update()
    row = (await conn.execute(statement)).first()
    return None if row is None else _order(row)


async def add(conn: AsyncConnection, tenant_id: int, values: dict[str, Any]) -> int:
    result = await conn.execute(
        insert(purchase).values(tenant_id=tenant_id, **values).returning(purchase.c.id)
    )
    return int(result.scalar_one())


async def change(
    conn: AsyncConnection, tenant_id: int, order_id: int, values: dict[str, Any]
) -> None:
    await conn.execute(
        update(purchase)
        .where(purchase.c.tenant_id == tenant_id, purchase.c.id == order_id)
        .values(**values)
    )
