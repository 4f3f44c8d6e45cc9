"""The console's session: a signed cookie (no server-side state, so any process can read it).

The cookie carries whether the holder logged in, the tenant they picked and the CSRF token
every form must send back. It is signed with a key derived from the console password, so
changing the password ends every session, and it expires after `MAX_AGE_SECONDS`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "fidelis_console"
MAX_AGE_SECONDS = 12 * 3600
_SALT = "fidelis.console.session"


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    logged_in: bool = False
    tenant: str | None = None

    def with_tenant(self, slug: str | None) -> Session:
        return replace(self, tenant=slug)


def new(*, logged_in: bool = False) -> Session:
    """A fresh session with a new CSRF token (a login always starts one)."""
    return Session(csrf=secrets.token_urlsafe(32), logged_in=logged_in)


def _serializer(password: str) -> URLSafeTimedSerializer:
    key = hmac.new(b"fidelis-console-session", password.encode(), hashlib.sha256).hexdigest()
    return URLSafeTimedSerializer(key, salt=_SALT)


def dump(session: Session, password: str) -> str:
    return _serializer(password).dumps(
        {"c": session.csrf, "l": session.logged_in, "t": session.tenant}
    )


def load(cookie: str | None, password: str) -> Session | None:
    """The session in `cookie`, or None when it is missing, forged, malformed or too old."""
    if not cookie or len(cookie) > 4096:
        return None
    try:
        data = _serializer(password).loads(cookie, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    csrf, logged_in, tenant = data.get("c"), data.get("l"), data.get("t")
    if not isinstance(csrf, str) or not isinstance(logged_in, bool):
        return None
    if tenant is not None and not isinstance(tenant, str):
        return None
    return Session(csrf=csrf, logged_in=logged_in, tenant=tenant)


def csrf_matches(session: Session | None, sent: object) -> bool:
    """True when the form sent back the session's CSRF token (compared in constant time)."""
    if session is None or not isinstance(sent, str) or not sent:
        return False
    return hmac.compare_digest(session.csrf.encode(), sent.encode())
