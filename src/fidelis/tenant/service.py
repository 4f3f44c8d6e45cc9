"""Creating tenants, issuing and revoking API keys, and checking credentials."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.errors import (
    ApiKeyNotFound,
    InvalidField,
    RateLimited,
    TenantAlreadyExists,
    TenantNotFound,
)
from fidelis.tenant import repository
from fidelis.tenant.repository import KeyRecord, Tenant
from fidelis.throttle import service as throttle
from fidelis.throttle.service import Limit

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class Credentials:
    """An API key pair, shown once: only the hash of `api_key` is stored."""

    tenant: str
    api_token: str
    api_key: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_credentials(slug: str) -> tuple[str, str]:
    # The token names the key (BonifiQ's "API Token"); the key is the 256-bit secret.
    token = f"APIUSER-{slug[:10]}-{secrets.token_hex(16)}"
    return token, secrets.token_urlsafe(32)


async def create(conn: AsyncConnection, *, slug: str, name: str, now: datetime) -> Credentials:
    """Create a tenant with default program settings and its first API key.

    Raises:
        InvalidField: the slug or name is not acceptable.
        TenantAlreadyExists: the slug is taken.
    """
    if not SLUG.match(slug):
        raise InvalidField("slug must be 1-63 lower-case letters, digits or hyphens")
    if not name.strip() or len(name) > 255:
        raise InvalidField("name must be 1-255 characters")
    try:
        async with conn.begin_nested():
            tenant = await repository.add(conn, slug=slug, name=name.strip(), now=now)
    except IntegrityError:
        raise TenantAlreadyExists(f"a tenant with slug {slug!r} already exists") from None
    return await create_key(conn, tenant=tenant, now=now)


async def create_key(conn: AsyncConnection, *, tenant: Tenant, now: datetime) -> Credentials:
    token, secret = new_credentials(tenant.slug)
    await repository.add_key(
        conn, tenant_id=tenant.id, token=token, secret_hash=hash_secret(secret), now=now
    )
    return Credentials(tenant=tenant.slug, api_token=token, api_key=secret)


async def get(conn: AsyncConnection, slug: str) -> Tenant:
    """Raises:
    TenantNotFound: no tenant has this slug.
    """
    tenant = await repository.get_by_slug(conn, slug)
    if tenant is None:
        raise TenantNotFound(f"no tenant with slug {slug!r}")
    return tenant


async def revoke_key(conn: AsyncConnection, *, tenant: Tenant, token: str, now: datetime) -> None:
    """Raises:
    ApiKeyNotFound: the tenant has no active key with this token.
    """
    if not await repository.revoke_key(conn, tenant_id=tenant.id, token=token, now=now):
        raise ApiKeyNotFound("no active key with this token for this tenant")


async def authenticate(
    conn: AsyncConnection, token: str, secret: str, *, limit: Limit, client: str, now: datetime
) -> KeyRecord | None:
    """The active key that matches (with its tenant), or None. The secret is compared in
    constant time.

    Raises:
        RateLimited: `client` failed `limit.failures` times within the window: refused before
            the credentials are even compared (the failures are read in the same round trip).
    """
    record, failures = await repository.get_key_and_failures(
        conn, token, scope=limit.scope, client=throttle.client_key(client), since=limit.since(now)
    )
    if limit.reached(failures):
        raise RateLimited()
    if record is None or record.revoked_at is not None:
        # Hash anyway so a missing token costs the same time as a wrong secret.
        hmac.compare_digest(hash_secret(secret), "0" * 64)
        return None
    if not hmac.compare_digest(hash_secret(secret), record.secret_hash):
        return None
    return record
