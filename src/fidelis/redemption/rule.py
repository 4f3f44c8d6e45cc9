"""The redemption rule: how much cashback one purchase may use. Pure; no database.

One engine for every face that spends cashback on a purchase (PoS, checkout, locks), driven by
the program's `RedemptionRule`:

1. The **base** is what cashback may pay for: the sum of the eligible items (`unit price x
   quantity`, items whose SKU or category is excluded left out) when items are given, never more
   than the purchase total when that is given too; else the purchase total; with
   `Base = total_minus_discount` the purchase's other discounts come off.
2. A purchase from a store or a source outside `AllowedStores` / `AllowedSources` (when those
   lists are not empty; only on the face that names them, the reservation API's locks), or
   whose total is under `MinPurchaseValue`, may use nothing.
3. The cap is `MaxPercentOfPurchase` % of the base, at most `MaxValue`, at most the base itself,
   rounded down to the cent (the one rounding rule, `kit/money.py`).
4. The limit in points is the cap converted at `PointValue` and rounded down to whole points,
   at most the customer's spendable points, and down to points worth whole cents (at
   `PointValue` 0.005, 3 points are 2: R$ 0.01).

A purchase about which nothing is known (no total, no items) is not capped: the limit is the
customer's balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from fidelis.kit import money
from fidelis.program.schemas import RedemptionBase, RedemptionRuleSettings

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Item:
    unit_price: Decimal
    quantity: Decimal
    sku: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class Purchase:
    """What is known of the purchase cashback would be used on."""

    total: Decimal | None = None
    discount: Decimal = ZERO
    items: tuple[Item, ...] = ()
    store: str | None = None
    source: str | None = None
    # Whether the face says where the purchase is made (`store`, `source`: the reservation
    # API's locks); only then do the rule's `AllowedStores` and `AllowedSources` apply. The
    # till and the checkout name neither, and a list they could never satisfy would turn all
    # their cashback off.
    names_place: bool = False

    @property
    def known(self) -> bool:
        return self.total is not None or bool(self.items)


class Refusal(IntEnum):
    """Why a purchase may use no cashback at all (0 = it may use some)."""

    none = 0
    store_not_allowed = 1
    source_not_allowed = 2
    below_minimum = 3
    nothing_eligible = 4


@dataclass(frozen=True, slots=True)
class Cap:
    """The most R$ of cashback this purchase may use (None = uncapped), and why it is 0."""

    value: Decimal | None
    refusal: Refusal = Refusal.none


def base(rule: RedemptionRuleSettings, purchase: Purchase) -> Decimal | None:
    """The R$ cashback may pay for (step 1), or None when the purchase is unknown."""
    if purchase.items:
        excluded_skus = set(rule.ExcludedSkus)
        excluded_categories = set(rule.ExcludedCategories)
        value = sum(
            (
                item.unit_price * item.quantity
                for item in purchase.items
                if item.sku not in excluded_skus and item.category not in excluded_categories
            ),
            ZERO,
        )
        if purchase.total is not None:
            # Items worth more than the purchase's total (prices before its discounts, or a
            # mistake) never let cashback pay for more than the customer pays.
            value = min(value, purchase.total)
    elif purchase.total is not None:
        value = purchase.total
    else:
        return None
    if rule.Base == RedemptionBase.total_minus_discount:
        value -= purchase.discount
    return max(money.floor_cents(value), ZERO)


def gross(purchase: Purchase) -> Decimal | None:
    """The purchase's total: as given, else the sum of all its items."""
    if purchase.total is not None:
        return purchase.total
    if purchase.items:
        return sum((i.unit_price * i.quantity for i in purchase.items), ZERO)
    return None


def cap(rule: RedemptionRuleSettings, purchase: Purchase) -> Cap:
    """Steps 1-3: the R$ cap of cashback on this purchase."""
    if purchase.names_place:
        if rule.AllowedStores and purchase.store not in rule.AllowedStores:
            return Cap(ZERO, Refusal.store_not_allowed)
        if rule.AllowedSources and purchase.source not in rule.AllowedSources:
            return Cap(ZERO, Refusal.source_not_allowed)
    on = base(rule, purchase)
    if on is None:
        return Cap(None)
    total = gross(purchase)
    if total is not None and total < rule.MinPurchaseValue:
        return Cap(ZERO, Refusal.below_minimum)
    value = money.floor_cents(on * rule.MaxPercentOfPurchase / 100)
    if rule.MaxValue is not None:
        value = min(value, rule.MaxValue)
    value = min(value, on)
    return Cap(value, Refusal.nothing_eligible if value == 0 else Refusal.none)


def limit_points(cap_value: Decimal | None, point_value: Decimal, spendable: int) -> int:
    """Step 4: the most points usable, never more than the customer has: whole points worth
    whole cents, so that what is spent is worth exactly the R$ shown for it."""
    most = max(spendable, 0)
    if cap_value is not None:
        most = min(most, money.floor_points(cap_value / point_value))
    return money.floor_whole_cents(most, point_value)
