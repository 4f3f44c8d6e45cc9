"""The program settings document, validated in one place for the admin API, the CLI and storage."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
)

from fidelis.kit.money import MAX_MONEY, DecimalNumber, cents_exact
from fidelis.kit.text import storable, strip_html


class RedemptionBase(StrEnum):
    total = "total"
    total_minus_discount = "total_minus_discount"


Money = Annotated[DecimalNumber, Field(ge=0, le=MAX_MONEY)]
Code = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(storable)]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RedemptionRuleSettings(_Settings):
    """Caps on the cashback used in one purchase (checkout, locks, PoS with a purchase value)."""

    MaxPercentOfPurchase: DecimalNumber = Field(default=Decimal(100), ge=0, le=100)
    MinPurchaseValue: Money = Decimal(0)
    MaxValue: Money | None = None
    Base: RedemptionBase = RedemptionBase.total
    ExcludedSkus: list[Code] = Field(default_factory=list, max_length=1000)
    ExcludedCategories: list[Code] = Field(default_factory=list, max_length=1000)
    # Empty = every store / every source is allowed.
    AllowedStores: list[Code] = Field(default_factory=list, max_length=1000)
    AllowedSources: list[Code] = Field(default_factory=list, max_length=100)

    @field_validator("MinPurchaseValue", "MaxValue")
    @classmethod
    def _cents(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and not cents_exact(value):
            raise ValueError("must have at most 2 decimal places")
        return value

    @field_validator("MaxPercentOfPurchase")
    @classmethod
    def _percent(cls, value: Decimal) -> Decimal:
        if value != value.quantize(Decimal("0.01")):
            raise ValueError("must have at most 2 decimal places")
        return value


class ProgramSettings(_Settings):
    PointValue: DecimalNumber = Field(default=Decimal("0.01"), gt=0, le=1000)
    CashbackEnabled: StrictBool = True
    PointsPerCurrency: DecimalNumber = Field(default=Decimal(1), ge=0, le=10000)
    OrderPointsPendingDays: StrictInt = Field(default=0, ge=0, le=3650)
    PointsExpireAfterDays: StrictInt | None = Field(default=None, ge=1, le=36500)
    RedemptionRule: RedemptionRuleSettings = Field(default_factory=lambda: RedemptionRuleSettings())
    LockTtlSeconds: StrictInt = Field(default=900, ge=1, le=7 * 86400)
    CheckoutHoldHours: StrictInt = Field(default=72, ge=1, le=24 * 365)
    RefundRedeemOnOrderCancel: StrictBool = True
    DefaultCustomerReason: str = Field(default="Ajuste de pontos", min_length=1, max_length=255)

    @field_validator("PointValue")
    @classmethod
    def _point_value_precision(cls, value: Decimal) -> Decimal:
        # Six places are enough for any sane rate and keep conversions exact.
        if value != value.quantize(Decimal("0.000001")):
            raise ValueError("must have at most 6 decimal places")
        return value

    @field_validator("PointsPerCurrency")
    @classmethod
    def _rate_precision(cls, value: Decimal) -> Decimal:
        if value != value.quantize(Decimal("0.0001")):
            raise ValueError("must have at most 4 decimal places")
        return value

    @field_validator("DefaultCustomerReason")
    @classmethod
    def _plain_text(cls, value: str) -> str:
        # Shown to customers like a CustomerReason, so sanitized the same way.
        value = strip_html(storable(value))
        if not value:
            raise ValueError("must not be blank")
        return value

    def to_document(self) -> dict[str, object]:
        """JSON-safe form for storage (decimals as strings, so nothing is lost)."""
        return self.model_dump(mode="json")
