"""Throttling of failed authentication per client address, shared by every server process.

One mechanism for every door (the API's Basic credentials, the console's password): failures
are rows in the database, not process memory, so any number of `fidelis serve` processes on any
number of hosts count the same failures, with no other service to run. (Redis would do too, but
the database is already there on one laptop and in production alike.)

An address with `limit.failures` failures within `limit.window` is refused (429) without even
checking what it sent, right credentials included, until the oldest of them leaves the window:
otherwise a guesser would still learn when a guess is right.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.throttle import repository

MAX_CLIENT = 64


@dataclass(frozen=True, slots=True)
class Limit:
    scope: str
    failures: int
    window: timedelta

    def since(self, now: datetime) -> datetime:
        """Failures after this instant count."""
        return now - self.window

    def reached(self, recent: int) -> bool:
        """`recent` failures within the window block the client."""
        return recent >= self.failures


def client_key(client: str) -> str:
    """The address as failures are stored (bounded length)."""
    return client[:MAX_CLIENT]


async def is_blocked(conn: AsyncConnection, limit: Limit, client: str, *, now: datetime) -> bool:
    recent = await repository.count(conn, limit.scope, client_key(client), since=limit.since(now))
    return limit.reached(recent)


async def record_failure(
    conn: AsyncConnection, limit: Limit, client: str, *, now: datetime
) -> None:
    """Count one failure; failures that left every window are dropped on the way."""
    await repository.forget(conn, scope=limit.scope, before=limit.since(now))
    await repository.add(conn, limit.scope, client_key(client), now=now)


async def forget(conn: AsyncConnection, limit: Limit, client: str) -> None:
    """A success: the client's past failures no longer count."""
    await repository.forget(conn, scope=limit.scope, client=client_key(client))
