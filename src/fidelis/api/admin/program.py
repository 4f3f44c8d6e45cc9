"""`/v1/admin/program`: read and change the program settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from fidelis.api.deps import DB, CurrentTenant
from fidelis.api.json import JSONResponse
from fidelis.api.pvt import docs, envelope
from fidelis.api.quick import QuickRoute
from fidelis.errors import InvalidField
from fidelis.program import service as program_service
from fidelis.tenant import repository as tenant_repository

router = APIRouter(prefix="/v1/admin", tags=["Admin"], route_class=QuickRoute)


@router.get(
    "/program",
    summary="Program settings",
    response_model=None,
    responses=docs.responses(docs.Envelope[docs.ProgramSettings], inputs=False, body=False),
)
async def get_program(tenant: CurrentTenant, db: DB) -> JSONResponse:
    async with db.read() as conn:
        program = await tenant_repository.get_program(conn, tenant.id)
    return envelope.ok(program.to_document())


@router.put(
    "/program",
    summary="Change program settings (fields left out keep their values)",
    response_model=None,
    responses=docs.responses(docs.Envelope[docs.ProgramSettings]),
)
async def put_program(
    tenant: CurrentTenant,
    db: DB,
    changes: dict[str, Any] = Body(
        ..., examples=[{"PointValue": "0.01", "RedemptionRule": {"MaxPercentOfPurchase": 30}}]
    ),
) -> JSONResponse:
    if not isinstance(changes, dict):
        raise InvalidField("the body must be a JSON object of settings")
    async with db.write() as conn:
        program = await program_service.update(conn, tenant.id, changes)
    return envelope.ok(program.to_document())
