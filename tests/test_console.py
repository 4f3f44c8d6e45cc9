"""The admin console over real HTTP: login, throttling, CSRF, cookies, and that its forms obey
the same rules as the APIs (a refused form changes nothing)."""

from __future__ import annotations

import ast
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.routing import APIRoute

from fidelis.app import create_app
from fidelis.config import Settings
from fidelis.console import routes as console_pages
from tests.conftest import (
    ADMIN_PASSWORD,
    Server,
    TenantHandle,
    add_points,
    free_port,
    points_of,
    serving,
    upsert,
)

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CHANGE_KEY = re.compile(r'name="change_key" value="([^"]+)"')


def csrf_of(response: httpx.Response) -> str:
    found = CSRF.search(response.text)
    assert found, response.text[:300]
    return found.group(1)


class Console:
    """A browser-like client of the console: keeps its cookie, reads tokens from the pages."""

    def __init__(self, base_url: str, address: str | None = None) -> None:
        # The test server trusts X-Forwarded-For from 127.0.0.1 (uvicorn's proxy headers), so
        # each console can log in from an address of its own.
        self.address = address or f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
        self.http = httpx.Client(
            base_url=base_url, timeout=30, headers={"X-Forwarded-For": self.address}
        )

    def close(self) -> None:
        self.http.close()

    def login(self, password: str = ADMIN_PASSWORD) -> httpx.Response:
        token = csrf_of(self.http.get("/admin/login"))
        return self.http.post("/admin/login", data={"csrf": token, "password": password})

    def csrf(self, path: str = "/admin/tenants") -> str:
        return csrf_of(self.http.get(path))

    def pick(self, tenant: TenantHandle) -> None:
        response = self.http.post("/admin/tenant", data={"csrf": self.csrf(), "slug": tenant.slug})
        assert (response.status_code, response.headers["location"]) == (303, "/admin")

    def customer_page(self, tenant: TenantHandle, original_id: str) -> tuple[str, httpx.Response]:
        found = tenant.http.get(f"/v1/pvt/Customer/{original_id}").json()["Result"]
        path = f"/admin/customers/{found['InternalId']}"
        return path, self.http.get(path)


@pytest.fixture
def console(server: Server) -> Iterator[Console]:
    client = Console(server.base_url)
    yield client
    client.close()


@pytest.fixture
def staff(console: Console, tenant: TenantHandle) -> Console:
    """Logged in, with `tenant` picked."""
    assert console.login().status_code == 303
    console.pick(tenant)
    return console


def console_routes() -> list[tuple[str, str]]:
    found = []
    for route in console_pages.router.routes:
        if isinstance(route, APIRoute) and route.path.startswith("/admin"):
            path = route.path.replace("{customer_id}", "1")
            found += [(method, path) for method in sorted(route.methods or ())]
    return found


# --- the door ---------------------------------------------------------------------------------


def test_every_console_page_needs_a_login(server: Server) -> None:
    routes = console_routes()
    assert ("GET", "/admin") in routes
    assert ("POST", "/admin/customers/1/adjust") in routes
    with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
        for method, path in routes:
            if path == "/admin/login":
                continue
            data = {"csrf": "x"} if method == "POST" else None
            response = anonymous.request(method, path, data=data)
            assert (method, path, response.status_code) == (method, path, 303)
            assert response.headers["location"] == "/admin/login"
        # A forged cookie is no session either.
        anonymous.cookies.set("fidelis_console", "forged.value.here", path="/admin")
        assert anonymous.get("/admin").status_code == 303


def test_console_routes_are_not_in_the_api_document(server: Server) -> None:
    # The API's route walk (test_auth_and_isolation) covers the documented API; the console is
    # covered by the test above.
    paths = httpx.get(f"{server.base_url}/openapi.json").json()["paths"]
    assert [p for p in paths if p.startswith("/admin")] == []


def test_login_sets_a_hardened_session_cookie(console: Console, tenant: TenantHandle) -> None:
    page = console.http.get("/admin/login")
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    response = console.login()
    assert (response.status_code, response.headers["location"]) == (303, "/admin")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/admin" in cookie
    assert ADMIN_PASSWORD not in response.headers["set-cookie"]
    # Logged in but no tenant picked yet: the picker.
    assert console.http.get("/admin").headers["location"] == "/admin/tenants"
    assert tenant.slug in console.http.get("/admin/tenants").text
    console.pick(tenant)
    dashboard = console.http.get("/admin")
    assert dashboard.status_code == 200
    assert f"({tenant.slug})" in dashboard.text
    assert 'id="daily-chart"' in dashboard.text


