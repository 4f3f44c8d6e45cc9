"""What the Private API and the admin API answer, for `/openapi.json` only.

The routes build their bodies as dicts (`views.py`) and send them with orjson; nothing here runs
on a request. These models describe those bodies so the document is exact, and `responses()`
builds each route's `responses=` from the real error mapper (`envelope.error`), so the status
codes and example bodies are the ones the app sends.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from fidelis import errors
from fidelis.api.pvt import envelope
from fidelis.errors import FidelisError
from fidelis.program.schemas import ProgramSettings

T = TypeVar("T")

# R$ are written as exact JSON numbers (never through a binary float).
Money = Annotated[Decimal, WithJsonSchema({"type": "number", "examples": [12.5]})]
UtcDate = Annotated[datetime, Field(description="UTC, ISO-8601 with `Z`.")]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Envelope(_Doc, Generic[T]):
    """Every `/v1/pvt` and `/v1/admin` body except the bare ones."""

    ErrorMessage: str | None = Field(description="A human sentence on errors, else null.")
    ErrorCode: int | None = Field(description="`Code` as an integer on errors, else null.")
    Result: T
    Code: str | None = Field(description="Two-digit catalogue code, or null.", examples=["08"])
    CodeName: str | None = Field(description="Catalogue name, or null.")
    Severity: Literal[0, 1, 2] = Field(description="0 Success, 1 Warning, 2 Error.")
    HasWarning: bool
    HasError: bool


class ErrorEnvelope(Envelope[Any]):
    """An error: `Result` is null, except for `ChangeKeyAlreadyUsed` (the Points Response)."""


class Page(_Doc, Generic[T]):
    """The list shape."""

    Items: list[T]
    TotalItemCount: int
    PageSize: int
    PageNumber: int
    HasNextPage: bool
    HasError: bool
    ErrorMessages: list[str]


class CustomerModel(_Doc):
    OriginalId: str
    InternalId: str
    Name: str | None
    Email: str | None
    Phone: str | None
    BirthdayDate: UtcDate | None
    SignupDate: UtcDate | None
    Document: str | None
    IsEnrolled: bool
    IsEnabled: bool
    BalanceOfPoints: int = Field(description="Available points (negative while in debt).")
    BalanceCashback: Money = Field(description="Available points in R$; 0 without cashback.")


class UpsertedCustomer(CustomerModel):
    Operation: Literal["created", "updated"]


class HistoryItem(_Doc):
    Id: int
    Date: UtcDate
    Points: int = Field(description="Signed.")
    CashbackValue: Money = Field(description="Signed R$.")
    PointType: int | None
    PointTypeDescription: str | None
    Title: str = Field(description="The customer-facing reason.")
    ExpirationDate: UtcDate | None
    IsCanceled: bool
    OrderId: str | None = Field(
        description="The order the points were earned by or taken back for."
    )
    RewardId: int | None = Field(
        description="The redemption whose points this spent or gave back (PointType 5 to 8)."
    )
    BranchId: str | None = Field(
        description="The `Branch.OriginalId` the store sent with that redemption or order."
    )
    BranchName: str | None = Field(description="The `Branch.Name` sent with it.")


class ToExpire(_Doc):
    Points: int
    When: UtcDate


class PointsResponse(_Doc):
    """The Points Response (bare on `GET .../points`, the `Result` of points changes)."""

    CustomerExists: bool = Field(description="False for an unknown customer (all zeros).")
    InternalId: str | None
    Name: str | None
    PointsBalance: int = Field(description="Available points.")
    PendingPoints: int = Field(description="Not yet available.")
    HeldPoints: int = Field(description="Reserved by locks and checkouts.")
    CashbackBalance: Money
    PointsToExpire: list[ToExpire] = Field(
        description="Available lots with an expiry, soonest first."
    )
    PointHistory: list[HistoryItem] = Field(description="The 20 newest movements.")


class RewardConfiguration(_Doc):
    Id: int
    Title: str
    Description: str | None
    RewardType: int = Field(description="0 %, 1 R$, 2 free shipping, 3 cashback, 4 custom.")
    Value: Money | None = Field(description="Percent or R$; null for Cashback.")
    Points: int | None = Field(description="Cost; null for Cashback.")
    IsActive: bool
    MinimalValue: Money
    CumulativeDiscount: bool
    ValidDays: int | None
    CodePrefix: str | None
    CouponCodeLength: int
    HasSameCustomerUsageLimit: bool
    SameCustomerUsageLimit: int | None
    HasGlobalUsageLimit: bool
    GlobalUsageLimit: int | None
    ValidDateStart: UtcDate | None
    ValidDateEnd: UtcDate | None


class Order(_Doc):
    Id: int
    OriginalId: str
    State: Literal[1, 2, 3] = Field(description="1 Pending, 2 Completed, 3 Cancelled.")
    OrderTotal: Money
    RefundedTotal: Money
    EarnedPoints: int
    ReversedPoints: int
    Coupon: str | None
    RewardId: int | None = Field(description="The linked redemption.")
    OrderStatus: str | None
    OrderPlacementDate: UtcDate | None
    OrderCompletedDate: UtcDate | None
    OrderCancelledDate: UtcDate | None
    UpdatedDate: UtcDate
    Customer: CustomerModel


class OrderCancelled(_Doc):
    isCanceled: bool = Field(description="This exact casing, as BonifiQ writes it.")
    UpdatedAt: UtcDate
    Status: Literal[1, 2, 3]


class PointMovement(_Doc):
    PointId: int | None
    Quantity: int = Field(description="Negative: points taken.")


class CouponModel(_Doc):
    CouponCode: str
    CouponType: int = Field(description="0 fixed value, 1 percent, 2 free shipping, 4 others.")
    CouponValue: Money | None
    ValidDateStart: UtcDate
    ValidDateEnd: UtcDate | None


class Redeemed(_Doc):
    RewardId: int
    ExternalCode: str = Field(description="Unique per tenant, short, upper-case.")
    OriginalKey: str | None
    Point: PointMovement
    Coupon: CouponModel | None = Field(description="Null unless a coupon was generated.")
    RewardType: int
    Value: Money | None = Field(description="Discount percent or R$, or the cashback R$ used.")


class AvailableCoupon(_Doc):
    CouponCode: str
    CreatedDate: UtcDate
    IsUsed: bool
    CouponValue: Money | None
    CustomerId: int
    ValidDateStart: UtcDate
    ValidDateEnd: UtcDate | None
    CouponType: int
    RewardId: int


class RedemptionRecord(_Doc):
    Id: int
    Customer: CustomerModel
    ExternalCode: str
    CashValue: Money | None
    IsCanceled: bool
    RedeemDate: UtcDate
    Points: int
    OrderId: str | None


class Offer(_Doc):
    Id: int
    Title: str
    RewardType: int
    Value: Money | None
    Points: int | None
    IsCashback: bool
    CanSelectValue: bool
    CanUse: bool
    CannotUseReason: int = Field(
        ge=0,
        le=8,
        description="0 CanUse, 1 NotEnoughPoints, 2 MinimumValueNotReached, 3 "
        "CashbackNotAvailable, 4 NoCustomer, 5 RewardValueExceedsPurchase, 6 "
        "MinimumPurchasePercentNotReached, 7 CustomerNotEnrolled, 8 CannotUseCumulativeDiscount.",
    )
    Requirements: str = Field(examples=["Válido para compras acima de R$ 50,00"])
    RewardCanBeCumulative: bool
    AvailableCashback: Money | None = Field(description="Cashback rewards only.")
    MaxCashbackForCurrentPurchase: Money | None = Field(description="Cashback rewards only.")


class AvailableRewards(_Doc):
    HasRewards: bool
    ShouldValidateCustomer: bool
    AvailablePoints: int
    CashbackEnabled: bool
    AvailableCashback: Money
    MaxCashbackForCurrentPurchase: Money
    Customer: CustomerModel | None = Field(description="Null for an unknown customer.")
    Rewards: list[Offer] = Field(description="Every active reward, usable or not.")


class CheckoutApplied(_Doc):
    RewardId: int
    ExternalCode: str
    OriginalKey: str | None
    CashbackValue: Money | None
    Point: PointMovement
    Coupon: None


class CheckoutRemoved(_Doc):
    Success: bool
    CustomerMessage: str


class CheckoutRefreshed(_Doc):
    CashbackRemoved: bool
    CustomerMessage: str


# --- responses= of the routes ----------------------------------------------------------------

ErrorClass = type[FidelisError]
# Every route can meet these: a database that is down answers 503; bad credentials 401.
ALWAYS: tuple[ErrorClass, ...] = (errors.Unauthorized, errors.ServiceUnavailable)


# Failed logins from one address are throttled before credentials are even checked.
RATE_LIMITED = "Too many failed authentication attempts from this address; try later."

HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "required": True,
            "schema": {"type": "string", "examples": ['Basic realm="fidelis"']},
        }
    },
    429: {"Retry-After": {"description": "Seconds.", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "Seconds.", "schema": {"type": "string"}}},
}


def _json(content: bytes | memoryview) -> Any:
    return orjson.loads(bytes(content))


def _add(table: dict[int, dict[str, Any]], status: int, name: str, value: Any) -> None:
    table.setdefault(status, {})[name] = {"value": value}


def responses(
    ok: Any,
    *raised: ErrorClass,
    warnings: tuple[str, ...] = (),
    in_path: bool = False,
    inputs: bool = True,
    body: bool = True,
    path: bool = False,
    description: str = "Success.",
) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: its success model (`ok`, for 200) and the errors it can answer.

    `raised` are the domain errors the route's services raise; `warnings` the catalogue names it
    may answer with 200. `inputs`: the route has parameters or a body (400 ValidationError);
    `body`: it reads a body (413 over 1 MiB); `path`: it has path parameters (404 for a path no
    route matches); `in_path`: the customer is named in the path (CustomerNotFound is a 404).
    """
    examples: dict[int, dict[str, Any]] = {}
    classes = list(raised) + list(ALWAYS)
    if inputs:
        classes.append(errors.InvalidField)
    for cls in classes:
        answer = envelope.error(cls(), in_path=in_path)
        _add(examples, answer.status_code, cls.code, _json(answer.body))
    limited, _ = envelope.body(None, code_name="RateLimited", message=RATE_LIMITED)
    _add(examples, 429, "RateLimited", limited)
    if body:
        too_large = envelope.plain_error(413, "Request body larger than 1 MiB.")
        _add(examples, 413, "TooLarge", _json(too_large.body))
    if path:
        _add(examples, 404, "NoRoute", _json(envelope.plain_error(404, "Not found.").body))
    table: dict[int | str, dict[str, Any]] = {200: {"model": ok, "description": description}}
    for name in warnings:
        content, _ = envelope.body(None, code_name=name)
        _add(examples, 200, name, content)
    if 200 in examples:
        table[200]["content"] = {"application/json": {"examples": examples.pop(200)}}
    for status, named in sorted(examples.items()):
        table[status] = {
            "model": ErrorEnvelope,
            "description": ", ".join(named),
            "content": {"application/json": {"examples": named}},
        }
        if status in HEADERS:
            table[status]["headers"] = HEADERS[status]
    return table


__all__ = [
    "AvailableCoupon",
    "AvailableRewards",
    "CheckoutApplied",
    "CheckoutRefreshed",
    "CheckoutRemoved",
    "CustomerModel",
    "Envelope",
    "ErrorEnvelope",
    "HistoryItem",
    "Order",
    "OrderCancelled",
    "Page",
    "PointsResponse",
    "ProgramSettings",
    "Redeemed",
    "RedemptionRecord",
    "RewardConfiguration",
    "UpsertedCustomer",
    "responses",
]
