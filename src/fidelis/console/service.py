"""Console login: the password check and the throttling of failed attempts.

Throttling is the API's mechanism (`fidelis.throttle`, scope "console"): failures are rows in
the database, so every server process sees the same count. An address with 5 failures within
15 minutes is refused without even checking the password until the oldest of them leaves the
window; a successful login forgets that address's failures.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.throttle import service as throttle

LIMIT = throttle.Limit("console", 5, timedelta(minutes=15))


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
    if await throttle.is_blocked(conn, LIMIT, client, now=now):
        return Login.throttled
    if password_matches(password, expected):
        await throttle.forget(conn, LIMIT, client)
        return Login.ok
    await throttle.record_failure(conn, LIMIT, client, now=now)
    return Login.wrong
