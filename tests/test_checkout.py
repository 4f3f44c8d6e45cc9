"""Checkout cashback: a shopper applies cashback to a cart, changes the cart, removes it, pays.

Applied cashback is held until an order with its code spends it, it is removed or replaced, or
the checkout is abandoned for `CheckoutHoldHours`. Every story ends with the automatic ledger
check (conftest).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import Clock, Server, TenantHandle, add_points, points_of, run_jobs_once, upsert

ANA = "ana@example.com"


def apply(tenant: TenantHandle, checkout: str | None = "cart-1", **fields: Any) -> httpx.Response:
    body: dict[str, Any] = {"CustomerId": ANA, **fields}
    if checkout is not None:
        body["CheckoutId"] = checkout
    return tenant.http.post("/v1/pvt/Checkout/redeem", json=body)


def action(tenant: TenantHandle, verb: str, checkout: str = "cart-1", **fields: Any) -> Any:
    body = {"CustomerId": ANA, "CheckoutId": checkout, **fields}
    return tenant.http.post(f"/v1/pvt/Checkout/redeem/{verb}", json=body)


def code(response: httpx.Response) -> tuple[int, str | None]:
    return response.status_code, response.json()["CodeName"]


def money(value: Any) -> Decimal:
    return Decimal(str(value))


def balances(tenant: TenantHandle) -> tuple[int, int]:
    """(PointsBalance, HeldPoints)."""
    points = points_of(tenant, ANA)
    return points["PointsBalance"], points["HeldPoints"]


def ana_with(tenant: TenantHandle, points: int) -> None:
    upsert(tenant, ANA, Name="Ana", Email=ANA)
    if points:
        assert add_points(tenant, ANA, points).status_code == 200


def order(tenant: TenantHandle, original_id: str, coupon: str, total: str = "90.00") -> Any:
    body = {
        "OriginalId": original_id,
        "Customer": {"OriginalId": ANA},
        "OrderTotal": total,
        "Coupon": coupon,
    }
    response = tenant.http.post("/v1/pvt/Order", json=body)
    assert response.status_code == 200, response.text
    return response.json()["Result"]


def record(tenant: TenantHandle, redemption_id: int) -> dict[str, Any]:
    found: dict[str, Any] = tenant.http.get(f"/v1/pvt/Rewards/{redemption_id}").json()
    return found


class TestApply:
    def test_without_a_value_the_most_allowed_is_applied_and_held(
        self, tenant: TenantHandle
    ) -> None:
        ana_with(tenant, 3000)  # R$ 30.00
        response = apply(tenant, Total="120.00", OriginalKey="vtex-cart-1")
        assert code(response) == (200, "CashbackApplied"), response.text
        answer = response.json()
        assert (answer["Code"], answer["Severity"], answer["HasError"]) == ("08", 0, False)
        result = answer["Result"]
        assert money(result["CashbackValue"]) == Decimal("30.00")
        assert result["Point"]["Quantity"] == -3000
        assert (result["OriginalKey"], result["Coupon"]) == ("vtex-cart-1", None)
        assert len(result["ExternalCode"]) == 8
        assert balances(tenant) == (0, 3000)
        assert record(tenant, result["RewardId"])["IsCanceled"] is False

    def test_the_most_allowed_is_points_worth_whole_cents(self, tenant: TenantHandle) -> None:
        tenant.http.put("/v1/admin/program", json={"PointValue": "0.005"})
        ana_with(tenant, 3)  # R$ 0.015
        response = apply(tenant, Total="120.00")
        assert code(response) == (200, "CashbackApplied"), response.text
        result = response.json()["Result"]
        assert (money(result["CashbackValue"]), result["Point"]["Quantity"]) == (
            Decimal("0.01"),
            -2,
        )
        assert balances(tenant) == (1, 2)

    def test_the_total_and_the_rule_cap_the_amount(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 10_000)
        result = apply(tenant, Total="45.50").json()["Result"]
        assert money(result["CashbackValue"]) == Decimal("45.50")
        put = {"RedemptionRule": {"MaxPercentOfPurchase": "20", "MaxValue": "15.00"}}
        tenant.http.put("/v1/admin/program", json=put)
        result = apply(tenant, Total="45.50").json()["Result"]  # 20% = 9.10
        assert money(result["CashbackValue"]) == Decimal("9.10")
        result = apply(tenant, Total="500.00").json()["Result"]  # 20% = 100, MaxValue 15
        assert money(result["CashbackValue"]) == Decimal("15.00")
        assert balances(tenant) == (8500, 1500)

    def test_only_eligible_items_count(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 10_000)
        tenant.http.put("/v1/admin/program", json={"RedemptionRule": {"ExcludedSkus": ["GIFT"]}})
        items = [
            {"ExternalProductId": "SHOE", "Value": "30.00", "Quantity": 2},
            {"ExternalProductId": "GIFT", "Value": "50.00", "Quantity": 1},
        ]
        result = apply(tenant, Total="110.00", Items=items).json()["Result"]
        assert money(result["CashbackValue"]) == Decimal("60.00")

    def test_a_chosen_value(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 3000)
        result = apply(tenant, CashbackValue="12.34", Total="100.00").json()["Result"]
        assert money(result["CashbackValue"]) == Decimal("12.34")
        assert balances(tenant) == (3000 - 1234, 1234)

    def test_too_high_a_value_changes_nothing(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 3000)
        assert code(apply(tenant, "cart-0", CashbackValue="5.00")) == (200, "CashbackApplied")
        for body in ({"CashbackValue": "30.01"}, {"CashbackValue": "20.01", "Total": "20.00"}):
            response = apply(tenant, **body)
            assert code(response) == (400, "CashbackValueTooHigh"), body
            assert response.json()["ErrorCode"] == 34
        # The other checkout's cashback was not refunded by the refused request.
        assert balances(tenant) == (2500, 500)

    @pytest.mark.parametrize("value", ["0", "-1.00", "1.001"])
    def test_invalid_values(self, tenant: TenantHandle, value: str) -> None:
        ana_with(tenant, 3000)
        assert code(apply(tenant, CashbackValue=value)) == (400, "InvalidValue")
        assert balances(tenant) == (3000, 0)

    @pytest.mark.parametrize(
        "fields",
        [{"Total": "100.001"}, {"Items": [{"Value": "9.999", "Quantity": 1}]}],
    )
    def test_purchase_amounts_with_a_third_place_are_refused(
        self, tenant: TenantHandle, fields: dict[str, Any]
    ) -> None:
        ana_with(tenant, 3000)
        response = apply(tenant, CashbackValue="10.00", **fields)
        assert code(response) == (400, "InvalidValue")
        assert "2 decimal places" in response.json()["ErrorMessage"]
        assert balances(tenant) == (3000, 0)

    def test_a_value_that_is_not_whole_points(self, tenant: TenantHandle) -> None:
        tenant.http.put("/v1/admin/program", json={"PointValue": "0.05"})
        ana_with(tenant, 100)
        assert code(apply(tenant, CashbackValue="0.03")) == (400, "InvalidValue")
        assert code(apply(tenant, CashbackValue="0.05")) == (200, "CashbackApplied")

    def test_nothing_to_apply_is_a_warning_and_changes_nothing(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 0)
        response = apply(tenant)
        assert code(response) == (200, "CashbackNotApplied")
        assert (response.json()["Code"], response.json()["HasWarning"]) == ("04", True)
        add_points(tenant, ANA, 1000)
        assert code(apply(tenant, "cart-a")) == (200, "CashbackApplied")
        tenant.http.put("/v1/admin/program", json={"RedemptionRule": {"MinPurchaseValue": "50"}})
        assert code(apply(tenant, "cart-b", Total="49.99")) == (200, "CashbackNotApplied")
        # cart-a keeps its cashback: a request that applied nothing refunded nothing.
        assert balances(tenant) == (0, 1000)

    def test_unknown_customer_missing_checkout_disabled_cashback(
        self, tenant: TenantHandle
    ) -> None:
        ana_with(tenant, 1000)
        unknown = tenant.http.post(
            "/v1/pvt/Checkout/redeem", json={"CustomerId": "nobody", "CheckoutId": "c"}
        )
        assert code(unknown) == (400, "CustomerNotFound")
        assert unknown.json()["Code"] == "01"
        assert code(apply(tenant, None)) == (400, "CheckoutIdRequired")
        assert apply(tenant, "  ").json()["Code"] == "02"
        tenant.http.put("/v1/admin/program", json={"CashbackEnabled": False})
        assert code(apply(tenant)) == (400, "CashbackNotEnabled")
        assert balances(tenant) == (1000, 0)

    def test_original_key_replays_or_conflicts(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        first = apply(tenant, CashbackValue="4.00", OriginalKey="k1").json()
        again = apply(tenant, CashbackValue="4.00", OriginalKey="k1").json()
        assert (again["CodeName"], again["Code"]) == ("AlreadyProcessed", "22")
        assert again["Result"] == first["Result"]
        clash = apply(tenant, CashbackValue="5.00", OriginalKey="k1")
        assert code(clash) == (409, "IdempotencyKeyConflict")
        assert balances(tenant) == (600, 400)


class TestOneCheckoutAtATime:
    def test_another_checkout_refunds_the_previous_one(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        first = apply(tenant, "cart-1", CashbackValue="6.00").json()["Result"]
        second = apply(tenant, "cart-2", CashbackValue="3.00").json()["Result"]
        assert balances(tenant) == (700, 300)
        assert record(tenant, first["RewardId"])["IsCanceled"] is True
        assert record(tenant, second["RewardId"])["IsCanceled"] is False
        assert code(action(tenant, "remove", "cart-1")) == (200, "CashbackNotApplied")

    def test_the_same_checkout_replaces_the_amount(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        apply(tenant, CashbackValue="6.00")
        result = apply(tenant, CashbackValue="9.00").json()["Result"]
        assert balances(tenant) == (100, 900)
        # The replaced amount's points are free again, so the maximum is the whole balance.
        result = apply(tenant).json()["Result"]
        assert money(result["CashbackValue"]) == Decimal("10.00")
        assert balances(tenant) == (0, 1000)

    def test_ten_concurrent_redeems_on_ten_checkouts_apply_exactly_one(
        self, tenant: TenantHandle
    ) -> None:
        ana_with(tenant, 1000)

        def attempt(n: int) -> httpx.Response:
            with tenant.client() as client:
                return client.post(
                    "/v1/pvt/Checkout/redeem",
                    json={"CustomerId": ANA, "CheckoutId": f"cart-{n}", "CashbackValue": "7.00"},
                )

        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = list(pool.map(attempt, range(10)))
        assert [code(a) for a in answers] == [(200, "CashbackApplied")] * 10
        ids = [a.json()["Result"]["RewardId"] for a in answers]
        live = [i for i in ids if not record(tenant, i)["IsCanceled"]]
        assert len(live) == 1
        assert balances(tenant) == (300, 700)

    def test_racing_on_two_checkouts_loses_nothing(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)

        def attempt(n: int) -> httpx.Response:
            with tenant.client() as client:
                body = {"CustomerId": ANA, "CheckoutId": f"cart-{n % 2}"}
                return client.post("/v1/pvt/Checkout/redeem", json=body)

        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(attempt, range(20)))
        assert all(code(a) == (200, "CashbackApplied") for a in answers)
        assert balances(tenant) == (0, 1000)
        live = [
            a.json()["Result"]["RewardId"]
            for a in answers
            if not record(tenant, a.json()["Result"]["RewardId"])["IsCanceled"]
        ]
        assert len(live) == 1


class TestRemoveAndRefresh:
    def test_remove(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        assert code(action(tenant, "remove")) == (200, "CheckoutNotFound")
        apply(tenant, CashbackValue="4.00")
        removed = action(tenant, "remove")
        assert code(removed) == (200, "CashbackRemovedSuccessfully")
        assert removed.json()["Code"] == "07"
        assert removed.json()["Result"]["Success"] is True
        assert removed.json()["Result"]["CustomerMessage"]
        assert balances(tenant) == (1000, 0)
        again = action(tenant, "remove")
        assert (code(again), again.json()["Code"]) == ((200, "CashbackNotApplied"), "04")
        assert balances(tenant) == (1000, 0)

    def test_remove_and_refresh_need_a_customer_and_a_checkout(self, tenant: TenantHandle) -> None:
        for verb in ("remove", "refresh"):
            missing = tenant.http.post(
                f"/v1/pvt/Checkout/redeem/{verb}", json={"CustomerId": "nobody", "CheckoutId": "c"}
            )
            assert code(missing) == (400, "CustomerNotFound")
            ana_with(tenant, 0)
            no_id = tenant.http.post(f"/v1/pvt/Checkout/redeem/{verb}", json={"CustomerId": ANA})
            assert code(no_id) == (400, "CheckoutIdRequired")

    def test_refresh(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 5000)
        assert code(action(tenant, "refresh", Total="10.00")) == (200, "CheckoutNotFound")
        apply(tenant, CashbackValue="30.00", Total="100.00")
        still = action(tenant, "refresh", Total="30.00")
        assert (code(still), still.json()["Code"]) == ((200, "CashbackStillApplied"), "05")
        assert still.json()["Result"]["CashbackRemoved"] is False
        assert balances(tenant) == (2000, 3000)
        gone = action(tenant, "refresh", Total="29.99")
        assert (code(gone), gone.json()["Code"]) == ((200, "CashbackRemovedByCartChange"), "06")
        assert gone.json()["Result"]["CashbackRemoved"] is True
        assert balances(tenant) == (5000, 0)
        assert code(action(tenant, "refresh", Total="29.99")) == (200, "CashbackNotApplied")

    def test_refresh_follows_the_rule_of_the_new_cart(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 5000)
        put = {"RedemptionRule": {"MaxPercentOfPurchase": "50"}}
        tenant.http.put("/v1/admin/program", json=put)
        apply(tenant, Total="100.00")  # 50.00 applied
        assert code(action(tenant, "refresh", Total="100.00")) == (200, "CashbackStillApplied")
        assert code(action(tenant, "refresh", Total="99.98")) == (
            200,
            "CashbackRemovedByCartChange",
        )


class TestOrdersAndAbandonedCheckouts:
    def test_an_order_with_the_code_spends_the_cashback_for_good(
        self, tenant: TenantHandle
    ) -> None:
        ana_with(tenant, 1000)
        result = apply(tenant, "cart-1", CashbackValue="10.00").json()["Result"]
        placed = order(tenant, "web-1", result["ExternalCode"])
        assert placed["RewardId"] == result["RewardId"]
        assert balances(tenant) == (0, 0)
        history = points_of(tenant, ANA)["PointHistory"]
        assert (history[0]["Points"], history[0]["PointType"]) == (-1000, 7)
        # A later checkout finds nothing to refund: the order made it final.
        add_points(tenant, ANA, 200)
        assert code(apply(tenant, "cart-2")) == (200, "CashbackApplied")
        assert record(tenant, result["RewardId"])["IsCanceled"] is False
        assert balances(tenant) == (0, 200)
        assert code(action(tenant, "remove", "cart-1")) == (200, "CashbackNotApplied")

    def test_cancelling_that_order_gives_the_cashback_back(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        result = apply(tenant, CashbackValue="10.00").json()["Result"]
        order(tenant, "web-2", result["ExternalCode"])
        assert tenant.http.post("/v1/pvt/Order/web-2/cancel", json={}).status_code == 200
        assert balances(tenant) == (1000, 0)
        assert record(tenant, result["RewardId"])["IsCanceled"] is True
        history = points_of(tenant, ANA)["PointHistory"]
        assert (history[0]["Points"], history[0]["PointType"]) == (1000, 8)

    def test_an_abandoned_checkout_is_refunded_at_once_and_written_by_the_job(
        self, server: Server, clock: Clock, tenant: TenantHandle
    ) -> None:
        tenant.http.put("/v1/admin/program", json={"CheckoutHoldHours": 2})
        ana_with(tenant, 1000)
        result = apply(tenant, CashbackValue="10.00").json()["Result"]
        clock.advance(hours=1, minutes=59)
        assert balances(tenant) == (0, 1000)
        clock.advance(minutes=2)
        # Every reader sees it refunded from that instant, before any job.
        assert balances(tenant) == (1000, 0)
        assert record(tenant, result["RewardId"])["IsCanceled"] is True
        assert code(action(tenant, "remove")) == (200, "CashbackNotApplied")
        run_jobs_once(server)
        assert balances(tenant) == (1000, 0)
        # An order arriving too late with the code does not spend the refunded cashback.
        assert order(tenant, "late-1", result["ExternalCode"])["RewardId"] is None
        assert balances(tenant) == (1000, 0)

    def test_an_abandoned_checkout_is_refunded_by_the_next_write_too(
        self, clock: Clock, tenant: TenantHandle
    ) -> None:
        tenant.http.put("/v1/admin/program", json={"CheckoutHoldHours": 1})
        ana_with(tenant, 1000)
        apply(tenant, "cart-1", CashbackValue="10.00")
        clock.advance(hours=2)
        result = apply(tenant, "cart-2", CashbackValue="4.00").json()["Result"]
        assert money(result["CashbackValue"]) == Decimal("4.00")
        assert balances(tenant) == (600, 400)


def test_tenants_never_see_each_others_checkouts(
    tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    ana_with(tenant, 1000)
    result = apply(tenant, CashbackValue="5.00").json()["Result"]
    upsert(other_tenant, ANA)
    assert code(action(other_tenant, "remove")) == (200, "CheckoutNotFound")
    assert other_tenant.http.get(f"/v1/pvt/Rewards/{result['RewardId']}").status_code == 404
    placed = other_tenant.http.post(
        "/v1/pvt/Order",
        json={
            "OriginalId": "x",
            "Customer": {"OriginalId": ANA},
            "OrderTotal": "10.00",
            "Coupon": result["ExternalCode"],
            "IsCompleted": True,
            "OrderCompletedDate": datetime.now().astimezone().isoformat(),
        },
    )
    assert placed.json()["Result"]["RewardId"] is None
    assert balances(tenant) == (500, 500)
