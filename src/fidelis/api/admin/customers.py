"""`/v1/admin/customers`: search customers; a customer's full ledger with internal reasons."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Query as QueryParam

from fidelis import errors
from fidelis.api.deps import DB, CurrentTenant, Now
from fidelis.api.json import JSONResponse
from fidelis.api.pvt import docs, envelope, views
from fidelis.api.pvt.customers import CustomerIdent
from fidelis.api.pvt.schemas import Text
from fidelis.api.quick import QuickRoute
from fidelis.customer import service as customer_service
from fidelis.kit.clock import iso_utc
from fidelis.kit.money import to_money
from fidelis.program.schemas import ProgramSettings
from fidelis.report import service as report_service
from fidelis.report.service import Movement

router = APIRouter(prefix="/v1/admin/customers", tags=["Admin"], route_class=QuickRoute)

PageNumberParam = Annotated[int, QueryParam(ge=1, le=1_000_000)]


@router.get(
    "",
    summary="Search customers by name, e-mail, document or OriginalId",
    response_model=None,
    responses=docs.responses(docs.Envelope[docs.Page[dict[str, Any]]], body=False),
)
async def search_customers(
    tenant: CurrentTenant,
    db: DB,
    now: Now,
    Query: Annotated[
        Text | None,
        QueryParam(
            max_length=200, description="Any part of name, e-mail, OriginalId or document digits."
        ),
    ] = None,
    PageNumber: PageNumberParam = 1,
    PageSize: Annotated[int, QueryParam(ge=1, le=100)] = 20,
) -> JSONResponse:
    async with db.snapshot() as conn:
        found = await report_service.search_customers(
            conn, tenant.id, Query, page=PageNumber, size=PageSize, now=now
        )
    items = [views.customer_model(c, b, tenant.program) for c, b in found.items]
    return envelope.ok(views.page(items, total=found.total, number=PageNumber, size=PageSize))


@router.get(
    "/{customer_id:path}/ledger",
    summary="Every movement of a customer, newest first, with internal reasons and lots",
    response_model=None,
    responses=docs.responses(
        docs.Envelope[dict[str, Any]], errors.CustomerNotFound, in_path=True, path=True, body=False
    ),
)
async def customer_ledger(
    customer_id: CustomerIdent,
    tenant: CurrentTenant,
    db: DB,
    now: Now,
    PageNumber: PageNumberParam = 1,
    PageSize: Annotated[int, QueryParam(ge=1, le=500)] = 100,
) -> JSONResponse:
    async with db.snapshot() as conn:
        customer = await customer_service.get(conn, tenant.id, customer_id)
        balances = await customer_service.balances_of(conn, tenant.id, customer, now=now)
        found = await report_service.customer_ledger(
            conn, tenant.id, customer, page=PageNumber, size=PageSize
        )
    items = [movement_view(m, tenant.program) for m in found.items]
    result = views.page(items, total=found.total, number=PageNumber, size=PageSize)
    result["Customer"] = views.customer_model(customer, balances, tenant.program)
    result["PendingPoints"] = balances.pending
    result["HeldPoints"] = balances.held
    return envelope.ok(result)


def movement_view(movement: Movement, program: ProgramSettings) -> dict[str, Any]:
    row = movement.row
    return {
        "Id": row.id,
        "Date": iso_utc(row.created_at),
        "Type": row.type,
        "From": row.source,
        "To": row.destination,
        "Amount": row.amount,
        "Points": row.points,
        "CashbackValue": to_money(row.points, program.PointValue),
        "PointType": row.point_type,
        "Reason": row.reason,
        "CustomerReason": row.customer_reason,
        "ChangeKey": row.change_key,
        "OrderId": row.order_ref,
        "ReversesId": row.reverses_id,
        "ReversedById": row.reversed_by_id,
        "CreatedLotId": movement.created_lot_id,
        "Lots": [{"LotId": lot_id, "Points": points} for lot_id, points in movement.lots],
        "Cause": {"Kind": movement.cause.kind, "Ref": movement.cause.ref},
    }
