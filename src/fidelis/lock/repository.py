"""SQL for cashback locks (table `cashback_lock`), always scoped by tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.db.tables import cashback_lock


class LockStatus(StrEnum):
    active = "active"
    committed = "committed"
    rolled_back = "rolled_back"
    expired = "expired"


@dataclass(frozen=True, slots=True)
class CashbackLock:
    id: int
    token: str
    customer_id: int
    hold_id: int
    status: LockStatus
    points: int
    committed_points: int | None
    capture_transfer_id: int | None
    refund_transfer_id: int | None
    order_ref: str | None
    created_at: datetime
    expires_at: datetime
    resolved_at: datetime | None

    def status_at(self, now: datetime) -> LockStatus:
        """The lock's state at `now`: an active lock whose time ran out is expired, whether or
        not anything has written that down yet."""
        if self.status == LockStatus.active and self.expires_at <= now:
            return LockStatus.expired
        return self.status


def _lock(row: Any) -> CashbackLock:
    return lock_of(row._mapping)


def lock_of(columns: Any) -> CashbackLock:
    """The lock from a mapping of its row's columns (a row of ours, or the driver's own)."""
    return CashbackLock(
        id=columns["id"],
        token=columns["token"],
        customer_id=columns["customer_id"],
        hold_id=columns["hold_id"],
        status=LockStatus(columns["status"]),
        points=columns["points"],
        committed_points=columns["committed_points"],
        capture_transfer_id=columns["capture_transfer_id"],
        refund_transfer_id=columns["refund_transfer_id"],
        order_ref=columns["order_ref"],
        created_at=columns["created_at"],
        expires_at=columns["expires_at"],
        resolved_at=columns["resolved_at"],
    )


async def get_by_token(
    conn: AsyncConnection, tenant_id: int, token: str, *, for_update: bool = False
) -> CashbackLock | None:
    statement = select(cashback_lock).where(
        cashback_lock.c.tenant_id == tenant_id, cashback_lock.c.token == token
    )
    if for_update:
        statement = statement.with_for_update()
    row = (await conn.execute(statement)).first()
    return None if row is None else _lock(row)


async def add(conn: AsyncConnection, tenant_id: int, values: dict[str, Any]) -> CashbackLock:
    result = await conn.execute(
        insert(cashback_lock).values(tenant_id=tenant_id, **values).returning(*cashback_lock.c)
    )
    return _lock(result.one())


async def change(
    conn: AsyncConnection, tenant_id: int, lock_id: int, values: dict[str, Any]
) -> CashbackLock:
    result = await conn.execute(
        update(cashback_lock)
        .where(cashback_lock.c.tenant_id == tenant_id, cashback_lock.c.id == lock_id)
        .values(**values)
        .returning(*cashback_lock.c)
    )
    return _lock(result.one())


async def list_committed_for_order(
    conn: AsyncConnection, tenant_id: int, customer_id: int, order_refs: list[str]
) -> list[CashbackLock]:
    """Committed, not yet refunded locks of a customer whose order is one of `order_refs`."""
    rows = await conn.execute(
        select(cashback_lock)
        .where(
            cashback_lock.c.tenant_id == tenant_id,
            cashback_lock.c.customer_id == customer_id,
            cashback_lock.c.order_ref.in_(order_refs),
            # Implied by the line above; said out loud so the partial index on orders applies.
            cashback_lock.c.order_ref.is_not(None),
            cashback_lock.c.status == LockStatus.committed.value,
            cashback_lock.c.refund_transfer_id.is_(None),
        )
        .order_by(cashback_lock.c.id)
    )
    return [_lock(r) for r in rows]
