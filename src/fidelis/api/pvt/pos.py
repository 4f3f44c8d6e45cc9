"""`/v1/pvt/POS/rewards/...` and `/v1/pvt/Rewards/{id}`: redeeming rewards at the till."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from fidelis.api.deps import DB, CurrentTenant, Now
from fidelis.api.json import JSONResponse, plain
from fidelis.api.pvt import envelope, views
from fidelis.api.pvt.schemas import Key, PosRedeemRequest
from fidelis.customer import service as customer_service
from fidelis.db.engine import Connection
from fidelis.redemption import service as redemption_service
from fidelis.redemption.service import Record, RedeemRequest
from fidelis.tenant.repository import Tenant

router = APIRouter(prefix="/v1/pvt", tags=["Point of sale"])

# Ids are database keys: anything outside a signed 64-bit integer cannot name one.
DbId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _key(value: str | None) -> str | None:
    return value if value is not None and value.strip() else None


@router.post("/POS/rewards/{reward_id}/redeem", summary="Redeem a reward at the point of sale")
async def redeem(
    reward_id: DbId, body: PosRedeemRequest, tenant: CurrentTenant, db: DB, now: Now
) -> JSONResponse:
    key = _key(body.OriginalKey)
    details = body.model_dump(
        mode="json", include={"Branch", "SalesPerson", "Metadatas"}, exclude_none=True
    )
    request = RedeemRequest(
        reward_id=reward_id,
        ident=body.CustomerId,
        points=body.Points,
        value=body.Value,
        original_key=key,
        redeem_origin=body.RedeemOrigin,
        force_coupon=body.ForceGenerateCoupon,
        details={k: v for k, v in details.items() if v},
    )
    async with db.write(queue=f"{tenant.id}:{body.CustomerId}") as conn:
        done = await redemption_service.redeem_at_pos(
            conn, tenant_id=tenant.id, program=tenant.program, request=request, now=now
        )
        if done.replayed is not None:
            return envelope.ok(done.replayed, "AlreadyProcessed")
        result = views.redeem_result(done.redemption)
        if key is not None:
            await redemption_service.remember_result(
                conn, tenant_id=tenant.id, original_key=key, result=plain(result)
            )
    return envelope.ok(result)


@router.delete("/POS/rewards/{redemption_id}", summary="Cancel a redemption (points go back)")
async def cancel(redemption_id: DbId, tenant: CurrentTenant, db: DB, now: Now) -> JSONResponse:
    async with db.write() as conn:
        record = await redemption_service.cancel(
            conn, tenant_id=tenant.id, redemption_id=redemption_id, now=now
        )
        result = await _record(conn, tenant, record, now)
    return envelope.ok(result, "RedeemAlreadyCanceled" if record.already else None)


@router.delete("/POS/rewards", summary="Cancel a redemption by its OriginalKey")
async def cancel_by_key(
    OriginalKey: Annotated[Key, Query(min_length=1)],
    tenant: CurrentTenant,
    db: DB,
    now: Now,
) -> JSONResponse:
    async with db.write() as conn:
        record = await redemption_service.cancel(
            conn, tenant_id=tenant.id, original_key=OriginalKey, now=now
        )
        result = await _record(conn, tenant, record, now)
    return envelope.ok(result, "RedeemAlreadyCanceled" if record.already else None)


@router.get("/Rewards/{redemption_id}", summary="A redemption record (bare)")
async def get_redemption(
    redemption_id: DbId, tenant: CurrentTenant, db: DB, now: Now
) -> JSONResponse:
    async with db.read() as conn:
        record = await redemption_service.get(conn, tenant.id, redemption_id)
        result = await _record(conn, tenant, record, now)
    return JSONResponse(result)


async def _record(
    conn: Connection, tenant: Tenant, record: Record, now: datetime
) -> dict[str, object]:
    balances = await customer_service.balances_of(conn, tenant.id, record.customer, now=now)
    return views.redemption_record(record.redemption, record.customer, balances, tenant.program)
