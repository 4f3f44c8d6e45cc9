"""Rewards catalogue rules: what makes a reward configuration valid, creating and changing one.

A configuration is validated whole, after a change is merged into the stored one, so a partial
update obeys exactly the rules of a creation. Rules, in the order they are checked:

- `Title` is required and not blank (HTML stripped, as all customer-facing text).
- `RewardType` is 0 PercentDiscount, 1 FixedValueDiscount, 2 FreeShipping, 3 Cashback, 4 Custom.
- Cashback rewards have no fixed `Value` or `Points` (both are chosen at redemption): whatever
  is sent is ignored and stored as null. Every other reward costs `Points` ≥ 1.
- PercentDiscount: 0 < `Value` ≤ 100; FixedValueDiscount: `Value` > 0; FreeShipping and Custom
  may carry a `Value` ≥ 0. Values have at most 2 decimals (stored x 100).
- `MinimalValue` ≥ 0 with at most 2 decimals; `ValidDays` ≥ 1 when given.
- `CodePrefix` at most 20 letters, digits or hyphens; `CouponCodeLength` 4..32.
- A usage limit is ≥ 1 when its `Has...UsageLimit` flag is true; without the flag it is
  ignored (stored as null).
- `ValidDateEnd` is after `ValidDateStart` when both are given.

Deactivating (`IsActive` false) only changes the configuration: past redemptions are records of
their own and are never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import IntEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fidelis.errors import InvalidField, RewardNotFound
from fidelis.kit.money import MAX_MONEY, MAX_POINTS, cents_exact
from fidelis.kit.text import strip_html
from fidelis.reward import repository
from fidelis.reward.repository import Reward


class RewardType(IntEnum):
    PercentDiscount = 0
    FixedValueDiscount = 1
    FreeShipping = 2
    Cashback = 3
    Custom = 4


# Domain name -> the name the APIs show (used in error messages).
FIELDS: dict[str, str] = {
    "title": "Title",
    "description": "Description",
    "reward_type": "RewardType",
    "value": "Value",
    "points": "Points",
    "is_active": "IsActive",
    "minimal_value": "MinimalValue",
    "cumulative_discount": "CumulativeDiscount",
    "valid_days": "ValidDays",
    "code_prefix": "CodePrefix",
    "coupon_code_length": "CouponCodeLength",
    "has_same_customer_usage_limit": "HasSameCustomerUsageLimit",
    "same_customer_usage_limit": "SameCustomerUsageLimit",
    "has_global_usage_limit": "HasGlobalUsageLimit",
    "global_usage_limit": "GlobalUsageLimit",
    "valid_date_start": "ValidDateStart",
    "valid_date_end": "ValidDateEnd",
}

REQUIRED = ("title", "reward_type")

# What a creation assumes for the fields it leaves out. Fields absent here cannot be null.
DEFAULTS: dict[str, Any] = {
    "description": None,
    "value": None,
    "points": None,
    "is_active": True,
    "minimal_value": Decimal(0),
    "cumulative_discount": False,
    "valid_days": None,
    "code_prefix": None,
    "coupon_code_length": 8,
    "has_same_customer_usage_limit": False,
    "same_customer_usage_limit": None,
    "has_global_usage_limit": False,
    "global_usage_limit": None,
    "valid_date_start": None,
    "valid_date_end": None,
}

NULLABLE = frozenset(name for name, default in DEFAULTS.items() if default is None)

MAX_DAYS = 36500
CODE_PREFIX = re.compile(r"[A-Za-z0-9-]{1,20}")


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Reward]
    total: int


def value_of(reward: Reward) -> Decimal | None:
    """The reward's `Value` as the APIs show it: percent or R$, exact to 2 decimals."""
    return None if reward.value_cents is None else Decimal(reward.value_cents) / 100


def minimal_value_of(reward: Reward) -> Decimal:
    return Decimal(reward.minimal_value_cents) / 100


