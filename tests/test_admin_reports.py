"""Admin API: customer search, a customer's full ledger, liability and daily reports.

The report numbers are worked out by hand from a small story; every test also checks that the
other tenant sees none of it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import Clock, Server, TenantHandle, add_points, upsert

ANA_CPF = "529.982.247-25"


def result(response: Any) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["HasError"] is False, body
    return body["Result"]


def search(tenant: TenantHandle, query: str | None = None, **params: Any) -> dict[str, Any]:
    if query is not None:
        params["Query"] = query
    found: dict[str, Any] = result(tenant.http.get("/v1/admin/customers", params=params))
    return found


def original_ids(page: dict[str, Any]) -> list[str]:
    return [item["OriginalId"] for item in page["Items"]]


# --- search ---------------------------------------------------------------------------------


@pytest.fixture
def people(tenant: TenantHandle, other_tenant: TenantHandle) -> TenantHandle:
    upsert(tenant, "ana-1", Name="Ana Souza", Email="Ana@Example.com", Document=ANA_CPF)
    upsert(tenant, "B-100", Name="Bruno Lima", Email="bruno@loja.com")
    upsert(tenant, "50%_off", Name="Carla")
    upsert(other_tenant, "ana-2", Name="Ana Souza Outra", Email="ana@other.com")
    return tenant


class TestSearch:
    def test_by_any_part_of_name_email_original_id_or_document(self, people: TenantHandle) -> None:
        assert original_ids(search(people, "souza")) == ["ana-1"]
        assert original_ids(search(people, "ANA@EXAMPLE")) == ["ana-1"]
        assert original_ids(search(people, "b-1")) == ["B-100"]
        assert original_ids(search(people, "52998224725")) == ["ana-1"]
        assert original_ids(search(people, "529.982")) == ["ana-1"]
        assert original_ids(search(people, "nobody")) == []

    def test_accented_letters_in_any_case(self, tenant: TenantHandle) -> None:
        upsert(tenant, "c-1", Name="Érica Álvares")
        upsert(tenant, "JOÃO-7", Name="João")
        for query in ("Érica", "érica", "ÁLVARES"):
            assert original_ids(search(tenant, query)) == ["c-1"], query
        assert original_ids(search(tenant, "joão-")) == ["JOÃO-7"]
        # A letter whose lower case differs between Python and PostgreSQL ("İ"): each database
        # lowers both sides the same way.
        upsert(tenant, "c-2", Name="İlker")
        assert original_ids(search(tenant, "İlker")) == ["c-2"]

    def test_like_wildcards_are_taken_literally(self, people: TenantHandle) -> None:
        assert original_ids(search(people, "%")) == ["50%_off"]
        assert original_ids(search(people, "_")) == ["50%_off"]

    def test_blank_lists_everyone_newest_first_with_balances(self, people: TenantHandle) -> None:
        assert add_points(people, "B-100", 120).status_code == 200
        page = search(people)
        assert original_ids(page) == ["50%_off", "B-100", "ana-1"]
        assert page["TotalItemCount"] == 3
        bruno = page["Items"][1]
        assert (bruno["BalanceOfPoints"], bruno["BalanceCashback"]) == (120, 1.2)

    def test_pages(self, people: TenantHandle) -> None:
        first = search(people, PageSize=2, PageNumber=1)
        second = search(people, PageSize=2, PageNumber=2)
        assert (len(first["Items"]), first["HasNextPage"]) == (2, True)
        assert (original_ids(second), second["HasNextPage"]) == (["ana-1"], False)

    def test_never_finds_another_tenants_customers(
        self, people: TenantHandle, other_tenant: TenantHandle
    ) -> None:
        assert original_ids(search(people, "outra")) == []
        assert original_ids(search(other_tenant, "souza")) == ["ana-2"]
        assert search(other_tenant)["TotalItemCount"] == 1

    @pytest.mark.parametrize(
        "params", [{"PageSize": 0}, {"PageSize": 101}, {"PageNumber": 0}, {"Query": "x" * 201}]
    )
    def test_bad_paging_is_a_validation_error(
        self, tenant: TenantHandle, params: dict[str, Any]
    ) -> None:
        response = tenant.http.get("/v1/admin/customers", params=params)
        assert (response.status_code, response.json()["CodeName"]) == (400, "ValidationError")


# --- a customer's ledger ----------------------------------------------------------------------


class TestLedger:
    def test_every_movement_with_internal_reason_key_lots_and_cause(
        self, tenant: TenantHandle
    ) -> None:
        upsert(tenant, "ana-1", Name="Ana")
        welcome = add_points(
            tenant,
            "ana-1",
            500,
            Reason="welcome bonus (ticket 42)",
            CustomerReason="Bem-vinda!",
            ChangeKey="welcome-ana",
        )
        assert welcome.status_code == 200
        assert add_points(tenant, "ana-1", -200, Reason="fraud correction").status_code == 200

        page = result(tenant.http.get("/v1/admin/customers/ana-1/ledger"))
        assert page["TotalItemCount"] == 2
        assert page["Customer"]["BalanceOfPoints"] == 300
        debit, credit = page["Items"]
        assert credit["Type"] == "adjustment_credit"
        assert (credit["From"], credit["To"], credit["Amount"], credit["Points"]) == (
            "issued",
            "available",
            500,
            500,
        )
        assert credit["Reason"] == "welcome bonus (ticket 42)"
        assert credit["CustomerReason"] == "Bem-vinda!"
        assert credit["ChangeKey"] == "welcome-ana"
        assert credit["Cause"] == {"Kind": "Adjustment", "Ref": "welcome-ana"}
        lot_id = credit["CreatedLotId"]
        assert isinstance(lot_id, int)
        assert credit["Lots"] == []
        assert debit["Type"] == "adjustment_debit"
        assert (debit["From"], debit["To"], debit["Points"]) == ("available", "redeemed", -200)
        assert debit["Reason"] == "fraud correction"
        assert debit["CashbackValue"] == -2.0
        assert debit["Lots"] == [{"LotId": lot_id, "Points": 200}]
        assert debit["CreatedLotId"] is None

    def test_internal_movements_are_listed_too(self, tenant: TenantHandle, clock: Clock) -> None:
        # A pending order credit, released later: the release shows only here, not in the
        # customer-facing history.
        assert tenant.http.put("/v1/admin/program", json={"OrderPointsPendingDays": 1}).json()
        body = {
            "OriginalId": "o-1",
            "Customer": {"OriginalId": "ana-1", "Name": "Ana"},
            "OrderTotal": "40.00",
            "IsCompleted": True,
            "OrderCompletedDate": clock().isoformat(),
        }
        assert tenant.http.post("/v1/pvt/Order", json=body).status_code == 200
        clock.advance(days=2)
        assert add_points(tenant, "ana-1", 1).status_code == 200  # a writer settles the lot
        items = result(tenant.http.get("/v1/admin/customers/ana-1/ledger"))["Items"]
        kinds = [(i["Type"], i["From"], i["To"], i["Amount"]) for i in items]
        assert kinds == [
            ("adjustment_credit", "issued", "available", 1),
            ("release", "pending", "available", 40),
            ("order_earn", "issued", "pending", 40),
        ]
        assert items[1]["Cause"]["Kind"] == "Settlement"
        assert items[2]["Cause"] == {"Kind": "Order", "Ref": "o-1"}
        history = tenant.http.post("/v1/pvt/Customer/ana-1/history").json()
        assert history["TotalItemCount"] == 2

    def test_another_tenant_gets_404(
        self, tenant: TenantHandle, other_tenant: TenantHandle
    ) -> None:
        upsert(tenant, "ana-1", Name="Ana")
        assert add_points(tenant, "ana-1", 10).status_code == 200
        response = other_tenant.http.get("/v1/admin/customers/ana-1/ledger")
        assert (response.status_code, response.json()["CodeName"]) == (404, "CustomerNotFound")
        assert tenant.http.get("/v1/admin/customers/nobody/ledger").status_code == 404


# --- liability and daily reports --------------------------------------------------------------


def liability(tenant: TenantHandle, **params: str) -> dict[str, Any]:
    found: dict[str, Any] = result(tenant.http.get("/v1/admin/reports/liability", params=params))
    return found


def daily(tenant: TenantHandle, **params: str) -> dict[str, Any]:
    found: dict[str, Any] = result(tenant.http.get("/v1/admin/reports/daily", params=params))
    return found


def order(tenant: TenantHandle, clock: Clock, original_id: str, who: str, total: str) -> None:
    body = {
        "OriginalId": original_id,
        "Customer": {"OriginalId": who, "Name": who},
        "OrderTotal": total,
        "IsCompleted": True,
        "OrderCompletedDate": clock().isoformat(),
    }
    response = tenant.http.post("/v1/pvt/Order", json=body)
    assert response.status_code == 200, response.text


def test_liability_and_daily_worked_out_by_hand(
    tenant: TenantHandle, other_tenant: TenantHandle, clock: Clock
) -> None:
    """Day D: Ana +1000, Bruno +300 (expiring on D+1), Carla's order of R$100 earns 100 and is
    cancelled, Ana -250. Day D+2: Bruno's 300 expired (nobody wrote it yet), then Bruno +10
    (which writes the expiry), then Dani's R$50 order earns 50 pending for 5 days.
    PointValue R$0.02."""
    assert tenant.http.put("/v1/admin/program", json={"PointValue": "0.02"}).status_code == 200
    day = clock().date()
    for who in ("ana", "bruno"):
        upsert(tenant, who, Name=who)
    assert add_points(tenant, "ana", 1000).status_code == 200
    expiry = (clock() + timedelta(days=1)).isoformat()
    assert add_points(tenant, "bruno", 300, ExpirationDate=expiry).status_code == 200
    order(tenant, clock, "o-1", "carla", "100.00")
    assert tenant.http.post("/v1/pvt/Order/o-1/cancel", json={}).status_code == 200
    assert add_points(tenant, "ana", -250).status_code == 200

    clock.advance(days=2)
    span = {"From": day.isoformat(), "To": (day + timedelta(days=2)).isoformat()}
    before = liability(tenant, **span)
    # Bruno's lot expired a day ago: the balance already says so, no job needed.
    assert (before["AvailablePoints"], before["OutstandingPoints"]) == (750, 750)
    assert before["OutstandingValue"] == 15.0
    # ... but the movement is written only when the expiry is settled.
    assert (before["IssuedPoints"], before["RedeemedPoints"], before["ReversedPoints"]) == (
        1400,
        250,
        100,
    )
    assert before["ExpiredPoints"] == 0

    assert add_points(tenant, "bruno", 10).status_code == 200
    assert tenant.http.put("/v1/admin/program", json={"OrderPointsPendingDays": 5}).json()
    order(tenant, clock, "o-2", "dani", "50.00")

    found = liability(tenant, **span)
    assert found["Customers"] == 4
    assert found["PointValue"] == 0.02
    assert (found["AvailablePoints"], found["AvailableValue"]) == (760, 15.2)
    assert (found["PendingPoints"], found["PendingValue"]) == (50, 1.0)
    assert (found["HeldPoints"], found["DebtPoints"]) == (0, 0)
    assert (found["OutstandingPoints"], found["OutstandingValue"]) == (810, 16.2)
    assert (found["From"], found["To"]) == (span["From"], span["To"])
    flows = {k: found[f"{k}Points"] for k in ("Issued", "Redeemed", "Expired", "Reversed")}
    assert flows == {"Issued": 1460, "Redeemed": 250, "Expired": 300, "Reversed": 100}
    assert (found["IssuedValue"], found["ExpiredValue"]) == (29.2, 6.0)
    # The books balance: what is outstanding is what flowed in, less what flowed out.
    assert found["OutstandingPoints"] == 1460 - 250 - 300 - 100 + found["RefundedPoints"]

    report = daily(tenant, **span)
    days = [
        (d["Date"], d["IssuedPoints"], d["RedeemedPoints"], d["ExpiredPoints"], d["ReversedPoints"])
        for d in report["Days"]
    ]
    assert days == [
        (day.isoformat(), 1400, 250, 0, 100),
        ((day + timedelta(days=1)).isoformat(), 0, 0, 0, 0),
        ((day + timedelta(days=2)).isoformat(), 60, 0, 300, 0),
    ]
    assert report["Days"][0]["IssuedValue"] == 28.0
    assert report["Days"][0]["RedeemedValue"] == 5.0
    assert report["Days"][2]["ExpiredValue"] == 6.0
    assert report["Totals"]["IssuedPoints"] == 1460
    # R$ are exact decimal numbers in the JSON text, never binary floats.
    raw = tenant.http.get("/v1/admin/reports/liability", params=span).text
    assert '"OutstandingValue":16.20' in raw

    # The other tenant sees nothing of it.
    theirs = liability(other_tenant, **span)
    assert (theirs["Customers"], theirs["OutstandingPoints"], theirs["IssuedPoints"]) == (0, 0, 0)
    assert all(d["IssuedPoints"] == 0 for d in daily(other_tenant, **span)["Days"])


def test_a_day_only_counts_its_own_movements(tenant: TenantHandle, clock: Clock) -> None:
    upsert(tenant, "ana", Name="Ana")
    day = clock().date()
    assert add_points(tenant, "ana", 70).status_code == 200
    clock.advance(days=1)
    assert add_points(tenant, "ana", 30).status_code == 200
    only_first = daily(tenant, From=day.isoformat(), To=day.isoformat())
    assert [d["IssuedPoints"] for d in only_first["Days"]] == [70]
    later = liability(tenant, From=(day + timedelta(days=1)).isoformat())
    assert (later["IssuedPoints"], later["OutstandingPoints"]) == (30, 100)


def test_default_period_is_the_last_30_days(tenant: TenantHandle, clock: Clock) -> None:
    report = daily(tenant)
    assert len(report["Days"]) == 30
    assert report["To"] == clock().date().isoformat()
    assert liability(tenant)["From"] == report["From"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"From": "2026-02-01", "To": "2026-01-01"}, "From must not be after To"),
        ({"From": "2024-01-01", "To": "2026-01-01"}, "at most 366 days"),
        ({"From": "yesterday"}, "From"),
        ({"To": "2026-02-30"}, "To"),
        # Days at the calendar's ends, where the default span or the end's midnight would
        # fall outside the dates there are.
        ({"To": "0001-01-01"}, "To must be between 1000-01-01 and 8999-12-31"),
        ({"From": "9999-12-31"}, "From must be between 1000-01-01 and 8999-12-31"),
        ({"From": "9999-12-01", "To": "9999-12-31"}, "From must be between"),
    ],
)
def test_bad_periods_are_validation_errors(
    tenant: TenantHandle, params: dict[str, str], message: str
) -> None:
    for path in ("/v1/admin/reports/daily", "/v1/admin/reports/liability"):
        response = tenant.http.get(path, params=params)
        assert response.status_code == 400, response.text
        assert response.json()["CodeName"] == "ValidationError"
        assert message in response.json()["ErrorMessage"]


# --- the CLI ----------------------------------------------------------------------------------


def test_cli_report_liability(server: Server, tenant: TenantHandle, clock: Clock) -> None:
    from tests.test_cli import fidelis

    upsert(tenant, "ana", Name="Ana")
    assert add_points(tenant, "ana", 1234).status_code == 200
    assert add_points(tenant, "ana", -34).status_code == 200
    wide = {"COLUMNS": "250"}  # one table row per line
    done = fidelis(server.database_url, "report", "liability", "--tenant", tenant.slug, env=wide)
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if tenant.slug in line)
    # outstanding, available, pending, held, debt, issued, redeemed, expired, reversed
    assert re.findall(r"(-?\d+) pts", row) == [
        "1200",
        "1200",
        "0",
        "0",
        "0",
        "1234",
        "34",
        "0",
        "0",
    ]
    assert "R$ 12,00" in done.stdout
    assert "R$ 12,34" in done.stdout

    unknown = fidelis(server.database_url, "report", "liability", "--tenant", "no-such-tenant")
    assert unknown.returncode != 0
    assert unknown.stdout == ""
    assert len(unknown.stderr.strip().splitlines()) == 1
    assert "no-such-tenant" in unknown.stderr

    for args, mention in (
        (["--from", "yesterday"], "--from"),
        (["--from", "2026-02-01", "--to", "2026-01-01"], "From must not be after To"),
        (["--to", "0001-01-01"], "To must be between"),
    ):
        bad = fidelis(server.database_url, "report", "liability", "--tenant", tenant.slug, *args)
        assert bad.returncode != 0
        assert len(bad.stderr.strip().splitlines()) == 1
        assert mention in bad.stderr
