"""A cashback lock of a customer named by OriginalId, without `lock_key`, and the commit of a
whole lock take PostgreSQL's one-statement paths; by e-mail, with a `value`, or whenever the
plain case does not apply, the general path. Both must give the same answers and the same
ledger, on both databases (on SQLite every request takes the general path, so these tests pin
the expected answers there). Every test ends with the ledger check (conftest).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fidelis.db.engine import Database
from fidelis.db.tables import cashback_lock, transfer
from fidelis.lock.service import capture_reason
from tests.conftest import Server, TenantHandle, add_points, points_of, run_async, upsert


def call(tenant: TenantHandle, path: str, body: dict[str, Any]) -> httpx.Response:
    return tenant.http.post(f"/v1/rewards/{path}", json=body, headers={"brand": tenant.slug})


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def without_ids(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer without what differs between two customers' locks: tokens, lot ids and the
    moment the lock runs out (it depends on when the request was made)."""
    return {
        **{k: v for k, v in answer.items() if k not in ("lock_token", "rewards", "expires_at")},
        "rewards": [{k: v for k, v in r.items() if k != "id"} for r in answer.get("rewards", [])],
    }


def history(tenant: TenantHandle, customer: str) -> list[tuple[int, str, bool]]:
    return [
        (i["Points"], i["Title"], i["IsCanceled"])
        for i in points_of(tenant, customer)["PointHistory"]
    ]


@pytest.fixture
def twins(tenant: TenantHandle, server: Server) -> tuple[str, str]:
    """Two customers with the same lots: one addressed by OriginalId, the other by e-mail.
    Lots: 300 points expiring in 10 days, 200 expiring in 5, 1000 that never expire."""
    upsert(tenant, "twin-a", Email="a@example.com", Name="A")
    upsert(tenant, "twin-b", Email="b@example.com", Name="B")
    soon = (server.clock() + timedelta(days=5)).isoformat()
    later = (server.clock() + timedelta(days=10)).isoformat()
    for customer in ("twin-a", "b@example.com"):
        assert add_points(tenant, customer, 1000).status_code == 200
        assert add_points(tenant, customer, 300, ExpirationDate=later).status_code == 200
        assert add_points(tenant, customer, 200, ExpirationDate=soon).status_code == 200
    return "twin-a", "b@example.com"


def capture_of(server: Server, token: str) -> tuple[int, str]:
    """The lock's id and the reason its capture transfer was written with."""

    async def work(db: Database) -> tuple[int, str]:
        async with db.read() as conn:
            row = (
                await conn.execute(
                    select(cashback_lock.c.id, transfer.c.reason)
                    .join(
                        transfer,
                        (transfer.c.tenant_id == cashback_lock.c.tenant_id)
                        & (transfer.c.id == cashback_lock.c.capture_transfer_id),
                    )
                    .where(cashback_lock.c.token == token)
                )
            ).one()
        return int(row.id), str(row.reason)

    return run_async(server.database_url, work)


def test_a_lock_and_its_commit_answer_alike_on_both_paths(
    tenant: TenantHandle, twins: tuple[str, str], server: Server
) -> None:
    by_id, by_email = twins
    one = ok(call(tenant, "lock", {"customer_id": by_id, "total": "6.50"}))
    other = ok(call(tenant, "lock", {"customer_id": by_email, "total": "6.50"}))
    assert without_ids(one) == without_ids(other)
    gap = datetime.fromisoformat(one["expires_at"]) - datetime.fromisoformat(other["expires_at"])
    assert abs(gap) < timedelta(minutes=1)
    # Spending order: the lot that expires first, then the next, then the one that never does.
    assert [r["value"] for r in one["rewards"]] == ["2.00", "3.00", "1.50"]
    assert one["rewards"][2]["expires_at"] is None
    assert (one["value"], one["available_balance"]) == ("6.50", "15.00")
    for customer in twins:
        points = points_of(tenant, customer)
        assert (points["PointsBalance"], points["HeldPoints"]) == (850, 650)

    # The whole lock, on the one-statement path; the same amount named as a value, on the
    # general path.
    done = ok(call(tenant, "commit", {"lock_token": one["lock_token"], "order_id": "o-1"}))
    named = ok(
        call(
            tenant,
            "commit",
            {"lock_token": other["lock_token"], "order_id": "o-1", "value": "6.50"},
        )
    )
    assert {k: v for k, v in done.items() if k != "committed_at"} == {
        k: v for k, v in named.items() if k != "committed_at"
    }
    assert (done["status"], done["value"], done["order_id"]) == ("committed", "6.50", "o-1")
    for customer in twins:
        points = points_of(tenant, customer)
        assert (points["PointsBalance"], points["HeldPoints"]) == (850, 0)
    assert history(tenant, by_id) == history(tenant, by_email)
    assert history(tenant, by_id)[0] == (-650, "Cashback usado", False)
    # The ledger's own reason for each capture, whichever path wrote it.
    for token in (one["lock_token"], other["lock_token"]):
        lock_id, reason = capture_of(server, token)
        assert reason == capture_reason(lock_id, "o-1") == f"cashback lock {lock_id} for order o-1"

    # Again: the committed answer; a rollback is refused.
    again = ok(call(tenant, "commit", {"lock_token": one["lock_token"]}))
    assert again == done
    refused = call(tenant, "rollback", {"lock_token": one["lock_token"]})
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "LOCK_ALREADY_COMMITTED")


def test_what_is_left_after_locks_is_what_the_next_lock_sees(
    tenant: TenantHandle, twins: tuple[str, str]
) -> None:
    by_id, by_email = twins
    for total in ("4.00", "100.00", "1.00"):
        one = call(tenant, "lock", {"customer_id": by_id, "total": total})
        other = call(tenant, "lock", {"customer_id": by_email, "total": total})
        assert without_ids(ok(one)) == without_ids(ok(other))
    # 4.00 + 11.00 (all that was left) took everything: the third one holds nothing.
    assert ok(one)["lock_token"] is None
    assert ok(one)["reason"] == "NO_BALANCE"


def test_a_disabled_customer_gets_no_lock(tenant: TenantHandle, twins: tuple[str, str]) -> None:
    by_id, _ = twins
    response = tenant.http.post(
        f"/v1/pvt/Customer/{by_id}/changestatus", json={"IsEnabled": False, "Reason": "fraude"}
    )
    assert response.status_code == 200, response.text
    answer = ok(call(tenant, "lock", {"customer_id": by_id, "total": "6.50"}))
    assert (answer["lock_token"], answer["reason"]) == (None, "CUSTOMER_DISABLED")
    assert points_of(tenant, by_id)["HeldPoints"] == 0


def test_an_unknown_customer_and_an_unknown_token_are_not_found(tenant: TenantHandle) -> None:
    lost = call(tenant, "lock", {"customer_id": "nobody", "total": "1.00"})
    assert (lost.status_code, lost.json()["error"]["code"]) == (404, "CUSTOMER_NOT_FOUND")
    gone = call(tenant, "commit", {"lock_token": "no-such-token"})
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "LOCK_NOT_FOUND")