async def create(
    conn: AsyncConnection, *, tenant_id: int, fields: dict[str, Any], now: datetime
) -> Reward:
    """Add a reward to the catalogue; fields left out take their defaults.

    Raises:
        InvalidField: a required field is missing or a rule above is broken.
    """
    for name in REQUIRED:
        if fields.get(name) is None:
            raise InvalidField(f"{FIELDS[name]} is required.")
    values = _validated({**DEFAULTS, **fields})
    reward_id = await repository.add(
        conn, tenant_id, {**values, "created_at": now, "updated_at": now}
    )
    return await _reload(conn, tenant_id, reward_id)


async def update(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    reward_id: int,
    changes: dict[str, Any],
    now: datetime,
) -> Reward:
    """Change a reward; fields left out of `changes` keep their values.

    Raises:
        RewardNotFound: no reward of this tenant has this id.
        InvalidField: the changed configuration breaks a rule above.
    """
    current = await repository.get(conn, tenant_id, reward_id, for_update=True)
    if current is None:
        raise RewardNotFound(f"reward {reward_id} not found")
    values = _validated({**_fields(current), **changes})
    await repository.change(conn, tenant_id, reward_id, {**values, "updated_at": now})
    return await _reload(conn, tenant_id, reward_id)


async def get(conn: AsyncConnection, tenant_id: int, reward_id: int) -> Reward:
    """Raises:
    RewardNotFound: no reward of this tenant has this id.
    """
    found = await repository.get(conn, tenant_id, reward_id)
    if found is None:
        raise RewardNotFound(f"reward {reward_id} not found")
    return found


async def list_all(conn: AsyncConnection, tenant_id: int) -> list[Reward]:
    """The whole catalogue, oldest first."""
    return await repository.list_(conn, tenant_id)


async def list_page(conn: AsyncConnection, tenant_id: int, *, page: int, size: int) -> Page:
    """One page (from 1) of the catalogue, oldest first."""
    items = await repository.list_(conn, tenant_id, offset=(page - 1) * size, limit=size)
    return Page(items, await repository.count(conn, tenant_id))


async def _reload(conn: AsyncConnection, tenant_id: int, reward_id: int) -> Reward:
    found = await repository.get(conn, tenant_id, reward_id)
    assert found is not None
    return found


def _fields(reward: Reward) -> dict[str, Any]:
    """A stored reward as the domain fields `_validated` takes."""
    return {
        "title": reward.title,
        "description": reward.description,
        "reward_type": reward.reward_type,
        "value": value_of(reward),
        "points": reward.points,
        "is_active": reward.is_active,
        "minimal_value": minimal_value_of(reward),
        "cumulative_discount": reward.cumulative_discount,
        "valid_days": reward.valid_days,
        "code_prefix": reward.code_prefix,
        "coupon_code_length": reward.coupon_code_length,
        "has_same_customer_usage_limit": reward.has_same_customer_usage_limit,
        "same_customer_usage_limit": reward.same_customer_usage_limit,
        "has_global_usage_limit": reward.has_global_usage_limit,
        "global_usage_limit": reward.global_usage_limit,
        "valid_date_start": reward.valid_date_start,
        "valid_date_end": reward.valid_date_end,
    }


def _hundredths(value: Decimal, name: str) -> int:
    if not cents_exact(value):
        raise InvalidField(f"{name} must have at most 2 decimal places.")
    return int(value * 100)


def _value_cents(reward_type: RewardType, value: Decimal | None) -> int | None:
    if reward_type == RewardType.Cashback:
        return None
    if value is None:
        if reward_type in (RewardType.PercentDiscount, RewardType.FixedValueDiscount):
            raise InvalidField(f"Value is required for a {reward_type.name} reward.")
        return None
    if reward_type == RewardType.PercentDiscount and not 0 < value <= 100:
        raise InvalidField("Value of a PercentDiscount must be greater than 0 and at most 100.")
    if reward_type == RewardType.FixedValueDiscount and value <= 0:
        raise InvalidField("Value of a FixedValueDiscount must be greater than 0.")
    if not 0 <= value <= MAX_MONEY:
        raise InvalidField(f"Value must be between 0 and {MAX_MONEY}.")
    return _hundredths(value, "Value")


