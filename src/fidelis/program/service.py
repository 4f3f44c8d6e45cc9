"""Reading and changing a tenant's program settings."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.errors import InvalidField
from fidelis.program.schemas import ProgramSettings
from fidelis.tenant import repository as tenant_repository


def merge(current: ProgramSettings, changes: dict[str, Any]) -> ProgramSettings:
    """Apply a partial document of changes (nested `RedemptionRule` merged field by field).

    Raises:
        InvalidField: a setting is unknown or its value is out of range.
    """
    document: dict[str, Any] = current.to_document()
    for name, value in changes.items():
        if name == "RedemptionRule" and isinstance(value, dict):
            document["RedemptionRule"] = {**document["RedemptionRule"], **value}
        else:
            document[name] = value
    try:
        return ProgramSettings.model_validate(document)
    except ValidationError as exc:
        raise InvalidField(describe_validation_error(exc)) from None


async def update(conn: AsyncConnection, tenant_id: int, changes: dict[str, Any]) -> ProgramSettings:
    """Validate and store new settings for the tenant.

    Raises:
        InvalidField: a setting is unknown or its value is out of range.
    """
    current = await tenant_repository.get_program(conn, tenant_id)
    updated = merge(current, changes)
    await tenant_repository.set_program(conn, tenant_id, updated)
    return updated


def describe_validation_error(exc: ValidationError) -> str:
    """One readable sentence naming each bad field."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
