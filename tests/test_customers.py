"""Customers over the Private API: upsert, lookup, status, the points response and the history.

Documents used below: CPF 529.982.247-25 and 111.444.777-35 and CNPJ 11.222.333/0001-81 are
valid (check digits right); 529.982.247-26 and 11.222.333/0001-82 are not.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import TenantHandle, add_points, points_of, upsert

CPF = "529.982.247-25"
CPF_DIGITS = "52998224725"
OTHER_CPF = "111.444.777-35"
CNPJ = "11.222.333/0001-81"
CNPJ_DIGITS = "11222333000181"

CODES = {
    "CustomerNotFound": "01",
    "ValidationError": "10",
    "ReasonRequired": "13",
    "InvalidDocument": "16",
    "CustomerDisabled": "18",
}
ENVELOPE_KEYS = {
    "ErrorMessage",
    "ErrorCode",
    "Result",
    "Code",
    "CodeName",
    "Severity",
    "HasWarning",
    "HasError",
}
CUSTOMER_KEYS = {
    "OriginalId",
    "InternalId",
    "Name",
    "Email",
    "Phone",
    "BirthdayDate",
    "SignupDate",
    "Document",
    "IsEnrolled",
    "IsEnabled",
    "BalanceOfPoints",
    "BalanceCashback",
}
POINTS_KEYS = {
    "CustomerExists",
    "InternalId",
    "Name",
    "PointsBalance",
    "PendingPoints",
    "HeldPoints",
    "CashbackBalance",
    "PointsToExpire",
    "PointHistory",
}
PAGE_KEYS = {
    "Items",
    "TotalItemCount",
    "PageSize",
    "PageNumber",
    "HasNextPage",
    "HasError",
    "ErrorMessages",
}


# --- helpers -------------------------------------------------------------------------------------


def post_upsert(tenant: TenantHandle, body: Any) -> httpx.Response:
    return tenant.http.post("/v1/pvt/Customer/upsert", json=body)


def get_customer(tenant: TenantHandle, ident: str) -> httpx.Response:
    return tenant.http.get(f"/v1/pvt/Customer/{ident}")


def change_status(tenant: TenantHandle, ident: str, body: Any) -> httpx.Response:
    return tenant.http.post(f"/v1/pvt/Customer/{ident}/changestatus", json=body)


def history_page(tenant: TenantHandle, ident: str, **query: Any) -> httpx.Response:
    return tenant.http.post(f"/v1/pvt/Customer/{ident}/history", params=query)


def assert_ok(response: httpx.Response) -> Any:
    """A plain success envelope; returns its `Result`."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["Severity"] == 0
    assert body["HasError"] is False
    assert body["HasWarning"] is False
    assert body["ErrorCode"] is None
    assert body["ErrorMessage"] is None
    assert body["Code"] is None
    assert body["CodeName"] is None
    return body["Result"]


