"""SQL for the rewards catalogue (table `reward`), always scoped by tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.db.tables import reward


@dataclass(frozen=True, slots=True)
class Reward:
    id: int
    title: str
    description: str | None
    reward_type: int
    # Value x 100: centavos, or hundredths of a percent for PercentDiscount.
    value_cents: int | None
    points: int | None
    is_active: bool
    minimal_value_cents: int
    cumulative_discount: bool
    valid_days: int | None
    code_prefix: str | None
    coupon_code_length: int
    has_same_customer_usage_limit: bool
    same_customer_usage_limit: int | None
    has_global_usage_limit: bool
    global_usage_limit: int | None
    valid_date_start: datetime | None
    valid_date_end: datetime | None
    created_at: datetime
    updated_at: datetime


def _reward(row: Any) -> Reward:
    return Reward(
        id=row.id,
        title=row.title,
        description=row.description,
        reward_type=row.reward_type,
        value_cents=row.value_cents,
        points=row.points,
        is_active=bool(row.is_active),
        minimal_value_cents=row.minimal_value_cents,
        cumulative_discount=bool(row.cumulative_discount),
        valid_days=row.valid_days,
        code_prefix=row.code_prefix,
        coupon_code_length=row.coupon_code_length,
        has_same_customer_usage_limit=bool(row.has_same_customer_usage_limit),
        same_customer_usage_limit=row.same_customer_usage_limit,
        has_global_usage_limit=bool(row.has_global_usage_limit),
        global_usage_limit=row.global_usage_limit,
        valid_date_start=row.valid_date_start,
        valid_date_end=row.valid_date_end,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def get(
    conn: AsyncConnection, tenant_id: int, reward_id: int, *, for_update: bool = False
) -> Reward | None:
    statement = select(reward).where(reward.c.tenant_id == tenant_id, reward.c.id == reward_id)
    if for_update:
        statement = statement.with_for_update()
    row = (await conn.execute(statement)).first()
    return None if row is None else _reward(row)


async def list_(
    conn: AsyncConnection, tenant_id: int, *, offset: int = 0, limit: int | None = None
) -> list[Reward]:
    statement = (
        select(reward).where(reward.c.tenant_id == tenant_id).order_by(reward.c.id).offset(offset)
    )
    if limit is not None:
        statement = statement.limit(limit)
    return [_reward(row) for row in await conn.execute(statement)]


async def count(conn: AsyncConnection, tenant_id: int) -> int:
    statement = select(func.count()).select_from(reward).where(reward.c.tenant_id == tenant_id)
    return int((await conn.execute(statement)).scalar_one())


async def add(conn: AsyncConnection, tenant_id: int, values: dict[str, Any]) -> int:
    result = await conn.execute(
        insert(reward).values(tenant_id=tenant_id, **values).returning(reward.c.id)
    )
    return int(result.scalar_one())


async def change(
    conn: AsyncConnection, tenant_id: int, reward_id: int, values: dict[str, Any]
) -> None:
    await conn.execute(
        update(reward)
        .where(reward.c.tenant_id == tenant_id, reward.c.id == reward_id)
        .values(**values)
    )
