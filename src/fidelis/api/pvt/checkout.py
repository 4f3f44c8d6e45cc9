"""`/v1/pvt/Checkout/redeem...`: the customer's cashback at an e-commerce checkout."""

from __future__ import annotations

from fastapi import APIRouter

from fidelis import errors
from fidelis.api.deps import DB, CurrentTenant, Now
from fidelis.api.json import JSONResponse, plain
from fidelis.api.pvt import docs, envelope, views
from fidelis.api.pvt.schemas import CheckoutActionRequest, CheckoutRedeemRequest
from fidelis.api.quick import QuickRoute
from fidelis.checkout import service as checkout_service
from fidelis.checkout.service import ApplyRequest, State
from fidelis.redemption import rule

router = APIRouter(prefix="/v1/pvt/Checkout", tags=["Checkout cashback"], route_class=QuickRoute)

# Outcomes of remove / refresh -> (CodeName, what the shopper is told).
ANSWERS: dict[State, tuple[str, str]] = {
    State.checkout_not_found: ("CheckoutNotFound", "Carrinho não encontrado."),
    State.not_applied: ("CashbackNotApplied", "Não há cashback aplicado neste carrinho."),
    State.removed: ("CashbackRemovedSuccessfully", "O cashback foi removido do carrinho."),
    State.still_applied: ("CashbackStillApplied", "Seu cashback continua aplicado."),
    State.removed_by_cart_change: (
        "CashbackRemovedByCartChange",
        "O cashback foi removido porque o carrinho mudou.",
    ),
}

ACTION_ERRORS = (errors.CustomerNotFound, errors.CheckoutIdRequired)


def purchase_of(body: CheckoutActionRequest) -> rule.Purchase:
    items = tuple(
        rule.Item(unit_price=i.Value, quantity=i.Quantity, sku=i.ExternalProductId)
        for i in body.Items
    )
    return rule.Purchase(total=body.Total, items=items)


@router.post(
    "/redeem",
    summary="Apply the customer's cashback to a checkout (held until an order)",
    response_model=None,
    responses=docs.responses(
        docs.Envelope[docs.CheckoutApplied | None],
        errors.CustomerNotFound,
        errors.CheckoutIdRequired,
        errors.CashbackValueTooHigh,
        errors.CashbackNotEnabled,
        errors.CustomerDisabled,
        errors.InvalidValue,
        errors.IdempotencyKeyConflict,
        warnings=("CashbackApplied", "CashbackNotApplied", "AlreadyProcessed"),
        description="Success (08 CashbackApplied) or a warning.",
    ),
)
async def redeem(
    body: CheckoutRedeemRequest, tenant: CurrentTenant, db: DB, now: Now
) -> JSONResponse:
    key = body.OriginalKey if body.OriginalKey and body.OriginalKey.strip() else None
    request = ApplyRequest(
        ident=body.CustomerId,
        checkout_ref=body.CheckoutId,
        value=body.CashbackValue,
        purchase=purchase_of(body),
        original_key=key,
        redeem_origin=checkout_service.CHECKOUT_ORIGIN
        if body.RedeemOrigin is None
        else body.RedeemOrigin,
        details={"Token": body.Token} if body.Token else {},
    )
    async with db.write(queue=f"{tenant.id}:{body.CustomerId}") as conn:
        applied = await checkout_service.apply(
            conn, tenant_id=tenant.id, program=tenant.program, request=request, now=now
        )
        if applied.replayed is not None:
            return envelope.ok(applied.replayed, "AlreadyProcessed")
        if applied.redemption is None:
            return envelope.ok(None, "CashbackNotApplied")
        assert applied.hold_transfer_id is not None
        result = views.checkout_result(applied.redemption, applied.hold_transfer_id)
        if key is not None:
            await checkout_service.remember_result(
                conn, tenant_id=tenant.id, original_key=key, result=plain(result)
            )
    return envelope.ok(result, "CashbackApplied")


@router.post(
    "/redeem/remove",
    summary="Remove the cashback applied to a checkout (refunded)",
    response_model=None,
    responses=docs.responses(
        docs.Envelope[docs.CheckoutRemoved | None],
        *ACTION_ERRORS,
        warnings=("CashbackRemovedSuccessfully", "CashbackNotApplied", "CheckoutNotFound"),
        description="07 CashbackRemovedSuccessfully, or a warning.",
    ),
)
async def remove(
    body: CheckoutActionRequest, tenant: CurrentTenant, db: DB, now: Now
) -> JSONResponse:
    async with db.write(queue=f"{tenant.id}:{body.CustomerId}") as conn:
        state = await checkout_service.remove(
            conn, tenant_id=tenant.id, ident=body.CustomerId, checkout_ref=body.CheckoutId, now=now
        )
    code_name, message = ANSWERS[state]
    result = None
    if state == State.removed:
        result = {"Success": True, "CustomerMessage": message}
    elif state == State.not_applied:
        result = {"Success": False, "CustomerMessage": message}
    return envelope.ok(result, code_name)


@router.post(
    "/redeem/refresh",
    summary="Re-check the applied cashback against the cart",
    response_model=None,
    responses=docs.responses(
        docs.Envelope[docs.CheckoutRefreshed | None],
        *ACTION_ERRORS,
        warnings=(
            "CashbackStillApplied",
            "CashbackRemovedByCartChange",
            "CashbackNotApplied",
            "CheckoutNotFound",
        ),
        description="A warning: 05, 06, 04 or 03.",
    ),
)
async def refresh(
    body: CheckoutActionRequest, tenant: CurrentTenant, db: DB, now: Now
) -> JSONResponse:
    async with db.write(queue=f"{tenant.id}:{body.CustomerId}") as conn:
        state = await checkout_service.refresh(
            conn,
            tenant_id=tenant.id,
            program=tenant.program,
            ident=body.CustomerId,
            checkout_ref=body.CheckoutId,
            purchase=purchase_of(body),
            now=now,
        )
    code_name, message = ANSWERS[state]
    result = None
    if state in (State.still_applied, State.removed_by_cart_change, State.not_applied):
        result = {
            "CashbackRemoved": state == State.removed_by_cart_change,
            "CustomerMessage": message,
        }
    return envelope.ok(result, code_name)