def assert_error(response: httpx.Response, status: int, code_name: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["CodeName"] == code_name, body
    assert body["Code"] == CODES[code_name]
    assert body["ErrorCode"] == int(CODES[code_name])
    assert body["Severity"] == 2
    assert body["HasError"] is True
    assert body["HasWarning"] is False
    assert isinstance(body["ErrorMessage"], str)
    assert body["ErrorMessage"]
    assert body["Result"] is None
    return body


def found(tenant: TenantHandle, ident: str) -> dict[str, Any]:
    """The customer that `GET /v1/pvt/Customer/{ident}` answers with."""
    result: dict[str, Any] = assert_ok(get_customer(tenant, ident))
    return result


def assert_unknown(tenant: TenantHandle, ident: str) -> None:
    assert_error(get_customer(tenant, ident), 404, "CustomerNotFound")


# --- upsert --------------------------------------------------------------------------------------


class TestUpsert:
    def test_creates_a_customer(self, tenant: TenantHandle) -> None:
        result = assert_ok(
            post_upsert(
                tenant,
                {
                    "OriginalId": "cli-1",
                    "Name": "Maria Silva",
                    "Email": "maria@example.com",
                    "Phone": "+55 11 99999-0000",
                    "BirthdayDate": "1990-05-01T00:00:00Z",
                    "SignupDate": "2024-01-15T12:30:00Z",
                    "Document": CPF,
                },
            )
        )
        assert set(result) == CUSTOMER_KEYS | {"Operation"}
        assert result["Operation"] == "created"
        assert result["OriginalId"] == "cli-1"
        assert result["InternalId"]
        assert result["Name"] == "Maria Silva"
        assert result["Email"] == "maria@example.com"
        assert result["Phone"] == "+55 11 99999-0000"
        assert result["BirthdayDate"] == "1990-05-01T00:00:00Z"
        assert result["SignupDate"] == "2024-01-15T12:30:00Z"
        assert result["IsEnabled"] is True
        assert result["BalanceOfPoints"] == 0
        assert result["BalanceCashback"] == 0

    def test_is_enrolled_defaults_to_true(self, tenant: TenantHandle) -> None:
        assert upsert(tenant, "cli-1")["IsEnrolled"] is True

    def test_is_enrolled_null_means_the_default(self, tenant: TenantHandle) -> None:
        result = assert_ok(post_upsert(tenant, {"OriginalId": "cli-1", "IsEnrolled": None}))
        assert result["Operation"] == "created"
        assert result["IsEnrolled"] is True

    def test_is_enrolled_can_be_false(self, tenant: TenantHandle) -> None:
        assert upsert(tenant, "cli-1", IsEnrolled=False)["IsEnrolled"] is False
        assert found(tenant, "cli-1")["IsEnrolled"] is False

    def test_posting_the_same_original_id_updates(self, tenant: TenantHandle) -> None:
        created = upsert(tenant, "cli-1", Name="Maria")
        updated = upsert(tenant, "cli-1", Name="Maria Souza")
        assert updated["Operation"] == "updated"
        assert updated["InternalId"] == created["InternalId"]
        assert updated["Name"] == "Maria Souza"
        assert found(tenant, "cli-1")["Name"] == "Maria Souza"

    def test_fields_left_out_keep_their_values(self, tenant: TenantHandle) -> None:
        upsert(
            tenant,
            "cli-1",
            Name="Maria",
            Email="maria@example.com",
            Phone="11 5555-0000",
            BirthdayDate="1990-05-01T00:00:00Z",
            SignupDate="2024-01-15T00:00:00Z",
            Document=CPF,
            IsEnrolled=False,
        )
        before = found(tenant, "cli-1")

        updated = upsert(tenant, "cli-1", Phone="11 5555-1111")

        assert updated["Operation"] == "updated"
        assert found(tenant, "cli-1") == {**before, "Phone": "11 5555-1111"}
        assert updated["IsEnrolled"] is False

    def test_an_update_keeps_the_balance(self, tenant: TenantHandle) -> None:
        upsert(tenant, "cli-1")
        add_points(tenant, "cli-1", 250)
        updated = upsert(tenant, "cli-1", Name="Maria")
        assert updated["BalanceOfPoints"] == 250
        assert updated["BalanceCashback"] == 2.5

    def test_an_update_does_not_enable_a_disabled_customer(self, tenant: TenantHandle) -> None:
        upsert(tenant, "cli-1")
        assert_ok(change_status(tenant, "cli-1", {"IsEnabled": False, "Reason": "fraude"}))
        assert upsert(tenant, "cli-1", Name="Maria")["IsEnabled"] is False

    def test_a_customer_may_resend_its_own_email_and_document(self, tenant: TenantHandle) -> None:
        upsert(tenant, "cli-1", Email="maria@example.com", Document=CPF)
        updated = upsert(tenant, "cli-1", Email="MARIA@example.com", Document=CPF_DIGITS)
        assert updated["Operation"] == "updated"

    @pytest.mark.parametrize("document", ["529.982.247-26", "52998224726", "11.222.333/0001-82"])
    def test_wrong_check_digits_are_an_invalid_document(
        self, tenant: TenantHandle, document: str
    ) -> None:
        response = post_upsert(tenant, {"OriginalId": "cli-1", "Document": document})
        assert_error(response, 400, "InvalidDocument")
        assert_unknown(tenant, "cli-1")

    @pytest.mark.parametrize("document", ["123", "1234567890123456", "abc.def.ghi-jk"])
    def test_a_document_that_is_no_cpf_or_cnpj_is_invalid(
        self, tenant: TenantHandle, document: str
    ) -> None:
        response = post_upsert(tenant, {"OriginalId": "cli-1", "Document": document})
        assert_error(response, 400, "InvalidDocument")

    def test_an_invalid_document_on_update_changes_nothing(self, tenant: TenantHandle) -> None:
        upsert(tenant, "cli-1", Name="Maria", Document=CPF)
        before = found(tenant, "cli-1")
        body = {"OriginalId": "cli-1", "Name": "Outra", "Document": "529.982.247-26"}
        assert_error(post_upsert(tenant, body), 400, "InvalidDocument")
        assert found(tenant, "cli-1") == before

    @pytest.mark.parametrize("email", ["maria@example.com", "Maria@Example.COM"])
    def test_an_email_of_another_customer_is_refused(
        self, tenant: TenantHandle, email: str
    ) -> None:
        upsert(tenant, "cli-1", Email="maria@example.com")
        response = post_upsert(tenant, {"OriginalId": "cli-2", "Email": email})
        assert_error(response, 400, "ValidationError")
        assert_unknown(tenant, "cli-2")

    @pytest.mark.parametrize("document", [CPF, CPF_DIGITS, "529 982 247 25"])
    def test_a_document_of_another_customer_is_refused(
        self, tenant: TenantHandle, document: str
    ) -> None:
        upsert(tenant, "cli-1", Document=CPF)
        response = post_upsert(tenant, {"OriginalId": "cli-2", "Document": document})
        assert_error(response, 400, "ValidationError")
        assert_unknown(tenant, "cli-2")

    def test_taking_another_customers_email_on_update_changes_nothing(
        self, tenant: TenantHandle
    ) -> None:
        upsert(tenant, "cli-1", Email="maria@example.com")
        upsert(tenant, "cli-2", Email="joao@example.com", Name="João")
        before = found(tenant, "cli-2")
        body = {"OriginalId": "cli-2", "Name": "Outro", "Email": "maria@example.com"}
        assert_error(post_upsert(tenant, body), 400, "ValidationError")
        assert found(tenant, "cli-2") == before

    def test_another_tenant_may_use_the_same_email_and_document(
        self, tenant: TenantHandle, other_tenant: TenantHandle
    ) -> None:
        upsert(tenant, "cli-1", Email="maria@example.com", Document=CPF)
        created = upsert(other_tenant, "cli-9", Email="maria@example.com", Document=CPF)
        assert created["Operation"] == "created"

    @pytest.mark.parametrize(
        "email", ["maria", "maria@", "@example.com", "maria@example", "ma ria@example.com"]
    )
    def test_a_malformed_email_is_refused(self, tenant: TenantHandle, email: str) -> None:
        response = post_upsert(tenant, {"OriginalId": "cli-1", "Email": email})
        assert_error(response, 400, "ValidationError")
        assert_unknown(tenant, "cli-1")

    def test_an_email_longer_than_allowed_in_lower_case_is_refused(
        self, tenant: TenantHandle
    ) -> None:
        # 206 characters as sent; "İ" is two in lower case, so its lookup key would be 406.
        response = post_upsert(tenant, {"OriginalId": "cli-1", "Email": "\u0130" * 200 + "@x.com"})
        assert_error(response, 400, "ValidationError")
        assert_unknown(tenant, "cli-1")
        fits = "\u0130" * 100 + "@x.com"
        assert upsert(tenant, "cli-1", Email=fits)["Email"] == fits

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param({"Name": "Maria"}, id="original-id-missing"),
            pytest.param({"OriginalId": None}, id="original-id-null"),
            pytest.param({"OriginalId": ""}, id="original-id-empty"),
            pytest.param({"OriginalId": "   "}, id="original-id-blank"),
            pytest.param({"OriginalId": "x" * 201}, id="original-id-over-200"),
            pytest.param({"OriginalId": 42}, id="original-id-number"),
            pytest.param({"OriginalId": "cli-1", "Name": "n" * 256}, id="name-over-255"),
            pytest.param({"OriginalId": "cli-1", "IsEnrolled": "yes"}, id="is-enrolled-text"),
            pytest.param({"OriginalId": "cli-1", "BirthdayDate": "ontem"}, id="date-not-a-date"),
            pytest.param([{"OriginalId": "cli-1"}], id="json-array"),
        ],
    )
    def test_malformed_bodies_are_validation_errors(self, tenant: TenantHandle, body: Any) -> None:
        assert_error(post_upsert(tenant, body), 400, "ValidationError")

    def test_unparseable_json_is_a_validation_error(self, tenant: TenantHandle) -> None:
        response = tenant.http.post(
            "/v1/pvt/Customer/upsert",
            content=b'{"OriginalId": "cli-1"',
            headers={"Content-Type": "application/json"},
        )
        assert_error(response, 400, "ValidationError")


