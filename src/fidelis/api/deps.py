"""Request dependencies: the database, the authenticated tenant, the request's `now`."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request

from fidelis.config import Settings
from fidelis.db.engine import Database
from fidelis.errors import Unauthorized
from fidelis.kit.text import storable
from fidelis.tenant import service as tenant_service
from fidelis.tenant.keys import KeyCache, KeyCheck
from fidelis.tenant.repository import KeyRecord, Tenant
from fidelis.throttle import service as throttle

# Dependencies are `async def` even when they await nothing: FastAPI runs a plain `def` one in
# a worker thread, a thread hop per dependency per request. Each takes only the request (the
# database from the app's state, not from `get_db`), which lets `api.quick` call it directly.


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_now(request: Request) -> datetime:
    """The request's one `now`, read once at the edge and passed down to the services."""
    return read_clock(request)


def read_clock(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def _basic_credentials(header: str | None) -> tuple[str, str]:
    if not header:
        raise Unauthorized()
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Unauthorized()
    try:
        decoded = storable(base64.b64decode(encoded.strip(), validate=True).decode("utf-8"))
    except ValueError:
        # Not base64 (nor even ASCII: the header's bytes are read as Latin-1), not UTF-8, or
        # holding NUL, which no key holds and PostgreSQL cannot even look up.
        raise Unauthorized() from None
    token, sep, secret = decoded.partition(":")
    if not sep or not token or not secret or len(token) > 200 or len(secret) > 200:
        raise Unauthorized()
    return token, secret


def api_limit(request: Request) -> throttle.Limit:
    settings: Settings = request.app.state.settings
    return throttle.Limit("api", settings.auth_failures_per_minute, timedelta(minutes=1))


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def current_tenant(request: Request) -> Tenant:
    """The tenant the request's Basic credentials belong to.

    Raises:
        RateLimited: this address failed too often lately (checked before the credentials).
        Unauthorized: missing, malformed, wrong or revoked credentials (counted as a failure).
    """
    return (await _authenticate(request, request.app.state.db)).tenant


@dataclass(frozen=True, slots=True)
class Caller:
    """The sender of a request to a one-statement path (`tenant.keys`): its tenant, and the
    check its statement makes. `confirmed` is False when the credentials were only matched
    against the keys this process knows: before anything but the one statement, the route
    must authenticate the request in full (`confirmed_tenant`)."""

    tenant: Tenant
    check: KeyCheck
    confirmed: bool


async def current_caller(request: Request) -> Caller:
    """`current_tenant`, without a round trip when the key is known here. It takes only the
    request (the database from the app's state), so that it costs no dependency of its own
    (`api.quick`).

    Raises:
        RateLimited, Unauthorized: as `current_tenant`, when the key is not known here.
    """
    try:
        token, secret = _basic_credentials(request.headers.get("authorization"))
    except Unauthorized:
        pass  # refused below, the full way
    else:
        keys: KeyCache = request.app.state.keys
        known = keys.match(token, tenant_service.hash_secret(secret))
        if known is not None:
            request.state.tenant = known.tenant.slug
            return Caller(known.tenant, _check(request, known), confirmed=False)
    record = await _authenticate(request, request.app.state.db)
    return Caller(record.tenant, _check(request, record), confirmed=True)


async def confirmed_tenant(request: Request, db: Database, caller: Caller) -> Tenant:
    """The caller's tenant, authenticated in full for this request.

    Raises:
        RateLimited, Unauthorized: as `current_tenant`.
    """
    return caller.tenant if caller.confirmed else (await _authenticate(request, db)).tenant


def _check(request: Request, record: KeyRecord) -> KeyCheck:
    limit = api_limit(request)
    return KeyCheck(
        key_id=record.id,
        program=record.program,
        scope=limit.scope,
        client=throttle.client_key(client_address(request)),
        since=limit.since(read_clock(request)),
        failures=limit.failures,
    )


async def _authenticate(request: Request, db: Database) -> KeyRecord:
    limit, client, now = api_limit(request), client_address(request), read_clock(request)
    try:
        token, secret = _basic_credentials(request.headers.get("authorization"))
    except Unauthorized:
        token, secret = "", ""  # no key has an empty token: a failure, once the throttle allows
    keys: KeyCache = request.app.state.keys
    async with db.read() as conn:
        record = await tenant_service.authenticate(
            conn, token, secret, limit=limit, client=client, now=now
        )
    if record is None:
        keys.forget(token)
        async with db.write() as conn:
            await throttle.record_failure(conn, limit, client, now=now)
        raise Unauthorized()
    keys.remember(record)
    request.state.tenant = record.tenant.slug
    return record


DB = Annotated[Database, Depends(get_db)]
CurrentTenant = Annotated[Tenant, Depends(current_tenant)]
CurrentCaller = Annotated[Caller, Depends(current_caller)]
Now = Annotated[datetime, Depends(get_now)]
