"""`/v1/rewards/...`: the reservation face (Dito-style lock → commit | rollback).

snake_case JSON, money as decimal strings, dates at Brasília time (-03:00), the `brand` header
naming the tenant the credentials belong to.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from fidelis import errors
from fidelis.api.deps import (
    DB,
    Caller,
    Now,
    confirmed_tenant,
    current_caller,
    current_tenant,
)
from fidelis.api.json import JSONResponse, plain
from fidelis.api.quick import QuickRoute
from fidelis.api.rewards import docs
from fidelis.api.rewards.schemas import CommitBody, LockBody, PurchaseBody, RollbackBody
from fidelis.errors import AccessDenied, MissingBrand
from fidelis.kit.clock import iso_brasilia
from fidelis.kit.money import to_money
from fidelis.ledger.model import Lot
from fidelis.lock import service as lock_service
from fidelis.lock.repository import CashbackLock, LockStatus
from fidelis.lock.service import HeldPart, Locked, LockRequest, Quote
from fidelis.program.schemas import ProgramSettings
from fidelis.redemption import rule
from fidelis.tenant.repository import Tenant


def _brand_refusal(request: Request, tenant: Tenant) -> MissingBrand | AccessDenied | None:
    """Why the `brand` header does not name the authenticated tenant, if it does not."""
    brand = request.headers.get("brand")
    if not brand:
        return MissingBrand()
    return AccessDenied() if brand != tenant.slug else None


async def brand_tenant(request: Request) -> Tenant:
    """The authenticated tenant, which the `brand` header must name."""
    tenant = await current_tenant(request)
    refusal = _brand_refusal(request, tenant)
    if refusal is not None:
        raise refusal
    return tenant


Brand = Annotated[Tenant, Depends(brand_tenant)]


async def brand_caller(request: Request) -> Caller:
    """`brand_tenant` for the routes with a one-statement path (`current_caller`)."""
    caller = await current_caller(request)
    refusal = _brand_refusal(request, caller.tenant)
    if refusal is not None:
        # A revoked key or a blocked address is answered as such, not as a wrong brand.
        await confirmed_tenant(request, request.app.state.db, caller)
        raise refusal
    return caller


BrandCaller = Annotated[Caller, Depends(brand_caller)]

router = APIRouter(prefix="/v1/rewards", tags=["Cashback reservation"], route_class=QuickRoute)
# `brand_tenant` reads the header itself (a missing one is a 403, not a validation error), so
# each route documents it here.
BRAND = {"parameters": [docs.BRAND]}


def _money(points: int, program: ProgramSettings) -> str:
    return f"{to_money(points, program.PointValue):.2f}"


def purchase_of(body: PurchaseBody) -> rule.Purchase:
    items = tuple(
        rule.Item(unit_price=p.price, quantity=p.quantity, sku=p.sku, category=p.category)
        for p in body.products
    )
    return rule.Purchase(
        total=body.total,
        discount=body.order_discount or Decimal(0),
        items=items,
        store=body.store_id,
        source=body.source,
        names_place=True,
    )


def _available(found: Quote, program: ProgramSettings) -> str:
    return _money(found.spendable if program.CashbackEnabled else 0, program)


@router.post(
    "/lock",
    summary="Calculate and reserve the cashback a purchase may use",
    response_model=None,
    openapi_extra=BRAND,
    responses=docs.responses(docs.Locked, errors.CustomerNotFound, errors.IdempotencyKeyConflict),
)
async def lock(
    request: Request, body: LockBody, caller: BrandCaller, db: DB, now: Now
) -> JSONResponse:
    program = caller.tenant.program
    key = body.lock_key if body.lock_key and body.lock_key.strip() else None
    details: dict[str, Any] = body.model_dump(
        mode="json",
        include={"store_id", "seller_id", "source", "order_voucher", "seller_voucher"},
        exclude_none=True,
    )
    if body.custom_data:
        details["custom_data"] = body.custom_data
    wanted = LockRequest(
        ident=body.customer_id, purchase=purchase_of(body), lock_key=key, details=details
    )
    queue = f"{caller.tenant.id}:{body.customer_id}"
    if not db.is_sqlite:
        taken = await lock_service.lock_at_once(
            db,
            check=caller.check,
            tenant_id=caller.tenant.id,
            program=program,
            request=wanted,
            now=now,
        )
        if taken is not None:
            return JSONResponse(_lock_taken(taken, program))
    tenant = await confirmed_tenant(request, db, caller)
    program = tenant.program
    async with db.write(queue=queue) as conn:
        locked = await lock_service.lock(
            conn, tenant_id=tenant.id, program=program, request=wanted, now=now
        )
        if locked.replayed is not None:
            return JSONResponse(locked.replayed)
        assert locked.quote is not None
        if locked.lock is None:
            return JSONResponse(
                {
                    "lock_token": None,
                    "value": _money(0, program),
                    "available_balance": _available(locked.quote, program),
                    "reason": locked.quote.reason,
                }
            )
        result = _lock_taken(locked, program)
        if key is not None:
            await lock_service.remember_result(
                conn, tenant_id=tenant.id, lock_key=key, result=plain(result)
            )
    return JSONResponse(result)


def _lock_taken(locked: Locked, program: ProgramSettings) -> dict[str, Any]:
    assert locked.lock is not None
    assert locked.quote is not None
    return {
        "lock_token": locked.lock.token,
        "value": _money(locked.lock.points, program),
        "available_balance": _available(locked.quote, program),
        "expires_at": iso_brasilia(locked.lock.expires_at),
        "rewards": [_held(part, program) for part in locked.parts],
    }


def _held(part: HeldPart, program: ProgramSettings) -> dict[str, Any]:
    return {
        "id": str(part.lot_id),
        "value": _money(part.points, program),
        "expires_at": iso_brasilia(part.expires_at),
    }


@router.post(
    "/commit",
    summary="Spend a lock's cashback (all of it, or less)",
    response_model=None,
    openapi_extra=BRAND,
    responses=docs.responses(
        docs.Committed,
        errors.LockNotFound,
        errors.LockRolledBack,
        errors.LockExpired,
        errors.ValueExceedsLock,
        errors.InvalidValue,
    ),
)
async def commit(
    request: Request, body: CommitBody, caller: BrandCaller, db: DB, now: Now
) -> JSONResponse:
    if not db.is_sqlite:
        done = await lock_service.commit_at_once(
            db,
            check=caller.check,
            tenant_id=caller.tenant.id,
            token=body.lock_token,
            value=body.value,
            order_ref=body.order_id,
            now=now,
        )
        if done is not None:
            return JSONResponse(_committed(done.lock, caller.tenant.program))
    tenant = await confirmed_tenant(request, db, caller)
    async with db.write() as conn:
        resolved = await lock_service.commit(
            conn,
            tenant_id=tenant.id,
            program=tenant.program,
            token=body.lock_token,
            value=body.value,
            order_ref=body.order_id,
            now=now,
        )
    return JSONResponse(_committed(resolved.lock, tenant.program))


def _committed(found: CashbackLock, program: ProgramSettings) -> dict[str, Any]:
    return {
        "status": LockStatus.committed.value,
        "value": _money(found.committed_points or 0, program),
        "committed_at": iso_brasilia(found.resolved_at),
        "order_id": found.order_ref,
    }


@router.post(
    "/rollback",
    summary="Give a lock's cashback back",
    response_model=None,
    openapi_extra=BRAND,
    responses=docs.responses(docs.RolledBack, errors.LockNotFound, errors.LockAlreadyCommitted),
)
async def rollback(body: RollbackBody, tenant: Brand, db: DB, now: Now) -> JSONResponse:
    async with db.write() as conn:
        resolved = await lock_service.rollback(
            conn, tenant_id=tenant.id, token=body.lock_token, now=now
        )
    return JSONResponse({"status": resolved.status.value})


@router.post(
    "/simulate",
    summary="The cashback a lock would reserve now (holds nothing)",
    response_model=None,
    openapi_extra=BRAND,
    responses=docs.responses(docs.Simulated, errors.CustomerNotFound),
)
async def simulate(body: PurchaseBody, tenant: Brand, db: DB, now: Now) -> JSONResponse:
    async with db.read() as conn:
        found = await lock_service.simulate(
            conn,
            tenant_id=tenant.id,
            program=tenant.program,
            ident=body.customer_id,
            purchase=purchase_of(body),
            now=now,
        )
    return JSONResponse(
        {
            "value": _money(found.points, tenant.program),
            "available_balance": _available(found, tenant.program),
            "reason": found.reason,
        }
    )


CustomerId = Annotated[str, Path(min_length=1, max_length=320, pattern=r"^[^\x00]+$")]


@router.get(
    "/customers/{customer_id:path}/balance",
    summary="The customer's cashback balances and lots",
    response_model=None,
    openapi_extra=BRAND,
    responses=docs.responses(docs.Balance, errors.CustomerNotFound, body=False, path=True),
)
async def balance(
    customer_id: CustomerId, tenant: Brand, db: DB, now: Now, store_id: str | None = None
) -> JSONResponse:
    program = tenant.program
    async with db.read() as conn:
        found = await lock_service.balance(conn, tenant_id=tenant.id, ident=customer_id, now=now)
    balances = found.balances
    expiring = sorted(
        (lot for lot in found.lots if lot.expires_at is not None and lot.is_available(now)),
        key=lambda lot: (lot.expires_at, lot.id),
    )
    next_expiration = None
    if expiring:
        first = expiring[0].expires_at
        soonest = sum(lot.free for lot in expiring if lot.expires_at == first)
        next_expiration = {"value": _money(soonest, program), "expires_at": iso_brasilia(first)}
    spendable = max(balances.spendable, 0) if program.CashbackEnabled else 0
    return JSONResponse(
        {
            "available_balance": _money(spendable, program),
            "unavailable_balance": _money(balances.pending, program),
            "locked_balance": _money(balances.held, program),
            "next_expiration": next_expiration,
            "rewards": [_lot(lot, now, program) for lot in found.lots],
        }
    )


def _lot(lot: Lot, now: datetime, program: ProgramSettings) -> dict[str, Any]:
    return {
        "id": str(lot.id),
        "status": "available" if lot.is_available(now) else "unavailable",
        "value": _money(lot.amount, program),
        "remaining": _money(lot.free, program),
        "available_at": iso_brasilia(lot.available_at),
        "expires_at": iso_brasilia(lot.expires_at),
    }
