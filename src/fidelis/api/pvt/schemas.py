"""Request bodies of the Private API (PascalCase, as BonifiQ spells them).

Types are strict where a wrong type would silently change meaning (points, flags): a string
`"10"` for `Points` is a `ValidationError`, not ten points. Unknown fields are ignored.
Business rules (zero, sign, blank reason, ...) are not checked here but in the services, where
their order and their specific codes are defined.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from fidelis.kit.clock import accepted_utc
from fidelis.kit.money import MAX_MONEY, MAX_POINTS, DecimalNumber
from fidelis.kit.text import storable


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Text = Annotated[str, AfterValidator(storable)]
# A date-time, aware UTC once validated (naive: taken as UTC), in the years Fidelis takes.
Instant = Annotated[datetime, AfterValidator(accepted_utc)]

Points32 = Annotated[StrictInt, Field(ge=-MAX_POINTS, le=MAX_POINTS)]
Money = Annotated[DecimalNumber, Field(ge=-MAX_MONEY, le=MAX_MONEY, allow_inf_nan=False)]
# R$ that only describe a purchase (its value, prices): at most two places, else
# `InvalidValue` (the app's validation handler). The amounts that move cashback (`Value`,
# `CashbackValue`, `ValueToRefund`, `OrderTotal`) are `Money`, checked by their services.
Amount = Annotated[DecimalNumber, Field(ge=0, le=MAX_MONEY, decimal_places=2, allow_inf_nan=False)]
# An order's total, checked by the order service.
OrderValue = Annotated[DecimalNumber, Field(ge=0, le=MAX_MONEY, allow_inf_nan=False)]
Price = Annotated[
    DecimalNumber, Field(ge=-MAX_MONEY, le=MAX_MONEY, decimal_places=2, allow_inf_nan=False)
]
# How many of a product: at most six places (a weight), else `InvalidValue` as for amounts.
ProductQuantity = Annotated[
    DecimalNumber, Field(ge=0, le=1_000_000, decimal_places=6, allow_inf_nan=False)
]
Key = Annotated[Text, Field(max_length=200)]
ReasonText = Annotated[Text, Field(max_length=1000)]
Operation = Annotated[StrictInt, Field(ge=0, le=1)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PointsChangeRequest(_Body):
    Points: Points32 = Field(description="Positive to add, negative to remove.", examples=[100])
    OperationType: Operation = Field(description="0 add, 1 remove.", examples=[0])
    Reason: ReasonText | None = Field(default=None, description="Internal reason (required).")
    ChangeKey: Key | None = Field(default=None, description="Idempotency key; reuse is a 409.")
    # No length cap here: over 255 characters after stripping is `CustomerReasonTooLong`,
    # the field's own code (the 1 MiB body limit bounds the raw text).
    CustomerReason: Text | None = Field(
        default=None, description="Customer-facing text; HTML is stripped; at most 255 chars."
    )
    ExpirationDate: Instant | None = Field(
        default=None, description="Expiry of the lot an add creates (default from the program)."
    )


class CashbackChangeRequest(_Body):
    Value: Money = Field(description="R$; positive to add, negative to remove.", examples=[10.5])
    OperationType: Operation = Field(description="0 add, 1 remove.", examples=[0])
    Reason: ReasonText | None = None
    ChangeKey: Key | None = None
    CustomerReason: Text | None = None
    ExpirationDate: Instant | None = None


class CustomerUpsertRequest(_Body):
    OriginalId: Annotated[Text, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
    Name: Annotated[Text, Field(max_length=255)] | None = None
    Email: Annotated[Text, Field(max_length=255)] | None = None
    Phone: Annotated[Text, Field(max_length=50)] | None = None
    BirthdayDate: Instant | None = None
    SignupDate: Instant | None = None
    Document: Annotated[Text, Field(max_length=50)] | None = None
    IsEnrolled: StrictBool | None = None


class ChangeStatusRequest(_Body):
    IsEnabled: StrictBool
    Reason: ReasonText | None = None


UPSERT_FIELDS = {
    "OriginalId": "original_id",
    "Name": "name",
    "Email": "email",
    "Phone": "phone",
    "BirthdayDate": "birthday_date",
    "SignupDate": "signup_date",
    "Document": "document",
    "IsEnrolled": "is_enrolled",
}


class NamedRef(_Body):
    OriginalId: Annotated[Text, Field(max_length=200)] | None = None
    Name: Annotated[Text, Field(max_length=255)] | None = None


class Metadata(_Body):
    Name: Annotated[Text, Field(max_length=200)]
    Value: Annotated[Text, Field(max_length=1000)] | None = None


class OrderProduct(_Body):
    OriginalId: Annotated[Text, Field(max_length=200)] | None = None
    Title: Annotated[Text, Field(max_length=500)] | None = None
    ProductPrice: Price | None = None
    Quantity: ProductQuantity | None = None
    ProductCategory: NamedRef | None = None


class OrderRequest(_Body):
    OriginalId: Annotated[Text, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
    OrderPlacementDate: Instant | None = None
    IsCompleted: StrictBool = False
    OrderCompletedDate: Instant | None = None
    IsCancelledOrReturned: StrictBool = False
    OrderCancelledDate: Instant | None = None
    OrderStatus: Annotated[Text, Field(max_length=200)] | None = None
    OrderTotal: OrderValue | None = None
    Customer: CustomerUpsertRequest | None = None
    Products: list[OrderProduct] = Field(default_factory=list, max_length=1000)
    Coupon: Annotated[Text, Field(max_length=200)] | None = None
    Branch: NamedRef | None = None
    SalesPerson: NamedRef | None = None
    Metadatas: list[Metadata] = Field(default_factory=list, max_length=100)


class OrderCancelRequest(_Body):
    OrderCancelledDate: Instant | None = None
    OrderStatus: Annotated[Text, Field(max_length=200)] | None = None


class PartialCancelRequest(_Body):
    ValueToRefund: Money
    CancelKey: Key | None = None


class PurchaseFields(_Body):
    """What a till may say of the purchase a reward or cashback is used on."""

    PurchaseValue: Amount | None = Field(
        default=None, description="Gross value of the purchase (before any discount)."
    )
    DiscountValue: Amount | None = Field(
        default=None, description="Other discounts on the purchase (not Fidelis')."
    )
    Products: list[OrderProduct] = Field(
        default_factory=list,
        max_length=1000,
        description="The purchase's products: cashback pays only for eligible ones.",
    )


class AvailableRewardsRequest(PurchaseFields):
    CustomerId: Annotated[Text, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]


class CouponRedeemRequest(PurchaseFields):
    CustomerId: Annotated[Text, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
    Value: Money | None = Field(default=None, description="Cashback rewards: the R$ to use.")
    Points: Points32 | None = Field(default=None, description="Cashback rewards: points to use.")
    OriginalKey: Key | None = None
    Metadatas: list[Metadata] = Field(default_factory=list, max_length=100)
    RedeemOrigin: Annotated[StrictInt, Field(ge=0, le=5)] | None = None
    Branch: NamedRef | None = None
    SalesPerson: NamedRef | None = None


class PosRedeemRequest(CouponRedeemRequest):
    ForceGenerateCoupon: StrictBool = Field(
        default=False, description="Generate a coupon too (PoS redeems do not by default)."
    )


class CheckoutItem(_Body):
    ExternalProductId: Annotated[Text, Field(max_length=200)] | None = None
    Value: Amount = Field(description="Price of one unit (R$).")
    Quantity: ProductQuantity = Decimal(1)


class CheckoutActionRequest(_Body):
    CustomerId: Annotated[Text, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
    CheckoutId: Annotated[Text, Field(max_length=200)] | None = Field(
        default=None, description="The cart's id in the e-commerce platform (required: code 02)."
    )
    Total: Amount | None = Field(default=None, description="The checkout's total (R$).")
    Items: list[CheckoutItem] = Field(
        default_factory=list,
        max_length=1000,
        description="The cart's items: when given, cashback pays only for eligible ones.",
    )


class CheckoutRedeemRequest(CheckoutActionRequest):
    CashbackValue: Money | None = Field(
        default=None, description="R$ of cashback to apply; omitted: the most allowed."
    )
    Token: Annotated[Text, Field(max_length=500)] | None = None
    OriginalKey: Key | None = None
    RedeemOrigin: Annotated[StrictInt, Field(ge=0, le=5)] | None = None
