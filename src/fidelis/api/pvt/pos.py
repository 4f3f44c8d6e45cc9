"""Redeeming rewards: at the till (`/v1/pvt/POS/rewards/...`), as coupons
(`/v1/pvt/RewardConfigurations/{id}/redeem`, `/v1/pvt/Customer/{id}/availablecoupons`), and the
redemption record (`/v1/pvt/Rewards/{id}`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from fidelis import errors
from fidelis.api.deps import DB, CurrentTenant, Now
from fidelis.api.json import JSONResponse, plain
from fidelis.api.pvt import docs, envelope, views
from fidelis.api.pvt.customers import CustomerIdent
from fidelis.api.pvt.schemas import (
    AvailableRewardsRequest,
    CouponRedeemRequest,
    Key,
    PosRedeemRequest,
    PurchaseFields,
)
from fidelis.api.quick import QuickRoute
from fidelis.customer import service as customer_service
from fidelis.db.engine import Connection
from fidelis.redemption import rule
from fidelis.redemption import service as redemption_service
from fidelis.redemption.service import Record, RedeemRequest
from fidelis.tenant.repository import Tenant

router = APIRouter(prefix="/v1/pvt", tags=["Point of sale"], route_class=QuickRoute)

# Ids are database keys: anything outside a signed 64-bit integer cannot name one.
DbId = Annotated[int, Path(ge=1, le=2**63 - 1)]
API_ORIGIN = 4

REDEEMED = docs.responses(
    docs.Envelope[docs.Redeemed],
    errors.RewardNotFound,
    errors.CustomerNotFound,
    errors.RewardInactive,
    errors.RewardRequirementsNotMet,
    errors.NotEnoughPoints,
    errors.CustomerDisabled,
    errors.CustomerInDebt,
    errors.CashbackNotEnabled,
    errors.CashbackValueTooHigh,
    errors.InvalidValue,
    errors.IdempotencyKeyConflict,
    warnings=("AlreadyProcessed",),
    path=True,
)


def _cancelled(*, path: bool) -> dict[int | str, dict[str, Any]]:
    return docs.responses(
        docs.Envelope[docs.RedemptionRecord],
        errors.RedeemNotFound,
        warnings=("RedeemAlreadyCanceled",),
        body=False,
        path=path,
    )


def _key(value: str | None) -> str | None:
    return value if value is not None and value.strip() else None


def purchase_of(body: PurchaseFields) -> rule.Purchase:
    items = tuple(
        rule.Item(
            unit_price=p.ProductPrice or Decimal(0),
            quantity=Decimal(1) if p.Quantity is None else p.Quantity,
            sku=p.OriginalId,
            category=p.ProductCategory.OriginalId if p.ProductCategory else None,
        )
        for p in body.Products
    )
    return rule.Purchase(
        total=body.PurchaseValue, discount=body.DiscountValue or Decimal(0), items=items
    )


@router.post(
    "/POS/rewards/available",
    summary="Every active reward, and whether it can be used (bare)",
    response_model=None,
    responses=docs.responses(docs.AvailableRewards),
)
async def available(
    body: AvailableRewardsRequest, tenant: CurrentTenant, db: DB, now: Now
) -> JSONResponse:
    async with db.read() as conn:
        found = await redemption_service.offers(
            conn,
            tenant_id=tenant.id,
            program=tenant.program,
            ident=body.CustomerId,
            purchase=purchase_of(body),
            now=now,
        )
    return JSONResponse(views.available_rewards(found, tenant.program))


async def _redeem(
    reward_id: int,
    body: CouponRedeemRequest,
    *,
    endpoint: str,
    coupon: bool,
    origin: int | None,
    tenant: Tenant,
    db: DB,
    now: datetime,
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
        redeem_origin=origin,
        force_coupon=coupon,
        purchase=purchase_of(body),
        details={k: v for k, v in details.items() if v},
        endpoint=endpoint,
    )
    async with db.write(queue=f"{tenant.id}:{body.CustomerId}") as conn:
        done = await redemption_service.redeem(
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


@router.post(
    "/POS/rewards/{reward_id}/redeem",
    summary="Redeem a reward at the point of sale",
    response_model=None,
    responses=REDEEMED,
)
async def redeem(
    reward_id: DbId, body: PosRedeemRequest, tenant: CurrentTenant, db: DB, now: Now
) -> JSONResponse:
    return await _redeem(
        reward_id,
        body,
        endpoint="pos-redeem",
        coupon=body.ForceGenerateCoupon,
        origin=body.RedeemOrigin,
        tenant=tenant,
        db=db,
        now=now,
    )


@router.post(
    "/RewardConfigurations/{reward_id}/redeem",
    summary="Redeem a reward for a customer and generate its coupon",
    tags=["Rewards"],
    response_model=None,
    responses=REDEEMED,
)
async def redeem_coupon(
    reward_id: DbId, body: CouponRedeemRequest, tenant: CurrentTenant, db: DB, now: Now
) -> JSONResponse:
    origin = API_ORIGIN if body.RedeemOrigin is None else body.RedeemOrigin
    return await _redeem(
        reward_id,
        body,
        endpoint="coupon-redeem",
        coupon=True,
        origin=origin,
        tenant=tenant,
        db=db,
        now=now,
    )


@router.post(
    "/Customer/{customer_id:path}/availablecoupons",
    summary="The customer's coupons that can still be used (list shape)",
    tags=["Rewards"],
    response_model=None,
    responses=docs.responses(
        docs.Page[docs.AvailableCoupon], errors.CustomerNotFound, in_path=True, path=True
    ),
)
async def available_coupons(
    customer_id: CustomerIdent,
    tenant: CurrentTenant,
    db: DB,
    now: Now,
    PageNumber: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    PageSize: Annotated[int, Query(ge=1, le=50)] = 10,
) -> JSONResponse:
    async with db.read() as conn:
        found = await redemption_service.available_coupons(
            conn, tenant.id, customer_id, now=now, page=PageNumber, size=PageSize
        )
    items = [views.available_coupon(r) for r in found.items]
    return JSONResponse(views.page(items, total=found.total, number=PageNumber, size=PageSize))


@router.delete(
    "/POS/rewards/{redemption_id}",
    summary="Cancel a redemption (points go back)",
    response_model=None,
    responses=_cancelled(path=True),
)
async def cancel(redemption_id: DbId, tenant: CurrentTenant, db: DB, now: Now) -> JSONResponse:
    async with db.write() as conn:
        record = await redemption_service.cancel(
            conn, tenant_id=tenant.id, redemption_id=redemption_id, now=now
        )
        result = await _record(conn, tenant, record, now)
    return envelope.ok(result, "RedeemAlreadyCanceled" if record.already else None)


@router.delete(
    "/POS/rewards",
    summary="Cancel a redemption by its OriginalKey",
    response_model=None,
    responses=_cancelled(path=False),
)
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


@router.get(
    "/Rewards/{redemption_id}",
    summary="A redemption record (bare)",
    response_model=None,
    responses=docs.responses(docs.RedemptionRecord, errors.RedeemNotFound, body=False, path=True),
)
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
    return views.redemption_record(
        record.redemption, record.customer, balances, tenant.program, now
    )
