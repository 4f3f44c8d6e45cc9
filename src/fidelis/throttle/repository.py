"""SQL for failed authentication attempts (table `auth_failure`). Control plane: a failure
happens before any tenant is known, so these rows belong to no tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ScalarSelect, bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.db.tables import auth_failure

# The failures of one client in one scope after an instant, with the parameters
# `failure_scope`, `failure_client` and `failure_since`: alone (`count`) or inside a statement
# that reads more in the same round trip (the API key lookup).
RECENT: ScalarSelect[int] = (
    select(func.count())
    .where(
        auth_failure.c.scope == bindparam("failure_scope"),
        auth_failure.c.client == bindparam("failure_client"),
        auth_failure.c.failed_at > bindparam("failure_since"),
    )
    .scalar_subquery()
)


async def count(conn: AsyncConnection, scope: str, client: str, *, since: datetime) -> int:
    params = {"failure_scope": scope, "failure_client": client, "failure_since": since}
    return int((await conn.execute(select(RECENT), params)).scalar_one())


async def add(conn: AsyncConnection, scope: str, client: str, *, now: datetime) -> None:
    await conn.execute(insert(auth_failure).values(scope=scope, client=client, failed_at=now))


async def forget(
    conn: AsyncConnection,
    *,
    scope: str | None = None,
    client: str | None = None,
    before: datetime | None = None,
) -> None:
    """Delete the failures of one client (in one scope), or every failure older than `before`."""
    statement = delete(auth_failure)
    if scope is not None:
        statement = statement.where(auth_failure.c.scope == scope)
    if client is not None:
        statement = statement.where(auth_failure.c.client == client)
    if before is not None:
        statement = statement.where(auth_failure.c.failed_at < before)
    await conn.execute(statement)
