"""SQL of the console: failed login attempts (control plane, no tenant)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.db.tables import console_login_failure


async def count_failures(
    conn: AsyncConnection, client: str, *, since: datetime, until: datetime
) -> int:
    result = await conn.execute(
        select(func.count()).where(
            console_login_failure.c.client == client,
            console_login_failure.c.failed_at > since,
            console_login_failure.c.failed_at <= until,
        )
    )
    return int(result.scalar_one())


async def add_failure(conn: AsyncConnection, client: str, *, now: datetime) -> None:
    await conn.execute(insert(console_login_failure).values(client=client, failed_at=now))


async def forget_failures(
    conn: AsyncConnection, *, client: str | None = None, before: datetime | None = None
) -> None:
    """Delete the failures of `client`, or every failure older than `before`."""
    statement = delete(console_login_failure)
    if client is not None:
        statement = statement.where(console_login_failure.c.client == client)
    if before is not None:
        statement = statement.where(console_login_failure.c.failed_at < before)
    await conn.execute(statement)
