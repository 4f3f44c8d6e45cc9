"""Adding and reading points by OriginalId takes the hot path (`ledger.hotpath`: one statement
on PostgreSQL, the same statements straight on the `sqlite3` connection on SQLite); by e-mail
(or whenever the plain case does not apply: debt, something due, a disabled customer, a used
key) the general path. Both must give the same answers and the same ledger, on both databases.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Clock, Server, TenantHandle, add_points, points_of, upsert


def comparable(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer without what differs between two customers: ids and instants."""
    enveloped = "Result" in answer
    result = answer["Result"] if enveloped else answer
    history = [
        {k: v for k, v in item.items() if k not in ("Id", "Date")}
        for item in result["PointHistory"]
    ]
    return {
        **{k: v for k, v in result.items() if k not in ("InternalId", "Name", "PointHistory")},
        "PointHistory": history,
        "envelope": {k: v for k, v in answer.items() if k != "Result"} if enveloped else None,
    }


@pytest.fixture
def twins(tenant: TenantHandle) -> tuple[str, str]:
    """Two customers: one addressed by OriginalId, the other by e-mail."""
    upsert(tenant, "twin-a", Email="a@example.com", Name="A")
    upsert(tenant, "twin-b", Email="b@example.com", Name="B")
    return "twin-a", "b@example.com"


def test_both_paths_answer_alike(tenant: TenantHandle, twins: tuple[str, str]) -> None:
    by_id, by_email = twins
    for points, extra in ((10, {}), (25, {"CustomerReason": "<b>Bônus</b>"}), (-5, {}), (7, {})):
        one = add_points(tenant, by_id, points, **extra)
        other = add_points(tenant, by_email, points, **extra)
        assert one.status_code == other.status_code == 200
        assert comparable(one.json()) == comparable(other.json())
    assert comparable(points_of(tenant, by_id)) == comparable(points_of(tenant, by_email))
    assert points_of(tenant, by_id)["PointsBalance"] == 37
    assert points_of(tenant, by_id)["PointHistory"][2]["Title"] == "Bônus"


def test_expiry_from_the_program_and_from_the_request(
    tenant: TenantHandle, twins: tuple[str, str], server: Server
) -> None:
    by_id, by_email = twins
    assert (
        tenant.http.put("/v1/admin/program", json={"PointsExpireAfterDays": 30}).status_code == 200
    )
    when = (server.clock() + timedelta(days=3)).isoformat()
    for customer in twins:
        add_points(tenant, customer, 10)
        add_points(tenant, customer, 5, ExpirationDate=when)
    one, other = points_of(tenant, by_id), points_of(tenant, by_email)
    # The same expiries, to within the moments the two requests were made.
    assert [e["Points"] for e in one["PointsToExpire"]] == [5, 10]
    assert [e["Points"] for e in other["PointsToExpire"]] == [5, 10]
    assert one["PointsToExpire"][0] == other["PointsToExpire"][0]  # the date the request gave
    for a, b in zip(one["PointsToExpire"], other["PointsToExpire"], strict=True):
        gap = datetime.fromisoformat(a["When"]) - datetime.fromisoformat(b["When"])
        assert abs(gap) < timedelta(minutes=1)
    assert [(i["Points"], i["ExpirationDate"]) for i in one["PointHistory"]] == [
        (e["Points"], e["When"]) for e in one["PointsToExpire"]
    ]


def test_a_used_change_key_is_refused_with_the_current_points(
    tenant: TenantHandle, twins: tuple[str, str]
) -> None:
    by_id, _ = twins
    assert add_points(tenant, by_id, 10, ChangeKey="k-1").status_code == 200
    again = add_points(tenant, by_id, 10, ChangeKey="k-1").json()
    assert again["CodeName"] == "ChangeKeyAlreadyUsed"
    assert again["Result"]["PointsBalance"] == 10
    assert points_of(tenant, by_id)["PointsBalance"] == 10


def test_a_disabled_customer_cannot_receive_points(
    tenant: TenantHandle, twins: tuple[str, str]
) -> None:
    by_id, _ = twins
    response = tenant.http.post(
        f"/v1/pvt/Customer/{by_id}/changestatus", json={"IsEnabled": False, "Reason": "fraude"}
    )
    assert response.status_code == 200, response.text
    refused = add_points(tenant, by_id, 10, ChangeKey="k-2").json()
    assert refused["CodeName"] == "CustomerDisabled"
    assert points_of(tenant, by_id)["PointsBalance"] == 0


def test_an_unknown_original_id_is_not_found(tenant: TenantHandle) -> None:
    assert add_points(tenant, "nobody", 10).json()["CodeName"] == "CustomerNotFound"
    assert points_of(tenant, "nobody")["CustomerExists"] is False


def test_points_that_fell_due_are_settled_before_an_add(
    tenant: TenantHandle, twins: tuple[str, str], clock: Clock, server: Server
) -> None:
    by_id, _ = twins
    soon = (server.clock() + timedelta(days=1)).isoformat()
    add_points(tenant, by_id, 10, ExpirationDate=soon)
    add_points(tenant, by_id, 3)
    clock.advance(days=2)
    # Read before anything is written: projected by the general path.
    assert points_of(tenant, by_id)["PointsBalance"] == 3
    answer = add_points(tenant, by_id, 4).json()["Result"]
    assert answer["PointsBalance"] == 7
    assert answer["PointHistory"][1]["Points"] == -10  # the expiry, written by the add
    assert points_of(tenant, by_id)["PointsBalance"] == 7


def test_new_points_pay_off_debt_first(
    tenant: TenantHandle, twins: tuple[str, str], server: Server
) -> None:
    by_id, _ = twins
    completed = server.clock().isoformat()
    body = {
        "OriginalId": "order-1",
        "Customer": {"OriginalId": by_id},
        "OrderTotal": "100.00",
        "IsCompleted": True,
        "OrderCompletedDate": completed,
    }
    assert tenant.http.post("/v1/pvt/Order", json=body).status_code == 200
    assert add_points(tenant, by_id, -70).status_code == 200
    tenant.http.post("/v1/pvt/Order/order-1/cancel", json={})
    assert points_of(tenant, by_id)["PointsBalance"] == -70
    # New points now expire, so what is left of them after the debt shows as points to expire.
    assert (
        tenant.http.put("/v1/admin/program", json={"PointsExpireAfterDays": 30}).status_code == 200
    )
    paid = add_points(tenant, by_id, 50).json()["Result"]
    assert paid["PointsBalance"] == -20
    assert paid["PointsToExpire"] == []  # all 50 went to the debt
    rest = add_points(tenant, by_id, 100).json()["Result"]
    assert rest["PointsBalance"] == 80
    assert [e["Points"] for e in rest["PointsToExpire"]] == [80]
    assert add_points(tenant, by_id, -80).status_code == 200