# --- lookup --------------------------------------------------------------------------------------


class TestGetCustomer:
    def test_by_original_id(self, tenant: TenantHandle) -> None:
        created = upsert(tenant, "cli-1", Name="Maria")
        result = found(tenant, "cli-1")
        assert set(result) == CUSTOMER_KEYS
        assert result == {k: v for k, v in created.items() if k != "Operation"}

    @pytest.mark.parametrize(
        "ident", ["maria.silva@example.com", "MARIA.SILVA@EXAMPLE.COM", "Maria.Silva@Example.com"]
    )
    def test_by_email_in_any_case(self, tenant: TenantHandle, ident: str) -> None:
        upsert(tenant, "cli-1", Email="Maria.Silva@example.com")
        assert found(tenant, ident)["OriginalId"] == "cli-1"

    @pytest.mark.parametrize("ident", [CPF, CPF_DIGITS])
    def test_by_cpf_with_or_without_punctuation(self, tenant: TenantHandle, ident: str) -> None:
        upsert(tenant, "cli-1", Document=CPF)
        assert found(tenant, ident)["OriginalId"] == "cli-1"

    def test_by_cpf_stored_without_punctuation(self, tenant: TenantHandle) -> None:
        upsert(tenant, "cli-1", Document=CPF_DIGITS)
        assert found(tenant, CPF)["OriginalId"] == "cli-1"

    def test_by_cnpj(self, tenant: TenantHandle) -> None:
        upsert(tenant, "loja-1", Document=CNPJ)
        assert found(tenant, CNPJ_DIGITS)["OriginalId"] == "loja-1"

    def test_by_cnpj_with_its_punctuation(self, tenant: TenantHandle) -> None:
        # A CNPJ's punctuation has a "/", which a client sends percent-encoded in the path.
        upsert(tenant, "loja-1", Document=CNPJ_DIGITS)
        assert found(tenant, CNPJ.replace("/", "%2F"))["OriginalId"] == "loja-1"

    def test_the_original_id_wins_over_a_document_lookup(self, tenant: TenantHandle) -> None:
        # Stores often use the CPF digits as OriginalId; that customer answers to it first.
        upsert(tenant, OTHER_CPF.replace(".", "").replace("-", ""), Name="Por OriginalId")
        upsert(tenant, "cli-2", Document=OTHER_CPF, Name="Por documento")
        assert found(tenant, "11144477735")["Name"] == "Por OriginalId"
        assert found(tenant, OTHER_CPF)["Name"] == "Por documento"

    def test_unknown_customer_is_404(self, tenant: TenantHandle) -> None:
        upsert(tenant, "cli-1", Email="maria@example.com", Document=CPF)
        for ident in ("cli-2", "joana@example.com", OTHER_CPF, CNPJ_DIGITS):
            assert_unknown(tenant, ident)

    def test_a_customer_of_another_tenant_is_unknown(
        self, tenant: TenantHandle, other_tenant: TenantHandle
    ) -> None:
        upsert(other_tenant, "cli-1", Email="maria@example.com", Document=CPF)
        for ident in ("cli-1", "maria@example.com", CPF):
            assert_unknown(tenant, ident)

    def test_an_id_over_200_characters_is_a_validation_error(self, tenant: TenantHandle) -> None:
        assert_error(get_customer(tenant, "x" * 201), 400, "ValidationError")


