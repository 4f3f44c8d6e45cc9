"""History items name what each movement came from: `RewardId` (the redemption it spent or gave
back) and `BranchId` / `BranchName` (the branch the store sent with the redemption or the
order). Both readers say the same: the points read's 20 newest movements (the one-statement
path where it applies) and the history pages. Every story ends with the ledger check.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from fidelis.db.engine import Database
from fidelis.ledger import pgfunctions, sqlitepath
from fidelis.ledger.model import GIVEN_BACK_BY_REDEMPTION, OF_AN_ORDER, SPENT_ON_REDEMPTION
from fidelis.order import repository as order_repository
from tests.conftest import Server, TenantHandle, add_points, points_of, run_async, upsert

ANA = "ana@example.com"
CENTRO = {"OriginalId": "loja-7", "Name": "Loja Centro"}
SOURCE = ("Points", "PointType", "RewardId", "BranchId", "BranchName", "OrderId")


def sources(tenant: TenantHandle) -> list[tuple[Any, ...]]:
    """The newest movements' sources, after checking both readers agree on them."""
    newest = points_of(tenant, ANA)["PointHistory"]
    response = tenant.http.post(f"/v1/pvt/Customer/{ANA}/history", params={"PageSize": 50})
    assert response.status_code == 200, response.text
    paged = response.json()["Items"]
    found = [tuple(item[k] for k in SOURCE) for item in newest]
    assert [tuple(item[k] for k in SOURCE) for item in paged] == found
    # Page after page (an offset into the same query), one movement each.
    for number, expected in enumerate(found[:3], start=1):
        page = tenant.http.post(
            f"/v1/pvt/Customer/{ANA}/history", params={"PageSize": 1, "PageNumber": number}
        ).json()["Items"]
        assert [tuple(item[k] for k in SOURCE) for item in page] == [expected]
    return found


def reward(tenant: TenantHandle, points: int) -> int:
    body = {"Title": "Gift", "RewardType": 1, "Value": 10, "Points": points}
    response = tenant.http.post("/v1/admin/rewards", json=body)
    assert response.status_code == 200, response.text
    reward_id: int = response.json()["Result"]["Id"]
    return reward_id


