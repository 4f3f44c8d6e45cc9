"""Redeeming rewards at the till: spend points on a reward, get a code to type, cancel it.

Every story ends with the automatic ledger check (conftest).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx

from tests.conftest import (
    Clock,
    Server,
    TenantHandle,
    add_points,
    points_of,
    run_jobs_once,
    upsert,
)

PERCENT, FIXED, CASHBACK = 0, 1, 3
ANA = "ana"


def reward(tenant: TenantHandle, **fields: Any) -> int:
    body = {"Title": "10% off", "RewardType": PERCENT, "Value": 10, "Points": 100, **fields}
    response = tenant.http.post("/v1/admin/rewards", json=body)
    assert response.status_code == 200, response.text
    reward_id: int = response.json()["Result"]["Id"]
    return reward_id


def redeem(
    tenant: TenantHandle, reward_id: int, customer: str = ANA, **fields: Any
) -> httpx.Response:
    return tenant.http.post(
        f"/v1/pvt/POS/rewards/{reward_id}/redeem", json={"CustomerId": customer, **fields}
    )


def code_of(response: httpx.Response) -> tuple[int, str | None]:
    answer = response.json()
    return response.status_code, answer["CodeName"]


def ana_with(tenant: TenantHandle, points: int, **fields: Any) -> None:
    upsert(tenant, ANA, Name="Ana")
    if points:
        assert add_points(tenant, ANA, points, **fields).status_code == 200


def balance(tenant: TenantHandle) -> int:
    points: int = points_of(tenant, ANA)["PointsBalance"]
    return points


class TestRedeem:
    def test_a_points_reward_spends_its_cost_and_gives_a_code(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 250)
        reward_id = reward(tenant)
        response = redeem(tenant, reward_id, OriginalKey="till-1", RedeemOrigin=5)
        assert code_of(response) == (200, None), response.text
        result = response.json()["Result"]
        assert re.fullmatch(r"[A-HJKMNP-Z2-9]{8}", result["ExternalCode"])
        assert result["OriginalKey"] == "till-1"
        assert result["Point"]["Quantity"] == -100
        assert (result["Coupon"], result["RewardType"], result["Value"]) == (None, PERCENT, 10)
        assert balance(tenant) == 150
        history = points_of(tenant, ANA)["PointHistory"]
        assert (history[0]["Points"], history[0]["PointType"]) == (-100, 5)
        assert history[0]["Id"] == result["Point"]["PointId"]
        record = tenant.http.get(f"/v1/pvt/Rewards/{result['RewardId']}").json()
        assert record["Id"] == result["RewardId"]
        assert record["ExternalCode"] == result["ExternalCode"]
        assert (record["IsCanceled"], record["Points"], record["OrderId"]) == (False, 100, None)
        assert record["Customer"]["OriginalId"] == ANA
        assert record["Customer"]["BalanceOfPoints"] == 150

    def test_codes_are_different_for_each_redemption(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        reward_id = reward(tenant)
        codes = {redeem(tenant, reward_id).json()["Result"]["ExternalCode"] for _ in range(5)}
        assert len(codes) == 5

    def test_cashback_by_value_and_by_points(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        tenant.http.put("/v1/admin/program", json={"PointValue": "0.05"})
        reward_id = reward(tenant, Title="Cashback", RewardType=CASHBACK)
        by_value = redeem(tenant, reward_id, Value="2.50")
        assert code_of(by_value) == (200, None), by_value.text
        result = by_value.json()["Result"]
        assert (result["Point"]["Quantity"], result["Value"], result["RewardType"]) == (
            -50,
            2.5,
            CASHBACK,
        )
        by_points = redeem(tenant, reward_id, Points=20)
        assert by_points.json()["Result"]["Value"] == 1
        assert by_points.json()["Result"]["Point"]["Quantity"] == -20
        assert balance(tenant) == 930
        record = tenant.http.get(f"/v1/pvt/Rewards/{result['RewardId']}").json()
        assert (record["CashValue"], record["Points"]) == (2.5, 50)

    def test_cashback_value_rules(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        tenant.http.put("/v1/admin/program", json={"PointValue": "0.05"})
        reward_id = reward(tenant, Title="Cashback", RewardType=CASHBACK)
        for body in (
            {},
            {"Value": "1.00", "Points": 20},
            {"Value": "0.03"},
            {"Value": "0"},
            {"Points": -5},
            {"Value": "-1.00"},
            {"Value": "1.001"},
        ):
            assert code_of(redeem(tenant, reward_id, **body)) == (400, "InvalidValue"), body
        tenant.http.put("/v1/admin/program", json={"CashbackEnabled": False})
        assert code_of(redeem(tenant, reward_id, Points=20)) == (400, "CashbackNotEnabled")
        assert balance(tenant) == 1000

    def test_cashback_by_points_is_a_whole_number_of_cents(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        tenant.http.put("/v1/admin/program", json={"PointValue": "0.005"})
        reward_id = reward(tenant, Title="Cashback", RewardType=CASHBACK)
        # 3 points are R$ 0.015: spent in full, they could only be shown as R$ 0.01.
        assert code_of(redeem(tenant, reward_id, Points=3)) == (400, "InvalidValue")
        assert balance(tenant) == 1000
        by_points = redeem(tenant, reward_id, Points=4)
        assert by_points.json()["Result"]["Value"] == 0.02, by_points.text
        assert balance(tenant) == 996

    def test_a_purchase_value_sent_as_a_long_json_number_is_read_exactly(
        self, tenant: TenantHandle
    ) -> None:
        ana_with(tenant, 1000)
        reward_id = reward(tenant, MinimalValue=50)
        # As a float 49.999999999999999999 is 50.0, enough for the minimum; as written it has
        # more than two places (and is under 50 anyway).
        response = tenant.http.post(
            f"/v1/pvt/POS/rewards/{reward_id}/redeem",
            content=b'{"CustomerId": "ana", "PurchaseValue": 49.999999999999999999}',
            headers={"Content-Type": "application/json"},
        )
        assert code_of(response) == (400, "InvalidValue"), response.text
        assert balance(tenant) == 1000

    def test_the_stores_and_sources_of_the_rule_do_not_hold_at_the_till(
        self, tenant: TenantHandle
    ) -> None:
        # The reservation API's lists: a till names no store or source, so they cannot refuse
        # it, whether it sends its purchase or not.
        ana_with(tenant, 1000)
        rule = {"AllowedStores": ["loja-1"], "AllowedSources": ["ecommerce"]}
        tenant.http.put("/v1/admin/program", json={"RedemptionRule": rule})
        reward_id = reward(tenant, Title="Cashback", RewardType=CASHBACK)
        response = redeem(tenant, reward_id, Value="5.00")
        assert code_of(response) == (200, None), response.text
        response = redeem(tenant, reward_id, Value="2.00", PurchaseValue="100.00")
        assert code_of(response) == (200, None), response.text
        assert balance(tenant) == 300

    def test_purchase_amounts_with_a_third_place_are_refused(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        reward_id = reward(tenant)
        for body in (
            {"PurchaseValue": "100.001"},
            {"DiscountValue": "0.005"},
            {"Products": [{"OriginalId": "p1", "ProductPrice": "9.999", "Quantity": 1}]},
        ):
            response = redeem(tenant, reward_id, **body)
            assert code_of(response) == (400, "InvalidValue"), body
            available = tenant.http.post(
                "/v1/pvt/POS/rewards/available", json={"CustomerId": ANA, **body}
            )
            assert code_of(available) == (400, "InvalidValue"), body
        assert balance(tenant) == 1000

    def test_force_generate_coupon(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 500)
        reward_id = reward(tenant, CodePrefix="LOJA-", CouponCodeLength=6)
        coupon = redeem(tenant, reward_id, ForceGenerateCoupon=True).json()["Result"]["Coupon"]
        assert re.fullmatch(r"LOJA-[A-HJKMNP-Z2-9]{6}", coupon["CouponCode"])
        assert (coupon["CouponType"], coupon["CouponValue"]) == (1, 10)  # 10% off
        assert coupon["ValidDateEnd"] is None  # no ValidDays: valid until used


class TestRules:
    def test_unknown_customer_is_400(self, tenant: TenantHandle) -> None:
        reward_id = reward(tenant)
        assert code_of(redeem(tenant, reward_id, "nobody")) == (400, "CustomerNotFound")

    def test_unknown_reward_is_404(self, tenant: TenantHandle, other_tenant: TenantHandle) -> None:
        ana_with(tenant, 500)
        assert code_of(redeem(tenant, 999999)) == (404, "RewardNotFound")
        theirs = reward(other_tenant)
        assert code_of(redeem(tenant, theirs)) == (404, "RewardNotFound")

    def test_inactive_or_out_of_dates(self, tenant: TenantHandle, server: Server) -> None:
        ana_with(tenant, 500)
        now = server.clock()
        inactive = reward(tenant, IsActive=False)
        assert code_of(redeem(tenant, inactive)) == (400, "RewardInactive")
        future = reward(tenant, ValidDateStart=(now + timedelta(days=1)).isoformat())
        assert code_of(redeem(tenant, future)) == (400, "RewardInactive")
        past = reward(
            tenant,
            ValidDateStart=(now - timedelta(days=10)).isoformat(),
            ValidDateEnd=(now - timedelta(days=1)).isoformat(),
        )
        assert code_of(redeem(tenant, past)) == (400, "RewardInactive")
        assert balance(tenant) == 500

    def test_disabled_customer(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 500)
        tenant.http.post(
            f"/v1/pvt/Customer/{ANA}/changestatus", json={"IsEnabled": False, "Reason": "fraude"}
        )
        assert code_of(redeem(tenant, reward(tenant))) == (400, "CustomerDisabled")

    def test_not_enough_points_changes_nothing(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 99)
        response = redeem(tenant, reward(tenant), OriginalKey="k")
        assert code_of(response) == (400, "NotEnoughPoints")
        assert response.json()["Code"] == "26"
        assert balance(tenant) == 99
        # The failed request did not consume its key.
        add_points(tenant, ANA, 1)
        assert code_of(redeem(tenant, reward(tenant), OriginalKey="k")) == (200, None)

    def test_customer_in_debt(self, tenant: TenantHandle) -> None:
        customer = {"OriginalId": ANA, "Name": "Ana"}
        completed = tenant.http.post(
            "/v1/pvt/Order",
            json={
                "OriginalId": "order-1",
                "Customer": customer,
                "OrderTotal": "100.00",
                "IsCompleted": True,
                "OrderCompletedDate": "2026-01-01T10:00:00Z",
            },
        )
        assert completed.status_code == 200, completed.text
        assert add_points(tenant, ANA, -70).status_code == 200
        tenant.http.post("/v1/pvt/Order/order-1/cancel", json={})
        assert balance(tenant) == -70
        assert code_of(redeem(tenant, reward(tenant, Points=1))) == (400, "CustomerInDebt")

    def test_usage_limits(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        upsert(tenant, "bia", Name="Bia")
        add_points(tenant, "bia", 1000)
        per_customer = reward(tenant, HasSameCustomerUsageLimit=True, SameCustomerUsageLimit=1)
        first = redeem(tenant, per_customer)
        assert code_of(first) == (200, None)
        assert code_of(redeem(tenant, per_customer)) == (400, "RewardRequirementsNotMet")
        assert code_of(redeem(tenant, per_customer, "bia")) == (200, None)
        # A cancelled redemption does not count.
        tenant.http.delete(f"/v1/pvt/POS/rewards/{first.json()['Result']['RewardId']}")
        assert code_of(redeem(tenant, per_customer)) == (200, None)
        global_limit = reward(tenant, HasGlobalUsageLimit=True, GlobalUsageLimit=2)
        assert code_of(redeem(tenant, global_limit)) == (200, None)
        assert code_of(redeem(tenant, global_limit, "bia")) == (200, None)
        assert code_of(redeem(tenant, global_limit)) == (400, "RewardRequirementsNotMet")

    def test_bad_bodies_are_validation_errors(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 500)
        reward_id = reward(tenant)
        for body in ({}, {"CustomerId": ""}, {"CustomerId": ANA, "RedeemOrigin": 9}):
            response = tenant.http.post(f"/v1/pvt/POS/rewards/{reward_id}/redeem", json=body)
            assert code_of(response) == (400, "ValidationError"), body
        response = tenant.http.post("/v1/pvt/POS/rewards/abc/redeem", json={"CustomerId": ANA})
        assert code_of(response) == (400, "ValidationError")


class TestOriginalKey:
    def test_replay_answers_the_original_result(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 500)
        reward_id = reward(tenant)
        first = redeem(tenant, reward_id, OriginalKey="till-7")
        again = redeem(tenant, reward_id, OriginalKey="till-7")
        assert code_of(again) == (200, "AlreadyProcessed")
        assert again.json()["Severity"] == 1
        assert again.json()["Result"] == first.json()["Result"]
        assert balance(tenant) == 400

    def test_same_key_other_request_is_a_conflict(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 500)
        upsert(tenant, "bia", Name="Bia")
        add_points(tenant, "bia", 500)
        reward_id = reward(tenant)
        assert code_of(redeem(tenant, reward_id, OriginalKey="till-8")) == (200, None)
        other = reward(tenant, Points=50)
        assert code_of(redeem(tenant, other, OriginalKey="till-8")) == (
            409,
            "IdempotencyKeyConflict",
        )
        assert code_of(redeem(tenant, reward_id, "bia", OriginalKey="till-8")) == (
            409,
            "IdempotencyKeyConflict",
        )
        assert balance(tenant) == 400

    def test_concurrent_identical_redeems_redeem_once(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 500)
        reward_id = reward(tenant)

        def attempt(_: int) -> httpx.Response:
            with tenant.client() as client:
                return client.post(
                    f"/v1/pvt/POS/rewards/{reward_id}/redeem",
                    json={"CustomerId": ANA, "OriginalKey": "burst"},
                )

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(attempt, range(50)))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        names = [a.json()["CodeName"] for a in answers]
        assert names.count(None) == 1
        assert names.count("AlreadyProcessed") == 49
        results = {
            (a.json()["Result"]["RewardId"], a.json()["Result"]["ExternalCode"]) for a in answers
        }
        assert len(results) == 1
        assert balance(tenant) == 400

    def test_concurrent_redeems_never_spend_more_than_the_balance(
        self, tenant: TenantHandle
    ) -> None:
        ana_with(tenant, 1000)
        reward_id = reward(tenant)  # 100 points each: room for exactly 10

        def attempt(n: int) -> httpx.Response:
            with tenant.client() as client:
                return client.post(
                    f"/v1/pvt/POS/rewards/{reward_id}/redeem",
                    json={"CustomerId": ANA, "OriginalKey": f"till-{n}"},
                )

        with ThreadPoolExecutor(max_workers=30) as pool:
            answers = list(pool.map(attempt, range(30)))
        outcomes = [code_of(a) for a in answers]
        assert outcomes.count((200, None)) == 10, outcomes
        assert outcomes.count((400, "NotEnoughPoints")) == 20, outcomes
        assert balance(tenant) == 0

    def test_a_global_usage_limit_holds_across_concurrent_customers(
        self, tenant: TenantHandle
    ) -> None:
        customers = [f"c{n}@example.com" for n in range(20)]
        for customer in customers:
            upsert(tenant, customer)
            assert add_points(tenant, customer, 100).status_code == 200
        reward_id = reward(tenant, HasGlobalUsageLimit=True, GlobalUsageLimit=5)

        def attempt(customer: str) -> httpx.Response:
            with tenant.client() as client:
                return client.post(
                    f"/v1/pvt/POS/rewards/{reward_id}/redeem", json={"CustomerId": customer}
                )

        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(attempt, customers))
        outcomes = [code_of(a) for a in answers]
        assert outcomes.count((200, None)) == 5, outcomes
        assert outcomes.count((400, "RewardRequirementsNotMet")) == 15, outcomes
        spent = [points_of(tenant, c)["PointsBalance"] for c in customers]
        assert sorted(spent) == [0] * 5 + [100] * 15


class TestCancel:
    def test_cancel_gives_points_back_to_their_lots(
        self, tenant: TenantHandle, server: Server
    ) -> None:
        soon = (server.clock() + timedelta(days=10)).replace(microsecond=0)
        later = (server.clock() + timedelta(days=100)).replace(microsecond=0)
        ana_with(tenant, 60, ExpirationDate=soon.isoformat())
        add_points(tenant, ANA, 100, ExpirationDate=later.isoformat())
        before = points_of(tenant, ANA)["PointsToExpire"]
        assert [p["Points"] for p in before] == [60, 100]
        result = redeem(tenant, reward(tenant)).json()["Result"]
        assert [p["Points"] for p in points_of(tenant, ANA)["PointsToExpire"]] == [60]
        response = tenant.http.delete(f"/v1/pvt/POS/rewards/{result['RewardId']}")
        assert code_of(response) == (200, None), response.text
        record = response.json()["Result"]
        assert (record["Id"], record["IsCanceled"], record["ExternalCode"]) == (
            result["RewardId"],
            True,
            result["ExternalCode"],
        )
        assert record["Customer"]["BalanceOfPoints"] == 160
        assert points_of(tenant, ANA)["PointsToExpire"] == before
        history = points_of(tenant, ANA)["PointHistory"]
        assert (history[0]["Points"], history[0]["PointType"]) == (100, 6)
        again = tenant.http.delete(f"/v1/pvt/POS/rewards/{result['RewardId']}")
        assert code_of(again) == (200, "RedeemAlreadyCanceled")
        assert again.json()["Result"]["IsCanceled"] is True
        assert balance(tenant) == 160
        assert tenant.http.get(f"/v1/pvt/Rewards/{result['RewardId']}").json()["IsCanceled"]

    def test_points_given_back_to_a_lot_spent_empty_still_expire_on_time(
        self, server: Server, clock: Clock, tenant: TenantHandle
    ) -> None:
        soon = server.clock() + timedelta(days=1)
        later = server.clock() + timedelta(days=10)
        ana_with(tenant, 50, ExpirationDate=soon.isoformat())
        add_points(tenant, ANA, 100, ExpirationDate=later.isoformat())
        result = redeem(tenant, reward(tenant, Points=150)).json()["Result"]
        clock.advance(days=2)
        run_jobs_once(server)  # nothing open is left to settle: nothing scheduled
        response = tenant.http.delete(f"/v1/pvt/POS/rewards/{result['RewardId']}")
        assert code_of(response) == (200, None), response.text
        # The 50 of the lot that expired meanwhile expire again; the 100 are back until day 10.
        assert balance(tenant) == 100
        clock.advance(days=9)
        assert balance(tenant) == 0
        assert points_of(tenant, ANA)["PointsToExpire"] == []
        run_jobs_once(server)
        history = points_of(tenant, ANA)["PointHistory"]
        assert (history[0]["Points"], history[0]["PointType"]) == (-100, 4)
        assert balance(tenant) == 0

    def test_cancel_by_original_key(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 500)
        redeem(tenant, reward(tenant), OriginalKey="till/9 x")
        response = tenant.http.delete("/v1/pvt/POS/rewards", params={"OriginalKey": "till/9 x"})
        assert code_of(response) == (200, None), response.text
        assert balance(tenant) == 500
        again = tenant.http.delete("/v1/pvt/POS/rewards", params={"OriginalKey": "till/9 x"})
        assert code_of(again) == (200, "RedeemAlreadyCanceled")
        unknown = tenant.http.delete("/v1/pvt/POS/rewards", params={"OriginalKey": "nope"})
        assert code_of(unknown) == (404, "RedeemNotFound")
        assert code_of(tenant.http.delete("/v1/pvt/POS/rewards")) == (400, "ValidationError")

    def test_unknown_or_other_tenants_redemption_is_404(
        self, tenant: TenantHandle, other_tenant: TenantHandle
    ) -> None:
        ana_with(tenant, 500)
        result = redeem(tenant, reward(tenant), OriginalKey="mine").json()["Result"]
        mine = f"/v1/pvt/POS/rewards/{result['RewardId']}"
        assert code_of(other_tenant.http.delete(mine)) == (404, "RedeemNotFound")
        unknown = f"/v1/pvt/POS/rewards/{result['RewardId'] + 1000}"
        assert code_of(tenant.http.delete(unknown)) == (404, "RedeemNotFound")
        theirs = other_tenant.http.get(f"/v1/pvt/Rewards/{result['RewardId']}")
        assert code_of(theirs) == (404, "RedeemNotFound")
        by_key = other_tenant.http.delete("/v1/pvt/POS/rewards", params={"OriginalKey": "mine"})
        assert code_of(by_key) == (404, "RedeemNotFound")
        assert balance(tenant) == 400