def test_a_new_session_token_after_login(console: Console) -> None:
    before = console.csrf("/admin/login")
    console.login()
    assert console.csrf() != before


def test_wrong_password_is_refused(console: Console) -> None:
    response = console.login("not-the-password")
    assert response.status_code == 401
    assert "Wrong password" in response.text
    assert console.http.get("/admin").status_code == 303


def test_logout_ends_the_session(staff: Console) -> None:
    response = staff.http.post("/admin/logout", data={"csrf": staff.csrf()})
    assert (response.status_code, response.headers["location"]) == (303, "/admin/login")
    assert staff.http.get("/admin").headers["location"] == "/admin/login"


@contextmanager
def another_server(settings: Settings) -> Iterator[str]:
    """A second server process-alike on the same database (its own app, pool and port)."""
    app = create_app(settings)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", loop="asyncio")
    with serving(config):
        yield f"http://127.0.0.1:{port}"


def test_failed_logins_are_throttled_across_servers(server: Server) -> None:
    attacker = Console(server.base_url)
    bystander = Console(server.base_url)
    try:
        for _ in range(5):
            assert attacker.login("guess").status_code == 401
        throttled = attacker.login()  # even the right password, now
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) > 0
        assert attacker.http.get("/admin").status_code == 303
        # Another address is not affected.
        assert bystander.login().status_code == 303
        # The count lives in the database: another server process refuses the address too.
        settings = Settings(database_url=server.database_url, admin_password=ADMIN_PASSWORD)
        with another_server(settings) as other_url:
            elsewhere = Console(other_url, address=attacker.address)
            try:
                assert elsewhere.login().status_code == 429
            finally:
                elsewhere.close()
    finally:
        attacker.close()
        bystander.close()


def test_an_address_or_method_with_no_page_is_a_console_page(console: Console) -> None:
    for method, path, status, says in (
        ("GET", "/admin/nope", 404, "There is no such page."),
        ("GET", "/admin/static/nope.css", 404, "There is no such page."),
        ("DELETE", "/admin/customers", 405, "This page does not take that method."),
    ):
        response = console.http.request(method, path)
        assert response.status_code == status, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert says in response.text, path
    # The API's own /v1/admin paths keep the API's answers.
    api = console.http.get("/v1/admin/nope")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/json"


def test_the_console_is_off_without_a_password(server: Server) -> None:
    settings = Settings(database_url=server.database_url, admin_password=None)
    with another_server(settings) as url:
        for path in ("/admin", "/admin/login", "/admin/static/console.css", "/admin/customers"):
            assert httpx.get(url + path).status_code == 404, path
        assert httpx.post(url + "/admin/login", data={"password": ""}).status_code == 404
    # A blank password counts as none.
    assert Settings(database_url=server.database_url, admin_password="  ").admin_password is None


# --- CSRF -------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_forms_without_the_right_csrf_token_change_nothing(
    staff: Console, tenant: TenantHandle, token: str | None
) -> None:
    upsert(tenant, "ana", Name="Ana")
    assert add_points(tenant, "ana", 100).status_code == 200
    path, page = staff.customer_page(tenant, "ana")
    form: dict[str, Any] = {
        "operation": "add",
        "points": "50",
        "reason": "bonus",
        "change_key": CHANGE_KEY.search(page.text).group(1),  # type: ignore[union-attr]
    }
    sent = {} if token is None else {"csrf": token}
    posts = [
        (f"{path}/adjust", form),
        ("/admin/program", {"PointValue": "0.05"}),
        ("/admin/rewards", {"Title": "X", "RewardType": "3"}),
        ("/admin/tenant", {"slug": tenant.slug}),
        ("/admin/logout", {}),
    ]
    for url, data in posts:
        response = staff.http.post(url, data={**data, **sent})
        assert response.status_code == 403, url
        assert "CSRF" in response.text
    assert points_of(tenant, "ana")["PointsBalance"] == 100
    program = tenant.http.get("/v1/admin/program").json()["Result"]
    assert program["PointValue"] == "0.01"
    assert tenant.http.get("/v1/admin/rewards").json()["Result"] == []
    assert staff.http.get("/admin").status_code == 200  # still logged in


