"""`/v1/pvt/Order/...` and the PoS shortcuts: orders that earn points and give them back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path

from fidelis import errors
from fidelis.api.deps import DB, CurrentTenant, Now
from fidelis.api.json import JSONResponse
from fidelis.api.pvt import docs, envelope, views
from fidelis.api.pvt.schemas import (
    UPSERT_FIELDS,
    OrderCancelRequest,
    OrderRequest,
    PartialCancelRequest,
)
from fidelis.api.quick import QuickRoute
from fidelis.customer import service as customer_service
from fidelis.db.engine import Connection
from fidelis.kit.clock import iso_utc
from fidelis.ledger.model import Balances
from fidelis.order import service as order_service
from fidelis.order.service import OrderReport, Outcome
from fidelis.tenant.repository import Tenant

router = APIRouter(prefix="/v1/pvt", tags=["Orders"], route_class=QuickRoute)

OrderId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]


def _report(body: OrderRequest) -> OrderReport:
    customer = None
    if body.Customer is not None:
        sent = body.Customer.model_fields_set
        customer = {UPSERT_FIELDS[name]: getattr(body.Customer, name) for name in sent}
        if customer.get("is_enrolled", False) is None:
            del customer["is_enrolled"]
    # What the store sent of these, an empty list included (it clears the old one on a
    # re-post); what it left out is not there (the re-post keeps it).
    details = body.model_dump(
        mode="json",
        include={"Products", "Branch", "SalesPerson", "Metadatas"},
        exclude_unset=True,
        exclude_none=True,
    )
    return OrderReport(
        original_id=body.OriginalId,
        total=body.OrderTotal,
        is_completed=body.IsCompleted,
        is_cancelled=body.IsCancelledOrReturned,
        placed_at=body.OrderPlacementDate,
        completed_at=body.OrderCompletedDate,
        cancelled_at=body.OrderCancelledDate,
        status_text=body.OrderStatus,
        coupon=body.Coupon,
        customer=customer,
        details=details,
    )


UPSERTED = docs.responses(
    docs.Envelope[docs.Order],
    errors.InvalidOrderTransition,
    errors.InvalidDocument,
    errors.InvalidValue,
)
CANCELLED = docs.responses(
    docs.Envelope[docs.OrderCancelled],
    errors.OrderNotFound,
    errors.InvalidOrderTransition,
    warnings=("OrderAlreadyCanceled",),
    path=True,
)
PARTIALLY_CANCELLED = docs.responses(
    docs.Envelope[docs.OrderCancelled],
    errors.OrderNotFound,
    errors.InvalidOrderTransition,
    errors.RefundExceedsOrderTotal,
    errors.InvalidValue,
    errors.IdempotencyKeyConflict,
    warnings=("AlreadyProcessed",),
    path=True,
)


@router.post(
    "/Order",
    summary="Add or update an order (earns points once, on completion)",
    response_model=None,
    responses=UPSERTED,
)
@router.post(
    "/POS/orders",
    summary="PoS shortcut for POST /v1/pvt/Order",
    response_model=None,
    responses=UPSERTED,
)
async def upsert_order(body: OrderRequest, tenant: CurrentTenant, db: DB, now: Now) -> JSONResponse:
    async with db.write() as conn:
        outcome = await order_service.upsert(
            conn, tenant_id=tenant.id, program=tenant.program, report=_report(body), now=now
        )
        balances = await _balances(conn, tenant, outcome, now)
    return envelope.ok(views.order_model(outcome, balances, tenant.program))


@router.post(
    "/Order/{order_id:path}/cancel",
    summary="Cancel an order and take its points back",
    response_model=None,
    responses=CANCELLED,
)
@router.post(
    "/POS/orders/{order_id:path}/cancel",
    summary="PoS shortcut for the order cancel",
    response_model=None,
    responses=CANCELLED,
)
async def cancel_order(
    order_id: OrderId,
    tenant: CurrentTenant,
    db: DB,
    now: Now,
    # Both fields are optional, so the body may be left out altogether.
    body: OrderCancelRequest | None = None,
) -> JSONResponse:
    body = body or OrderCancelRequest()
    async with db.write() as conn:
        outcome = await order_service.cancel(
            conn,
            tenant_id=tenant.id,
            program=tenant.program,
            original_id=order_id,
            cancelled_at=body.OrderCancelledDate,
            status_text=body.OrderStatus,
            now=now,
        )
    result = _cancel_result(outcome)
    return envelope.ok(result, "OrderAlreadyCanceled" if outcome.already else None)


@router.post(
    "/Order/{order_id:path}/partialcancel",
    summary="Refund part of an order",
    response_model=None,
    responses=PARTIALLY_CANCELLED,
)
@router.post(
    "/POS/{order_id:path}/partialcancel",
    summary="PoS shortcut for the partial cancel",
    response_model=None,
    responses=PARTIALLY_CANCELLED,
)
async def partial_cancel(
    order_id: OrderId, body: PartialCancelRequest, tenant: CurrentTenant, db: DB, now: Now
) -> JSONResponse:
    key = body.CancelKey if body.CancelKey and body.CancelKey.strip() else None
    async with db.write() as conn:
        outcome, replayed = await order_service.partial_cancel(
            conn,
            tenant_id=tenant.id,
            program=tenant.program,
            original_id=order_id,
            value=body.ValueToRefund,
            cancel_key=key,
            now=now,
        )
        if replayed is not None or outcome.already:
            return envelope.ok(replayed or _cancel_result(outcome), "AlreadyProcessed")
        result = _cancel_result(outcome)
        if key is not None:
            await order_service.remember_result(
                conn, tenant_id=tenant.id, cancel_key=key, result=result
            )
    return envelope.ok(result)


@router.get(
    "/Order/{order_id:path}",
    summary="An order (bare)",
    response_model=None,
    responses=docs.responses(docs.Order, errors.OrderNotFound, body=False, path=True),
)
async def get_order(order_id: OrderId, tenant: CurrentTenant, db: DB, now: Now) -> JSONResponse:
    async with db.read() as conn:
        outcome = await order_service.get(conn, tenant.id, order_id)
        balances = await _balances(conn, tenant, outcome, now)
    return JSONResponse(views.order_model(outcome, balances, tenant.program))


def _cancel_result(outcome: Outcome) -> dict[str, Any]:
    # "isCanceled" in this exact casing, as BonifiQ writes it.
    return {
        "isCanceled": outcome.order.state == order_service.CANCELLED,
        "UpdatedAt": iso_utc(outcome.order.updated_at),
        "Status": outcome.order.state,
    }


async def _balances(conn: Connection, tenant: Tenant, outcome: Outcome, now: datetime) -> Balances:
    return await customer_service.balances_of(conn, tenant.id, outcome.customer, now=now)
