"""The admin console end to end in a real headless browser (Playwright driving Debian's
chromium): log in, pick the tenant, find a customer, adjust points, see the history and the
dashboard change. A screenshot of each page lands in tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import ADMIN_PASSWORD, Server, TenantHandle, add_points, upsert

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)"
)


@pytest.fixture
def browser(tenant: TenantHandle) -> Iterator[Browser]:
    # Playwright's sync API runs an event loop on this thread while it is open, and the tenant
    # fixtures use asyncio.run(): so the tenant is made first and checked after it closes.
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_staff_find_a_customer_adjust_points_and_see_it_everywhere(
    page: Page, server: Server, tenant: TenantHandle
) -> None:
    upsert(tenant, "ana-42", Name="Ana Souza", Email="ana@example.com")
    upsert(tenant, "bruno-7", Name="Bruno Lima")
    assert add_points(tenant, "ana-42", 100, Reason="opening balance").status_code == 200

    # Log in (an anonymous visit lands on the login page).
    page.goto(f"{server.base_url}/admin")
    expect(page).to_have_url(f"{server.base_url}/admin/login")
    shot(page, "01-login")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("Wrong password")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")

    # Pick the tenant.
    expect(page).to_have_url(f"{server.base_url}/admin/tenants")
    shot(page, "02-tenants")
    page.click(f"button[data-tenant='{tenant.slug}']")
    expect(page).to_have_url(f"{server.base_url}/admin")
    expect(page.locator("#current-tenant")).to_contain_text(tenant.slug)
    expect(page.locator("#outstanding-points")).to_have_text("100 pts")
    shot(page, "03-dashboard-before")

    # Find the customer.
    page.click("nav >> text=Customers")
    page.fill("input[name=q]", "souza")
    page.click("form.search button")
    rows = page.locator("#customers tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ana-42")
    shot(page, "04-customer-search")
    page.click("#customers >> text=Ana Souza")
    expect(page.locator("#balance-points")).to_have_text("100 pts")
    shot(page, "05-customer")

    # Adjust: add 250 with an internal reason.
    form = page.locator("#adjust-form")
    form.locator("select[name=operation]").select_option("add")
    form.locator("input[name=points]").fill("250")
    form.locator("input[name=reason]").fill("goodwill after complaint #981")
    form.locator("input[name=customer_reason]").fill("Desculpe o transtorno")
    form.locator("button[type=submit]").click()
    expect(page.get_by_role("status")).to_contain_text("Adjustment applied")
    expect(page.locator("#balance-points")).to_have_text("350 pts")
    expect(page.locator("#balance-value")).to_have_text("R$ 3,50")
    history = page.locator("#history tbody tr")
    expect(history.first).to_contain_text("goodwill after complaint #981")
    expect(history.first).to_contain_text("ConsoleAdjustment")
    expect(page.locator("#lots tbody tr")).to_have_count(2)
    shot(page, "06-customer-after-adjustment")

    # A removal over the balance is refused by the same rules as the API; nothing changes.
    form = page.locator("#adjust-form")
    form.locator("select[name=operation]").select_option("remove")
    form.locator("input[name=points]").fill("5000")
    form.locator("input[name=reason]").fill("too much")
    form.locator("button[type=submit]").click()
    expect(page.get_by_role("alert")).to_contain_text("not have enough available points")
    expect(page.locator("#balance-points")).to_have_text("350 pts")
    shot(page, "07-customer-refused-removal")
    assert tenant.http.get("/v1/pvt/Customer/ana-42/points").json()["PointsBalance"] == 350

    # The dashboard follows.
    page.click("nav >> text=Dashboard")
    expect(page.locator("#outstanding-points")).to_have_text("350 pts")
    expect(page.locator("#outstanding-value")).to_have_text("R$ 3,50")
    expect(page.locator("#issued-points")).to_have_text("350")
    expect(page.locator("#daily-chart rect.bar.issued")).to_have_count(1)
    shot(page, "08-dashboard-after")

    # The other pages render too.
    page.click("nav >> text=Program")
    expect(page.locator("#program-form input[name=PointValue]")).to_have_value("0.01")
    shot(page, "09-program")
    page.click("nav >> text=Rewards")
    page.fill("#reward-form input[name=Title]", "Frete grátis")
    page.select_option("#reward-form select[name=RewardType]", "2")
    page.fill("#reward-form input[name=Points]", "500")
    page.click("#reward-form button[type=submit]")
    expect(page.get_by_role("status")).to_contain_text("Reward created")
    expect(page.locator("#rewards tbody tr")).to_have_count(1)
    shot(page, "10-rewards")

    # Log out: the console is closed again.
    page.click("text=Log out")
    expect(page).to_have_url(f"{server.base_url}/admin/login")
    page.goto(f"{server.base_url}/admin/customers")
    expect(page).to_have_url(f"{server.base_url}/admin/login")
