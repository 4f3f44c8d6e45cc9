"""`/v1/pvt/Customer/...`: customers, their points, and manual points/cashback changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from fidelis import errors
from fidelis.adjustment import service as adjustment
from fidelis.adjustment.service import Change
from fidelis.api.deps import DB, CurrentCaller, CurrentTenant, Now, confirmed_tenant
from fidelis.api.json import JSONResponse
from fidelis.api.pvt import docs, envelope, views
from fidelis.api.pvt.schemas import (
    UPSERT_FIELDS,
    CashbackChangeRequest,
    ChangeStatusRequest,
    CustomerUpsertRequest,
    PointsChangeRequest,
)
from fidelis.api.quick import QuickRoute
from fidelis.customer import service as customer_service
from fidelis.customer.service import PointsSummary
from fidelis.db.engine import Connection, Database
from fidelis.errors import ChangeKeyAlreadyUsed
from fidelis.tenant.repository import Tenant

router = APIRouter(prefix="/v1/pvt/Customer", tags=["Customers"], route_class=QuickRoute)

CustomerIdent = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00]+$",
        description="OriginalId, e-mail or CPF/CNPJ.",
    ),
]

# What a points or cashback change can answer besides success, in the contract's rule order.
CHANGE_ERRORS = (
    errors.CustomerNotFound,
    errors.PointsCannotBeZero,
    errors.OperationTypeMismatch,
    errors.ReasonRequired,
    errors.CustomerReasonTooLong,
    errors.CustomerDisabled,
    errors.ChangeKeyAlreadyUsed,
    errors.InsufficientBalance,
)


@router.post(
    "/upsert",
    summary="Create or update a customer by OriginalId",
    response_model=None,
    responses=docs.responses(docs.Envelope[docs.UpsertedCustomer], errors.InvalidDocument),
)
async def upsert_customer(
    body: CustomerUpsertRequest, tenant: CurrentTenant, db: DB, now: Now
) -> JSONResponse:
    fields = {UPSERT_FIELDS[name]: getattr(body, name) for name in body.model_fields_set}
    if fields.get("is_enrolled", False) is None:
        del fields["is_enrolled"]  # null = the default on create, unchanged on update
    async with db.write() as conn:
        customer, operation = await customer_service.upsert(conn, tenant.id, fields, now=now)
        balances = await customer_service.balances_of(conn, tenant.id, customer, now=now)
    result = views.customer_model(customer, balances, tenant.program)
    result["Operation"] = operation
    return envelope.ok(result)


@router.get(
    "/{customer_id:path}/points",
    summary="Points balance and recent history (bare)",
    response_model=None,
    responses=docs.responses(docs.PointsResponse, body=False, path=True),
)
async def get_points(
    request: Request, customer_id: CustomerIdent, caller: CurrentCaller, db: DB, now: Now
) -> JSONResponse:
    tenant = caller.tenant
    async with db.at_once(write=False) as driver:
        found = await customer_service.points_at_once(
            driver, tenant.id, customer_id, check=caller.check, now=now
        )
    if found is not None:
        return JSONResponse(views.points_response(found, tenant.program))
    tenant = await confirmed_tenant(request, db, caller)
    async with db.read() as conn:
        customer = await customer_service.find(conn, tenant.id, customer_id)
        if customer is None:
            return JSONResponse(views.unknown_customer_points())
        summary = await customer_service.points_summary(conn, tenant.id, customer, now=now)
    return JSONResponse(views.points_response(summary, tenant.program))


@router.post(
    "/{customer_id:path}/changestatus",
    summary="Enable or disable a customer",
    response_model=None,
    responses=docs.responses(
        docs.Envelope[bool],
        errors.CustomerNotFound,
        errors.ReasonRequired,
        in_path=True,
        path=True,
    ),
)
async def change_status(
    customer_id: CustomerIdent, body: ChangeStatusRequest, tenant: CurrentTenant, db: DB, now: Now
) -> JSONResponse:
    async with db.write() as conn:
        await customer_service.change_status(
            conn, tenant.id, customer_id, is_enabled=body.IsEnabled, reason=body.Reason, now=now
        )
    return envelope.ok(True)


@router.post(
    "/{customer_id:path}/history",
    summary="Paged history of movements, newest first",
    response_model=None,
    responses=docs.responses(
        docs.Page[docs.HistoryItem], errors.CustomerNotFound, in_path=True, path=True
    ),
)
async def history(
    customer_id: CustomerIdent,
    tenant: CurrentTenant,
    db: DB,
    PageNumber: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    PageSize: Annotated[int, Query(ge=1, le=50)] = 10,
) -> JSONResponse:
    async with db.read() as conn:
        customer = await customer_service.get(conn, tenant.id, customer_id)
        found = await customer_service.history_page(
            conn, tenant.id, customer, page=PageNumber, size=PageSize
        )
    items = [views.history_item(i, tenant.program) for i in found.items]
    return JSONResponse(views.page(items, total=found.total, number=PageNumber, size=PageSize))


@router.post(
    "/{customer_id:path}/points",
    summary="Add or remove points",
    response_model=None,
    responses=docs.responses(
        docs.Envelope[docs.PointsResponse], *CHANGE_ERRORS, in_path=True, path=True
    ),
)
async def change_points(
    request: Request,
    customer_id: CustomerIdent,
    body: PointsChangeRequest,
    caller: CurrentCaller,
    db: DB,
    now: Now,
) -> JSONResponse:
    tenant = caller.tenant
    change = _change(body)
    added = await adjustment.add_points_at_once(
        db,
        queue=_queue(tenant, customer_id),
        check=caller.check,
        tenant_id=tenant.id,
        program=tenant.program,
        ident=customer_id,
        points=body.Points,
        change=change,
        now=now,
    )
    if added is not None:
        return envelope.ok(views.points_response(added, tenant.program))
    tenant = await confirmed_tenant(request, db, caller)

    async def apply(conn: Connection) -> PointsSummary:
        return await adjustment.change_points(
            conn,
            tenant_id=tenant.id,
            program=tenant.program,
            ident=customer_id,
            points=body.Points,
            change=change,
            now=now,
        )

    return await _changed(db, tenant, customer_id, apply)


@router.post(
    "/{customer_id:path}/cashback",
    summary="Add or remove cashback (R$)",
    response_model=None,
    responses=docs.responses(
        docs.Envelope[docs.PointsResponse],
        *CHANGE_ERRORS,
        errors.CashbackNotEnabled,
        errors.InvalidValue,
        in_path=True,
        path=True,
    ),
)
async def change_cashback(
    customer_id: CustomerIdent, body: CashbackChangeRequest, tenant: CurrentTenant, db: DB, now: Now
) -> JSONResponse:
    async def apply(conn: Connection) -> PointsSummary:
        return await adjustment.change_cashback(
            conn,
            tenant_id=tenant.id,
            program=tenant.program,
            ident=customer_id,
            value=body.Value,
            change=_change(body),
            now=now,
        )

    return await _changed(db, tenant, customer_id, apply)


# Declared last: its path-typed id (a CNPJ has a "/") must not swallow "/points" and the like.
@router.get(
    "/{customer_id:path}",
    summary="Get a customer by OriginalId, e-mail or document",
    response_model=None,
    responses=docs.responses(
        docs.Envelope[docs.CustomerModel],
        errors.CustomerNotFound,
        in_path=True,
        body=False,
        path=True,
    ),
)
async def get_customer(
    customer_id: CustomerIdent, tenant: CurrentTenant, db: DB, now: Now
) -> JSONResponse:
    async with db.read() as conn:
        customer = await customer_service.get(conn, tenant.id, customer_id)
        balances = await customer_service.balances_of(conn, tenant.id, customer, now=now)
    return envelope.ok(views.customer_model(customer, balances, tenant.program))


async def _changed(
    db: Database,
    tenant: Tenant,
    customer_id: str,
    apply: Callable[[Connection], Awaitable[PointsSummary]],
) -> JSONResponse:
    """Run a points change in one write transaction and answer with the Points Response.

    A reused ChangeKey is an error whose `Result` is still the customer's current points.
    """
    try:
        async with db.write(queue=_queue(tenant, customer_id)) as conn:
            summary = await apply(conn)
    except ChangeKeyAlreadyUsed as exc:
        return envelope.error(
            exc, result=views.points_response(exc.details["summary"], tenant.program)
        )
    return envelope.ok(views.points_response(summary, tenant.program))


def _queue(tenant: Tenant, customer_id: str) -> str:
    """The name writers of one customer queue on in this process (`Database.write`)."""
    return f"{tenant.id}:{customer_id}"


def _change(body: PointsChangeRequest | CashbackChangeRequest) -> Change:
    key = body.ChangeKey if body.ChangeKey and body.ChangeKey.strip() else None
    return Change(
        operation=body.OperationType,
        reason=body.Reason,
        customer_reason=body.CustomerReason,
        change_key=key,
        expiration_date=body.ExpirationDate,
    )