def _points(reward_type: RewardType, points: int | None) -> int | None:
    if reward_type == RewardType.Cashback:
        return None
    if points is None or not 1 <= points <= MAX_POINTS:
        raise InvalidField(f"Points must be between 1 and {MAX_POINTS} for this reward.")
    return points


def _limit(has_limit: bool, limit: int | None, name: str) -> int | None:
    if not has_limit:
        return None
    if limit is None or not 1 <= limit <= MAX_POINTS:
        raise InvalidField(f"{name} must be at least 1 when Has{name} is true.")
    return limit


def _validated(fields: dict[str, Any]) -> dict[str, Any]:
    """Check a whole configuration and return the row's values.

    Raises:
        InvalidField: the first rule broken, naming its field.
    """
    unknown = set(fields) - set(FIELDS)
    assert not unknown, f"unknown reward fields {unknown}"
    for name, value in fields.items():
        if value is None and name not in NULLABLE:
            raise InvalidField(f"{FIELDS[name]} cannot be null.")
    title = strip_html(fields["title"])
    if not title:
        raise InvalidField("Title is required.")
    description = fields["description"]
    if description is not None:
        description = strip_html(description) or None
    if fields["reward_type"] not in set(RewardType):
        raise InvalidField("RewardType must be 0, 1, 2, 3 or 4.")
    reward_type = RewardType(fields["reward_type"])
    value_cents = _value_cents(reward_type, fields["value"])
    points = _points(reward_type, fields["points"])
    minimal_value: Decimal = fields["minimal_value"]
    if not 0 <= minimal_value <= MAX_MONEY:
        raise InvalidField(f"MinimalValue must be between 0 and {MAX_MONEY}.")
    valid_days = fields["valid_days"]
    if valid_days is not None and not 1 <= valid_days <= MAX_DAYS:
        raise InvalidField(f"ValidDays must be between 1 and {MAX_DAYS}.")
    code_prefix = fields["code_prefix"] or None
    if code_prefix is not None and not CODE_PREFIX.fullmatch(code_prefix):
        raise InvalidField("CodePrefix must be at most 20 letters, digits or hyphens.")
    if not 4 <= fields["coupon_code_length"] <= 32:
        raise InvalidField("CouponCodeLength must be between 4 and 32.")
    same_customer = _limit(
        fields["has_same_customer_usage_limit"],
        fields["same_customer_usage_limit"],
        "SameCustomerUsageLimit",
    )
    global_limit = _limit(
        fields["has_global_usage_limit"], fields["global_usage_limit"], "GlobalUsageLimit"
    )
    start = fields["valid_date_start"]
    end = fields["valid_date_end"]
    if start is not None and end is not None and end <= start:
        raise InvalidField("ValidDateEnd must be after ValidDateStart.")
    return {
        "title": title,
        "description": description,
        "reward_type": int(reward_type),
        "value_cents": value_cents,
        "points": points,
        "is_active": fields["is_active"],
        "minimal_value_cents": _hundredths(minimal_value, "MinimalValue"),
        "cumulative_discount": fields["cumulative_discount"],
        "valid_days": valid_days,
        "code_prefix": code_prefix,
        "coupon_code_length": fields["coupon_code_length"],
        "has_same_customer_usage_limit": fields["has_same_customer_usage_limit"],
        "same_customer_usage_limit": same_customer,
        "has_global_usage_limit": fields["has_global_usage_limit"],
        "global_usage_limit": global_limit,
        "valid_date_start": start,
        "valid_date_end": end,
    }
