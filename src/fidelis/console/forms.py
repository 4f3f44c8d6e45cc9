"""Form fields (always text) turned into the values the services take.

The services validate; this only converts, and says which field could not be read, so the
console obeys exactly the rules of the admin API.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from fidelis.errors import InvalidField
from fidelis.kit.money import is_decimal_text


def text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def optional_text(form: Mapping[str, Any], name: str) -> str | None:
    return text(form, name) or None


def natural(value: str, most_digits: int) -> int | None:
    """`value` as a number when it is 1 to `most_digits` ASCII digits, else None.

    `str.isdigit` alone also takes other scripts' digits and signs like "²", which `int`
    refuses: such text is not a number here.
    """
    if 0 < len(value) <= most_digits and value.isascii() and value.isdigit():
        return int(value)
    return None


def whole(form: Mapping[str, Any], name: str, label: str) -> int | None:
    """A whole number (12 digits at most, a leading "-" for a negative one), or None when the
    field is blank."""
    value = text(form, name)
    if not value:
        return None
    negative = value.startswith("-")
    number = natural(value[1:] if negative else value, 12)
    if number is None:
        raise InvalidField(f"{label} must be a whole number.")
    return -number if negative else number


def decimal(form: Mapping[str, Any], name: str, label: str) -> Decimal | None:
    """A decimal number (a comma is read as the decimal point), or None when blank."""
    value = text(form, name).replace(",", ".")
    if not value:
        return None
    if not is_decimal_text(value) or len(value) > 20:
        raise InvalidField(f"{label} must be a number.")
    return Decimal(value)


def checkbox(form: Mapping[str, Any], name: str) -> bool:
    return text(form, name) in ("on", "true", "1")


def program_changes(form: Mapping[str, Any]) -> dict[str, Any]:
    """The settings document of the program form (same names as `PUT /v1/admin/program`)."""
    changes: dict[str, Any] = {
        "PointValue": decimal(form, "PointValue", "Point value"),
        "CashbackEnabled": checkbox(form, "CashbackEnabled"),
        "PointsPerCurrency": decimal(form, "PointsPerCurrency", "Points per R$"),
        "OrderPointsPendingDays": whole(form, "OrderPointsPendingDays", "Pending days"),
        # Blank means points never expire.
        "PointsExpireAfterDays": whole(form, "PointsExpireAfterDays", "Expire after days"),
        "LockTtlSeconds": whole(form, "LockTtlSeconds", "Lock lifetime"),
        "CheckoutHoldHours": whole(form, "CheckoutHoldHours", "Checkout hold hours"),
        "RefundRedeemOnOrderCancel": checkbox(form, "RefundRedeemOnOrderCancel"),
        "DefaultCustomerReason": text(form, "DefaultCustomerReason"),
        "RedemptionRule": {
            "MaxPercentOfPurchase": decimal(form, "MaxPercentOfPurchase", "Max % of purchase"),
            "MinPurchaseValue": decimal(form, "MinPurchaseValue", "Min purchase"),
            # Blank means no cap.
            "MaxValue": decimal(form, "MaxValue", "Max value"),
            "Base": text(form, "Base"),
        },
    }
    required = ("PointValue", "PointsPerCurrency", "OrderPointsPendingDays", "LockTtlSeconds")
    for name in (*required, "CheckoutHoldHours"):
        if changes[name] is None:
            raise InvalidField(f"{name} is required.")
    rule = changes["RedemptionRule"]
    for name in ("MaxPercentOfPurchase", "MinPurchaseValue"):
        if rule[name] is None:
            raise InvalidField(f"RedemptionRule.{name} is required.")
    return changes


def reward_fields(form: Mapping[str, Any]) -> dict[str, Any]:
    """The reward form as the catalogue service's domain fields (blank = left out)."""
    fields: dict[str, Any] = {
        "title": optional_text(form, "Title"),
        "description": optional_text(form, "Description"),
        "reward_type": whole(form, "RewardType", "Type"),
        "value": decimal(form, "Value", "Value"),
        "points": whole(form, "Points", "Points"),
        "is_active": checkbox(form, "IsActive"),
        "minimal_value": decimal(form, "MinimalValue", "Minimum purchase"),
        "valid_days": whole(form, "ValidDays", "Valid days"),
        "code_prefix": optional_text(form, "CodePrefix"),
    }
    if fields["title"] is not None and len(fields["title"]) > 255:
        raise InvalidField("Title must be at most 255 characters.")
    if fields["description"] is not None and len(fields["description"]) > 2000:
        raise InvalidField("Description must be at most 2000 characters.")
    return {name: value for name, value in fields.items() if value is not None}
