"""Orders, told as a store's day: earn at purchase, wait, return goods, cancel.

Every story ends with the automatic ledger check (conftest).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Clock, Server, TenantHandle, add_points, points_of

CUSTOMER = {"OriginalId": "ana@example.com", "Name": "Ana", "Email": "ana@example.com"}


def order(tenant: TenantHandle, original_id: str, **fields: Any) -> httpx.Response:
    body = {"OriginalId": original_id, "Customer": CUSTOMER, **fields}
    return tenant.http.post("/v1/pvt/Order", json=body)


def complete(
    tenant: TenantHandle, original_id: str, total: str, when: datetime | None = None
) -> dict[str, Any]:
    completed = (when or datetime.now().astimezone()).isoformat()
    response = order(
        tenant, original_id, OrderTotal=total, IsCompleted=True, OrderCompletedDate=completed
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["Result"]
    return result


def balance(tenant: TenantHandle) -> int:
    points: int = points_of(tenant, "ana@example.com")["PointsBalance"]
    return points


def partial(
    tenant: TenantHandle, original_id: str, value: str, key: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"ValueToRefund": value}
    if key is not None:
        body["CancelKey"] = key
    return tenant.http.post(f"/v1/pvt/Order/{original_id}/partialcancel", json=body)


def set_program(tenant: TenantHandle, **settings: Any) -> None:
    assert tenant.http.put("/v1/admin/program", json=settings).status_code == 200


class TestEarning:
    def test_a_completed_order_earns_once_whatever_is_reposted(self, tenant: TenantHandle) -> None:
        first = complete(tenant, "order-1", "150.75")
        assert (first["State"], first["EarnedPoints"]) == (2, 150)
        assert first["Customer"]["BalanceOfPoints"] == 150
        again = complete(tenant, "order-1", "150.75")
        assert again["EarnedPoints"] == 150
        assert balance(tenant) == 150
        history = points_of(tenant, "ana@example.com")["PointHistory"]
        assert [(h["Points"], h["PointType"], h["OrderId"]) for h in history] == [
            (150, 2, "order-1")
        ]

    def test_pending_then_completed(self, tenant: TenantHandle) -> None:
        pending = order(tenant, "order-2", OrderTotal="80.00")
        assert pending.json()["Result"]["State"] == 1
        assert balance(tenant) == 0
        assert complete(tenant, "order-2", "80.00")["EarnedPoints"] == 80
        assert balance(tenant) == 80

    def test_points_per_currency_rounds_down(self, tenant: TenantHandle) -> None:
        set_program(tenant, PointsPerCurrency="1.5")
        assert complete(tenant, "order-3", "10.99")["EarnedPoints"] == 16

    def test_points_wait_out_the_pending_days_without_any_job(
        self, tenant: TenantHandle, clock: Clock, server: Server
    ) -> None:
        set_program(tenant, OrderPointsPendingDays=7)
        complete(tenant, "order-4", "100.00", when=server.clock())
        points = points_of(tenant, "ana@example.com")
        assert (points["PointsBalance"], points["PendingPoints"]) == (0, 100)
        clock.advance(days=8)
        points = points_of(tenant, "ana@example.com")
        assert (points["PointsBalance"], points["PendingPoints"]) == (100, 0)

    def test_expiry_counts_from_when_points_become_available(
        self, tenant: TenantHandle, server: Server
    ) -> None:
        set_program(tenant, OrderPointsPendingDays=2, PointsExpireAfterDays=30)
        completed = server.clock()
        complete(tenant, "order-5", "10.00", when=completed)
        history = points_of(tenant, "ana@example.com")["PointHistory"]
        expected = completed + timedelta(days=32)
        assert history[0]["ExpirationDate"].startswith(expected.strftime("%Y-%m-%dT%H:%M"))

    def test_the_pos_shortcut_is_the_same_endpoint(self, tenant: TenantHandle) -> None:
        response = tenant.http.post(
            "/v1/pvt/POS/orders",
            json={
                "OriginalId": "pos-1",
                "Customer": CUSTOMER,
                "OrderTotal": "20.00",
                "IsCompleted": True,
                "OrderCompletedDate": "2026-11-20T10:00:00Z",
            },
        )
        assert response.json()["Result"]["EarnedPoints"] == 20
        got = tenant.http.get("/v1/pvt/Order/pos-1")
        assert got.status_code == 200
        assert got.json()["OriginalId"] == "pos-1"

    def test_thirty_concurrent_completions_earn_once(self, tenant: TenantHandle) -> None:
        body = {
            "OriginalId": "order-race",
            "Customer": CUSTOMER,
            "OrderTotal": "50.00",
            "IsCompleted": True,
            "OrderCompletedDate": "2026-11-20T10:00:00Z",
        }
        with ThreadPoolExecutor(max_workers=30) as pool:
            responses = list(
                pool.map(
                    lambda _: httpx.post(
                        f"{tenant.base_url}/v1/pvt/Order", json=body, auth=tenant.auth, timeout=60
                    ),
                    range(30),
                )
            )
        assert {r.status_code for r in responses} == {200}
        assert balance(tenant) == 50


class TestValidation:
    def test_completed_needs_its_date(self, tenant: TenantHandle) -> None:
        response = order(tenant, "o", OrderTotal="10.00", IsCompleted=True)
        assert (response.status_code, response.json()["CodeName"]) == (400, "ValidationError")

    def test_a_new_order_needs_a_customer(self, tenant: TenantHandle) -> None:
        response = tenant.http.post("/v1/pvt/Order", json={"OriginalId": "o", "OrderTotal": 1})
        assert (response.status_code, response.json()["CodeName"]) == (400, "ValidationError")

    def test_negative_total_is_refused(self, tenant: TenantHandle) -> None:
        response = order(tenant, "o", OrderTotal="-1.00")
        assert (response.status_code, response.json()["CodeName"]) == (400, "ValidationError")

    @pytest.mark.parametrize("total", ["1_000.00", "\uff11\uff10.00", "0x10"])
    def test_a_total_is_a_plain_number(self, tenant: TenantHandle, total: str) -> None:
        # Python's Decimal reads the first two (1000 and 10); no store means them so.
        response = order(tenant, "o", OrderTotal=total)
        assert (response.status_code, response.json()["CodeName"]) == (400, "ValidationError")
        assert "OrderTotal" in response.text
        assert tenant.http.get("/v1/pvt/Order/o").status_code == 404

    @pytest.mark.parametrize("quantity", ["1E-999999", "0.1234567"])
    def test_a_quantity_has_at_most_six_places(self, tenant: TenantHandle, quantity: str) -> None:
        product = {"OriginalId": "p1", "ProductPrice": "1.00"}
        response = order(
            tenant, "o", OrderTotal="10.00", Products=[{**product, "Quantity": quantity}]
        )
        assert (response.status_code, response.json()["CodeName"]) == (400, "InvalidValue")
        weighed = order(
            tenant, "o", OrderTotal="10.00", Products=[{**product, "Quantity": "0.125"}]
        )
        assert weighed.status_code == 200, weighed.text

    def test_an_order_id_with_a_slash_is_read_and_cancelled_like_any_other(
        self, tenant: TenantHandle
    ) -> None:
        complete(tenant, "2026/0001", "10.00")
        found = tenant.http.get("/v1/pvt/Order/2026%2F0001")
        assert (found.status_code, found.json()["OriginalId"]) == (200, "2026/0001"), found.text
        refunded = tenant.http.post(
            "/v1/pvt/POS/2026%2F0001/partialcancel", json={"ValueToRefund": "4.00"}
        )
        assert refunded.status_code == 200, refunded.text
        assert balance(tenant) == 6
        cancelled = tenant.http.post("/v1/pvt/POS/orders/2026%2F0001/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert balance(tenant) == 0

    def test_unknown_order(self, tenant: TenantHandle) -> None:
        response = tenant.http.get("/v1/pvt/Order/nope")
        assert (response.status_code, response.json()["CodeName"]) == (404, "OrderNotFound")
        response = tenant.http.post("/v1/pvt/Order/nope/cancel", json={})
        assert (response.status_code, response.json()["CodeName"]) == (404, "OrderNotFound")

    def test_another_tenant_cannot_see_the_order(
        self, tenant: TenantHandle, other_tenant: TenantHandle
    ) -> None:
        complete(tenant, "order-x", "10.00")
        assert other_tenant.http.get("/v1/pvt/Order/order-x").status_code == 404
        assert other_tenant.http.post("/v1/pvt/Order/order-x/cancel", json={}).status_code == 404
        assert balance(tenant) == 10


class TestTransitions:
    def test_completed_cannot_go_back_to_pending(self, tenant: TenantHandle) -> None:
        complete(tenant, "order-6", "10.00")
        response = order(tenant, "order-6", OrderTotal="10.00")
        assert response.json()["CodeName"] == "InvalidOrderTransition"
        assert balance(tenant) == 10

    def test_cancelled_cannot_come_back(self, tenant: TenantHandle) -> None:
        order(
            tenant,
            "order-7",
            OrderTotal="10.00",
            IsCancelledOrReturned=True,
            OrderCancelledDate="2026-11-20T10:00:00Z",
        )
        response = order(
            tenant,
            "order-7",
            OrderTotal="10.00",
            IsCompleted=True,
            OrderCompletedDate="2026-11-20T10:00:00Z",
        )
        assert response.json()["CodeName"] == "InvalidOrderTransition"
        assert balance(tenant) == 0

    def test_total_cannot_change_after_completion(self, tenant: TenantHandle) -> None:
        complete(tenant, "order-8", "10.00")
        response = order(
            tenant,
            "order-8",
            OrderTotal="99.00",
            IsCompleted=True,
            OrderCompletedDate="2026-11-20T10:00:00Z",
        )
        assert response.json()["CodeName"] == "InvalidOrderTransition"


class TestCancel:
    def test_cancel_takes_the_points_back_once(self, tenant: TenantHandle) -> None:
        complete(tenant, "order-9", "100.00")
        first = tenant.http.post("/v1/pvt/Order/order-9/cancel", json={})
        assert first.status_code == 200
        assert first.json()["Result"]["isCanceled"] is True
        assert first.json()["Result"]["Status"] == 3
        assert balance(tenant) == 0
        second = tenant.http.post("/v1/pvt/POS/orders/order-9/cancel", json={})
        assert (second.status_code, second.json()["CodeName"]) == (200, "OrderAlreadyCanceled")
        assert second.json()["HasWarning"] is True
        assert balance(tenant) == 0

    def test_cancelling_a_pending_earning_takes_it_from_pending(
        self, tenant: TenantHandle, server: Server
    ) -> None:
        set_program(tenant, OrderPointsPendingDays=7)
        complete(tenant, "order-10", "100.00", when=server.clock())
        tenant.http.post("/v1/pvt/Order/order-10/cancel", json={})
        points = points_of(tenant, "ana@example.com")
        assert (points["PointsBalance"], points["PendingPoints"]) == (0, 0)

    def test_points_already_spent_become_debt_that_blocks_until_covered(
        self, tenant: TenantHandle
    ) -> None:
        complete(tenant, "order-11", "100.00")
        assert add_points(tenant, "ana@example.com", -70).status_code == 200
        tenant.http.post("/v1/pvt/Order/order-11/cancel", json={})
        assert balance(tenant) == -70
        # In debt: nothing can be spent...
        assert add_points(tenant, "ana@example.com", -1).json()["CodeName"] == "InsufficientBalance"
        # ...until new points cover it.
        add_points(tenant, "ana@example.com", 50)
        assert balance(tenant) == -20
        add_points(tenant, "ana@example.com", 100)
        assert balance(tenant) == 80
        assert add_points(tenant, "ana@example.com", -80).status_code == 200

    @pytest.mark.parametrize("path", ["/v1/pvt/Order/{}/cancel", "/v1/pvt/POS/orders/{}/cancel"])
    def test_a_cancel_needs_no_body(self, tenant: TenantHandle, path: str) -> None:
        complete(tenant, "order-29", "100.00")
        response = tenant.http.post(path.format("order-29"))
        assert response.status_code == 200, response.text
        assert response.json()["Result"]["isCanceled"] is True
        assert balance(tenant) == 0

    def test_expired_points_are_not_taken_back(
        self, tenant: TenantHandle, clock: Clock, server: Server
    ) -> None:
        set_program(tenant, PointsExpireAfterDays=1)
        complete(tenant, "order-12", "100.00", when=server.clock())
        next_year = (server.clock() + timedelta(days=365)).isoformat()
        add_points(tenant, "ana@example.com", 30, ExpirationDate=next_year)
        clock.advance(days=2)
        tenant.http.post("/v1/pvt/Order/order-12/cancel", json={})
        assert balance(tenant) == 30


class TestPartialCancel:
    def test_refunds_adding_up_to_the_total_take_back_exactly_everything(
        self, tenant: TenantHandle
    ) -> None:
        complete(tenant, "order-13", "100.00")
        assert partial(tenant, "order-13", "33.33").status_code == 200
        assert balance(tenant) == 67
        assert partial(tenant, "order-13", "33.33").status_code == 200
        assert balance(tenant) == 34
        last = partial(tenant, "order-13", "33.34")
        assert last.json()["Result"]["Status"] == 3
        assert balance(tenant) == 0
        got = tenant.http.get("/v1/pvt/Order/order-13").json()
        assert (got["ReversedPoints"], got["RefundedTotal"]) == (100, 100.0)

    def test_earn_partial_cancel_then_cancel_leaves_zero(self, tenant: TenantHandle) -> None:
        complete(tenant, "order-14", "99.99")
        partial(tenant, "order-14", "10.01")
        tenant.http.post("/v1/pvt/Order/order-14/cancel", json={})
        assert balance(tenant) == 0

    def test_refund_beyond_the_total_is_refused(self, tenant: TenantHandle) -> None:
        complete(tenant, "order-15", "50.00")
        partial(tenant, "order-15", "40.00")
        response = partial(tenant, "order-15", "10.01")
        assert (response.status_code, response.json()["CodeName"]) == (
            400,
            "RefundExceedsOrderTotal",
        )
        assert balance(tenant) == 10

    @pytest.mark.parametrize("value", ["0", "-5", "1.001"])
    def test_bad_values(self, tenant: TenantHandle, value: str) -> None:
        complete(tenant, "order-16", "50.00")
        response = partial(tenant, "order-16", value)
        assert response.status_code == 400
        assert balance(tenant) == 50

    def test_a_pending_order_cannot_be_partially_cancelled(self, tenant: TenantHandle) -> None:
        order(tenant, "order-17", OrderTotal="50.00")
        response = partial(tenant, "order-17", "10.00")
        assert response.json()["CodeName"] == "InvalidOrderTransition"

    def test_cancel_key_replays_or_conflicts(self, tenant: TenantHandle) -> None:
        complete(tenant, "order-18", "100.00")
        first = partial(tenant, "order-18", "25.00", key="refund-1")
        assert first.json()["CodeName"] is None
        replay = partial(tenant, "order-18", "25.00", key="refund-1")
        assert (replay.status_code, replay.json()["CodeName"]) == (200, "AlreadyProcessed")
        assert replay.json()["Result"] == first.json()["Result"]
        conflict = partial(tenant, "order-18", "30.00", key="refund-1")
        assert (conflict.status_code, conflict.json()["CodeName"]) == (
            409,
            "IdempotencyKeyConflict",
        )
        assert balance(tenant) == 75

    def test_a_cancel_key_replays_the_same_amount_however_it_is_written(
        self, tenant: TenantHandle
    ) -> None:
        complete(tenant, "order-28", "100.00")
        first = partial(tenant, "order-28", "25.00", key="refund-9")
        assert first.json()["CodeName"] is None
        for spelled in ("25", "25.0", 25, 25.0):
            replay = tenant.http.post(
                "/v1/pvt/Order/order-28/partialcancel",
                json={"ValueToRefund": spelled, "CancelKey": "refund-9"},
            )
            assert (replay.status_code, replay.json()["CodeName"]) == (
                200,
                "AlreadyProcessed",
            ), spelled
        assert balance(tenant) == 75

    def test_concurrent_replays_of_one_cancel_key_apply_once(self, tenant: TenantHandle) -> None:
        complete(tenant, "order-19", "100.00")
        with ThreadPoolExecutor(max_workers=20) as pool:
            responses = list(
                pool.map(
                    lambda _: httpx.post(
                        f"{tenant.base_url}/v1/pvt/Order/order-19/partialcancel",
                        json={"ValueToRefund": "10.00", "CancelKey": "same"},
                        auth=tenant.auth,
                        timeout=60,
                    ),
                    range(20),
                )
            )
        assert {r.status_code for r in responses} == {200}
        assert sorted(r.json()["CodeName"] or "" for r in responses).count("") == 1
        assert balance(tenant) == 90
