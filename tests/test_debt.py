"""Debt: what an order cancel could not take back, paid off by the first points that come back.

Points come back to a customer in debt in more ways than new credits: a cancelled redemption
returns its points to their lots, a rolled back or expired lock or checkout hold frees the
points it held. Each pays off the debt first, so a customer never has debt and spendable
points at once, and every face (manual removal, PoS, checkout, reservation) sees the same
balance. Every story ends with the automatic ledger check (conftest).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Clock, Server, TenantHandle, add_points, points_of, run_jobs_once

ANA = "ana@example.com"


def complete(tenant: TenantHandle, original_id: str, total: str) -> None:
    body = {
        "OriginalId": original_id,
        "Customer": {"OriginalId": ANA, "Name": "Ana", "Email": ANA},
        "OrderTotal": total,
        "IsCompleted": True,
        "OrderCompletedDate": datetime.now().astimezone().isoformat(),
    }
    response = tenant.http.post("/v1/pvt/Order", json=body)
    assert response.status_code == 200, response.text


def cancel(tenant: TenantHandle, original_id: str) -> None:
    response = tenant.http.post(f"/v1/pvt/Order/{original_id}/cancel", json={})
    assert response.status_code == 200, response.text


def balances(tenant: TenantHandle) -> tuple[int, int]:
    """(PointsBalance, HeldPoints) as the Private API shows them."""
    points = points_of(tenant, ANA)
    return points["PointsBalance"], points["HeldPoints"]


def reward(tenant: TenantHandle, points: int) -> int:
    body = {"Title": "Gift", "RewardType": 1, "Value": 10, "Points": points}
    response = tenant.http.post("/v1/admin/rewards", json=body)
    assert response.status_code == 200, response.text
    reward_id: int = response.json()["Result"]["Id"]
    return reward_id


def redeem(tenant: TenantHandle, reward_id: int) -> httpx.Response:
    return tenant.http.post(f"/v1/pvt/POS/rewards/{reward_id}/redeem", json={"CustomerId": ANA})


def redeemed(tenant: TenantHandle, reward_id: int) -> int:
    response = redeem(tenant, reward_id)
    assert response.status_code == 200, response.text
    redemption: int = response.json()["Result"]["RewardId"]
    return redemption


def lock(tenant: TenantHandle, total: str) -> dict[str, Any]:
    response = tenant.http.post(
        "/v1/rewards/lock",
        json={"customer_id": ANA, "total": total},
        headers={"brand": tenant.slug},
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def rollback(tenant: TenantHandle, token: str) -> None:
    response = tenant.http.post(
        "/v1/rewards/rollback", json={"lock_token": token}, headers={"brand": tenant.slug}
    )
    assert response.status_code == 200, response.text


def refused(tenant: TenantHandle, points: int) -> str:
    response = add_points(tenant, ANA, -points)
    assert response.status_code == 400, response.text
    code: str = response.json()["CodeName"]
    return code


def spends(tenant: TenantHandle, points: int) -> None:
    response = add_points(tenant, ANA, -points)
    assert response.status_code == 200, response.text


class TestPointsThatComeBack:
    def test_a_cancelled_redemption_pays_off_the_debt_before_anything_can_be_spent(
        self, tenant: TenantHandle
    ) -> None:
        complete(tenant, "order-1", "100.00")
        redemption = redeemed(tenant, reward(tenant, 100))
        cancel(tenant, "order-1")
        assert balances(tenant) == (-100, 0)
        response = tenant.http.delete(f"/v1/pvt/POS/rewards/{redemption}")
        assert response.status_code == 200, response.text
        # The 100 points back in their lot paid the 100 owed: nothing to spend, nothing owed.
        assert balances(tenant) == (0, 0)
        ledger = tenant.http.get(f"/v1/admin/customers/{ANA}/ledger").json()["Result"]["Items"]
        assert (ledger[0]["Type"], ledger[0]["Amount"], ledger[0]["Cause"]["Kind"]) == (
            "debt_repayment",
            100,
            "DebtRepayment",
        )
        assert refused(tenant, 1) == "InsufficientBalance"
        add_points(tenant, ANA, 10)
        assert balances(tenant) == (10, 0)
        spends(tenant, 10)

    def test_what_comes_back_beyond_the_debt_is_spendable_on_every_face(
        self, tenant: TenantHandle
    ) -> None:
        complete(tenant, "order-1", "100.00")
        add_points(tenant, ANA, 50)
        redemption = redeemed(tenant, reward(tenant, 100))
        cancel(tenant, "order-1")  # takes the 50 left, owes 50
        assert balances(tenant) == (-50, 0)
        assert tenant.http.delete(f"/v1/pvt/POS/rewards/{redemption}").status_code == 200
        assert balances(tenant) == (50, 0)
        assert refused(tenant, 51) == "InsufficientBalance"
        # The till sees the same 50, not a customer in debt.
        assert redeem(tenant, reward(tenant, 50)).status_code == 200
        assert balances(tenant) == (0, 0)

    def test_a_rolled_back_lock_pays_off_the_debt(self, tenant: TenantHandle) -> None:
        complete(tenant, "order-1", "100.00")
        token = lock(tenant, "1.00")["lock_token"]
        assert balances(tenant) == (0, 100)
        # Held points are not free: the cancel owes all 100.
        cancel(tenant, "order-1")
        assert balances(tenant) == (-100, 100)
        rollback(tenant, token)
        assert balances(tenant) == (0, 0)
        assert refused(tenant, 1) == "InsufficientBalance"
        assert lock(tenant, "1.00")["reason"] == "NO_BALANCE"

    def test_an_expired_lock_pays_off_the_debt_at_once_and_when_swept(
        self, server: Server, clock: Clock, tenant: TenantHandle
    ) -> None:
        assert tenant.http.put("/v1/admin/program", json={"LockTtlSeconds": 60}).status_code == 200
        complete(tenant, "order-1", "100.00")
        add_points(tenant, ANA, 30)
        lock(tenant, "1.30")
        cancel(tenant, "order-1")
        assert balances(tenant) == (-100, 130)
        clock.advance(seconds=61)
        # Nothing swept yet: the reads already see the 130 back, 100 of them paying the debt.
        assert balances(tenant) == (30, 0)
        balance = tenant.http.get(
            f"/v1/rewards/customers/{ANA}/balance", headers={"brand": tenant.slug}
        ).json()
        assert balance["available_balance"] == "0.30"
        run_jobs_once(server)
        assert balances(tenant) == (30, 0)
        assert refused(tenant, 31) == "InsufficientBalance"
        spends(tenant, 30)
        assert balances(tenant) == (0, 0)

    def test_cashback_removed_from_a_checkout_pays_off_the_debt(self, tenant: TenantHandle) -> None:
        complete(tenant, "order-1", "100.00")
        applied = tenant.http.post(
            "/v1/pvt/Checkout/redeem",
            json={"CustomerId": ANA, "CheckoutId": "cart-1", "CashbackValue": "1.00"},
        )
        assert applied.status_code == 200, applied.text
        cancel(tenant, "order-1")
        assert balances(tenant) == (-100, 100)
        removed = tenant.http.post(
            "/v1/pvt/Checkout/redeem/remove", json={"CustomerId": ANA, "CheckoutId": "cart-1"}
        )
        assert removed.json()["CodeName"] == "CashbackRemovedSuccessfully", removed.text
        assert balances(tenant) == (0, 0)
        assert refused(tenant, 1) == "InsufficientBalance"

    def test_points_already_expired_when_they_arrive_pay_nothing(
        self, server: Server, tenant: TenantHandle
    ) -> None:
        complete(tenant, "order-1", "100.00")
        spends(tenant, 100)
        cancel(tenant, "order-1")
        assert balances(tenant) == (-100, 0)
        tenant.http.put("/v1/admin/program", json={"PointsExpireAfterDays": 30})
        # An order completed 60 days ago: its 80 points were spendable for 30 days, long past.
        late = {
            "OriginalId": "order-2",
            "Customer": {"OriginalId": ANA},
            "OrderTotal": "80.00",
            "IsCompleted": True,
            "OrderCompletedDate": (server.clock() - timedelta(days=60)).isoformat(),
        }
        assert tenant.http.post("/v1/pvt/Order", json=late).status_code == 200
        assert balances(tenant) == (-100, 0)
        # Earned and lost at once, as they would be by a customer who owes nothing.
        history = points_of(tenant, ANA)["PointHistory"]
        assert [(h["Points"], h["PointType"]) for h in history[:2]] == [(-80, 4), (80, 2)]

    def test_points_back_to_a_lot_that_expired_meanwhile_pay_nothing(
        self, server: Server, clock: Clock, tenant: TenantHandle
    ) -> None:
        tomorrow = server.clock() + timedelta(days=1)
        complete(tenant, "order-1", "100.00")  # 100 that never expire
        add_points(tenant, ANA, 100, ExpirationDate=tomorrow.isoformat())
        redemption = redeemed(tenant, reward(tenant, 200))  # the expiring 100 first, then 100
        cancel(tenant, "order-1")
        assert balances(tenant) == (-100, 0)
        clock.advance(days=2)
        assert tenant.http.delete(f"/v1/pvt/POS/rewards/{redemption}").status_code == 200
        # The 100 of the expired lot expire again at once: only the other 100 pay the debt.
        assert balances(tenant) == (0, 0)
        history = points_of(tenant, ANA)["PointHistory"]
        assert [(h["Points"], h["PointType"]) for h in history[:2]] == [(-100, 4), (200, 6)]
