"""The cashback reservation API: lock the cashback a purchase may use, then commit or roll back.

snake_case (camelCase accepted), money as strings, dates at -03:00, the `brand` header. The
same ledger as the Private API: what a lock reserves is `HeldPoints` there. Every story ends
with the automatic ledger check (conftest).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from fidelis.customer import service as customer_service
from fidelis.db.engine import Database
from tests.conftest import (
    Clock,
    Server,
    TenantHandle,
    add_points,
    points_of,
    run_async,
    run_jobs_once,
    upsert,
)

ANA = "ana@example.com"


def call(tenant: TenantHandle, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    headers = {"brand": tenant.slug, **headers}
    return tenant.http.post(f"/v1/rewards/{path}", json=body, headers=headers)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def lock(tenant: TenantHandle, total: str = "100.00", **fields: Any) -> httpx.Response:
    return call(tenant, "lock", {"customer_id": ANA, "total": total, **fields})


def token_of(tenant: TenantHandle, total: str = "100.00", **fields: Any) -> str:
    token: str = ok(lock(tenant, total, **fields))["lock_token"]
    assert token
    return token


def balances(tenant: TenantHandle) -> tuple[int, int]:
    """(PointsBalance, HeldPoints) as the Private API shows them."""
    points = points_of(tenant, ANA)
    return points["PointsBalance"], points["HeldPoints"]


def ana_with(tenant: TenantHandle, points: int) -> None:
    upsert(tenant, ANA, Name="Ana", Email=ANA)
    if points:
        assert add_points(tenant, ANA, points).status_code == 200


def set_program(tenant: TenantHandle, **settings: Any) -> None:
    response = tenant.http.put("/v1/admin/program", json=settings)
    assert response.status_code == 200, response.text


def set_rule(tenant: TenantHandle, **rule: Any) -> None:
    set_program(tenant, RedemptionRule=rule)


class TestLock:
    def test_a_lock_reserves_what_the_rule_allows_and_the_private_api_shows_it_held(
        self, server: Server, tenant: TenantHandle
    ) -> None:
        ana_with(tenant, 5000)  # R$ 50.00
        set_rule(tenant, MaxPercentOfPurchase="30")
        answer = ok(lock(tenant, "99.99", store_id="loja-1", source="pdv"))
        # 30% of 99.99 = 29.997 -> 29.99
        assert (answer["value"], answer["available_balance"]) == ("29.99", "50.00")
        expires = datetime.fromisoformat(answer["expires_at"])
        assert answer["expires_at"].endswith("-03:00")
        assert expires - server.clock() <= timedelta(seconds=900)
        assert expires - server.clock() > timedelta(seconds=890)
        assert [r["value"] for r in answer["rewards"]] == ["29.99"]
        assert balances(tenant) == (5000 - 2999, 2999)

    def test_camel_case_is_accepted(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        answer = ok(call(tenant, "lock", {"customerId": ANA, "total": 5, "orderDiscount": "1"}))
        assert answer["value"] == "5.00"
        committed = ok(call(tenant, "commit", {"lockToken": answer["lock_token"]}))
        assert committed["status"] == "committed"

    def test_the_rewards_are_the_lots_held_soonest_expiry_first(
        self, server: Server, tenant: TenantHandle
    ) -> None:
        ana_with(tenant, 0)
        soon = server.clock() + timedelta(days=5)
        later = server.clock() + timedelta(days=50)
        add_points(tenant, ANA, 300, ExpirationDate=later.isoformat())
        add_points(tenant, ANA, 200, ExpirationDate=soon.isoformat())
        answer = ok(lock(tenant, "4.50"))
        assert [r["value"] for r in answer["rewards"]] == ["2.00", "2.50"]
        assert answer["rewards"][0]["expires_at"].endswith("-03:00")

    @pytest.mark.parametrize(
        ("rule", "body", "reason"),
        [
            ({"MinPurchaseValue": "50.00"}, {"total": "49.99"}, "BELOW_MIN_PURCHASE"),
            ({"AllowedStores": ["loja-1"]}, {"store_id": "loja-2"}, "STORE_NOT_ALLOWED"),
            ({"AllowedSources": ["ecommerce"]}, {"source": "pdv"}, "SOURCE_NOT_ALLOWED"),
            (
                {"ExcludedCategories": ["bebidas"]},
                {"products": [{"sku": "CERVEJA", "price": "9.90", "category": "bebidas"}]},
                "NOTHING_ELIGIBLE",
            ),
        ],
    )
    def test_nothing_to_lock_says_why_and_holds_nothing(
        self, tenant: TenantHandle, rule: dict[str, Any], body: dict[str, Any], reason: str
    ) -> None:
        ana_with(tenant, 1000)
        set_rule(tenant, **rule)
        answer = ok(call(tenant, "lock", {"customer_id": ANA, "total": "100.00", **body}))
        assert answer == {
            "lock_token": None,
            "value": "0.00",
            "available_balance": "10.00",
            "reason": reason,
        }
        assert balances(tenant) == (1000, 0)

    def test_no_balance_or_cashback_disabled(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 0)
        assert ok(lock(tenant))["reason"] == "NO_BALANCE"
        add_points(tenant, ANA, 100)
        tenant.http.put("/v1/admin/program", json={"CashbackEnabled": False})
        assert ok(lock(tenant))["reason"] == "CASHBACK_DISABLED"

    def test_eligible_products_and_the_discount(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 10_000)
        set_rule(tenant, ExcludedSkus=["CIGARRO"], Base="total_minus_discount")
        products = [
            {"sku": "ARROZ", "quantity": 2, "price": "25.00"},
            {"sku": "CIGARRO", "quantity": 1, "price": "12.00"},
        ]
        answer = ok(lock(tenant, "62.00", products=products, order_discount="5.00"))
        assert answer["value"] == "45.00"  # 2 x 25.00 eligible, minus the 5.00 discount

    def test_several_locks_never_exceed_the_balance(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        values = [ok(lock(tenant, "4.00"))["value"] for _ in range(4)]
        assert values == ["4.00", "4.00", "2.00", "0.00"]
        assert balances(tenant) == (0, 1000)

    def test_lock_key_replays_or_conflicts(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        first = ok(lock(tenant, "3.00", lock_key="caixa-1:venda-9"))
        again = ok(lock(tenant, "3.00", lock_key="caixa-1:venda-9"))
        assert again == first
        # The same amount written another way is the same request.
        assert ok(lock(tenant, "3", lock_key="caixa-1:venda-9")) == first
        assert ok(lock(tenant, "3.0", lock_key="caixa-1:venda-9")) == first
        clash = lock(tenant, "4.00", lock_key="caixa-1:venda-9")
        assert error_of(clash) == (409, "IDEMPOTENCY_KEY_CONFLICT")
        assert balances(tenant) == (700, 300)

    @pytest.mark.parametrize(
        "changed",
        [{"custom_data": {"pedido": "B-2"}}, {"seller_id": "vendedor-2"}, {"order_voucher": "X"}],
    )
    def test_lock_key_sent_again_with_other_details_conflicts(
        self, tenant: TenantHandle, changed: dict[str, Any]
    ) -> None:
        ana_with(tenant, 1000)
        sent = {"custom_data": {"pedido": "A-1"}, "seller_id": "vendedor-1", "order_voucher": "P"}
        first = ok(lock(tenant, "3.00", lock_key="k-1", **sent))
        assert ok(lock(tenant, "3.00", lock_key="k-1", **sent)) == first
        clash = lock(tenant, "3.00", lock_key="k-1", **{**sent, **changed})
        assert error_of(clash) == (409, "IDEMPOTENCY_KEY_CONFLICT")
        assert balances(tenant) == (700, 300)

    def test_a_lock_holds_only_points_worth_the_whole_cents_it_shows(
        self, tenant: TenantHandle
    ) -> None:
        set_program(tenant, PointValue="0.005")  # two points a centavo
        ana_with(tenant, 3)  # R$ 0.015
        assert ok(call(tenant, "simulate", {"customer_id": ANA, "total": "100.00"}))["value"] == (
            "0.01"
        )
        token = token_of(tenant, "100.00")
        assert balances(tenant) == (1, 2)  # R$ 0.01 held, the half centavo left
        assert ok(call(tenant, "commit", {"lock_token": token}))["value"] == "0.01"
        assert balances(tenant) == (1, 0)

    def test_unknown_customer_and_bad_input(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        assert error_of(call(tenant, "lock", {"customer_id": "x", "total": "1"})) == (
            404,
            "CUSTOMER_NOT_FOUND",
        )
        for body in (
            {"customer_id": ANA},
            {"customer_id": ANA, "total": "0"},
            {"customer_id": ANA, "total": "1.001"},
            {"customer_id": ANA, "total": "100000000.00"},
            {"customer_id": "", "total": "1"},
            {"customer_id": ANA, "total": "abc"},
            # Text that Python's Decimal reads but is no plain number: not 1000 nor 12.
            {"customer_id": ANA, "total": "1_000"},
            {"customer_id": ANA, "total": "\uff11\uff12"},
            {"customer_id": ANA, "total": "12,50"},
            {
                "customer_id": ANA,
                "total": "1",
                "products": [{"price": "1", "quantity": "1E-999999"}],
            },
            {
                "customer_id": ANA,
                "total": "1",
                "products": [{"price": "1", "quantity": "0.1234567"}],
            },
        ):
            response = call(tenant, "lock", body)
            assert error_of(response) == (400, "INVALID_ARGUMENT"), body
        missing = call(tenant, "lock", {"customer_id": ANA})
        assert "total" in missing.json()["error"]["message"]
        assert balances(tenant) == (1000, 0)


class TestBrandAndCredentials:
    def test_brand_header(self, tenant: TenantHandle, other_tenant: TenantHandle) -> None:
        ana_with(tenant, 100)
        body = {"customer_id": ANA, "total": "1.00"}
        missing = tenant.http.post("/v1/rewards/lock", json=body)
        assert error_of(missing) == (403, "MISSING_BRAND")
        wrong = tenant.http.post(
            "/v1/rewards/lock", json=body, headers={"brand": other_tenant.slug}
        )
        assert error_of(wrong) == (403, "ACCESS_DENIED")
        anonymous = httpx.post(
            f"{tenant.base_url}/v1/rewards/lock", json=body, headers={"brand": tenant.slug}
        )
        assert error_of(anonymous) == (401, "UNAUTHORIZED")

    def test_a_token_of_another_tenant_is_not_found(
        self, tenant: TenantHandle, other_tenant: TenantHandle
    ) -> None:
        ana_with(tenant, 1000)
        token = token_of(tenant)
        for path in ("commit", "rollback"):
            assert error_of(call(other_tenant, path, {"lock_token": token})) == (
                404,
                "LOCK_NOT_FOUND",
            )
        assert balances(tenant) == (0, 1000)


class TestCommitAndRollback:
    def test_commit_spends_and_is_idempotent(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        token = token_of(tenant, "6.00")
        first = ok(call(tenant, "commit", {"lock_token": token, "order_id": "pdv-1"}))
        assert (first["status"], first["value"], first["order_id"]) == (
            "committed",
            "6.00",
            "pdv-1",
        )
        assert first["committed_at"].endswith("-03:00")
        assert balances(tenant) == (400, 0)
        again = ok(call(tenant, "commit", {"lock_token": token, "order_id": "pdv-1"}))
        assert again == first
        history = points_of(tenant, ANA)["PointHistory"]
        assert (history[0]["Points"], history[0]["PointType"]) == (-600, 9)

    def test_commit_less_releases_the_rest(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        token = token_of(tenant, "6.00")
        too_much = call(tenant, "commit", {"lock_token": token, "value": "6.01"})
        assert error_of(too_much) == (422, "VALUE_EXCEEDS_LOCK")
        assert error_of(call(tenant, "commit", {"lock_token": token, "value": "0"})) == (
            400,
            "INVALID_ARGUMENT",
        )
        done = ok(call(tenant, "commit", {"lock_token": token, "value": "2.50"}))
        assert done["value"] == "2.50"
        assert balances(tenant) == (750, 0)

    def test_rollback_and_the_transitions_after_it(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        token = token_of(tenant, "6.00")
        assert ok(call(tenant, "rollback", {"lock_token": token})) == {"status": "rolled_back"}
        assert balances(tenant) == (1000, 0)
        assert ok(call(tenant, "rollback", {"lock_token": token})) == {"status": "rolled_back"}
        assert error_of(call(tenant, "commit", {"lock_token": token})) == (409, "LOCK_ROLLED_BACK")
        committed = token_of(tenant, "1.00")
        ok(call(tenant, "commit", {"lock_token": committed}))
        assert error_of(call(tenant, "rollback", {"lock_token": committed})) == (
            409,
            "LOCK_ALREADY_COMMITTED",
        )
        assert error_of(call(tenant, "commit", {"lock_token": "nope"})) == (404, "LOCK_NOT_FOUND")
        assert balances(tenant) == (900, 0)

    def test_expiry_is_seen_at_once_and_swept_by_the_job(
        self, server: Server, clock: Clock, tenant: TenantHandle
    ) -> None:
        tenant.http.put("/v1/admin/program", json={"LockTtlSeconds": 60})
        ana_with(tenant, 1000)
        token = token_of(tenant, "6.00")
        clock.advance(seconds=61)
        assert balances(tenant) == (1000, 0)
        assert error_of(call(tenant, "commit", {"lock_token": token})) == (409, "LOCK_EXPIRED")
        assert ok(call(tenant, "rollback", {"lock_token": token})) == {"status": "expired"}
        run_jobs_once(server)
        assert balances(tenant) == (1000, 0)
        assert error_of(call(tenant, "commit", {"lock_token": token})) == (409, "LOCK_EXPIRED")

    @pytest.mark.parametrize("expire", [False, True])
    def test_commit_rollback_and_expiry_racing_on_one_lock_resolve_it_once(
        self, clock: Clock, tenant: TenantHandle, expire: bool
    ) -> None:
        tenant.http.put("/v1/admin/program", json={"LockTtlSeconds": 30})
        ana_with(tenant, 1000)
        token = token_of(tenant, "6.00")
        if expire:
            clock.advance(seconds=29, milliseconds=990)

        def attempt(n: int) -> httpx.Response:
            with tenant.client() as client:
                path = "commit" if n % 2 else "rollback"
                return client.post(
                    f"/v1/rewards/{path}",
                    json={"lock_token": token},
                    headers={"brand": tenant.slug},
                )

        with ThreadPoolExecutor(max_workers=24) as pool:
            answers = list(pool.map(attempt, range(24)))
        statuses = {a.json().get("status") for a in answers if a.status_code == 200}
        errors = {a.json()["error"]["code"] for a in answers if a.status_code != 200}
        assert len(statuses) == 1, (statuses, errors)
        [won] = statuses
        if won == "committed":
            assert errors <= {"LOCK_ALREADY_COMMITTED"}
            assert balances(tenant) == (400, 0)
        else:
            assert won in {"rolled_back", "expired"}
            assert errors <= {"LOCK_ROLLED_BACK", "LOCK_EXPIRED"}
            assert balances(tenant) == (1000, 0)
        assert all(a.status_code in (200, 409) for a in answers)

    @pytest.mark.parametrize(
        ("path", "answer"), [("commit", (409, "LOCK_EXPIRED")), ("rollback", (200, "expired"))]
    )
    def test_a_request_that_waited_out_the_expiry_answers_expired(
        self, server: Server, clock: Clock, tenant: TenantHandle, path: str, answer: Any
    ) -> None:
        # Sent a second before the lock runs out, the request waits for the customer while a
        # writer that came after the expiry (the job, another request) settles it: the expiry
        # won, and the request answers that instead of failing on the hold it no longer has.
        tenant.http.put("/v1/admin/program", json={"LockTtlSeconds": 60})
        ana_with(tenant, 1000)
        token = token_of(tenant, "6.00")
        clock.advance(seconds=59)
        sent: dict[str, httpx.Response] = {}

        def send() -> None:
            with tenant.client() as client:
                sent["answer"] = client.post(
                    f"/v1/rewards/{path}",
                    json={"lock_token": token},
                    headers={"brand": tenant.slug},
                )

        async def settle_after_the_expiry(db: Database) -> None:
            async with db.write() as conn:
                customer = await customer_service.get(conn, tenant.id, ANA)
                later = server.clock() + timedelta(seconds=2)
                await customer_service.lock_by_id(conn, tenant.id, customer.id, now=later)
                sender.start()
                await asyncio.sleep(1.5)  # the request now waits for the customer

        sender = threading.Thread(target=send)
        run_async(server.database_url, settle_after_the_expiry)
        sender.join(timeout=30)
        response = sent["answer"]
        if answer[0] == 200:
            assert (response.status_code, response.json()) == (200, {"status": answer[1]})
        else:
            assert error_of(response) == answer
        assert balances(tenant) == (1000, 0)

    def test_concurrent_locks_of_one_customer_never_exceed_the_balance(
        self, tenant: TenantHandle
    ) -> None:
        ana_with(tenant, 1000)

        def attempt(_: int) -> httpx.Response:
            with tenant.client() as client:
                return client.post(
                    "/v1/rewards/lock",
                    json={"customer_id": ANA, "total": "3.00"},
                    headers={"brand": tenant.slug},
                )

        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = [ok(a) for a in pool.map(attempt, range(20))]
        values = sorted(a["value"] for a in answers)
        assert values.count("3.00") == 3
        assert values.count("1.00") == 1
        assert values.count("0.00") == 16
        assert balances(tenant) == (0, 1000)

    def test_cancelling_the_order_a_commit_paid_for_gives_it_back(
        self, tenant: TenantHandle
    ) -> None:
        ana_with(tenant, 1000)
        token = token_of(tenant, "6.00")
        ok(call(tenant, "commit", {"lock_token": token, "order_id": "pdv-77"}))
        order = {
            "OriginalId": "pdv-77",
            "Customer": {"OriginalId": ANA},
            "OrderTotal": "94.00",
            "IsCompleted": True,
            "OrderCompletedDate": datetime.now().astimezone().isoformat(),
        }
        assert tenant.http.post("/v1/pvt/Order", json=order).status_code == 200
        assert balances(tenant) == (400 + 94, 0)
        assert tenant.http.post("/v1/pvt/Order/pdv-77/cancel", json={}).status_code == 200
        assert balances(tenant) == (1000, 0)
        history = points_of(tenant, ANA)["PointHistory"]
        assert (600, 10) in [(h["Points"], h["PointType"]) for h in history]
        # Cancelled once, given back once.
        tenant.http.post("/v1/pvt/Order/pdv-77/cancel", json={})
        assert balances(tenant) == (1000, 0)


class TestSimulateAndBalance:
    def test_simulate_holds_nothing(self, tenant: TenantHandle) -> None:
        ana_with(tenant, 1000)
        set_rule(tenant, MaxValue="7.50")
        answer = ok(call(tenant, "simulate", {"customer_id": ANA, "total": "100.00"}))
        assert answer == {"value": "7.50", "available_balance": "10.00", "reason": None}
        assert balances(tenant) == (1000, 0)
        assert error_of(call(tenant, "simulate", {"customer_id": "x", "total": "1"})) == (
            404,
            "CUSTOMER_NOT_FOUND",
        )

    def test_balance(self, server: Server, tenant: TenantHandle) -> None:
        tenant.http.put("/v1/admin/program", json={"OrderPointsPendingDays": 10})
        ana_with(tenant, 0)
        soon = server.clock() + timedelta(days=3)
        add_points(tenant, ANA, 250, ExpirationDate=soon.isoformat())
        add_points(tenant, ANA, 1000)
        order = {
            "OriginalId": "o-1",
            "Customer": {"OriginalId": ANA},
            "OrderTotal": "80.00",
            "IsCompleted": True,
            "OrderCompletedDate": server.clock().isoformat(),
        }
        assert tenant.http.post("/v1/pvt/Order", json=order).status_code == 200
        token_of(tenant, "3.00")  # takes the soonest-expiring points first
        response = tenant.http.get(
            f"/v1/rewards/customers/{ANA}/balance", headers={"brand": tenant.slug}
        )
        answer = ok(response)
        assert (
            answer["available_balance"],
            answer["unavailable_balance"],
            answer["locked_balance"],
        ) == ("9.50", "0.80", "3.00")
        assert answer["next_expiration"] is None  # the expiring lot is wholly locked
        statuses = sorted((r["status"], r["value"], r["remaining"]) for r in answer["rewards"])
        assert statuses == [("available", "10.00", "9.50"), ("unavailable", "0.80", "0.80")]
        missing = tenant.http.get("/v1/rewards/customers/x/balance", headers={"brand": tenant.slug})
        assert error_of(missing) == (404, "CUSTOMER_NOT_FOUND")

    def test_an_expired_lock_gives_its_lots_back_to_every_read_before_any_sweep(
        self, server: Server, clock: Clock, tenant: TenantHandle
    ) -> None:
        tenant.http.put("/v1/admin/program", json={"LockTtlSeconds": 60})
        ana_with(tenant, 0)
        soon = server.clock() + timedelta(days=3)
        add_points(tenant, ANA, 250, ExpirationDate=soon.isoformat())
        token_of(tenant, "2.50")  # holds the whole expiring lot
        clock.advance(seconds=61)
        for read in range(2):  # before the job, then after it
            answer = ok(
                tenant.http.get(
                    f"/v1/rewards/customers/{ANA}/balance", headers={"brand": tenant.slug}
                )
            )
            assert (answer["available_balance"], answer["locked_balance"]) == ("2.50", "0.00")
            assert answer["next_expiration"]["value"] == "2.50"
            assert [r["remaining"] for r in answer["rewards"]] == ["2.50"]
            points = points_of(tenant, ANA)
            assert points["HeldPoints"] == 0
            assert [item["Points"] for item in points["PointsToExpire"]] == [250]
            if not read:
                run_jobs_once(server)

    def test_next_expiration(self, server: Server, tenant: TenantHandle) -> None:
        ana_with(tenant, 0)
        soon = server.clock() + timedelta(days=3)
        add_points(tenant, ANA, 250, ExpirationDate=soon.isoformat())
        add_points(tenant, ANA, 100)
        answer = ok(
            tenant.http.get(f"/v1/rewards/customers/{ANA}/balance", headers={"brand": tenant.slug})
        )
        assert answer["next_expiration"]["value"] == "2.50"
        expires = datetime.fromisoformat(answer["next_expiration"]["expires_at"])
        assert abs(expires - soon) < timedelta(seconds=1)
