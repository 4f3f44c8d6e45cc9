"""The wall between tenants, walked route by route.

Tenant B gets one of everything (a customer with points, a reward, a redemption, an order, an
applied checkout, an open lock). Then every route the server documents is called with tenant
A's credentials on B's ids, keys and tokens. None may answer with B's data, none may change B,
and a route that names B's thing in its path answers 404. The route table comes from the live
OpenAPI document, so a route added later is walked without touching this file.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx

from tests.conftest import Server, TenantHandle, add_points, points_of, upsert

PUBLIC = {"/health", "/docs", "/openapi.json", "/metrics"}
B_CUSTOMER = "bia.segredo@example.com"
B_NAME = "Bia Segredo Tenant B"
B_CPF = "52998224725"
# Routes that name a customer in the path but answer 200 for an unknown one, by contract.
UNKNOWN_IS_200 = {("GET", "/v1/pvt/Customer/{customer_id}/points")}


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def b_world(b: TenantHandle) -> dict[str, str]:
    """Create one of everything in tenant B; the ids to attack with."""
    upsert(b, B_CUSTOMER, Name=B_NAME, Email=B_CUSTOMER, Document=B_CPF)
    assert add_points(b, B_CUSTOMER, 5000).status_code == 200
    reward = ok(
        b.http.post(
            "/v1/admin/rewards",
            json={"Title": "B reward", "RewardType": 1, "Value": "5.00", "Points": 100},
        )
    )["Result"]["Id"]
    redeemed = ok(
        b.http.post(
            f"/v1/pvt/POS/rewards/{reward}/redeem",
            json={"CustomerId": B_CUSTOMER, "OriginalKey": "b-redeem-key"},
        )
    )["Result"]
    ok(
        b.http.post(
            "/v1/pvt/Order",
            json={
                "OriginalId": "b-order-1",
                "Customer": {"OriginalId": B_CUSTOMER},
                "OrderTotal": "50.00",
                "IsCompleted": True,
                "OrderCompletedDate": datetime.now().astimezone().isoformat(),
            },
        )
    )
    ok(
        b.http.post(
            "/v1/pvt/Checkout/redeem",
            json={"CustomerId": B_CUSTOMER, "CheckoutId": "b-cart", "CashbackValue": "3.00"},
        )
    )
    lock = ok(
        b.http.post(
            "/v1/rewards/lock",
            json={"customer_id": B_CUSTOMER, "total": "4.00"},
            headers={"brand": b.slug},
        )
    )
    return {
        "customer_id": B_CUSTOMER,
        "reward_id": str(reward),
        "redemption_id": str(redeemed["RewardId"]),
        "external_code": redeemed["ExternalCode"],
        "order_id": "b-order-1",
        "lock_token": lock["lock_token"],
    }


def b_state(b: TenantHandle, ids: dict[str, str]) -> list[Any]:
    history = b.http.post(f"/v1/pvt/Customer/{B_CUSTOMER}/history", params={"PageSize": 50})
    return [
        points_of(b, B_CUSTOMER),
        ok(history),
        ok(b.http.get(f"/v1/pvt/Customer/{B_CUSTOMER}")),
        ok(b.http.get(f"/v1/pvt/Rewards/{ids['redemption_id']}")),
        ok(b.http.get(f"/v1/pvt/Order/{ids['order_id']}")),
        ok(b.http.get("/v1/admin/rewards")),
        ok(b.http.get("/v1/admin/program")),
        ok(b.http.get(f"/v1/rewards/customers/{B_CUSTOMER}/balance", headers={"brand": b.slug})),
    ]


def attack_body(ids: dict[str, str]) -> dict[str, Any]:
    """One body naming B's things in every field any route reads."""
    return {
        "CustomerId": ids["customer_id"],
        "customer_id": ids["customer_id"],
        "lock_token": ids["lock_token"],
        "CheckoutId": "b-cart",
        "OriginalKey": "b-redeem-key",
        "Points": 10,
        "OperationType": 0,
        "Reason": "intrusion",
        "Value": "1.00",
        "IsEnabled": False,
        "total": "10.00",
        "Total": "10.00",
        "PurchaseValue": "10.00",
        "ValueToRefund": "1.00",
        "CancelKey": "b-cancel",
        "Coupon": ids["external_code"],
        "Customer": {"OriginalId": ids["customer_id"]},
        "OrderTotal": "10.00",
    }


def documented_routes(server: Server) -> list[tuple[str, str]]:
    document = httpx.get(f"{server.base_url}/openapi.json").json()
    found = [
        (method.upper(), template)
        for template, operations in document["paths"].items()
        if template not in PUBLIC
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert ("POST", "/v1/rewards/commit") in found  # the walk is not empty
    return found


def walk(server: Server, a: TenantHandle, ids: dict[str, str], must_404: set[str]) -> list[str]:
    """Call every route as A on B's things; the problems seen. A path naming one of the
    `must_404` parameters must answer 404."""
    secrets = [B_NAME, B_CPF, ids["lock_token"]]
    problems = []
    for method, template in documented_routes(server):
        path = re.sub(r"\{([^}/]+)\}", lambda m: ids.get(m.group(1), "x"), template)
        params = {"OriginalKey": "b-redeem-key"} if template == "/v1/pvt/POS/rewards" else {}
        response = a.http.request(
            method,
            path,
            params=params,
            json=None if method in ("GET", "DELETE") else attack_body(ids),
            headers={"brand": a.slug},
        )
        where = f"{method} {path}"
        if response.status_code >= 500:
            problems.append(f"{where}: {response.status_code}")
        leaked = [s for s in secrets if s in response.text]
        if leaked:
            problems.append(f"{where}: leaked {leaked}")
        named = set(re.findall(r"\{([^}/]+)\}", template)) & must_404
        if named and (method, template) not in UNKNOWN_IS_200 and response.status_code != 404:
            problems.append(f"{where}: {response.status_code} instead of 404")
    return problems


def test_tenant_a_never_sees_or_touches_tenant_b(
    server: Server, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    ids = b_world(other_tenant)
    before = b_state(other_tenant, ids)
    # First A knows nobody by B's customer's ids: every path naming them is a 404.
    assert walk(server, tenant, ids, {"customer_id"}) == []
    # Then A has its own customer under the very same OriginalId, with points to spend, so
    # requests get past the customer and meet B's rewards, redemptions and orders: 404 too.
    upsert(tenant, B_CUSTOMER, Name="Ana of tenant A")
    assert add_points(tenant, B_CUSTOMER, 5000).status_code == 200
    assert walk(server, tenant, ids, {"reward_id", "redemption_id", "order_id"}) == []
    assert b_state(other_tenant, ids) == before
    # A's orders that named B's code as their coupon linked nothing of B's.
    assert before[3]["OrderId"] is None