def test_another_sessions_token_is_refused(
    staff: Console, server: Server, tenant: TenantHandle
) -> None:
    other = Console(server.base_url)
    try:
        other.login()
        response = staff.http.post(
            "/admin/program", data={"csrf": other.csrf(), "PointValue": "0.05"}
        )
        assert response.status_code == 403
    finally:
        other.close()


def test_the_login_form_needs_its_token_too(console: Console) -> None:
    console.http.get("/admin/login")
    response = console.http.post("/admin/login", data={"password": ADMIN_PASSWORD})
    assert response.status_code == 403
    assert console.http.get("/admin").status_code == 303


# --- forms go through the same rules as the APIs ------------------------------------------------


def adjust(staff: Console, path: str, page: httpx.Response, **fields: str) -> httpx.Response:
    key = CHANGE_KEY.search(page.text)
    assert key is not None
    data = {"csrf": csrf_of(page), "change_key": key.group(1), **fields}
    return staff.http.post(f"{path}/adjust", data=data)


def test_a_removal_over_the_balance_shows_the_error_and_changes_nothing(
    staff: Console, tenant: TenantHandle
) -> None:
    upsert(tenant, "ana", Name="Ana")
    assert add_points(tenant, "ana", 100).status_code == 200
    path, page = staff.customer_page(tenant, "ana")
    response = adjust(staff, path, page, operation="remove", points="500", reason="oops")
    assert response.status_code == 400
    assert "does not have enough available points" in response.text
    assert 'value="oops"' in response.text  # the form keeps what was typed
    assert points_of(tenant, "ana")["PointsBalance"] == 100
    ledger = tenant.http.get("/v1/admin/customers/ana/ledger").json()["Result"]
    assert ledger["TotalItemCount"] == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"operation": "add", "points": "10", "reason": " "}, "Reason is required"),
        ({"operation": "add", "points": "0", "reason": "x"}, "cannot be zero"),
        ({"operation": "add", "points": "ten", "reason": "x"}, "whole number"),
        # Digits to `str.isdigit`, not to `int`: refused, never a 500.
        ({"operation": "add", "points": "²", "reason": "x"}, "whole number"),
        ({"operation": "add", "points": "--5", "reason": "x"}, "whole number"),
        ({"operation": "add", "points": "٣", "reason": "x"}, "whole number"),
        ({"operation": "steal", "points": "10", "reason": "x"}, "add or remove"),
        (
            {"operation": "add", "points": "10", "reason": "x", "customer_reason": "y" * 300},
            "CustomerReason",
        ),
        # The API's limit on the internal reason holds on every face (the column's size).
        ({"operation": "add", "points": "10", "reason": "x" * 1001}, "longer than 1000"),
    ],
)
def test_bad_adjustments_are_refused(
    staff: Console, tenant: TenantHandle, fields: dict[str, str], message: str
) -> None:
    upsert(tenant, "ana", Name="Ana")
    path, page = staff.customer_page(tenant, "ana")
    response = adjust(staff, path, page, **fields)
    assert response.status_code == 400
    assert message.lower() in response.text.lower()
    assert points_of(tenant, "ana")["PointsBalance"] == 0


def test_nul_in_a_form_or_a_search_is_refused(staff: Console, tenant: TenantHandle) -> None:
    upsert(tenant, "ana", Name="Ana")
    path, page = staff.customer_page(tenant, "ana")
    response = adjust(staff, path, page, operation="add", points="10", reason="a\x00b")
    assert response.status_code == 400
    assert "NUL character" in response.text
    assert points_of(tenant, "ana")["PointsBalance"] == 0
    search = staff.http.get("/admin/customers", params={"q": "an\x00a"})
    assert search.status_code == 400
    assert "NUL character" in search.text
    assert "Traceback" not in response.text + search.text


def test_a_form_the_framework_cannot_read_is_a_console_page(
    staff: Console, tenant: TenantHandle
) -> None:
    upsert(tenant, "ana", Name="Ana")
    path, page = staff.customer_page(tenant, "ana")
    crowd = {f"extra{n}": "x" for n in range(1000)}
    response = adjust(staff, path, page, operation="add", points="10", **crowd)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "The form could not be read: Too many fields" in response.text
    assert points_of(tenant, "ana")["PointsBalance"] == 0


