"""Coupons, and the link between a redemption and the order that uses it.

A coupon redeem spends points and generates a coupon the customer types at an e-commerce
checkout; a PoS redeem gives an `ExternalCode` the till sends back as the order's `Coupon`.
Either code links the redemption to the order; cancelling the order gives the redemption's
points back when the program says so. Every story ends with the automatic ledger check.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Clock, Server, TenantHandle, add_points, points_of, upsert

PERCENT, FIXED = 0, 1
ANA, BIA = "ana@example.com", "bia@example.com"


def reward(tenant: TenantHandle, **fields: Any) -> int:
    body = {"Title": "R$ 10 off", "RewardType": FIXED, "Value": "10.00", "Points": 100, **fields}
    response = tenant.http.post("/v1/admin/rewards", json=body)
    assert response.status_code == 200, response.text
    reward_id: int = response.json()["Result"]["Id"]
    return reward_id


def coupon_redeem(
    tenant: TenantHandle, reward_id: int, customer: str = ANA, **fields: Any
) -> httpx.Response:
    return tenant.http.post(
        f"/v1/pvt/RewardConfigurations/{reward_id}/redeem",
        json={"CustomerId": customer, **fields},
    )


def pos_redeem(tenant: TenantHandle, reward_id: int, customer: str = ANA) -> dict[str, Any]:
    response = tenant.http.post(
        f"/v1/pvt/POS/rewards/{reward_id}/redeem", json={"CustomerId": customer}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["Result"]
    return result


def coupons(tenant: TenantHandle, customer: str = ANA) -> list[dict[str, Any]]:
    response = tenant.http.post(f"/v1/pvt/Customer/{customer}/availablecoupons")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["Items"]
    return items


def order(
    tenant: TenantHandle, original_id: str, coupon: str, customer: str = ANA, **fields: Any
) -> dict[str, Any]:
    body = {
        "OriginalId": original_id,
        "Customer": {"OriginalId": customer},
        "OrderTotal": "100.00",
        "IsCompleted": True,
        "OrderCompletedDate": datetime.now().astimezone().isoformat(),
        "Coupon": coupon,
        **fields,
    }
    response = tenant.http.post("/v1/pvt/Order", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["Result"]
    return result


def record(tenant: TenantHandle, redemption_id: int) -> dict[str, Any]:
    response = tenant.http.get(f"/v1/pvt/Rewards/{redemption_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def balance(tenant: TenantHandle, customer: str = ANA) -> int:
    points: int = points_of(tenant, customer)["PointsBalance"]
    return points


def customers_with(tenant: TenantHandle, points: int) -> None:
    for customer in (ANA, BIA):
        upsert(tenant, customer, Email=customer)
        assert add_points(tenant, customer, points).status_code == 200


class TestCouponRedeem:
    def test_spends_the_cost_and_generates_a_coupon(
        self, tenant: TenantHandle, server: Server
    ) -> None:
        customers_with(tenant, 300)
        reward_id = reward(tenant, CodePrefix="BEMVINDO-", CouponCodeLength=6, ValidDays=30)
        response = coupon_redeem(tenant, reward_id, OriginalKey="site-1")
        assert response.status_code == 200, response.text
        result = response.json()["Result"]
        coupon = result["Coupon"]
        assert re.fullmatch(r"BEMVINDO-[A-HJKMNP-Z2-9]{6}", coupon["CouponCode"])
        assert (coupon["CouponType"], coupon["CouponValue"]) == (0, 10)
        start = datetime.fromisoformat(coupon["ValidDateStart"])
        end = datetime.fromisoformat(coupon["ValidDateEnd"])
        assert end - start == timedelta(days=30)
        assert result["Point"]["Quantity"] == -100
        assert balance(tenant) == 200
        listed = coupons(tenant)
        assert [c["CouponCode"] for c in listed] == [coupon["CouponCode"]]
        assert (listed[0]["IsUsed"], listed[0]["CouponValue"]) == (False, 10)
        assert coupons(tenant, BIA) == []

    def test_coupons_are_unique(self, tenant: TenantHandle) -> None:
        customers_with(tenant, 2000)
        reward_id = reward(tenant, CouponCodeLength=4, Points=100)
        codes = set()
        for customer in (ANA, BIA) * 10:
            response = coupon_redeem(tenant, reward_id, customer)
            assert response.status_code == 200, response.text
            codes.add(response.json()["Result"]["Coupon"]["CouponCode"])
        assert len(codes) == 20
        assert len(coupons(tenant)) == 10

    def test_replay_gives_the_same_coupon_and_a_pos_redeem_may_not_reuse_the_key(
        self, tenant: TenantHandle
    ) -> None:
        customers_with(tenant, 500)
        reward_id = reward(tenant)
        first = coupon_redeem(tenant, reward_id, OriginalKey="k-1").json()
        again = coupon_redeem(tenant, reward_id, OriginalKey="k-1").json()
        assert again["CodeName"] == "AlreadyProcessed"
        assert again["Result"] == first["Result"]
        clash = tenant.http.post(
            f"/v1/pvt/POS/rewards/{reward_id}/redeem",
            json={"CustomerId": ANA, "OriginalKey": "k-1"},
        )
        assert (clash.status_code, clash.json()["CodeName"]) == (409, "IdempotencyKeyConflict")
        assert balance(tenant) == 400

    def test_a_till_redeem_key_sent_to_the_coupon_redeem_is_a_conflict(
        self, tenant: TenantHandle
    ) -> None:
        # The same body otherwise (a till redeem that forces its coupon): another endpoint is
        # another request.
        customers_with(tenant, 500)
        reward_id = reward(tenant)
        till = tenant.http.post(
            f"/v1/pvt/POS/rewards/{reward_id}/redeem",
            json={"CustomerId": ANA, "OriginalKey": "k-2", "ForceGenerateCoupon": True},
        )
        assert till.status_code == 200, till.text
        clash = coupon_redeem(tenant, reward_id, OriginalKey="k-2")
        assert (clash.status_code, clash.json()["CodeName"]) == (409, "IdempotencyKeyConflict")
        assert balance(tenant) == 400

    def test_expired_and_cancelled_coupons_are_not_available(
        self, tenant: TenantHandle, clock: Clock
    ) -> None:
        customers_with(tenant, 1000)
        short = reward(tenant, ValidDays=1)
        lasting = reward(tenant)
        soon_gone = coupon_redeem(tenant, short).json()["Result"]
        cancelled = coupon_redeem(tenant, lasting).json()["Result"]
        kept = coupon_redeem(tenant, lasting).json()["Result"]
        tenant.http.delete(f"/v1/pvt/POS/rewards/{cancelled['RewardId']}")
        assert [c["RewardId"] for c in coupons(tenant)] == [kept["RewardId"], soon_gone["RewardId"]]
        clock.advance(days=2)
        assert [c["RewardId"] for c in coupons(tenant)] == [kept["RewardId"]]
        # Three coupons bought, one cancelled; an expired coupon does not give points back.
        assert balance(tenant) == 1000 - 300 + 100

    def test_unknown_customer_or_reward(
        self, tenant: TenantHandle, other_tenant: TenantHandle
    ) -> None:
        customers_with(tenant, 500)
        reward_id = reward(tenant)
        missing = tenant.http.post("/v1/pvt/Customer/nobody/availablecoupons")
        assert (missing.status_code, missing.json()["CodeName"]) == (404, "CustomerNotFound")
        foreign = coupon_redeem(other_tenant, reward_id)
        assert foreign.json()["CodeName"] in {"CustomerNotFound", "RewardNotFound"}
        upsert(other_tenant, ANA)
        foreign = coupon_redeem(other_tenant, reward_id)
        assert (foreign.status_code, foreign.json()["CodeName"]) == (404, "RewardNotFound")
        assert balance(tenant) == 500

    def test_a_coupon_used_by_an_order_is_no_longer_available(self, tenant: TenantHandle) -> None:
        customers_with(tenant, 500)
        code = coupon_redeem(tenant, reward(tenant)).json()["Result"]["Coupon"]["CouponCode"]
        placed = order(tenant, "web-1", code)
        assert placed["RewardId"] is not None
        assert coupons(tenant) == []

    def test_deactivating_the_reward_leaves_its_redemptions_alone(
        self, tenant: TenantHandle
    ) -> None:
        customers_with(tenant, 1000)
        reward_id = reward(tenant)
        used = coupon_redeem(tenant, reward_id).json()["Result"]
        undone = coupon_redeem(tenant, reward_id).json()["Result"]
        kept = coupon_redeem(tenant, reward_id).json()["Result"]
        off = tenant.http.put(f"/v1/admin/rewards/{reward_id}", json={"IsActive": False})
        assert off.status_code == 200, off.text
        refused = coupon_redeem(tenant, reward_id)
        assert (refused.status_code, refused.json()["CodeName"]) == (400, "RewardInactive")
        # What was redeemed before stands: listed, readable, usable by an order, cancellable.
        assert {c["RewardId"] for c in coupons(tenant)} == {
            used["RewardId"],
            undone["RewardId"],
            kept["RewardId"],
        }
        assert record(tenant, kept["RewardId"])["IsCanceled"] is False
        placed = order(tenant, "web-9", used["Coupon"]["CouponCode"])
        assert placed["RewardId"] == used["RewardId"]
        cancel = tenant.http.delete(f"/v1/pvt/POS/rewards/{undone['RewardId']}")
        assert cancel.status_code == 200, cancel.text
        assert [c["RewardId"] for c in coupons(tenant)] == [kept["RewardId"]]
        assert balance(tenant) == 1000 - 300 + 100 + 100  # the order earned 100 too


class TestOrderLink:
    def test_a_till_redemption_and_its_order_are_linked_by_the_external_code(
        self, tenant: TenantHandle
    ) -> None:
        customers_with(tenant, 500)
        redeemed = pos_redeem(tenant, reward(tenant))
        placed = order(tenant, "pdv-1", redeemed["ExternalCode"])
        assert placed["RewardId"] == redeemed["RewardId"]
        assert placed["Coupon"] == redeemed["ExternalCode"]
        assert record(tenant, redeemed["RewardId"])["OrderId"] == "pdv-1"
        again = tenant.http.get("/v1/pvt/Order/pdv-1").json()
        assert again["RewardId"] == redeemed["RewardId"]

    def test_cancelling_the_order_gives_the_redemption_back(self, tenant: TenantHandle) -> None:
        customers_with(tenant, 500)
        redeemed = pos_redeem(tenant, reward(tenant))
        order(tenant, "pdv-2", redeemed["ExternalCode"])
        assert balance(tenant) == 400 + 100  # spent 100, earned 100 from the R$ 100 order
        cancel = tenant.http.post("/v1/pvt/Order/pdv-2/cancel", json={})
        assert cancel.status_code == 200, cancel.text
        assert record(tenant, redeemed["RewardId"])["IsCanceled"] is True
        assert balance(tenant) == 500
        # Cancelling the redemption again is only a warning: nothing is given twice.
        again = tenant.http.delete(f"/v1/pvt/POS/rewards/{redeemed['RewardId']}")
        assert again.json()["CodeName"] == "RedeemAlreadyCanceled"
        assert balance(tenant) == 500

    def test_refunds_reaching_the_total_give_the_redemption_back_too(
        self, tenant: TenantHandle
    ) -> None:
        customers_with(tenant, 500)
        redeemed = pos_redeem(tenant, reward(tenant))
        order(tenant, "pdv-3", redeemed["ExternalCode"])
        partial = "/v1/pvt/Order/pdv-3/partialcancel"
        assert tenant.http.post(partial, json={"ValueToRefund": "40.00"}).status_code == 200
        assert record(tenant, redeemed["RewardId"])["IsCanceled"] is False
        assert balance(tenant) == 400 + 60
        assert tenant.http.post(partial, json={"ValueToRefund": "60.00"}).status_code == 200
        assert record(tenant, redeemed["RewardId"])["IsCanceled"] is True
        assert balance(tenant) == 500

    def test_the_program_may_keep_the_redemption_when_an_order_is_cancelled(
        self, tenant: TenantHandle
    ) -> None:
        customers_with(tenant, 500)
        tenant.http.put("/v1/admin/program", json={"RefundRedeemOnOrderCancel": False})
        redeemed = pos_redeem(tenant, reward(tenant))
        order(tenant, "pdv-4", redeemed["ExternalCode"])
        tenant.http.post("/v1/pvt/Order/pdv-4/cancel", json={})
        assert record(tenant, redeemed["RewardId"])["IsCanceled"] is False
        assert balance(tenant) == 400

    def test_another_customers_code_or_a_used_code_does_not_link(
        self, tenant: TenantHandle
    ) -> None:
        customers_with(tenant, 500)
        redeemed = pos_redeem(tenant, reward(tenant))
        assert order(tenant, "bia-1", redeemed["ExternalCode"], BIA)["RewardId"] is None
        assert order(tenant, "ana-1", redeemed["ExternalCode"])["RewardId"] is not None
        assert order(tenant, "ana-2", redeemed["ExternalCode"])["RewardId"] is None
        assert record(tenant, redeemed["RewardId"])["OrderId"] == "ana-1"
        # Cancelling the order that did not link leaves the redemption alone.
        tenant.http.post("/v1/pvt/Order/ana-2/cancel", json={})
        assert record(tenant, redeemed["RewardId"])["IsCanceled"] is False

    def test_a_cancelled_order_posted_again_with_a_checkouts_code_spends_nothing(
        self, tenant: TenantHandle
    ) -> None:
        customers_with(tenant, 100)
        placed = {"OriginalId": "web-7", "Customer": {"OriginalId": ANA}, "OrderTotal": "50.00"}
        assert tenant.http.post("/v1/pvt/Order", json=placed).status_code == 200
        applied = tenant.http.post(
            "/v1/pvt/Checkout/redeem",
            json={"CustomerId": ANA, "CheckoutId": "cart-1", "CashbackValue": "0.50"},
        )
        assert applied.json()["CodeName"] == "CashbackApplied", applied.text
        assert tenant.http.post("/v1/pvt/Order/web-7/cancel").status_code == 200
        # The store posts the whole order again, cancelled, now with the checkout's code: no
        # cancel is left to give the cashback back, so it must not be spent.
        again = tenant.http.post(
            "/v1/pvt/Order",
            json={
                **placed,
                "IsCancelledOrReturned": True,
                "Coupon": applied.json()["Result"]["ExternalCode"],
            },
        )
        assert again.status_code == 200, again.text
        assert again.json()["Result"]["RewardId"] is None
        points = points_of(tenant, ANA)
        assert (points["PointsBalance"], points["HeldPoints"]) == (50, 50)

    def test_a_code_sent_later_links_on_the_next_post(self, tenant: TenantHandle) -> None:
        customers_with(tenant, 500)
        redeemed = pos_redeem(tenant, reward(tenant))
        pending = {"OriginalId": "web-9", "Customer": {"OriginalId": ANA}, "OrderTotal": "50.00"}
        assert tenant.http.post("/v1/pvt/Order", json=pending).json()["Result"]["RewardId"] is None
        later = tenant.http.post(
            "/v1/pvt/Order", json={**pending, "Coupon": redeemed["ExternalCode"]}
        )
        assert later.json()["Result"]["RewardId"] == redeemed["RewardId"]

    def test_a_redemption_whose_order_is_completed_can_still_be_cancelled(
        self, tenant: TenantHandle
    ) -> None:
        customers_with(tenant, 500)
        redeemed = pos_redeem(tenant, reward(tenant))
        order(tenant, "pdv-5", redeemed["ExternalCode"])
        cancel = tenant.http.delete(f"/v1/pvt/POS/rewards/{redeemed['RewardId']}")
        assert cancel.status_code == 200, cancel.text
        assert cancel.json()["Result"]["IsCanceled"] is True
        assert balance(tenant) == 600
        # The order's own cancel then takes back only what it earned.
        tenant.http.post("/v1/pvt/Order/pdv-5/cancel", json={})
        assert balance(tenant) == 500
