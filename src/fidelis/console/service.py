"""Console login: the password check and the throttling of failed attempts.

Failures are rows in the database (not process memory), so every server process sees the same
count. An address with `MAX_FAILURES` failures within `WINDOW` is refused without even checking
the password until the oldest of them leaves the window; a successful login forgets that
address's failures.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.console import repository

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)


class Login(Enum):
    ok = "ok"
    wrong = "wrong"
    throttled = "throttled"


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison (of digests, so not even the length leaks)."""
    digest = hashlib.sha256
    return hmac.compare_digest(
        digest(given.encode("utf-8", "replace")).digest(),
        digest(expected.encode("utf-8")).digest(),
    )


async def login(
    conn: AsyncConnection, *, client: str, password: str, expected: str, now: datetime
) -> Login:
    """Check a login attempt from `client` and record it when it fails."""
    client = client[:64]
    recent = await repository.count_failures(conn, client, since=now - WINDOW, until=now)
    if recent >= MAX_FAILURES:
        return Login.throttled
    if password_matches(password, expected):
        await repository.forget_failures(conn, client=client)
        return Login.ok
    await repository.forget_failures(conn, before=now - WINDOW)
    await repository.add_failure(conn, client, now=now)
    return Login.wrong
