"""Request bodies of the reservation API: snake_case, with every field also accepted in
camelCase (`customerId`, `lockToken`, ...), as the source document spells both."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    AliasChoices,
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
)
from pydantic.alias_generators import to_camel

from fidelis.api.pvt.schemas import Key, ProductQuantity, Text
from fidelis.kit.money import MAX_MONEY, DecimalNumber, cents_exact


def _cents(value: Decimal) -> Decimal:
    if not cents_exact(value):
        raise ValueError("must have at most 2 decimal places")
    return value


Money = Annotated[
    DecimalNumber, Field(ge=0, le=MAX_MONEY, allow_inf_nan=False), AfterValidator(_cents)
]
Total = Annotated[
    DecimalNumber,
    Field(ge=Decimal("0.01"), le=MAX_MONEY, allow_inf_nan=False),
    AfterValidator(_cents),
]
Short = Annotated[Text, Field(max_length=200)]


class _Body(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        alias_generator=AliasGenerator(
            validation_alias=lambda name: AliasChoices(name, to_camel(name))
        ),
    )


class Product(_Body):
    sku: Short | None = None
    quantity: ProductQuantity = Decimal(1)
    price: Money = Field(description="Price of one unit.")
    category: Short | None = None


class PurchaseBody(_Body):
    customer_id: Annotated[Text, Field(min_length=1, max_length=320)] = Field(
        description="OriginalId, e-mail or CPF/CNPJ of the customer."
    )
    total: Total = Field(description="Total of the purchase (R$).", examples=["120.00"])
    store_id: Short | None = None
    seller_id: Short | None = None
    source: Short | None = Field(default=None, examples=["pdv"])
    order_voucher: Short | None = None
    seller_voucher: Short | None = None
    order_discount: Money | None = None
    products: list[Product] = Field(default_factory=list, max_length=1000)


class LockBody(PurchaseBody):
    custom_data: dict[Short, Annotated[Text, Field(max_length=1000)]] = Field(
        default_factory=dict, max_length=100
    )
    lock_key: Key | None = Field(default=None, description="Idempotency key of this lock.")


class CommitBody(_Body):
    lock_token: Annotated[Text, Field(min_length=1, max_length=64)]
    order_id: Short | None = None
    value: Money | None = Field(default=None, description="Commit less than was locked.")


class RollbackBody(_Body):
    lock_token: Annotated[Text, Field(min_length=1, max_length=64)]