# --- the points response -------------------------------------------------------------------------


class TestPointsResponse:
    def test_is_bare(self, tenant: TenantHandle) -> None:
        upsert(tenant, "cli-1", Name="Maria")
        add_points(tenant, "cli-1", 120)
        points = points_of(tenant, "cli-1")
        assert set(points) == POINTS_KEYS
        assert points["CustomerExists"] is True
        assert points["Name"] == "Maria"
        assert points["InternalId"] == found(tenant, "cli-1")["InternalId"]
        assert points["PointsBalance"] == 120
        assert points["PendingPoints"] == 0
        assert points["HeldPoints"] == 0
        assert points["CashbackBalance"] == 1.2
        assert points["PointsToExpire"] == []
        assert [item["Points"] for item in points["PointHistory"]] == [120]

    def test_an_unknown_customer_gives_zeros_not_404(self, tenant: TenantHandle) -> None:
        response = tenant.http.get("/v1/pvt/Customer/ninguem@example.com/points")
        assert response.status_code == 200, response.text
        assert response.json() == {
            "CustomerExists": False,
            "InternalId": None,
            "Name": None,
            "PointsBalance": 0,
            "PendingPoints": 0,
            "HeldPoints": 0,
            "CashbackBalance": 0,
            "PointsToExpire": [],
            "PointHistory": [],
        }
        # Reading does not create anybody.
        assert_unknown(tenant, "ninguem@example.com")

    def test_found_by_email_and_document_too(self, tenant: TenantHandle) -> None:
        upsert(tenant, "cli-1", Email="maria@example.com", Document=CPF)
        add_points(tenant, "cli-1", 10)
        for ident in ("MARIA@example.com", CPF, CPF_DIGITS):
            assert points_of(tenant, ident)["PointsBalance"] == 10

    def test_holds_the_20_newest_movements(self, tenant: TenantHandle) -> None:
        upsert(tenant, "cli-1")
        for points in range(1, 23):
            assert add_points(tenant, "cli-1", points).status_code == 200
        history = points_of(tenant, "cli-1")["PointHistory"]
        assert [item["Points"] for item in history] == list(range(22, 2, -1))