def test_odd_digits_in_a_path_or_a_page_number_are_not_numbers(
    staff: Console, tenant: TenantHandle
) -> None:
    upsert(tenant, "ana", Name="Ana")
    assert add_points(tenant, "ana", 10).status_code == 200
    path, page = staff.customer_page(tenant, "ana")
    # "²" passes `str.isdigit` and `int` refuses it; "٣" is an Arabic-Indic 3, which `int`
    # takes: neither is a customer id or a page number here.
    for odd in ("²", "٣", "9" * 5000):
        for url in (f"/admin/customers?page={odd}", f"{path}?page={odd}"):
            response = staff.http.get(url)
            assert response.status_code == 200, url  # the first page
            assert "Ana" in response.text
        assert staff.http.get(f"/admin/customers/{odd}").status_code == 404
        response = adjust(staff, f"/admin/customers/{odd}", page, operation="add", points="1")
        assert response.status_code == 404
    assert points_of(tenant, "ana")["PointsBalance"] == 10


def test_a_disabled_customer_cannot_be_adjusted(staff: Console, tenant: TenantHandle) -> None:
    upsert(tenant, "ana", Name="Ana")
    disable = {"IsEnabled": False, "Reason": "fraud"}
    assert tenant.http.post("/v1/pvt/Customer/ana/changestatus", json=disable).status_code == 200
    path, page = staff.customer_page(tenant, "ana")
    response = adjust(staff, path, page, operation="add", points="10", reason="x")
    assert (response.status_code, "customer is disabled" in response.text) == (400, True)


def test_an_adjustment_is_applied_once_and_shows_in_the_history(
    staff: Console, tenant: TenantHandle
) -> None:
    upsert(tenant, "ana", Name="Ana")
    assert add_points(tenant, "ana", 100).status_code == 200
    path, page = staff.customer_page(tenant, "ana")
    fields = {"operation": "add", "points": "50", "reason": "goodwill <b>call</b> #7"}
    first = adjust(staff, path, page, **fields)
    assert (first.status_code, first.headers["location"]) == (303, f"{path}?done=applied")
    # The same form sent again (a double click, a resubmit): applied once.
    again = adjust(staff, path, page, **fields)
    assert (again.status_code, again.headers["location"]) == (303, f"{path}?done=already")
    assert points_of(tenant, "ana")["PointsBalance"] == 150

    shown = staff.http.get(f"{path}?done=applied")
    assert "Adjustment applied" in shown.text
    assert "150 pts" in shown.text
    assert "goodwill &lt;b&gt;call&lt;/b&gt; #7" in shown.text  # escaped, never markup
    newest = tenant.http.get("/v1/admin/customers/ana/ledger").json()["Result"]["Items"][0]
    assert newest["Reason"] == "goodwill <b>call</b> #7"
    assert newest["Cause"]["Kind"] == "ConsoleAdjustment"
    assert newest["ChangeKey"].startswith("console-")
    # A fresh render carries a fresh key: a second, deliberate adjustment applies.
    _, page = staff.customer_page(tenant, "ana")
    assert adjust(staff, path, page, operation="remove", points="20", reason="r").status_code == 303
    assert points_of(tenant, "ana")["PointsBalance"] == 130


def test_the_customer_page_shows_lots_holds_and_history(
    staff: Console, tenant: TenantHandle
) -> None:
    upsert(tenant, "ana", Name="Ana Souza", Email="ana@example.com")
    assert add_points(tenant, "ana", 300, Reason="migration from old system").status_code == 200
    found = staff.http.get("/admin/customers", params={"q": "souza"})
    assert "Ana Souza" in found.text
    _, page = staff.customer_page(tenant, "ana")
    assert page.status_code == 200
    assert "migration from old system" in page.text
    assert 'id="lots"' in page.text
    assert "never" in page.text
    assert "Nothing held." in page.text


