"""`/v1/admin/rewards`: create, change and list the rewards catalogue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from fidelis import errors
from fidelis.api.deps import DB, CurrentTenant, Now
from fidelis.api.json import JSONResponse
from fidelis.api.pvt import docs, envelope, views
from fidelis.api.pvt.rewards import RewardId
from fidelis.api.pvt.schemas import Instant, Money, Points32, Text
from fidelis.api.quick import QuickRoute
from fidelis.reward import service as reward_service

router = APIRouter(prefix="/v1/admin", tags=["Admin"], route_class=QuickRoute)


class RewardRequest(BaseModel):
    """A reward configuration. Every field is optional here: a creation needs `Title` and
    `RewardType`, and a change (PUT) touches only the fields it sends. The rules live in
    `fidelis.reward.service`; types are strict so `"10"` is never ten points."""

    model_config = ConfigDict(extra="ignore")

    Title: Annotated[Text, Field(max_length=255)] | None = None
    Description: Annotated[Text, Field(max_length=2000)] | None = None
    RewardType: (
        Annotated[Points32, Field(description="0 %, 1 R$, 2 shipping, 3 cashback, 4 custom")] | None
    ) = None
    Value: Money | None = Field(default=None, description="Percent or R$; unused for Cashback.")
    Points: Points32 | None = Field(default=None, description="Cost; unused for Cashback.")
    IsActive: StrictBool | None = None
    MinimalValue: Money | None = Field(default=None, description="Minimum purchase, R$.")
    CumulativeDiscount: StrictBool | None = None
    ValidDays: Points32 | None = Field(default=None, description="Coupon validity in days.")
    CodePrefix: Annotated[Text, Field(max_length=20)] | None = None
    CouponCodeLength: Points32 | None = None
    HasSameCustomerUsageLimit: StrictBool | None = None
    SameCustomerUsageLimit: Points32 | None = None
    HasGlobalUsageLimit: StrictBool | None = None
    GlobalUsageLimit: Points32 | None = None
    ValidDateStart: Instant | None = None
    ValidDateEnd: Instant | None = None


FIELDS = {wire: name for name, wire in reward_service.FIELDS.items()}


def _fields(body: RewardRequest) -> dict[str, object]:
    """The fields the request sent (an explicit null included), by their domain names."""
    return {FIELDS[wire]: getattr(body, wire) for wire in body.model_fields_set}


@router.post(
    "/rewards",
    summary="Add a reward to the catalogue",
    response_model=None,
    responses=docs.responses(docs.Envelope[docs.RewardConfiguration]),
)
async def create_reward(
    body: RewardRequest, tenant: CurrentTenant, db: DB, now: Now
) -> JSONResponse:
    async with db.write() as conn:
        reward = await reward_service.create(
            conn, tenant_id=tenant.id, fields=_fields(body), now=now
        )
    return envelope.ok(views.reward_configuration(reward))


@router.put(
    "/rewards/{reward_id}",
    summary="Change a reward (fields left out keep their values)",
    response_model=None,
    responses=docs.responses(
        docs.Envelope[docs.RewardConfiguration], errors.RewardNotFound, path=True
    ),
)
async def update_reward(
    reward_id: RewardId, body: RewardRequest, tenant: CurrentTenant, db: DB, now: Now
) -> JSONResponse:
    async with db.write() as conn:
        reward = await reward_service.update(
            conn, tenant_id=tenant.id, reward_id=reward_id, changes=_fields(body), now=now
        )
    return envelope.ok(views.reward_configuration(reward))


@router.get(
    "/rewards",
    summary="The whole rewards catalogue",
    response_model=None,
    responses=docs.responses(
        docs.Envelope[list[docs.RewardConfiguration]], inputs=False, body=False
    ),
)
async def list_rewards(tenant: CurrentTenant, db: DB) -> JSONResponse:
    async with db.read() as conn:
        rewards = await reward_service.list_all(conn, tenant.id)
    return envelope.ok([views.reward_configuration(r) for r in rewards])
