"""The till asks what the customer can redeem on this purchase, then redeems within those rules.

`POST /v1/pvt/POS/rewards/available` lists every reward that can be redeemed today with
`CanUse`, `CannotUseReason` and Portuguese `Requirements`; a redeem that names its purchase is
refused for the same reasons. Every story ends with the automatic ledger check (conftest).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx

from tests.conftest import Server, TenantHandle, add_points, points_of, upsert

PERCENT, FIXED, FREE_SHIPPING, CASHBACK = 0, 1, 2, 3
ANA = "ana@example.com"


def reward(tenant: TenantHandle, **fields: Any) -> int:
    body = {"Title": "10% off", "RewardType": PERCENT, "Value": 10, "Points": 100, **fields}
    response = tenant.http.post("/v1/admin/rewards", json=body)
    assert response.status_code == 200, response.text
    reward_id: int = response.json()["Result"]["Id"]
    return reward_id


def available(tenant: TenantHandle, customer: str = ANA, **purchase: Any) -> dict[str, Any]:
    response = tenant.http.post(
        "/v1/pvt/POS/rewards/available", json={"CustomerId": customer, **purchase}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def by_id(answer: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {r["Id"]: r for r in answer["Rewards"]}


def redeem(tenant: TenantHandle, reward_id: int, **fields: Any) -> httpx.Response:
    return tenant.http.post(
        f"/v1/pvt/POS/rewards/{reward_id}/redeem", json={"CustomerId": ANA, **fields}
    )


def set_rule(tenant: TenantHandle, **rule: Any) -> None:
    response = tenant.http.put("/v1/admin/program", json={"RedemptionRule": rule})
    assert response.status_code == 200, response.text


def ana_with(tenant: TenantHandle, points: int, **fields: Any) -> None:
    upsert(tenant, ANA, Name="Ana", Email=ANA, **fields)
    if points:
        assert add_points(tenant, ANA, points).status_code == 200


class TestAvailable:
    def test_every_active_reward_is_listed_usable_or_not(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 150)
        cheap = reward(tenant, Title="Frete grátis", RewardType=FREE_SHIPPING, Points=100)
        dear = reward(tenant, Title="R$ 20 off", RewardType=FIXED, Value="20.00", Points=500)
        hidden = reward(tenant, Title="Old", IsActive=False)
        answer = available(tenant, PurchaseValue="80.00")
        rewards = by_id(answer)
        assert set(rewards) == {cheap, dear}
        assert hidden not in rewards
        assert (rewards[cheap]["CanUse"], rewards[cheap]["CannotUseReason"]) == (True, 0)
        assert (rewards[dear]["CanUse"], rewards[dear]["CannotUseReason"]) == (False, 1)
        assert rewards[dear]["Requirements"] == (
            "Custa 500 pontos. Não cumulativo com outros descontos."
        )
        assert answer["HasRewards"] is True
        assert answer["AvailablePoints"] == 150
        assert answer["Customer"]["OriginalId"] == ANA

    def test_rewards_outside_their_dates_are_not_listed(
        self, tenant: TenantHandle, server: Server
    ) -> None:
        ana_with(tenant, 150)
        tomorrow = server.clock() + timedelta(days=1)
        later = reward(tenant, ValidDateStart=tomorrow.isoformat())
        assert later not in by_id(available(tenant))

    def test_unknown_customer_gets_every_reward_with_reason_no_customer(
        self, tenant: TenantHandle
    ) -> None:
        first, second = reward(tenant), reward(tenant, RewardType=CASHBACK, Title="Cashback")
        answer = available(tenant, "nobody@example.com", PurchaseValue="100.00")
        assert answer["HasRewards"] is False
        assert answer["Customer"] is None
        assert (answer["AvailablePoints"], answer["MaxCashbackForCurrentPurchase"]) == (0, 0)
        assert {r["Id"]: r["CannotUseReason"] for r in answer["Rewards"]} == {first: 4, second: 4}

    def test_minimum_value_and_its_requirement_text(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        reward_id = reward(tenant, MinimalValue="50.00", CumulativeDiscount=True)
        assert by_id(available(tenant, PurchaseValue="49.99"))[reward_id]["CannotUseReason"] == 2
        offer = by_id(available(tenant, PurchaseValue="50.00"))[reward_id]
        assert (offer["CanUse"], offer["CannotUseReason"]) == (True, 0)
        assert offer["Requirements"] == "Custa 100 pontos. Válido para compras acima de R$ 50,00."
        assert offer["RewardCanBeCumulative"] is True

    def test_fixed_discount_larger_than_what_is_left_to_pay(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        reward_id = reward(tenant, RewardType=FIXED, Value="30.00", CumulativeDiscount=True)
        offers = available(tenant, PurchaseValue="40.00", DiscountValue="15.00")
        assert by_id(offers)[reward_id]["CannotUseReason"] == 5
        assert by_id(available(tenant, PurchaseValue="40.00"))[reward_id]["CanUse"] is True

    def test_non_cumulative_reward_with_another_discount(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        reward_id = reward(tenant)
        offers = available(tenant, PurchaseValue="100.00", DiscountValue="5.00")
        assert by_id(offers)[reward_id]["CannotUseReason"] == 8
        offers = available(tenant, PurchaseValue="100.00", DiscountValue="0")
        assert by_id(offers)[reward_id]["CanUse"] is True

    def test_customer_not_enrolled_or_disabled(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000, IsEnrolled=False)
        reward_id = reward(tenant)
        assert by_id(available(tenant))[reward_id]["CannotUseReason"] == 7
        upsert(tenant, ANA, IsEnrolled=True)
        assert by_id(available(tenant))[reward_id]["CanUse"] is True
        tenant.http.post(
            f"/v1/pvt/Customer/{ANA}/changestatus", json={"IsEnabled": False, "Reason": "fraud"}
        )
        assert by_id(available(tenant))[reward_id]["CannotUseReason"] == 7


class TestCashbackOffer:
    def test_max_cashback_follows_the_redemption_rule(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 5000)  # R$ 50.00 of cashback
        set_rule(tenant, MaxPercentOfPurchase="30", MaxValue="25.00")
        reward_id = reward(tenant, Title="Cashback", RewardType=CASHBACK)
        # 30% of R$ 99.99 = 29.997 -> 29.99, then capped at MaxValue 25.00.
        answer = available(tenant, PurchaseValue="99.99")
        assert answer["AvailableCashback"] == 50
        assert Decimal(str(answer["MaxCashbackForCurrentPurchase"])) == Decimal("25.00")
        offer = by_id(answer)[reward_id]
        assert (offer["IsCashback"], offer["CanSelectValue"], offer["CanUse"]) == (True, True, True)
        assert Decimal(str(offer["MaxCashbackForCurrentPurchase"])) == Decimal("25.00")
        assert offer["Requirements"] == (
            "Use seu cashback como desconto nesta compra. Até 30% do valor da compra. "
            "Limite de R$ 25,00 por compra. Não cumulativo com outros descontos."
        )
        # 30% of R$ 40.05 = 12.015 -> 12.01: rounded down to the cent.
        answer = available(tenant, PurchaseValue="40.05")
        assert Decimal(str(answer["MaxCashbackForCurrentPurchase"])) == Decimal("12.01")

    def test_balance_caps_the_cashback(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 700)
        reward(tenant, Title="Cashback", RewardType=CASHBACK)
        answer = available(tenant, PurchaseValue="100.00")
        assert Decimal(str(answer["MaxCashbackForCurrentPurchase"])) == Decimal("7.00")

    def test_excluded_products_are_not_paid_with_cashback(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 10_000)
        set_rule(tenant, ExcludedSkus=["TOBACCO"], ExcludedCategories=["gift-cards"])
        reward(tenant, Title="Cashback", RewardType=CASHBACK)
        products = [
            {"OriginalId": "SHIRT", "Quantity": 2, "ProductPrice": "19.90"},
            {"OriginalId": "TOBACCO", "Quantity": 1, "ProductPrice": "15.00"},
            {
                "OriginalId": "GC-50",
                "Quantity": 1,
                "ProductPrice": "50.00",
                "ProductCategory": {"OriginalId": "gift-cards"},
            },
        ]
        answer = available(tenant, PurchaseValue="104.80", Products=products)
        assert Decimal(str(answer["MaxCashbackForCurrentPurchase"])) == Decimal("39.80")

    def test_under_the_rules_minimum_purchase(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        set_rule(tenant, MinPurchaseValue="100.00")
        reward_id = reward(tenant, Title="Cashback", RewardType=CASHBACK)
        offer = by_id(available(tenant, PurchaseValue="99.99"))[reward_id]
        assert (offer["CanUse"], offer["CannotUseReason"]) == (False, 6)
        assert "Válido para compras acima de R$ 100,00." in offer["Requirements"]

    def test_no_cashback_without_balance_or_when_disabled(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 0)
        reward_id = reward(tenant, Title="Cashback", RewardType=CASHBACK)
        assert by_id(available(tenant, PurchaseValue="50.00"))[reward_id]["CannotUseReason"] == 3
        add_points(tenant, ANA, 500)
        tenant.http.put("/v1/admin/program", json={"CashbackEnabled": False})
        answer = available(tenant, PurchaseValue="50.00")
        assert answer["CashbackEnabled"] is False
        assert answer["MaxCashbackForCurrentPurchase"] == 0
        assert by_id(answer)[reward_id]["CannotUseReason"] == 3

    def test_a_customer_in_debt_has_nothing_to_use(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 0)
        points_reward = reward(tenant)
        order = {
            "OriginalId": "o-1",
            "Customer": {"OriginalId": ANA},
            "OrderTotal": "100.00",
            "IsCompleted": True,
            "OrderCompletedDate": "2026-01-01T00:00:00Z",
        }
        assert tenant.http.post("/v1/pvt/Order", json=order).status_code == 200
        assert add_points(tenant, ANA, -60).status_code == 200
        tenant.http.post("/v1/pvt/Order/o-1/cancel", json={})
        assert points_of(tenant, ANA)["PointsBalance"] == -60
        answer = available(tenant)
        assert answer["AvailablePoints"] == 0
        assert by_id(answer)[points_reward]["CannotUseReason"] == 1


class TestRedeemOnAPurchase:
    def test_requirements_are_enforced_when_the_purchase_is_named(
        self, tenant: TenantHandle
    ) -> None:
        ana_with(tenant, 1000)
        reward_id = reward(tenant, MinimalValue="50.00")
        refused = redeem(tenant, reward_id, PurchaseValue="49.00")
        assert (refused.status_code, refused.json()["CodeName"]) == (
            400,
            "RewardRequirementsNotMet",
        )
        refused = redeem(tenant, reward_id, PurchaseValue="80.00", DiscountValue="5.00")
        assert refused.json()["CodeName"] == "RewardRequirementsNotMet"
        assert points_of(tenant, ANA)["PointsBalance"] == 1000
        assert redeem(tenant, reward_id, PurchaseValue="80.00").status_code == 200
        assert points_of(tenant, ANA)["PointsBalance"] == 900

    def test_a_customer_not_enrolled_cannot_redeem(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000, IsEnrolled=False)
        response = redeem(tenant, reward(tenant))
        assert response.json()["CodeName"] == "RewardRequirementsNotMet"
        assert points_of(tenant, ANA)["PointsBalance"] == 1000

    def test_cashback_above_what_the_purchase_may_use(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 5000)
        set_rule(tenant, MaxPercentOfPurchase="50")
        reward_id = reward(tenant, Title="Cashback", RewardType=CASHBACK)
        too_much = redeem(tenant, reward_id, Value="10.01", PurchaseValue="20.00")
        assert (too_much.status_code, too_much.json()["CodeName"]) == (400, "CashbackValueTooHigh")
        assert points_of(tenant, ANA)["PointsBalance"] == 5000
        done = redeem(tenant, reward_id, Value="10.00", PurchaseValue="20.00")
        assert done.status_code == 200, done.text
        assert done.json()["Result"]["Value"] == 10
        assert points_of(tenant, ANA)["PointsBalance"] == 4000

    def test_what_available_allows_the_redeem_accepts(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 3000)
        set_rule(tenant, MaxPercentOfPurchase="25")
        reward_id = reward(tenant, Title="Cashback", RewardType=CASHBACK)
        answer = available(tenant, PurchaseValue="77.77")
        most = Decimal(str(answer["MaxCashbackForCurrentPurchase"]))
        assert most == Decimal("19.44")
        done = redeem(tenant, reward_id, Value=str(most), PurchaseValue="77.77")
        assert done.status_code == 200, done.text
        assert points_of(tenant, ANA)["PointsBalance"] == 3000 - 1944