def test_the_console_never_shows_another_tenants_customers(
    staff: Console, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    upsert(other_tenant, "zeca", Name="Zeca Pagodinho")
    assert "Zeca" not in staff.http.get("/admin/customers", params={"q": "zeca"}).text
    theirs = other_tenant.http.get("/v1/pvt/Customer/zeca").json()["Result"]["InternalId"]
    assert staff.http.get(f"/admin/customers/{theirs}").status_code == 404
    page = staff.http.get("/admin/tenants")
    response = staff.http.post(
        f"/admin/customers/{theirs}/adjust",
        data={
            "csrf": csrf_of(page),
            "change_key": "console-x",
            "operation": "add",
            "points": "10",
            "reason": "x",
        },
    )
    assert response.status_code == 404
    assert points_of(other_tenant, "zeca")["PointsBalance"] == 0
    assert staff.http.get("/admin/customers/not-a-number").status_code == 404


def test_program_form_uses_the_admin_api_validation(staff: Console, tenant: TenantHandle) -> None:
    page = staff.http.get("/admin/program")
    assert page.status_code == 200
    base = {
        "csrf": csrf_of(page),
        "PointValue": "0.01",
        "CashbackEnabled": "on",
        "PointsPerCurrency": "1",
        "OrderPointsPendingDays": "0",
        "PointsExpireAfterDays": "",
        "LockTtlSeconds": "900",
        "CheckoutHoldHours": "72",
        "RefundRedeemOnOrderCancel": "on",
        "DefaultCustomerReason": "Ajuste de pontos",
        "MaxPercentOfPurchase": "100",
        "MinPurchaseValue": "0",
        "MaxValue": "",
        "Base": "total",
    }
    for bad, message in (
        ({"PointValue": "-1"}, "PointValue"),
        ({"MaxPercentOfPurchase": "101"}, "MaxPercentOfPurchase"),
        ({"LockTtlSeconds": "soon"}, "whole number"),
        # Python's Decimal reads these as 10 and 5; no one types an amount so.
        ({"MaxValue": "1_0"}, "must be a number"),
        ({"MinPurchaseValue": "\u0665"}, "must be a number"),
        ({"Base": "whatever"}, "Base"),
    ):
        response = staff.http.post("/admin/program", data={**base, **bad})
        assert response.status_code == 400, bad
        assert message in response.text
    assert tenant.http.get("/v1/admin/program").json()["Result"]["PointValue"] == "0.01"
    good = {**base, "PointValue": "0,02", "PointsExpireAfterDays": "365", "MaxValue": "50.00"}
    response = staff.http.post("/admin/program", data=good)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/program?done=saved"
    program = tenant.http.get("/v1/admin/program").json()["Result"]
    assert (program["PointValue"], program["PointsExpireAfterDays"]) == ("0.02", 365)
    assert program["RedemptionRule"]["MaxValue"] == "50.00"
    assert 'value="0.02"' in staff.http.get("/admin/program").text


def test_rewards_are_listed_and_created_with_the_catalogue_rules(
    staff: Console, tenant: TenantHandle
) -> None:
    page = staff.http.get("/admin/rewards")
    assert "No rewards yet." in page.text
    bad = {"csrf": csrf_of(page), "Title": "10% off", "RewardType": "0", "Value": "10"}
    response = staff.http.post("/admin/rewards", data=bad)
    assert response.status_code == 400
    assert "Points must be between 1" in response.text
    assert tenant.http.get("/v1/admin/rewards").json()["Result"] == []
    good = {**bad, "Points": "200", "IsActive": "on", "CodePrefix": "DEZ"}
    response = staff.http.post("/admin/rewards", data=good)
    assert response.status_code == 303
    rewards = tenant.http.get("/v1/admin/rewards").json()["Result"]
    assert [(r["Title"], r["Points"], r["Value"], r["IsActive"]) for r in rewards] == [
        ("10% off", 200, 10.0, True)
    ]
    assert "10% off" in staff.http.get("/admin/rewards").text


def test_the_dashboard_shows_liability_and_the_days(staff: Console, tenant: TenantHandle) -> None:
    upsert(tenant, "ana", Name="Ana")
    assert add_points(tenant, "ana", 1234).status_code == 200
    page = staff.http.get("/admin")
    assert 'id="outstanding-points">1234 pts' in page.text
    assert "R$ 12,34" in page.text
    assert page.text.count('class="bar issued"') == 1


# --- layers -----------------------------------------------------------------------------------


def test_console_routes_hold_no_sql() -> None:
    # Same rule as the API routes (tests/test_architecture.py): SQL lives in repositories.
    console = Path(__file__).resolve().parents[1] / "src" / "fidelis" / "console"
    offences = []
    for path in console.glob("*.py"):
        if path.name in ("repository.py", "service.py"):
            continue  # the layers below the routes, as everywhere else
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offences += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "sqlalchemy"]
    assert offences == []
