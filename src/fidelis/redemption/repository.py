"""SQL for redemptions (table `redemption`), always scoped by tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.db.tables import redemption


@dataclass(frozen=True, slots=True)
class Redemption:
    id: int
    customer_id: int
    reward_id: int | None
    reward_type: int
    external_code: str
    coupon_code: str | None
    coupon_valid_until: datetime | None
    original_key: str | None
    points: int
    value_cents: int | None
    transfer_id: int | None
    cancel_transfer_id: int | None
    is_canceled: bool
    checkout_ref: str | None
    hold_id: int | None
    hold_expires_at: datetime | None
    order_ref: str | None
    redeem_origin: int | None
    details: dict[str, Any]
    created_at: datetime
    canceled_at: datetime | None

    def is_canceled_at(self, now: datetime) -> bool:
        """Cancelled, or a checkout redemption whose hold ran out unused (refunded then)."""
        if self.is_canceled:
            return True
        return (
            self.transfer_id is None
            and self.hold_expires_at is not None
            and self.hold_expires_at <= now
        )


def _redemption(row: Any) -> Redemption:
    return Redemption(
        id=row.id,
        customer_id=row.customer_id,
        reward_id=row.reward_id,
        reward_type=row.reward_type,
        external_code=row.external_code,
        coupon_code=row.coupon_code,
        coupon_valid_until=row.coupon_valid_until,
        original_key=row.original_key,
        points=row.points,
        value_cents=row.value_cents,
        transfer_id=row.transfer_id,
        cancel_transfer_id=row.cancel_transfer_id,
        is_canceled=bool(row.is_canceled),
        checkout_ref=row.checkout_ref,
        hold_id=row.hold_id,
        hold_expires_at=row.hold_expires_at,
        order_ref=row.order_ref,
        redeem_origin=row.redeem_origin,
        details=row.details or {},
        created_at=row.created_at,
        canceled_at=row.canceled_at,
    )


async def get(
    conn: AsyncConnection, tenant_id: int, redemption_id: int, *, for_update: bool = False
) -> Redemption | None:
    statement = select(redemption).where(
        redemption.c.tenant_id == tenant_id, redemption.c.id == redemption_id
    )
    if for_update:
        statement = statement.with_for_update()
    row = (await conn.execute(statement)).first()
    return None if row is None else _redemption(row)


async def get_by_original_key(
    conn: AsyncConnection, tenant_id: int, original_key: str
) -> Redemption | None:
    statement = (
        select(redemption)
        .where(redemption.c.tenant_id == tenant_id, redemption.c.original_key == original_key)
        .order_by(redemption.c.id)
        .limit(1)
    )
    row = (await conn.execute(statement)).first()
    return None if row is None else _redemption(row)


async def try_add(conn: AsyncConnection, tenant_id: int, values: dict[str, Any]) -> int | None:
    """Insert in a savepoint; None when a unique code (external or coupon) is already taken."""
    try:
        async with conn.begin_nested():
            result = await conn.execute(
                insert(redemption).values(tenant_id=tenant_id, **values).returning(redemption.c.id)
            )
            return int(result.scalar_one())
    except IntegrityError:
        return None


async def change(
    conn: AsyncConnection, tenant_id: int, redemption_id: int, values: dict[str, Any]
) -> None:
    await conn.execute(
        update(redemption)
        .where(redemption.c.tenant_id == tenant_id, redemption.c.id == redemption_id)
        .values(**values)
    )


async def count_active(
    conn: AsyncConnection, tenant_id: int, reward_id: int, *, customer_id: int | None = None
) -> int:
    """Non-cancelled redemptions of a reward (of one customer, when given)."""
    statement = (
        select(func.count())
        .select_from(redemption)
        .where(
            redemption.c.tenant_id == tenant_id,
            redemption.c.reward_id == reward_id,
            redemption.c.is_canceled.is_(False),
        )
    )
    if customer_id is not None:
        statement = statement.where(redemption.c.customer_id == customer_id)
    return int((await conn.execute(statement)).scalar_one())


async def get_by_code(conn: AsyncConnection, tenant_id: int, code: str) -> Redemption | None:
    """The redemption whose ExternalCode or coupon code is `code`, locked."""
    statement = (
        select(redemption)
        .where(
            redemption.c.tenant_id == tenant_id,
            or_(redemption.c.external_code == code, redemption.c.coupon_code == code),
        )
        .limit(1)
        .with_for_update()
    )
    row = (await conn.execute(statement)).first()
    return None if row is None else _redemption(row)


async def get_open_checkout(
    conn: AsyncConnection, tenant_id: int, customer_id: int, *, now: datetime
) -> Redemption | None:
    """The customer's checkout redemption whose points are still held at `now`, if any."""
    statement = (
        select(redemption)
        .where(
            redemption.c.tenant_id == tenant_id,
            redemption.c.customer_id == customer_id,
            redemption.c.hold_expires_at > now,
            redemption.c.transfer_id.is_(None),
            redemption.c.is_canceled.is_(False),
        )
        .order_by(redemption.c.id.desc())
        .limit(1)
    )
    row = (await conn.execute(statement)).first()
    return None if row is None else _redemption(row)


async def list_open_coupons(
    conn: AsyncConnection,
    tenant_id: int,
    customer_id: int,
    *,
    now: datetime,
    limit: int,
    offset: int,
) -> tuple[list[Redemption], int]:
    """A customer's coupons not cancelled, not used by an order and not expired, newest first."""
    where = (
        redemption.c.tenant_id == tenant_id,
        redemption.c.customer_id == customer_id,
        redemption.c.coupon_code.is_not(None),
        redemption.c.is_canceled.is_(False),
        redemption.c.order_ref.is_(None),
        or_(redemption.c.coupon_valid_until.is_(None), redemption.c.coupon_valid_until > now),
    )
    rows = await conn.execute(
        select(redemption)
        .where(*where)
        .order_by(redemption.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    total = await conn.execute(select(func.count()).select_from(redemption).where(*where))
    return [_redemption(r) for r in rows], int(total.scalar_one())