def order(tenant: TenantHandle, original_id: str, total: str, **fields: Any) -> dict[str, Any]:
    body = {
        "OriginalId": original_id,
        "Customer": {"OriginalId": ANA},
        "OrderTotal": total,
        "IsCompleted": True,
        "OrderCompletedDate": datetime.now().astimezone().isoformat(),
        **fields,
    }
    response = tenant.http.post("/v1/pvt/Order", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["Result"]
    return result


def test_a_redemption_and_its_cancel_name_the_redemption_and_the_branch(
    tenant: TenantHandle,
) -> None:
    upsert(tenant, ANA)
    add_points(tenant, ANA, 500)
    response = tenant.http.post(
        f"/v1/pvt/POS/rewards/{reward(tenant, 100)}/redeem",
        json={"CustomerId": ANA, "Branch": CENTRO},
    )
    assert response.status_code == 200, response.text
    redemption = response.json()["Result"]["RewardId"]
    assert sources(tenant) == [
        (-100, 5, redemption, "loja-7", "Loja Centro", None),
        (500, 1, None, None, None, None),
    ]
    assert tenant.http.delete(f"/v1/pvt/POS/rewards/{redemption}").status_code == 200
    assert sources(tenant)[:2] == [
        (100, 6, redemption, "loja-7", "Loja Centro", None),
        (-100, 5, redemption, "loja-7", "Loja Centro", None),
    ]


def test_a_redemption_without_a_branch_names_itself_only(tenant: TenantHandle) -> None:
    upsert(tenant, ANA)
    add_points(tenant, ANA, 500)
    response = tenant.http.post(
        f"/v1/pvt/POS/rewards/{reward(tenant, 100)}/redeem", json={"CustomerId": ANA}
    )
    redemption = response.json()["Result"]["RewardId"]
    assert sources(tenant)[0] == (-100, 5, redemption, None, None, None)


def test_an_order_and_its_refund_name_the_orders_branch(tenant: TenantHandle) -> None:
    order(tenant, "order-1", "100.00", Branch=CENTRO)
    order(tenant, "order-2", "30.00")
    refund = tenant.http.post(
        "/v1/pvt/Order/order-1/partialcancel", json={"ValueToRefund": "40.00"}
    )
    assert refund.status_code == 200, refund.text
    assert sources(tenant) == [
        (-40, 3, None, "loja-7", "Loja Centro", "order-1"),
        (30, 2, None, None, None, "order-2"),
        (100, 2, None, "loja-7", "Loja Centro", "order-1"),
    ]


def test_what_a_cancel_could_not_take_back_names_the_orders_branch_too(
    tenant: TenantHandle,
) -> None:
    order(tenant, "order-1", "100.00", Branch=CENTRO)
    assert add_points(tenant, ANA, -60).status_code == 200
    assert tenant.http.post("/v1/pvt/Order/order-1/cancel", json={}).status_code == 200
    # 40 taken back from the lot, 60 owed: both movements are the order's.
    assert sources(tenant)[:2] == [
        (-60, 3, None, "loja-7", "Loja Centro", "order-1"),
        (-40, 3, None, "loja-7", "Loja Centro", "order-1"),
    ]


def test_a_re_posted_order_keeps_its_branch_unless_it_sends_another(
    server: Server, tenant: TenantHandle
) -> None:
    order(tenant, "order-1", "100.00", Branch=CENTRO)
    products = [{"OriginalId": "p1", "Title": "Caneca", "ProductPrice": "100.00", "Quantity": 1}]
    order(tenant, "order-1", "100.00", Products=products)
    assert sources(tenant) == [(100, 2, None, "loja-7", "Loja Centro", "order-1")]
    order(tenant, "order-1", "100.00", Branch={"OriginalId": "loja-8", "Name": "Loja Sul"})
    assert sources(tenant) == [(100, 2, None, "loja-8", "Loja Sul", "order-1")]
    # An empty list sent clears the old one (the order keeps what the store says it has).
    order(tenant, "order-1", "100.00", Products=[])
    assert stored_details(server, tenant, "order-1") == {
        "Products": [],
        "Branch": {"OriginalId": "loja-8", "Name": "Loja Sul"},
    }


def stored_details(server: Server, tenant: TenantHandle, original_id: str) -> Any:
    """What the order keeps of its products, branch and the like (no answer shows it whole)."""

    async def work(db: Database) -> Any:
        async with db.read() as conn:
            found = await order_repository.get(conn, tenant.id, original_id)
            assert found is not None
            return found.details

    return run_async(server.database_url, work)


def test_checkout_cashback_spent_by_an_order_names_its_redemption(tenant: TenantHandle) -> None:
    upsert(tenant, ANA)
    add_points(tenant, ANA, 1000)
    applied = tenant.http.post(
        "/v1/pvt/Checkout/redeem",
        json={"CustomerId": ANA, "CheckoutId": "cart-1", "CashbackValue": "5.00"},
    )
    assert applied.status_code == 200, applied.text
    result = applied.json()["Result"]
    order(tenant, "web-1", "50.00", Coupon=result["ExternalCode"])
    spent = [item for item in sources(tenant) if item[1] == 7]
    assert spent == [(-500, 7, result["RewardId"], None, None, None)]


@pytest.mark.parametrize(
    ("sql", "column"),
    [(pgfunctions.HISTORY_SOURCE_V1, "p_point_type"), (sqlitepath._HISTORY, "t.point_type")],
    ids=["postgresql", "sqlite"],
)
def test_the_hand_written_readers_name_the_same_point_types(sql: str, column: str) -> None:
    """The one-statement readers spell the point types of `ledger.model` out (the history
    page builds its query from them)."""
    for kinds in (SPENT_ON_REDEMPTION, GIVEN_BACK_BY_REDEMPTION, OF_AN_ORDER):
        assert f"{column} IN ({', '.join(str(int(k)) for k in kinds)}) THEN" in sql
    # SQLite's statement asks twice for a redemption (its id, then its details), PostgreSQL's
    # function once.
    lookups = 5 if column == "t.point_type" else 3
    assert sql.count(f"{column} IN (") == lookups
    every = sorted(int(k) for k in SPENT_ON_REDEMPTION + GIVEN_BACK_BY_REDEMPTION + OF_AN_ORDER)
    gate = f"t.point_type IN ({', '.join(map(str, every))}) THEN"
    assert gate in pgfunctions.SUMMARY_V3
