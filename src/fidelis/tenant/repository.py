"""SQL for tenants and API keys (the control plane: the only cross-tenant queries live here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Text, bindparam, cast, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.db.tables import api_key, tenant
from fidelis.program.schemas import ProgramSettings
from fidelis.throttle import repository as throttle_repository


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    slug: str
    name: str
    program: ProgramSettings


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: int
    token: str
    secret_hash: str
    revoked_at: datetime | None
    tenant: Tenant
    program: str  # the tenant's program settings as stored (`tenant.program` parses them)


def _tenant(row: object) -> Tenant:
    return Tenant(
        id=row.id,  # type: ignore[attr-defined]
        slug=row.slug,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        program=ProgramSettings.model_validate(row.program),  # type: ignore[attr-defined]
    )


async def add(conn: AsyncConnection, *, slug: str, name: str, now: datetime) -> Tenant:
    program = ProgramSettings()
    result = await conn.execute(
        insert(tenant)
        .values(slug=slug, name=name, program=program.to_document(), created_at=now)
        .returning(tenant.c.id)
    )
    return Tenant(id=result.scalar_one(), slug=slug, name=name, program=program)


async def get_by_slug(conn: AsyncConnection, slug: str) -> Tenant | None:
    row = (await conn.execute(select(tenant).where(tenant.c.slug == slug))).first()
    return None if row is None else _tenant(row)


async def list_all_tenants(conn: AsyncConnection) -> list[Tenant]:
    rows = (await conn.execute(select(tenant).order_by(tenant.c.id))).all()
    return [_tenant(r) for r in rows]


async def get_program(conn: AsyncConnection, tenant_id: int) -> ProgramSettings:
    document = (
        await conn.execute(select(tenant.c.program).where(tenant.c.id == tenant_id))
    ).scalar_one()
    return ProgramSettings.model_validate(document)


async def set_program(conn: AsyncConnection, tenant_id: int, program: ProgramSettings) -> None:
    await conn.execute(
        update(tenant).where(tenant.c.id == tenant_id).values(program=program.to_document())
    )


async def add_key(
    conn: AsyncConnection, *, tenant_id: int, token: str, secret_hash: str, now: datetime
) -> None:
    await conn.execute(
        insert(api_key).values(
            tenant_id=tenant_id, token=token, secret_hash=secret_hash, created_at=now
        )
    )


# Built once: every authenticated request runs it, and a statement built per call costs more
# than its round trip. One row whether the token exists or not (the outer join), so the
# failures are counted in the same round trip.
_KEY_AND_FAILURES = select(
    throttle_repository.RECENT.label("failures"),
    api_key.c.id.label("key_id"),
    api_key.c.token,
    api_key.c.secret_hash,
    api_key.c.revoked_at,
    tenant.c.id,
    tenant.c.slug,
    tenant.c.name,
    cast(tenant.c.program, Text).label("program"),
).select_from(
    select(literal(1).label("one"))
    .subquery("one")
    .outerjoin(
        api_key.join(tenant, tenant.c.id == api_key.c.tenant_id),
        api_key.c.token == bindparam("token"),
    )
)


async def get_key_and_failures(
    conn: AsyncConnection, token: str, *, scope: str, client: str, since: datetime
) -> tuple[KeyRecord | None, int]:
    """The key with this token (None if there is none) and the number of failed attempts of
    `client` in `scope` after `since`, in one round trip."""
    row = (
        await conn.execute(
            _KEY_AND_FAILURES,
            {
                "token": token,
                "failure_scope": scope,
                "failure_client": client,
                "failure_since": since,
            },
        )
    ).one()
    if row.key_id is None:
        return None, row.failures
    found = KeyRecord(
        id=row.key_id,
        token=row.token,
        secret_hash=row.secret_hash,
        revoked_at=row.revoked_at,
        tenant=Tenant(id=row.id, slug=row.slug, name=row.name, program=_program(row.program)),
        program=row.program,
    )
    return found, row.failures


@lru_cache(maxsize=256)
def _program(document: str) -> ProgramSettings:
    """Program settings from their stored text, validated once per distinct text (they are
    immutable, and the same text always gives the same settings)."""
    return ProgramSettings.model_validate_json(document)


async def revoke_key(conn: AsyncConnection, *, tenant_id: int, token: str, now: datetime) -> bool:
    result = await conn.execute(
        update(api_key)
        .where(
            api_key.c.tenant_id == tenant_id,
            api_key.c.token == token,
            api_key.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return result.rowcount == 1