# --- status --------------------------------------------------------------------------------------


class TestChangeStatus:
    def test_disabling_a_customer(self, tenant: TenantHandle) -> None:
        upsert(tenant, "cli-1")
        add_points(tenant, "cli-1", 100)
        assert_ok(change_status(tenant, "cli-1", {"IsEnabled": False, "Reason": "fraude"}))
        assert found(tenant, "cli-1")["IsEnabled"] is False

    def test_a_disabled_customer_cannot_receive_points_but_can_be_read(
        self, tenant: TenantHandle
    ) -> None:
        upsert(tenant, "cli-1")
        add_points(tenant, "cli-1", 100)
        assert_ok(change_status(tenant, "cli-1", {"IsEnabled": False, "Reason": "fraude"}))
        assert_error(add_points(tenant, "cli-1", 10), 400, "CustomerDisabled")
        assert points_of(tenant, "cli-1")["PointsBalance"] == 100
        assert found(tenant, "cli-1")["BalanceOfPoints"] == 100
        assert history_page(tenant, "cli-1").status_code == 200

    def test_enabling_again(self, tenant: TenantHandle) -> None:
        upsert(tenant, "cli-1")
        assert_ok(change_status(tenant, "cli-1", {"IsEnabled": False, "Reason": "fraude"}))
        assert_ok(change_status(tenant, "cli-1", {"IsEnabled": True, "Reason": "revisado"}))
        assert found(tenant, "cli-1")["IsEnabled"] is True
        assert add_points(tenant, "cli-1", 10).status_code == 200

    def test_the_customer_can_be_named_by_email(self, tenant: TenantHandle) -> None:
        upsert(tenant, "cli-1", Email="maria@example.com")
        body = {"IsEnabled": False, "Reason": "fraude"}
        assert_ok(change_status(tenant, "MARIA@example.com", body))
        assert found(tenant, "cli-1")["IsEnabled"] is False

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param({"IsEnabled": False}, id="missing"),
            pytest.param({"IsEnabled": False, "Reason": None}, id="null"),
            pytest.param({"IsEnabled": False, "Reason": "  "}, id="blank"),
        ],
    )
    def test_a_reason_is_required(self, tenant: TenantHandle, body: dict[str, Any]) -> None:
        upsert(tenant, "cli-1")
        assert_error(change_status(tenant, "cli-1", body), 400, "ReasonRequired")
        assert found(tenant, "cli-1")["IsEnabled"] is True

    def test_unknown_customer_is_404(self, tenant: TenantHandle) -> None:
        body = {"IsEnabled": False, "Reason": "fraude"}
        assert_error(change_status(tenant, "ninguem", body), 404, "CustomerNotFound")

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param({"Reason": "fraude"}, id="is-enabled-missing"),
            pytest.param({"IsEnabled": "false", "Reason": "fraude"}, id="is-enabled-text"),
            pytest.param({"IsEnabled": 0, "Reason": "fraude"}, id="is-enabled-number"),
        ],
    )
    def test_is_enabled_must_be_a_boolean(self, tenant: TenantHandle, body: dict[str, Any]) -> None:
        upsert(tenant, "cli-1")
        assert_error(change_status(tenant, "cli-1", body), 400, "ValidationError")
        assert found(tenant, "cli-1")["IsEnabled"] is True


