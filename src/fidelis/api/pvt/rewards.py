"""`/v1/pvt/RewardConfigurations`: the rewards catalogue as a store reads it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from fidelis import errors
from fidelis.api.deps import DB, CurrentTenant
from fidelis.api.json import JSONResponse
from fidelis.api.pvt import docs, envelope, views
from fidelis.api.quick import QuickRoute
from fidelis.reward import service as reward_service

router = APIRouter(prefix="/v1/pvt", tags=["Rewards"], route_class=QuickRoute)

# Ids are database keys: anything outside a signed 64-bit integer cannot name a reward.
RewardId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get(
    "/RewardConfigurations",
    summary="The rewards catalogue, paged (list shape)",
    response_model=None,
    responses=docs.responses(docs.Page[docs.RewardConfiguration], body=False),
)
async def list_configurations(
    tenant: CurrentTenant,
    db: DB,
    PageNumber: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    PageSize: Annotated[int, Query(ge=1, le=50)] = 10,
) -> JSONResponse:
    async with db.read() as conn:
        found = await reward_service.list_page(conn, tenant.id, page=PageNumber, size=PageSize)
    items = [views.reward_configuration(r) for r in found.items]
    return JSONResponse(views.page(items, total=found.total, number=PageNumber, size=PageSize))


@router.get(
    "/RewardConfigurations/{reward_id}",
    summary="One reward configuration",
    response_model=None,
    responses=docs.responses(
        docs.Envelope[docs.RewardConfiguration], errors.RewardNotFound, body=False, path=True
    ),
)
async def get_configuration(reward_id: RewardId, tenant: CurrentTenant, db: DB) -> JSONResponse:
    async with db.read() as conn:
        reward = await reward_service.get(conn, tenant.id, reward_id)
    return envelope.ok(views.reward_configuration(reward))
