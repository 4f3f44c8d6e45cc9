"""Worked examples: a store's days told through the API, the numbers written out.

Each story runs on the real server and database and ends with `fidelis jobs run` and the
automatic ledger check (conftest), so what the customer saw and what the ledger holds agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.conftest import Clock, Server, TenantHandle, add_points, points_of, run_jobs_once, upsert

ANA = "ana@example.com"
FIXED = 1


def program(tenant: TenantHandle, **settings: Any) -> None:
    response = tenant.http.put("/v1/admin/program", json=settings)
    assert response.status_code == 200, response.text


def reward(tenant: TenantHandle, **fields: Any) -> int:
    response = tenant.http.post("/v1/admin/rewards", json=fields)
    assert response.status_code == 200, response.text
    reward_id: int = response.json()["Result"]["Id"]
    return reward_id


def post(tenant: TenantHandle, path: str, **body: Any) -> dict[str, Any]:
    response = tenant.http.post(path, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def completed_order(
    tenant: TenantHandle, original_id: str, total: str, when: datetime, **fields: Any
) -> dict[str, Any]:
    return post(
        tenant,
        "/v1/pvt/Order",
        OriginalId=original_id,
        Customer={"OriginalId": ANA, "Name": "Ana", "Email": ANA},
        OrderTotal=total,
        IsCompleted=True,
        OrderCompletedDate=when.isoformat(),
        **fields,
    )["Result"]


def balances(tenant: TenantHandle) -> tuple[int, int]:
    """(PointsBalance, PendingPoints)."""
    points = points_of(tenant, ANA)
    return points["PointsBalance"], points["PendingPoints"]


def parse(instant: str) -> datetime:
    return datetime.fromisoformat(instant.replace("Z", "+00:00"))


def test_earn_online_wait_redeem_at_the_till_and_return_goods(
    server: Server, clock: Clock, tenant: TenantHandle
) -> None:
    """Points wait a week, are spent at the till, and a return leaves a debt that new points pay."""
    program(tenant, OrderPointsPendingDays=7, PointsExpireAfterDays=90)
    discount = reward(
        tenant, Title="R$ 20 de desconto", RewardType=FIXED, Value="20.00", Points=200
    )

    # Day 0: Ana buys R$ 250.00 online. 250 points, pending for 7 days.
    day0 = server.clock()
    web = completed_order(tenant, "web-100", "250.00", day0)
    assert web["EarnedPoints"] == 250
    assert balances(tenant) == (0, 250)

    # Day 8: available without any job having run, expiring 90 days after release.
    clock.advance(days=8)
    assert balances(tenant) == (250, 0)
    [expiring] = points_of(tenant, ANA)["PointsToExpire"]
    assert expiring["Points"] == 250
    assert parse(expiring["When"]) == day0 + timedelta(days=97)

    # At the till, a R$ 80.00 purchase: the R$ 20 discount (200 points) can be used.
    offers = post(tenant, "/v1/pvt/POS/rewards/available", CustomerId=ANA, PurchaseValue="80.00")
    [offer] = offers["Rewards"]
    assert (offer["Id"], offer["CanUse"]) == (discount, True)
    redeemed = post(
        tenant,
        f"/v1/pvt/POS/rewards/{discount}/redeem",
        CustomerId=ANA,
        PurchaseValue="80.00",
        OriginalKey="loja-7:caixa-2:0001",
        RedeemOrigin=5,
    )["Result"]
    assert balances(tenant) == (50, 0)

    # The till reports the sale: R$ 60.00 paid, the code as its coupon. 60 points, pending.
    day8 = server.clock()
    pos = completed_order(tenant, "pdv-7-0001", "60.00", day8, Coupon=redeemed["ExternalCode"])
    assert (pos["RewardId"], pos["EarnedPoints"]) == (redeemed["RewardId"], 60)
    assert balances(tenant) == (50, 60)

    # Day 10: Ana returns half of the online order. floor(250 x 125 / 250) = 125 points come
    # back: the 50 left of that order's lot, and 75 she already spent become a debt.
    clock.advance(days=2)
    refund = post(tenant, "/v1/pvt/Order/web-100/partialcancel", ValueToRefund="125.00")
    assert refund["Result"]["isCanceled"] is False
    assert balances(tenant) == (-75, 60)
    blocked = tenant.http.post(
        f"/v1/pvt/POS/rewards/{discount}/redeem", json={"CustomerId": ANA}
    ).json()
    assert blocked["CodeName"] == "CustomerInDebt"

    # Day 15: the till sale's 60 points are released and pay the debt first: -15 left.
    clock.advance(days=5)
    assert balances(tenant) == (-15, 0)
    add_points(tenant, ANA, 40, Reason="desculpas pelo atraso", CustomerReason="Cortesia")
    assert balances(tenant) == (25, 0)

    run_jobs_once(server)
    assert balances(tenant) == (25, 0)
    order_after = tenant.http.get("/v1/pvt/Order/web-100").json()
    assert (order_after["RefundedTotal"], order_after["ReversedPoints"]) == (125, 125)


def test_a_mistake_at_the_till_is_undone_and_the_points_keep_their_expiry(
    server: Server, tenant: TenantHandle
) -> None:
    """The operator redeems the wrong reward, cancels it by its key, and redeems the right one."""
    upsert(tenant, ANA, Name="Ana")
    now = server.clock()
    soon, later = now + timedelta(days=10), now + timedelta(days=60)
    add_points(tenant, ANA, 100, ExpirationDate=soon.isoformat())
    add_points(tenant, ANA, 300, ExpirationDate=later.isoformat())
    wrong = reward(tenant, Title="R$ 30", RewardType=FIXED, Value="30.00", Points=300)
    right = reward(tenant, Title="R$ 15", RewardType=FIXED, Value="15.00", Points=150)

    post(tenant, f"/v1/pvt/POS/rewards/{wrong}/redeem", CustomerId=ANA, OriginalKey="caixa-1:77")
    # 300 points: all 100 expiring soon, then 200 of the later lot.
    to_expire = points_of(tenant, ANA)["PointsToExpire"]
    assert [(e["Points"], parse(e["When"])) for e in to_expire] == [(100, later)]

    cancel = tenant.http.delete("/v1/pvt/POS/rewards", params={"OriginalKey": "caixa-1:77"})
    assert cancel.json()["Result"]["IsCanceled"] is True
    # Back to the lots they came from, each with its own expiry.
    to_expire = points_of(tenant, ANA)["PointsToExpire"]
    assert [(e["Points"], parse(e["When"])) for e in to_expire] == [(100, soon), (300, later)]

    post(tenant, f"/v1/pvt/POS/rewards/{right}/redeem", CustomerId=ANA, OriginalKey="caixa-1:78")
    to_expire = points_of(tenant, ANA)["PointsToExpire"]
    assert [(e["Points"], parse(e["When"])) for e in to_expire] == [(250, later)]
    history = [(i["PointType"], i["Points"]) for i in points_of(tenant, ANA)["PointHistory"]]
    assert history[:3] == [(5, -150), (6, 300), (5, -300)]  # Redemption, RedemptionCanceled
    run_jobs_once(server)
    assert balances(tenant) == (250, 0)


def test_a_whole_return_gives_back_the_reward_used_on_the_sale(
    server: Server, tenant: TenantHandle
) -> None:
    """Points spent on a sale come back when the whole sale is returned; its earning leaves."""
    upsert(tenant, ANA, Name="Ana")
    add_points(tenant, ANA, 500)
    discount = reward(tenant, Title="R$ 10", RewardType=FIXED, Value="10.00", Points=100)
    redeemed = post(tenant, f"/v1/pvt/POS/rewards/{discount}/redeem", CustomerId=ANA)["Result"]
    completed_order(tenant, "pdv-9", "90.00", server.clock(), Coupon=redeemed["ExternalCode"])
    assert balances(tenant) == (400 + 90, 0)

    cancelled = post(tenant, "/v1/pvt/POS/orders/pdv-9/cancel")
    assert cancelled["Result"]["isCanceled"] is True
    assert balances(tenant) == (500, 0)
    again = post(tenant, "/v1/pvt/Order/pdv-9/cancel")
    assert again["CodeName"] == "OrderAlreadyCanceled"
    assert balances(tenant) == (500, 0)
    run_jobs_once(server)
