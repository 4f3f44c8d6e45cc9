"""Unit tests of the redemption rule engine and the PoS offer. Pure: no database, no server.

Covers `fidelis.redemption.rule` (base, gross, cap, limit_points), `fidelis.redemption.offer`
(`offer`, `cashback_limit`, `requirements`, the `CannotUse` reasons and their order) and
`fidelis.kit.money.brl`. Every expected number is worked out by hand in a comment.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from fidelis.customer.repository import Customer
from fidelis.kit.money import brl
from fidelis.program.schemas import ProgramSettings, RedemptionBase, RedemptionRuleSettings
from fidelis.redemption.offer import CannotUse, cashback_limit, offer, requirements
from fidelis.redemption.rule import (
    Cap,
    Item,
    Purchase,
    Refusal,
    base,
    cap,
    gross,
    limit_points,
)
from fidelis.reward.repository import Reward
from fidelis.reward.service import RewardType

D = Decimal
CREATED = datetime(2024, 1, 1, tzinfo=UTC)

# --------------------------------------------------------------------------------------------
# Factories
# --------------------------------------------------------------------------------------------

_REWARD = Reward(
    id=1,
    title="Brinde",
    description=None,
    reward_type=RewardType.Custom,
    value_cents=None,
    points=100,
    is_active=True,
    minimal_value_cents=0,
    cumulative_discount=True,
    valid_days=None,
    code_prefix=None,
    coupon_code_length=8,
    has_same_customer_usage_limit=False,
    same_customer_usage_limit=None,
    has_global_usage_limit=False,
    global_usage_limit=None,
    valid_date_start=None,
    valid_date_end=None,
    created_at=CREATED,
    updated_at=CREATED,
)

_CUSTOMER = Customer(
    id=1,
    original_id="cliente-1",
    email=None,
    document=None,
    name="Maria",
    phone=None,
    birthday_date=None,
    signup_date=CREATED,
    is_enrolled=True,
    is_enabled=True,
    settle_at=None,
)


def make_reward(**changes: Any) -> Reward:
    """A Custom reward costing 100 points, no minimum, cumulative; `changes` override fields."""
    return replace(_REWARD, **changes)


def cashback_reward(**changes: Any) -> Reward:
    """A Cashback reward (no fixed value, no fixed points)."""
    return make_reward(reward_type=RewardType.Cashback, value_cents=None, points=None, **changes)


def make_customer(**changes: Any) -> Customer:
    """An enrolled, enabled customer; `changes` override fields."""
    return replace(_CUSTOMER, **changes)


def make_rule(**fields: Any) -> RedemptionRuleSettings:
    return RedemptionRuleSettings(**fields)


def make_program(rule: RedemptionRuleSettings | None = None, **fields: Any) -> ProgramSettings:
    """Defaults: PointValue R$ 0,01, cashback enabled, rule with no caps."""
    if rule is not None:
        fields["RedemptionRule"] = rule
    return ProgramSettings(**fields)


def reason_of(
    reward: Reward,
    *,
    customer: Customer | None = None,
    spendable: int = 1000,
    program: ProgramSettings | None = None,
    purchase: Purchase | None = None,
    no_customer: bool = False,
) -> CannotUse:
    found = offer(
        reward,
        customer=None if no_customer else (customer or make_customer()),
        spendable=spendable,
        program=program or make_program(),
        purchase=purchase or Purchase(),
    )
    return found.reason


DEFAULT_RULE = make_rule()


# --------------------------------------------------------------------------------------------
# rule.base
# --------------------------------------------------------------------------------------------


class TestBase:
    def test_total_only_is_the_base(self) -> None:
        assert base(DEFAULT_RULE, Purchase(total=D("120.00"))) == D("120.00")

    def test_items_are_summed_as_unit_price_times_quantity(self) -> None:
        # 2 x 10.50 = 21.00; 3 x 4.25 = 12.75; 21.00 + 12.75 = 33.75
        items = (Item(D("10.50"), D(2)), Item(D("4.25"), D(3)))
        assert base(DEFAULT_RULE, Purchase(items=items)) == D("33.75")

    def test_items_win_over_the_total_when_both_are_given(self) -> None:
        # Items 2 x 10.50 = 21.00; the total 50.00 is not used.
        purchase = Purchase(total=D("50.00"), items=(Item(D("10.50"), D(2)),))
        assert base(DEFAULT_RULE, purchase) == D("21.00")

    def test_items_never_count_for_more_than_the_total(self) -> None:
        # Items 1 x 100.00 on a purchase of 10.00: cashback may pay for 10.00 at most.
        purchase = Purchase(total=D("10.00"), items=(Item(D("100.00"), D(1)),))
        assert base(DEFAULT_RULE, purchase) == D("10.00")
        rule = make_rule(Base=RedemptionBase.total_minus_discount)
        assert base(rule, replace(purchase, discount=D("4.00"))) == D("6.00")

    def test_excluded_sku_is_left_out(self) -> None:
        # 2 x 10.00 = 20.00 counts; the 5.00 cigarette pack (excluded SKU) does not.
        rule = make_rule(ExcludedSkus=["CIGARRO"])
        items = (
            Item(D("10.00"), D(2), sku="ARROZ"),
            Item(D("5.00"), D(1), sku="CIGARRO"),
        )
        assert base(rule, Purchase(items=items)) == D("20.00")

    def test_excluded_category_is_left_out(self) -> None:
        # 2 x 10.00 = 20.00 (food) counts; 1 x 30.00 (alcohol, excluded) does not.
        rule = make_rule(ExcludedCategories=["bebida-alcoolica"])
        items = (
            Item(D("10.00"), D(2), category="alimentos"),
            Item(D("30.00"), D(1), category="bebida-alcoolica"),
        )
        assert base(rule, Purchase(items=items)) == D("20.00")

    def test_item_without_sku_or_category_is_eligible(self) -> None:
        rule = make_rule(ExcludedSkus=["X"], ExcludedCategories=["Y"])
        assert base(rule, Purchase(items=(Item(D("7.00"), D(1)),))) == D("7.00")

    def test_plain_total_base_ignores_the_discount(self) -> None:
        assert base(DEFAULT_RULE, Purchase(total=D("100.00"), discount=D("15.50"))) == D("100.00")

    def test_total_minus_discount_subtracts_the_discount(self) -> None:
        # 100.00 - 15.50 = 84.50
        rule = make_rule(Base=RedemptionBase.total_minus_discount)
        assert base(rule, Purchase(total=D("100.00"), discount=D("15.50"))) == D("84.50")

    def test_total_minus_discount_on_items(self) -> None:
        # items 2 x 10.50 + 3 x 4.25 = 33.75; 33.75 - 3.75 = 30.00
        rule = make_rule(Base=RedemptionBase.total_minus_discount)
        items = (Item(D("10.50"), D(2)), Item(D("4.25"), D(3)))
        assert base(rule, Purchase(items=items, discount=D("3.75"))) == D("30.00")

    def test_total_minus_discount_never_goes_below_zero(self) -> None:
        # 10.00 - 25.00 = -15.00 -> 0
        rule = make_rule(Base=RedemptionBase.total_minus_discount)
        assert base(rule, Purchase(total=D("10.00"), discount=D("25.00"))) == 0

    def test_unknown_purchase_has_no_base(self) -> None:
        assert base(DEFAULT_RULE, Purchase()) is None

    def test_discount_alone_does_not_make_a_purchase_known(self) -> None:
        rule = make_rule(Base=RedemptionBase.total_minus_discount)
        assert base(rule, Purchase(discount=D("5.00"))) is None

    def test_fractional_quantity_is_floored_to_the_cent(self) -> None:
        # 0.333 kg x 12.99 = 4.32567 -> 4.32 (rounded down, not 4.33)
        items = (Item(D("12.99"), D("0.333")),)
        assert base(DEFAULT_RULE, Purchase(items=items)) == D("4.32")


class TestGross:
    def test_total_as_given(self) -> None:
        assert gross(Purchase(total=D("60.00"), items=(Item(D("1.00"), D(1)),))) == D("60.00")

    def test_sum_of_all_items_even_excluded_ones(self) -> None:
        # 2 x 10.00 + 1 x 5.00 = 25.00 (gross knows nothing of exclusions)
        items = (Item(D("10.00"), D(2), sku="A"), Item(D("5.00"), D(1), sku="B"))
        assert gross(Purchase(items=items)) == D("25.00")

    def test_unknown(self) -> None:
        assert gross(Purchase()) is None


# --------------------------------------------------------------------------------------------
# rule.cap
# --------------------------------------------------------------------------------------------


class TestCap:
    def test_percent_of_purchase_is_rounded_down(self) -> None:
        # 30% of 99.99 = 29.997 -> 29.99 (down, not 30.00)
        rule = make_rule(MaxPercentOfPurchase=D(30))
        assert cap(rule, Purchase(total=D("99.99"))) == Cap(D("29.99"), Refusal.none)

    def test_max_value_limits_the_percent(self) -> None:
        # 50% of 100.00 = 50.00, but MaxValue 20.00 -> 20.00
        rule = make_rule(MaxPercentOfPurchase=D(50), MaxValue=D("20.00"))
        assert cap(rule, Purchase(total=D("100.00"))) == Cap(D("20.00"), Refusal.none)

    def test_percent_under_max_value_is_kept(self) -> None:
        # 10% of 100.00 = 10.00 < MaxValue 20.00 -> 10.00
        rule = make_rule(MaxPercentOfPurchase=D(10), MaxValue=D("20.00"))
        assert cap(rule, Purchase(total=D("100.00"))).value == D("10.00")

    def test_never_more_than_the_base(self) -> None:
        # 100% of 35.00 = 35.00; MaxValue 80.00 is larger -> 35.00
        rule = make_rule(MaxValue=D("80.00"))
        assert cap(rule, Purchase(total=D("35.00"))) == Cap(D("35.00"), Refusal.none)

    def test_percent_applies_to_the_eligible_base(self) -> None:
        # Eligible 2 x 10.00 = 20.00 (the 30.00 excluded item is out); 50% of 20.00 = 10.00
        rule = make_rule(MaxPercentOfPurchase=D(50), ExcludedSkus=["X"])
        items = (Item(D("10.00"), D(2)), Item(D("30.00"), D(1), sku="X"))
        assert cap(rule, Purchase(items=items)).value == D("10.00")

    def test_under_min_purchase_value_may_use_nothing(self) -> None:
        rule = make_rule(MinPurchaseValue=D("50.00"))
        assert cap(rule, Purchase(total=D("49.99"))) == Cap(D(0), Refusal.below_minimum)

    def test_exactly_min_purchase_value_is_allowed(self) -> None:
        rule = make_rule(MinPurchaseValue=D("50.00"))
        assert cap(rule, Purchase(total=D("50.00"))) == Cap(D("50.00"), Refusal.none)

    def test_min_purchase_value_checks_the_gross_total_not_the_base(self) -> None:
        # Base = 60.00 - 20.00 = 40.00 is under 50.00, but the total 60.00 is not -> cap 40.00
        rule = make_rule(MinPurchaseValue=D("50.00"), Base=RedemptionBase.total_minus_discount)
        purchase = Purchase(total=D("60.00"), discount=D("20.00"))
        assert cap(rule, purchase) == Cap(D("40.00"), Refusal.none)

    def test_min_purchase_value_counts_excluded_items(self) -> None:
        # Gross 40.00 + 20.00 = 60.00 >= 50.00; eligible base 40.00 -> cap 40.00
        rule = make_rule(MinPurchaseValue=D("50.00"), ExcludedCategories=["tabaco"])
        items = (Item(D("40.00"), D(1)), Item(D("20.00"), D(1), category="tabaco"))
        assert cap(rule, Purchase(items=items)) == Cap(D("40.00"), Refusal.none)

    @pytest.mark.parametrize("store", ["loja-2", None])
    def test_store_not_allowed(self, store: str | None) -> None:
        rule = make_rule(AllowedStores=["loja-1"])
        purchase = Purchase(total=D("100.00"), store=store, names_place=True)
        assert cap(rule, purchase) == Cap(D(0), Refusal.store_not_allowed)

    def test_a_face_that_names_no_place_is_not_held_to_the_lists(self) -> None:
        # A till or a checkout: no store, no source to check, with or without a total.
        rule = make_rule(AllowedStores=["loja-1"], AllowedSources=["pdv"])
        assert cap(rule, Purchase()) == Cap(None)
        assert cap(rule, Purchase(total=D("100.00"))) == Cap(D("100.00"), Refusal.none)

    def test_allowed_store(self) -> None:
        rule = make_rule(AllowedStores=["loja-1"])
        purchase = Purchase(total=D("100.00"), store="loja-1", names_place=True)
        assert cap(rule, purchase) == Cap(D("100.00"), Refusal.none)

    @pytest.mark.parametrize("source", ["ecommerce", None])
    def test_source_not_allowed(self, source: str | None) -> None:
        rule = make_rule(AllowedSources=["pdv"])
        purchase = Purchase(total=D("100.00"), source=source, names_place=True)
        assert cap(rule, purchase) == Cap(D(0), Refusal.source_not_allowed)

    def test_allowed_source(self) -> None:
        rule = make_rule(AllowedSources=["pdv"])
        assert (
            cap(rule, Purchase(total=D("100.00"), source="pdv", names_place=True)).refusal
            == Refusal.none
        )

    def test_every_item_excluded_is_nothing_eligible(self) -> None:
        rule = make_rule(ExcludedSkus=["A", "B"])
        items = (Item(D("10.00"), D(1), sku="A"), Item(D("5.00"), D(2), sku="B"))
        assert cap(rule, Purchase(items=items)) == Cap(D(0), Refusal.nothing_eligible)

    def test_percent_rounding_to_zero_is_nothing_eligible(self) -> None:
        # 1% of 0.99 = 0.0099 -> 0.00
        rule = make_rule(MaxPercentOfPurchase=D(1))
        assert cap(rule, Purchase(total=D("0.99"))) == Cap(D(0), Refusal.nothing_eligible)

    def test_unknown_purchase_is_uncapped(self) -> None:
        rule = make_rule(MaxPercentOfPurchase=D(30), MaxValue=D("20.00"))
        assert cap(rule, Purchase()) == Cap(None)
        assert cap(rule, Purchase()).refusal == Refusal.none


# --------------------------------------------------------------------------------------------
# rule.limit_points
# --------------------------------------------------------------------------------------------


class TestLimitPoints:
    @pytest.mark.parametrize(
        ("cap_value", "point_value", "spendable", "points"),
        [
            # 1.00 / 0.03 = 33.33... -> 33
            (D("1.00"), D("0.03"), 1000, 33),
            # 29.99 / 0.01 = 2999
            (D("29.99"), D("0.01"), 5000, 2999),
            # 0.02 / 0.03 = 0.66... -> 0
            (D("0.02"), D("0.03"), 1000, 0),
            # 10.00 / 0.05 = 200
            (D("10.00"), D("0.05"), 1000, 200),
            (D(0), D("0.01"), 1000, 0),
        ],
    )
    def test_cap_in_whole_points_rounded_down(
        self, cap_value: Decimal, point_value: Decimal, spendable: int, points: int
    ) -> None:
        assert limit_points(cap_value, point_value, spendable) == points

    def test_never_more_than_spendable(self) -> None:
        # 29.99 / 0.01 = 2999 > 500 spendable -> 500
        assert limit_points(D("29.99"), D("0.01"), 500) == 500

    def test_negative_spendable_is_zero(self) -> None:
        assert limit_points(D("10.00"), D("0.01"), -50) == 0

    def test_no_cap_is_the_whole_balance(self) -> None:
        assert limit_points(None, D("0.01"), 750) == 750

    def test_no_cap_with_negative_spendable_is_zero(self) -> None:
        assert limit_points(None, D("0.01"), -5) == 0

    @pytest.mark.parametrize(("cap_value", "spendable"), [(None, 3), (D("0.015"), 100)])
    def test_only_points_worth_whole_cents(self, cap_value: Decimal | None, spendable: int) -> None:
        # At R$ 0.005 a point, 3 points are R$ 0.015: 2 of them (R$ 0.01) can be used.
        assert limit_points(cap_value, D("0.005"), spendable) == 2


# --------------------------------------------------------------------------------------------
# offer.cashback_limit
# --------------------------------------------------------------------------------------------


class TestCashbackLimit:
    def test_disabled_cashback_is_zero(self) -> None:
        program = make_program(CashbackEnabled=False)
        assert cashback_limit(program, Purchase(total=D("100.00")), 1000) == 0

    def test_rule_and_point_value_apply(self) -> None:
        # 30% of 99.99 = 29.99 (down); 29.99 / 0.01 = 2999 points
        program = make_program(make_rule(MaxPercentOfPurchase=D(30)))
        assert cashback_limit(program, Purchase(total=D("99.99")), 5000) == 2999

    def test_unknown_purchase_is_the_balance(self) -> None:
        program = make_program(make_rule(MaxPercentOfPurchase=D(30)))
        assert cashback_limit(program, Purchase(), 4321) == 4321


# --------------------------------------------------------------------------------------------
# offer.offer: reasons
# --------------------------------------------------------------------------------------------


class TestOfferReasons:
    def test_can_use(self) -> None:
        found = offer(
            make_reward(points=100),
            customer=make_customer(),
            spendable=100,
            program=make_program(),
            purchase=Purchase(total=D("10.00")),
        )
        assert found.reason == CannotUse.CanUse
        assert found.can_use is True
        assert found.max_cashback_points == 0

    def test_no_customer(self) -> None:
        found = offer(
            make_reward(),
            customer=None,
            spendable=1000,
            program=make_program(),
            purchase=Purchase(total=D("10.00")),
        )
        assert found.reason == CannotUse.NoCustomer
        assert found.can_use is False

    @pytest.mark.parametrize(
        "customer",
        [
            make_customer(is_enrolled=False),
            make_customer(is_enabled=False),
            make_customer(is_enrolled=False, is_enabled=False),
        ],
        ids=["not-enrolled", "disabled", "both"],
    )
    def test_customer_not_enrolled(self, customer: Customer) -> None:
        assert reason_of(make_reward(), customer=customer) == CannotUse.CustomerNotEnrolled

    def test_non_cumulative_reward_on_discounted_purchase(self) -> None:
        reward = make_reward(cumulative_discount=False)
        purchase = Purchase(total=D("100.00"), discount=D("5.00"))
        assert reason_of(reward, purchase=purchase) == CannotUse.CannotUseCumulativeDiscount

    def test_non_cumulative_reward_without_discount_is_usable(self) -> None:
        reward = make_reward(cumulative_discount=False)
        assert reason_of(reward, purchase=Purchase(total=D("100.00"))) == CannotUse.CanUse

    def test_cumulative_reward_on_discounted_purchase_is_usable(self) -> None:
        purchase = Purchase(total=D("100.00"), discount=D("5.00"))
        assert reason_of(make_reward(), purchase=purchase) == CannotUse.CanUse

    @pytest.mark.parametrize(
        ("total", "reason"),
        [
            (D("49.99"), CannotUse.MinimumValueNotReached),
            (D("50.00"), CannotUse.CanUse),
        ],
    )
    def test_minimum_value(self, total: Decimal, reason: CannotUse) -> None:
        # MinimalValue 5000 cents = R$ 50,00
        reward = make_reward(minimal_value_cents=5000)
        assert reason_of(reward, purchase=Purchase(total=total)) == reason

    def test_minimum_value_skipped_without_purchase_value(self) -> None:
        reward = make_reward(minimal_value_cents=5000)
        assert reason_of(reward, purchase=Purchase()) == CannotUse.CanUse

    @pytest.mark.parametrize(
        ("total", "discount", "reason"),
        [
            # Left to pay 30.00 - 25.00 = 5.00 < 10.00
            (D("30.00"), D("25.00"), CannotUse.RewardValueExceedsPurchase),
            # Left to pay 9.99 < 10.00
            (D("9.99"), D(0), CannotUse.RewardValueExceedsPurchase),
            # Left to pay 30.00 - 20.00 = 10.00, exactly the value: not larger
            (D("30.00"), D("20.00"), CannotUse.CanUse),
        ],
    )
    def test_fixed_value_discount_larger_than_what_is_left(
        self, total: Decimal, discount: Decimal, reason: CannotUse
    ) -> None:
        # FixedValueDiscount of 1000 cents = R$ 10,00
        reward = make_reward(reward_type=RewardType.FixedValueDiscount, value_cents=1000)
        purchase = Purchase(total=total, discount=discount)
        assert reason_of(reward, purchase=purchase) == reason

    def test_percent_discount_is_not_compared_to_the_purchase(self) -> None:
        # 50% (5000 hundredths of a percent) on a R$ 10,00 purchase: "50" > 10 means nothing.
        reward = make_reward(reward_type=RewardType.PercentDiscount, value_cents=5000)
        assert reason_of(reward, purchase=Purchase(total=D("10.00"))) == CannotUse.CanUse

    def test_cashback_disabled(self) -> None:
        found = offer(
            cashback_reward(),
            customer=make_customer(),
            spendable=1000,
            program=make_program(CashbackEnabled=False),
            purchase=Purchase(total=D("100.00")),
        )
        assert found.reason == CannotUse.CashbackNotAvailable
        assert found.max_cashback_points == 0

    @pytest.mark.parametrize("spendable", [0, -30])
    def test_cashback_without_balance(self, spendable: int) -> None:
        reason = reason_of(
            cashback_reward(), spendable=spendable, purchase=Purchase(total=D("100.00"))
        )
        assert reason == CannotUse.CashbackNotAvailable

    @pytest.mark.parametrize(
        ("rule", "purchase"),
        [
            (make_rule(MinPurchaseValue=D("50.00")), Purchase(total=D("40.00"))),
            (
                make_rule(AllowedStores=["loja-1"]),
                Purchase(total=D("40.00"), store="loja-2", names_place=True),
            ),
            (
                make_rule(AllowedSources=["pdv"]),
                Purchase(total=D("40.00"), source="app", names_place=True),
            ),
            (make_rule(ExcludedSkus=["A"]), Purchase(items=(Item(D("9.00"), D(1), sku="A"),))),
        ],
        ids=["below-minimum", "store", "source", "nothing-eligible"],
    )
    def test_cashback_refused_by_the_redemption_rule(
        self, rule: RedemptionRuleSettings, purchase: Purchase
    ) -> None:
        found = offer(
            cashback_reward(),
            customer=make_customer(),
            spendable=1000,
            program=make_program(rule),
            purchase=purchase,
        )
        assert found.reason == CannotUse.MinimumPurchasePercentNotReached
        assert found.max_cashback_points == 0

    def test_cashback_can_use(self) -> None:
        reason = reason_of(cashback_reward(), spendable=10, purchase=Purchase(total=D("1.00")))
        assert reason == CannotUse.CanUse

    @pytest.mark.parametrize(
        ("spendable", "reason"),
        [
            (99, CannotUse.NotEnoughPoints),
            (100, CannotUse.CanUse),
            (0, CannotUse.NotEnoughPoints),
            (-20, CannotUse.NotEnoughPoints),
        ],
    )
    def test_not_enough_points(self, spendable: int, reason: CannotUse) -> None:
        reward = make_reward(points=100)
        assert reason_of(reward, spendable=spendable) == reason


class TestOfferPrecedence:
    """When two reasons apply, the one listed first in the module doc wins."""

    def test_no_customer_before_cumulative_discount(self) -> None:
        reward = make_reward(cumulative_discount=False)
        purchase = Purchase(total=D("100.00"), discount=D("5.00"))
        assert reason_of(reward, no_customer=True, purchase=purchase) == CannotUse.NoCustomer

    def test_no_customer_before_not_enough_points(self) -> None:
        reason = reason_of(make_reward(points=100), no_customer=True, spendable=0)
        assert reason == CannotUse.NoCustomer

    def test_not_enrolled_before_cumulative_discount(self) -> None:
        reward = make_reward(cumulative_discount=False)
        purchase = Purchase(total=D("100.00"), discount=D("5.00"))
        customer = make_customer(is_enrolled=False)
        reason = reason_of(reward, customer=customer, purchase=purchase)
        assert reason == CannotUse.CustomerNotEnrolled

    def test_cumulative_discount_before_minimum_value(self) -> None:
        # Non-cumulative, discounted, and 40.00 is under the 50.00 minimum: both apply.
        reward = make_reward(cumulative_discount=False, minimal_value_cents=5000)
        purchase = Purchase(total=D("40.00"), discount=D("5.00"))
        assert reason_of(reward, purchase=purchase) == CannotUse.CannotUseCumulativeDiscount

    def test_minimum_value_before_value_exceeds_purchase(self) -> None:
        # R$ 10,00 off a R$ 5,00 purchase, and 5.00 is under the R$ 50,00 minimum.
        reward = make_reward(
            reward_type=RewardType.FixedValueDiscount, value_cents=1000, minimal_value_cents=5000
        )
        assert reason_of(reward, purchase=Purchase(total=D("5.00"))) == (
            CannotUse.MinimumValueNotReached
        )

    def test_value_exceeds_purchase_before_not_enough_points(self) -> None:
        reward = make_reward(reward_type=RewardType.FixedValueDiscount, value_cents=1000)
        reason = reason_of(reward, spendable=0, purchase=Purchase(total=D("5.00")))
        assert reason == CannotUse.RewardValueExceedsPurchase

    def test_minimum_value_before_not_enough_points(self) -> None:
        reward = make_reward(minimal_value_cents=5000, points=100)
        reason = reason_of(reward, spendable=10, purchase=Purchase(total=D("40.00")))
        assert reason == CannotUse.MinimumValueNotReached

    def test_minimum_value_before_cashback_not_available(self) -> None:
        reward = cashback_reward(minimal_value_cents=5000)
        reason = reason_of(
            reward,
            program=make_program(CashbackEnabled=False),
            purchase=Purchase(total=D("40.00")),
        )
        assert reason == CannotUse.MinimumValueNotReached

    def test_cashback_not_available_before_minimum_purchase_percent(self) -> None:
        # No balance, and 40.00 is under the rule's 50.00 MinPurchaseValue: both apply.
        program = make_program(make_rule(MinPurchaseValue=D("50.00")))
        reason = reason_of(
            cashback_reward(), spendable=0, program=program, purchase=Purchase(total=D("40.00"))
        )
        assert reason == CannotUse.CashbackNotAvailable


class TestOfferCashbackPoints:
    def test_max_cashback_points_follow_the_rule(self) -> None:
        # 30% of 99.99 = 29.997 -> 29.99; at R$ 0,01 a point -> 2999 points (balance 5000)
        found = offer(
            cashback_reward(),
            customer=make_customer(),
            spendable=5000,
            program=make_program(make_rule(MaxPercentOfPurchase=D(30))),
            purchase=Purchase(total=D("99.99")),
        )
        assert found.reason == CannotUse.CanUse
        assert found.max_cashback_points == 2999

    def test_max_cashback_points_never_more_than_balance(self) -> None:
        # Cap 2999 points, but only 1000 spendable -> 1000
        found = offer(
            cashback_reward(),
            customer=make_customer(),
            spendable=1000,
            program=make_program(make_rule(MaxPercentOfPurchase=D(30))),
            purchase=Purchase(total=D("99.99")),
        )
        assert found.max_cashback_points == 1000

    def test_max_cashback_points_at_an_odd_point_value(self) -> None:
        # MaxValue 1.00 at R$ 0,03 a point: 1.00 / 0.03 = 33.33... -> 33
        found = offer(
            cashback_reward(),
            customer=make_customer(),
            spendable=1000,
            program=make_program(make_rule(MaxValue=D("1.00")), PointValue=D("0.03")),
            purchase=Purchase(total=D("100.00")),
        )
        assert found.max_cashback_points == 33

    def test_unknown_purchase_offers_the_whole_balance(self) -> None:
        found = offer(
            cashback_reward(),
            customer=make_customer(),
            spendable=777,
            program=make_program(make_rule(MaxPercentOfPurchase=D(30))),
            purchase=Purchase(),
        )
        assert found.reason == CannotUse.CanUse
        assert found.max_cashback_points == 777

    def test_other_rewards_have_no_cashback_points(self) -> None:
        found = offer(
            make_reward(points=100),
            customer=make_customer(),
            spendable=5000,
            program=make_program(),
            purchase=Purchase(total=D("100.00")),
        )
        assert found.max_cashback_points == 0

    def test_offer_carries_the_requirements(self) -> None:
        reward = make_reward(points=250, minimal_value_cents=5000)
        program = make_program()
        found = offer(
            reward,
            customer=make_customer(),
            spendable=5000,
            program=program,
            purchase=Purchase(total=D("100.00")),
        )
        assert found.reward is reward
        assert found.requirements == "Custa 250 pontos. Válido para compras acima de R$ 50,00."


# --------------------------------------------------------------------------------------------
# offer.requirements
# --------------------------------------------------------------------------------------------


class TestRequirements:
    def test_cost_in_points(self) -> None:
        assert requirements(make_reward(points=100), make_program()) == "Custa 100 pontos."

    def test_one_point_is_singular(self) -> None:
        assert requirements(make_reward(points=1), make_program()) == "Custa 1 ponto."

    def test_cashback_states_the_higher_of_the_two_minimums_once(self) -> None:
        program = make_program(make_rule(MinPurchaseValue=D("80.00")))
        reward = cashback_reward(minimal_value_cents=5000)
        assert requirements(reward, program) == (
            "Use seu cashback como desconto nesta compra. Válido para compras acima de R$ 80,00."
        )

    def test_minimum_value(self) -> None:
        reward = make_reward(points=100, minimal_value_cents=5000)
        assert requirements(reward, make_program()) == (
            "Custa 100 pontos. Válido para compras acima de R$ 50,00."
        )

    def test_not_cumulative(self) -> None:
        reward = make_reward(points=500, cumulative_discount=False)
        assert requirements(reward, make_program()) == (
            "Custa 500 pontos. Não cumulativo com outros descontos."
        )

    def test_every_condition_with_thousands(self) -> None:
        # 150000 cents = R$ 1.500,00
        reward = make_reward(points=250, minimal_value_cents=150000, cumulative_discount=False)
        assert requirements(reward, make_program()) == (
            "Custa 250 pontos. Válido para compras acima de R$ 1.500,00. "
            "Não cumulativo com outros descontos."
        )

    def test_cashback_without_limits(self) -> None:
        assert requirements(cashback_reward(), make_program()) == (
            "Use seu cashback como desconto nesta compra."
        )

    def test_cashback_with_every_limit(self) -> None:
        rule = make_rule(
            MaxPercentOfPurchase=D(30), MaxValue=D("20.00"), MinPurchaseValue=D("50.00")
        )
        assert requirements(cashback_reward(), make_program(rule)) == (
            "Use seu cashback como desconto nesta compra. Até 30% do valor da compra. "
            "Limite de R$ 20,00 por compra. Válido para compras acima de R$ 50,00."
        )

    @pytest.mark.parametrize(
        ("percent", "sentence"),
        [
            (D("30.00"), "Até 30% do valor da compra."),
            (D("12.50"), "Até 12,5% do valor da compra."),
            (D("0.25"), "Até 0,25% do valor da compra."),
        ],
    )
    def test_cashback_percent_written_the_brazilian_way(
        self, percent: Decimal, sentence: str
    ) -> None:
        program = make_program(make_rule(MaxPercentOfPurchase=percent))
        assert requirements(cashback_reward(), program) == (
            f"Use seu cashback como desconto nesta compra. {sentence}"
        )

    def test_cashback_limit_in_thousands(self) -> None:
        program = make_program(make_rule(MaxValue=D("1234.50")))
        assert requirements(cashback_reward(), program) == (
            "Use seu cashback como desconto nesta compra. Limite de R$ 1.234,50 por compra."
        )

    def test_cashback_not_cumulative(self) -> None:
        reward = cashback_reward(cumulative_discount=False)
        assert requirements(reward, make_program()) == (
            "Use seu cashback como desconto nesta compra. Não cumulativo com outros descontos."
        )


# --------------------------------------------------------------------------------------------
# kit.money.brl
# --------------------------------------------------------------------------------------------


class TestBrl:
    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (D(0), "R$ 0,00"),
            (D("0.5"), "R$ 0,50"),
            (D("999.99"), "R$ 999,99"),
            (D("1234.5"), "R$ 1.234,50"),
            (D("1234.56"), "R$ 1.234,56"),
            (D(1000000), "R$ 1.000.000,00"),
            (D("99999999.99"), "R$ 99.999.999,99"),
            (D("1.999"), "R$ 1,99"),  # the one rounding rule: toward zero
        ],
    )
    def test_brazilian_format(self, value: Decimal, text: str) -> None:
        assert brl(value) == text