# --- history -------------------------------------------------------------------------------------


class TestHistory:
    @pytest.fixture
    def customer(self, tenant: TenantHandle) -> str:
        """A customer with 25 movements of 1, 2, ... 25 points, in that order."""
        upsert(tenant, "cli-1")
        for points in range(1, 26):
            assert add_points(tenant, "cli-1", points).status_code == 200
        return "cli-1"

    @pytest.mark.parametrize(
        ("number", "expected", "has_next"),
        [
            (1, list(range(25, 15, -1)), True),
            (2, list(range(15, 5, -1)), True),
            (3, list(range(5, 0, -1)), False),
            (4, [], False),
        ],
    )
    def test_pages_of_ten(
        self,
        tenant: TenantHandle,
        customer: str,
        number: int,
        expected: list[int],
        has_next: bool,
    ) -> None:
        response = history_page(tenant, customer, PageNumber=number, PageSize=10)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == PAGE_KEYS
        assert [item["Points"] for item in page["Items"]] == expected
        assert page["TotalItemCount"] == 25
        assert page["PageSize"] == 10
        assert page["PageNumber"] == number
        assert page["HasNextPage"] is has_next
        assert page["HasError"] is False
        assert page["ErrorMessages"] == []

    def test_defaults_to_the_first_page(self, tenant: TenantHandle, customer: str) -> None:
        page = history_page(tenant, customer).json()
        assert page["PageNumber"] == 1
        assert page["Items"][0]["Points"] == 25
        assert page["HasNextPage"] is True

    def test_a_page_of_fifty_holds_everything(self, tenant: TenantHandle, customer: str) -> None:
        page = history_page(tenant, customer, PageSize=50).json()
        assert [item["Points"] for item in page["Items"]] == list(range(25, 0, -1))
        assert page["HasNextPage"] is False

    def test_an_exactly_full_last_page_has_no_next_page(
        self, tenant: TenantHandle, customer: str
    ) -> None:
        page = history_page(tenant, customer, PageNumber=5, PageSize=5).json()
        assert [item["Points"] for item in page["Items"]] == [5, 4, 3, 2, 1]
        assert page["HasNextPage"] is False

    @pytest.mark.parametrize(
        "query",
        [
            pytest.param({"PageSize": 51}, id="page-size-51"),
            pytest.param({"PageSize": 0}, id="page-size-0"),
            pytest.param({"PageNumber": 0}, id="page-number-0"),
            pytest.param({"PageNumber": -1}, id="page-number-negative"),
            pytest.param({"PageSize": "dez"}, id="page-size-text"),
        ],
    )
    def test_bad_paging_is_a_validation_error(
        self, tenant: TenantHandle, query: dict[str, Any]
    ) -> None:
        upsert(tenant, "cli-1")
        assert_error(history_page(tenant, "cli-1", **query), 400, "ValidationError")

    def test_item_shape(self, tenant: TenantHandle) -> None:
        upsert(tenant, "cli-1")
        add_points(tenant, "cli-1", 30, CustomerReason="Boas-vindas")
        [item] = history_page(tenant, "cli-1").json()["Items"]
        assert set(item) == {
            "Id",
            "Date",
            "Points",
            "CashbackValue",
            "PointType",
            "PointTypeDescription",
            "Title",
            "ExpirationDate",
            "IsCanceled",
            "OrderId",
            "RewardId",
            "BranchId",
            "BranchName",
        }
        assert item["Points"] == 30
        assert item["CashbackValue"] == 0.3
        assert item["PointType"] == 1
        assert item["Title"] == "Boas-vindas"
        assert item["Date"].endswith("Z")

    def test_unknown_customer_is_404(self, tenant: TenantHandle) -> None:
        assert_error(history_page(tenant, "ninguem"), 404, "CustomerNotFound")

    def test_empty_history(self, tenant: TenantHandle) -> None:
        upsert(tenant, "cli-1")
        page = history_page(tenant, "cli-1").json()
        assert page["Items"] == []
        assert page["TotalItemCount"] == 0
        assert page["HasNextPage"] is False


# --- routes --------------------------------------------------------------------------------------


class TestRoutes:
    def test_fixed_segments_match_in_any_case(self, tenant: TenantHandle) -> None:
        response = tenant.http.post("/V1/PVT/CUSTOMER/UPSERT", json={"OriginalId": "Cli-X"})
        assert assert_ok(response)["Operation"] == "created"
        body = {"Points": 10, "OperationType": 0, "Reason": "ajuste"}
        assert assert_ok(tenant.http.post("/v1/pvt/customer/Cli-X/Points", json=body))
        response = tenant.http.get("/v1/pvt/customer/Cli-X/POINTS")
        assert response.status_code == 200, response.text
        assert response.json()["PointsBalance"] == 10
        response = tenant.http.post("/v1/Pvt/Customer/Cli-X/HISTORY")
        assert response.json()["TotalItemCount"] == 1
        assert found(tenant, "Cli-X")["OriginalId"] == "Cli-X"

    def test_the_id_keeps_its_case(self, tenant: TenantHandle) -> None:
        upsert(tenant, "Cli-X")
        add_points(tenant, "Cli-X", 10)
        assert tenant.http.get("/v1/pvt/CUSTOMER/cli-x/points").json()["CustomerExists"] is False
        assert_unknown(tenant, "CLI-X")
        assert_error(add_points(tenant, "cli-x", 5), 404, "CustomerNotFound")
        assert points_of(tenant, "Cli-X")["PointsBalance"] == 10

    def test_ids_with_spaces_and_accents_work(self, tenant: TenantHandle) -> None:
        upsert(tenant, "Cliente Zé")
        add_points(tenant, "Cliente Zé", 3)
        response = tenant.http.get("/v1/pvt/CUSTOMER/Cliente Zé/points")
        assert response.json()["PointsBalance"] == 3

    def test_ids_differing_only_in_case_are_different_customers(self, tenant: TenantHandle) -> None:
        assert upsert(tenant, "ABC")["Operation"] == "created"
        assert upsert(tenant, "abc")["Operation"] == "created"
        add_points(tenant, "ABC", 7)
        assert points_of(tenant, "ABC")["PointsBalance"] == 7
        assert points_of(tenant, "abc")["PointsBalance"] == 0

    @pytest.mark.parametrize("ident", ["Upsert", "UPSERT", "upsert"])
    def test_an_id_that_spells_a_route_word_keeps_its_case(
        self, tenant: TenantHandle, ident: str
    ) -> None:
        upsert(tenant, ident, Name="Palavra")
        assert found(tenant, ident)["OriginalId"] == ident
        assert points_of(tenant, ident)["CustomerExists"] is True

    def test_points_response_is_bare_and_mutations_are_enveloped(
        self, tenant: TenantHandle
    ) -> None:
        assert_ok(post_upsert(tenant, {"OriginalId": "cli-1"}))
        assert_ok(add_points(tenant, "cli-1", 10))
        cashback = {"Value": 1, "OperationType": 0, "Reason": "ajuste"}
        assert_ok(tenant.http.post("/v1/pvt/Customer/cli-1/cashback", json=cashback))
        assert_ok(change_status(tenant, "cli-1", {"IsEnabled": True, "Reason": "ok"}))
        points = tenant.http.get("/v1/pvt/Customer/cli-1/points").json()
        assert not ENVELOPE_KEYS & set(points)
        assert set(points) == POINTS_KEYS
