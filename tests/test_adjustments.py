"""Manual points and cashback changes: `POST /v1/pvt/Customer/{id}/points` and `/cashback`.

Every rule of api-pvt.md is checked over real HTTP: the status, the envelope (`Code`, `CodeName`,
`Severity`, `HasError`, `ErrorCode`) and, for every refusal, that nothing changed (balance and
history read back before and after are equal). The ledger check runs after every test.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Clock, TenantHandle, add_points, points_of, upsert

CODES = {
    "CustomerNotFound": "01",
    "ValidationError": "10",
    "PointsCannotBeZero": "11",
    "OperationTypeMismatch": "12",
    "ReasonRequired": "13",
    "CustomerReasonTooLong": "14",
    "InvalidValue": "15",
    "InsufficientBalance": "17",
    "CustomerDisabled": "18",
    "CashbackNotEnabled": "19",
    "ChangeKeyAlreadyUsed": "20",
}
ADJUSTMENT, EXPIRATION = 1, 4
DEFAULT_CUSTOMER_REASON = "Ajuste de pontos"


# --- helpers -------------------------------------------------------------------------------------


def post(tenant: TenantHandle, customer: str, endpoint: str, body: Any) -> httpx.Response:
    """POST a change; `endpoint` is "points" or "cashback"."""
    return tenant.http.post(f"/v1/pvt/Customer/{customer}/{endpoint}", json=body)


def points_body(points: int, **fields: Any) -> dict[str, Any]:
    return {"Points": points, "OperationType": 0 if points > 0 else 1, "Reason": "ajuste", **fields}


def cashback_body(value: Any, **fields: Any) -> dict[str, Any]:
    negative = str(value).startswith("-")
    return {"Value": value, "OperationType": 1 if negative else 0, "Reason": "ajuste", **fields}


def history(tenant: TenantHandle, customer: str) -> dict[str, Any]:
    response = tenant.http.post(f"/v1/pvt/Customer/{customer}/history?PageSize=50")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def state(tenant: TenantHandle, customer: str) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    points = points_of(tenant, customer)
    full = history(tenant, customer) if points["CustomerExists"] else None
    return {"points": points, "history": full}


def assert_ok(response: httpx.Response) -> Any:
    """A plain success envelope; returns its `Result`."""
    assert response.status_code == 200, response.text
    body = response.json()
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
    assert body["CodeName"] == code_name, body
    assert body["Code"] == CODES[code_name]
    assert body["ErrorCode"] == int(CODES[code_name])
    assert body["Severity"] == 2
    assert body["HasError"] is True
    assert body["HasWarning"] is False
    assert isinstance(body["ErrorMessage"], str)
    assert body["ErrorMessage"]
    return body


def assert_refused(
    tenant: TenantHandle,
    customer: str,
    endpoint: str,
    body: Any,
    status: int,
    code_name: str,
) -> dict[str, Any]:
    """The request fails with `code_name` and the customer's points and history are unchanged."""
    before = state(tenant, customer)
    envelope = assert_error(post(tenant, customer, endpoint, body), status, code_name)
    assert state(tenant, customer) == before
    return envelope


def disable(tenant: TenantHandle, customer: str) -> None:
    response = tenant.http.post(
        f"/v1/pvt/Customer/{customer}/changestatus", json={"IsEnabled": False, "Reason": "fraude"}
    )
    assert response.status_code == 200, response.text


def put_program(tenant: TenantHandle, **settings: Any) -> None:
    response = tenant.http.put("/v1/admin/program", json=settings)
    assert response.status_code == 200, response.text


def credit(
    tenant: TenantHandle, customer: str, points: int, expires: datetime | None = None
) -> dict[str, Any]:
    """Add points (in a lot expiring at `expires`, if given); returns the Points Response."""
    body = points_body(points, ExpirationDate=expires.isoformat() if expires else None)
    result: dict[str, Any] = assert_ok(post(tenant, customer, "points", body))
    return result


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- adding and removing points ------------------------------------------------------------------


class TestChangePoints:
    def test_an_add_answers_with_the_points_response_after_the_change(
        self, tenant: TenantHandle
    ) -> None:
        upsert(tenant, "ana", Name="Ana")
        result = assert_ok(post(tenant, "ana", "points", points_body(100)))
        assert result["CustomerExists"] is True
        assert result["Name"] == "Ana"
        assert result["PointsBalance"] == 100
        assert result["PendingPoints"] == 0
        assert result["HeldPoints"] == 0
        assert result["CashbackBalance"] == 1.0
        assert result == points_of(tenant, "ana")

    def test_a_removal_takes_points_away(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        add_points(tenant, "ana", 100)
        result = assert_ok(post(tenant, "ana", "points", points_body(-30)))
        assert result["PointsBalance"] == 70
        assert points_of(tenant, "ana")["PointsBalance"] == 70

    def test_removing_exactly_the_balance_leaves_zero(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        add_points(tenant, "ana", 40)
        assert assert_ok(post(tenant, "ana", "points", points_body(-40)))["PointsBalance"] == 0

    def test_the_customer_can_be_named_by_email_or_document(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana", Email="ana@example.com", Document="529.982.247-25")
        assert_ok(post(tenant, "ANA@example.com", "points", points_body(10)))
        assert_ok(post(tenant, "52998224725", "points", points_body(5)))
        assert points_of(tenant, "ana")["PointsBalance"] == 15


class TestPointsRules:
    def test_unknown_customer_is_404_and_creates_nobody(self, tenant: TenantHandle) -> None:
        body = points_body(10)
        envelope = assert_refused(tenant, "ghost", "points", body, 404, "CustomerNotFound")
        assert envelope["Result"] is None
        assert points_of(tenant, "ghost")["CustomerExists"] is False

    def test_a_customer_of_another_tenant_is_unknown(
        self, tenant: TenantHandle, other_tenant: TenantHandle
    ) -> None:
        upsert(other_tenant, "ana")
        assert_refused(tenant, "ana", "points", points_body(10), 404, "CustomerNotFound")
        assert points_of(other_tenant, "ana")["PointsBalance"] == 0

    @pytest.mark.parametrize("operation", [0, 1])
    def test_zero_points_are_refused(self, tenant: TenantHandle, operation: int) -> None:
        upsert(tenant, "ana")
        add_points(tenant, "ana", 10)
        body = {"Points": 0, "OperationType": operation, "Reason": "ajuste"}
        assert_refused(tenant, "ana", "points", body, 400, "PointsCannotBeZero")

    def test_adding_negative_points_is_a_mismatch(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        add_points(tenant, "ana", 100)
        body = {"Points": -10, "OperationType": 0, "Reason": "ajuste"}
        assert_refused(tenant, "ana", "points", body, 400, "OperationTypeMismatch")

    def test_removing_positive_points_is_a_mismatch(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        add_points(tenant, "ana", 100)
        body = {"Points": 10, "OperationType": 1, "Reason": "ajuste"}
        assert_refused(tenant, "ana", "points", body, 400, "OperationTypeMismatch")

    @pytest.mark.parametrize(
        "reason",
        [
            pytest.param(None, id="null"),
            pytest.param("", id="empty"),
            pytest.param(" \t", id="blank"),
        ],
    )
    def test_a_reason_is_required(self, tenant: TenantHandle, reason: str | None) -> None:
        upsert(tenant, "ana")
        body = points_body(10, Reason=reason)
        assert_refused(tenant, "ana", "points", body, 400, "ReasonRequired")

    def test_a_missing_reason_is_required_too(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        body = {"Points": 10, "OperationType": 0}
        assert_refused(tenant, "ana", "points", body, 400, "ReasonRequired")

    def test_a_customer_reason_over_255_characters_is_too_long(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        body = points_body(10, CustomerReason="a" * 256)
        assert_refused(tenant, "ana", "points", body, 400, "CustomerReasonTooLong")

    def test_a_customer_reason_of_255_characters_is_accepted(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        result = assert_ok(post(tenant, "ana", "points", points_body(10, CustomerReason="a" * 255)))
        assert result["PointHistory"][0]["Title"] == "a" * 255

    def test_the_length_limit_counts_text_after_html_stripping(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        raw = "<b>" + "a" * 249 + "</b>" + "<br>" * 11
        assert len(raw) == 300
        result = assert_ok(post(tenant, "ana", "points", points_body(10, CustomerReason=raw)))
        assert result["PointHistory"][0]["Title"] == "a" * 249

    def test_tags_do_not_hide_a_text_that_is_too_long(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        body = points_body(10, CustomerReason="<i>" + "a" * 256 + "</i>")
        assert_refused(tenant, "ana", "points", body, 400, "CustomerReasonTooLong")

    def test_a_disabled_customer_cannot_receive_points(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        add_points(tenant, "ana", 100)
        disable(tenant, "ana")
        assert_refused(tenant, "ana", "points", points_body(10), 400, "CustomerDisabled")
        assert_refused(tenant, "ana", "points", points_body(-10), 400, "CustomerDisabled")

    def test_a_removal_above_the_balance_is_refused(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        add_points(tenant, "ana", 100)
        assert_refused(tenant, "ana", "points", points_body(-101), 400, "InsufficientBalance")

    def test_a_removal_from_an_empty_customer_is_refused(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        assert_refused(tenant, "ana", "points", points_body(-1), 400, "InsufficientBalance")


class TestRuleOrder:
    """The first rule that fails names the error (api-pvt.md, "Rules, in this order")."""

    @pytest.fixture
    def customers(self, tenant: TenantHandle) -> TenantHandle:
        # "ana": enabled, 100 points, ChangeKey "used" already spent on her.
        # "bia": disabled, 100 points.
        upsert(tenant, "ana")
        assert add_points(tenant, "ana", 100, ChangeKey="used").status_code == 200
        upsert(tenant, "bia")
        add_points(tenant, "bia", 100)
        disable(tenant, "bia")
        return tenant

    @pytest.mark.parametrize(
        ("customer", "body", "status", "code_name"),
        [
            pytest.param(
                "ghost",
                {"Points": 0, "OperationType": 1, "Reason": ""},
                404,
                "CustomerNotFound",
                id="unknown-customer-before-zero",
            ),
            pytest.param(
                "ghost",
                {"Points": -500, "OperationType": 1, "Reason": "r", "ChangeKey": "used"},
                404,
                "CustomerNotFound",
                id="unknown-customer-before-change-key",
            ),
            pytest.param(
                "ana",
                {"Points": 0, "OperationType": 1, "Reason": ""},
                400,
                "PointsCannotBeZero",
                id="zero-before-mismatch-and-reason",
            ),
            pytest.param(
                "ana",
                {"Points": -5, "OperationType": 0, "Reason": " "},
                400,
                "OperationTypeMismatch",
                id="mismatch-before-reason",
            ),
            pytest.param(
                "ana",
                {"Points": 5, "OperationType": 0, "Reason": "", "CustomerReason": "x" * 300},
                400,
                "ReasonRequired",
                id="reason-before-customer-reason",
            ),
            pytest.param(
                "bia",
                {"Points": 5, "OperationType": 0, "Reason": " "},
                400,
                "ReasonRequired",
                id="reason-before-disabled",
            ),
            pytest.param(
                "bia",
                {"Points": 5, "OperationType": 0, "Reason": "r", "CustomerReason": "x" * 300},
                400,
                "CustomerReasonTooLong",
                id="customer-reason-before-disabled",
            ),
            pytest.param(
                "bia",
                {"Points": -5, "OperationType": 1, "Reason": "r", "ChangeKey": "used"},
                400,
                "CustomerDisabled",
                id="disabled-before-change-key",
            ),
            pytest.param(
                "bia",
                {"Points": -500, "OperationType": 1, "Reason": "r"},
                400,
                "CustomerDisabled",
                id="disabled-before-balance",
            ),
            pytest.param(
                "ana",
                {"Points": -500, "OperationType": 1, "Reason": "r", "ChangeKey": "used"},
                409,
                "ChangeKeyAlreadyUsed",
                id="change-key-before-balance",
            ),
        ],
    )
    def test_first_failing_rule_wins(
        self,
        customers: TenantHandle,
        customer: str,
        body: dict[str, Any],
        status: int,
        code_name: str,
    ) -> None:
        assert_refused(customers, customer, "points", body, status, code_name)


# --- ChangeKey -----------------------------------------------------------------------------------


class TestChangeKey:
    def test_repeating_an_identical_change_is_409_and_applies_once(
        self, tenant: TenantHandle
    ) -> None:
        upsert(tenant, "ana")
        body = points_body(100, ChangeKey="pedido-1")
        assert_ok(post(tenant, "ana", "points", body))
        envelope = assert_refused(tenant, "ana", "points", body, 409, "ChangeKeyAlreadyUsed")
        assert envelope["Result"] == points_of(tenant, "ana")
        assert envelope["Result"]["PointsBalance"] == 100

    def test_a_different_body_with_a_used_key_is_the_same_409(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        assert_ok(post(tenant, "ana", "points", points_body(100, ChangeKey="k")))
        body = points_body(-7, ChangeKey="k", Reason="outro", CustomerReason="outro")
        envelope = assert_refused(tenant, "ana", "points", body, 409, "ChangeKeyAlreadyUsed")
        assert envelope["Result"] == points_of(tenant, "ana")

    def test_points_and_cashback_share_one_namespace(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        assert_ok(post(tenant, "ana", "points", points_body(100, ChangeKey="shared")))
        body = cashback_body(1, ChangeKey="shared")
        envelope = assert_refused(tenant, "ana", "cashback", body, 409, "ChangeKeyAlreadyUsed")
        assert envelope["Result"]["PointsBalance"] == 100

    def test_cashback_keys_block_points_changes_too(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        assert_ok(post(tenant, "ana", "cashback", cashback_body(2, ChangeKey="shared")))
        body = points_body(5, ChangeKey="shared")
        envelope = assert_refused(tenant, "ana", "points", body, 409, "ChangeKeyAlreadyUsed")
        assert envelope["Result"]["PointsBalance"] == 200

    def test_a_key_used_on_one_customer_is_used_for_every_customer(
        self, tenant: TenantHandle
    ) -> None:
        upsert(tenant, "ana")
        upsert(tenant, "bia", Name="Bia")
        add_points(tenant, "bia", 30)
        assert_ok(post(tenant, "ana", "points", points_body(100, ChangeKey="k")))
        body = points_body(100, ChangeKey="k")
        envelope = assert_refused(tenant, "bia", "points", body, 409, "ChangeKeyAlreadyUsed")
        # `Result` is the Points Response of the customer this request named.
        assert envelope["Result"] == points_of(tenant, "bia")
        assert envelope["Result"]["Name"] == "Bia"
        assert envelope["Result"]["PointsBalance"] == 30

    def test_each_tenant_has_its_own_keys(
        self, tenant: TenantHandle, other_tenant: TenantHandle
    ) -> None:
        upsert(tenant, "ana")
        upsert(other_tenant, "ana")
        assert_ok(post(tenant, "ana", "points", points_body(100, ChangeKey="k")))
        assert_ok(post(other_tenant, "ana", "points", points_body(100, ChangeKey="k")))
        assert points_of(other_tenant, "ana")["PointsBalance"] == 100

    def test_a_refused_removal_does_not_consume_its_key(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        add_points(tenant, "ana", 100)
        body = points_body(-500, ChangeKey="retry-me")
        assert_refused(tenant, "ana", "points", body, 400, "InsufficientBalance")
        fixed = points_body(-50, ChangeKey="retry-me")
        assert assert_ok(post(tenant, "ana", "points", fixed))["PointsBalance"] == 50
        assert_refused(tenant, "ana", "points", fixed, 409, "ChangeKeyAlreadyUsed")

    def test_a_request_refused_by_validation_does_not_consume_its_key(
        self, tenant: TenantHandle
    ) -> None:
        upsert(tenant, "ana")
        blank_reason = points_body(10, Reason="", ChangeKey="k")
        assert_refused(tenant, "ana", "points", blank_reason, 400, "ReasonRequired")
        bad_value = cashback_body(0.001, ChangeKey="k")
        assert_refused(tenant, "ana", "cashback", bad_value, 400, "InvalidValue")
        result = assert_ok(post(tenant, "ana", "points", points_body(10, ChangeKey="k")))
        assert result["PointsBalance"] == 10

    def test_a_key_refused_on_an_unknown_customer_stays_free(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        body = points_body(10, ChangeKey="k")
        assert_error(post(tenant, "ghost", "points", body), 404, "CustomerNotFound")
        assert assert_ok(post(tenant, "ana", "points", body))["PointsBalance"] == 10


# --- malformed requests --------------------------------------------------------------------------


GOOD_POINTS = {"Points": 10, "OperationType": 0, "Reason": "ajuste"}
GOOD_CASHBACK = {"Value": 1.5, "OperationType": 0, "Reason": "ajuste"}


def without(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != name}


class TestMalformedRequests:
    """A body that does not parse, or a field of the wrong type or out of range: 400, never 500."""

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param({**GOOD_POINTS, "Points": "10"}, id="points-as-string"),
            pytest.param({**GOOD_POINTS, "Points": 1.5}, id="points-fractional"),
            pytest.param({**GOOD_POINTS, "Points": True}, id="points-boolean"),
            pytest.param({**GOOD_POINTS, "Points": None}, id="points-null"),
            pytest.param(without(GOOD_POINTS, "Points"), id="points-missing"),
            pytest.param({**GOOD_POINTS, "Points": 2_147_483_648}, id="points-above-int32"),
            pytest.param(
                {**GOOD_POINTS, "Points": -2_147_483_648, "OperationType": 1},
                id="points-below-int32",
            ),
            pytest.param({**GOOD_POINTS, "Points": 10**30}, id="points-huge"),
            pytest.param({**GOOD_POINTS, "OperationType": 2}, id="operation-2"),
            pytest.param({**GOOD_POINTS, "OperationType": -1}, id="operation-negative"),
            pytest.param({**GOOD_POINTS, "OperationType": "0"}, id="operation-as-string"),
            pytest.param(without(GOOD_POINTS, "OperationType"), id="operation-missing"),
            pytest.param({**GOOD_POINTS, "Reason": "r" * 1001}, id="reason-over-1000"),
            pytest.param({**GOOD_POINTS, "Reason": 42}, id="reason-number"),
            pytest.param({**GOOD_POINTS, "ChangeKey": "k" * 201}, id="change-key-over-200"),
            pytest.param({**GOOD_POINTS, "ExpirationDate": "amanhã"}, id="expiration-not-a-date"),
            pytest.param([GOOD_POINTS], id="json-array"),
            pytest.param("10", id="json-string"),
        ],
    )
    def test_points_body(self, tenant: TenantHandle, body: Any) -> None:
        upsert(tenant, "ana")
        add_points(tenant, "ana", 100)
        assert_refused(tenant, "ana", "points", body, 400, "ValidationError")

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param({**GOOD_CASHBACK, "Value": "dez"}, id="value-not-a-number"),
            pytest.param({**GOOD_CASHBACK, "Value": True}, id="value-boolean"),
            pytest.param({**GOOD_CASHBACK, "Value": None}, id="value-null"),
            pytest.param(without(GOOD_CASHBACK, "Value"), id="value-missing"),
            pytest.param({**GOOD_CASHBACK, "Value": 100_000_000}, id="value-above-max"),
            pytest.param({**GOOD_CASHBACK, "OperationType": 2}, id="operation-2"),
            pytest.param({**GOOD_CASHBACK, "OperationType": "0"}, id="operation-as-string"),
            pytest.param({**GOOD_CASHBACK, "Reason": "r" * 1001}, id="reason-over-1000"),
            pytest.param({**GOOD_CASHBACK, "ChangeKey": "k" * 201}, id="change-key-over-200"),
            pytest.param([GOOD_CASHBACK], id="json-array"),
        ],
    )
    def test_cashback_body(self, tenant: TenantHandle, body: Any) -> None:
        upsert(tenant, "ana")
        add_points(tenant, "ana", 100)
        assert_refused(tenant, "ana", "cashback", body, 400, "ValidationError")

    @pytest.mark.parametrize(
        "raw",
        [
            pytest.param(b'{"Points": 10, "OperationType": 0', id="truncated"),
            pytest.param(b"Points=10&OperationType=0", id="form-encoded"),
            pytest.param(b'{"Points": NaN, "OperationType": 0, "Reason": "r"}', id="nan"),
            pytest.param(b"", id="empty"),
            pytest.param(b"null", id="json-null"),
            pytest.param(b"\xff\xfe{", id="not-utf8"),
        ],
    )
    @pytest.mark.parametrize("endpoint", ["points", "cashback"])
    def test_unparseable_body(self, tenant: TenantHandle, raw: bytes, endpoint: str) -> None:
        upsert(tenant, "ana")
        add_points(tenant, "ana", 100)
        before = state(tenant, "ana")
        response = tenant.http.post(
            f"/v1/pvt/Customer/ana/{endpoint}",
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert_error(response, 400, "ValidationError")
        assert state(tenant, "ana") == before

    def test_the_maximum_int32_is_accepted(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        result = assert_ok(post(tenant, "ana", "points", points_body(2_147_483_647)))
        assert result["PointsBalance"] == 2_147_483_647

    def test_limits_at_their_edge_are_accepted(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        body = points_body(1, Reason="r" * 1000, ChangeKey="k" * 200)
        assert assert_ok(post(tenant, "ana", "points", body))["PointsBalance"] == 1


# --- customer-facing reason ----------------------------------------------------------------------


class TestCustomerReason:
    def test_html_is_stripped_and_shown_as_the_title(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        body = points_body(10, CustomerReason="<b>Olá</b> <script>x</script>")
        result = assert_ok(post(tenant, "ana", "points", body))
        assert result["PointHistory"][0]["Title"] == "Olá"
        assert history(tenant, "ana")["Items"][0]["Title"] == "Olá"

    def test_text_around_tags_is_kept_and_trimmed(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        body = points_body(10, CustomerReason='  Bônus <a href="x">de</a> <i>aniversário</i> ')
        result = assert_ok(post(tenant, "ana", "points", body))
        assert result["PointHistory"][0]["Title"] == "Bônus de aniversário"

    def test_entities_become_plain_text(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        body = points_body(10, CustomerReason="Troca &amp; devolução: 1 &lt; 2")
        result = assert_ok(post(tenant, "ana", "points", body))
        assert result["PointHistory"][0]["Title"] == "Troca & devolução: 1 < 2"

    @pytest.mark.parametrize(
        "customer_reason",
        [
            pytest.param(None, id="null"),
            pytest.param("", id="empty"),
            pytest.param("   ", id="blank"),
            pytest.param("<b></b><script>alert(1)</script>", id="only-tags"),
        ],
    )
    def test_no_customer_reason_shows_the_default(
        self, tenant: TenantHandle, customer_reason: str | None
    ) -> None:
        upsert(tenant, "ana")
        body = points_body(10, CustomerReason=customer_reason)
        result = assert_ok(post(tenant, "ana", "points", body))
        assert result["PointHistory"][0]["Title"] == DEFAULT_CUSTOMER_REASON

    def test_a_missing_customer_reason_shows_the_default(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        result = assert_ok(post(tenant, "ana", "points", points_body(10)))
        assert result["PointHistory"][0]["Title"] == DEFAULT_CUSTOMER_REASON

    def test_the_default_follows_the_program_setting(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        put_program(tenant, DefaultCustomerReason="Presente da loja")
        result = assert_ok(post(tenant, "ana", "points", points_body(10)))
        assert result["PointHistory"][0]["Title"] == "Presente da loja"

    def test_the_internal_reason_never_appears_in_a_response(self, tenant: TenantHandle) -> None:
        secret = "SEGREDO-INTERNO-7f3a"
        upsert(tenant, "ana")
        responses = [
            post(tenant, "ana", "points", points_body(50, Reason=secret, ChangeKey="k")),
            post(tenant, "ana", "cashback", cashback_body(0.2, Reason=secret)),
            post(tenant, "ana", "points", points_body(-5, Reason=secret, CustomerReason="Troca")),
            post(tenant, "ana", "points", points_body(50, Reason=secret, ChangeKey="k")),
            tenant.http.get("/v1/pvt/Customer/ana/points"),
            tenant.http.get("/v1/pvt/Customer/ana"),
            tenant.http.post("/v1/pvt/Customer/ana/history"),
        ]
        assert [r.status_code for r in responses] == [200, 200, 200, 409, 200, 200, 200]
        for response in responses:
            assert secret not in response.text


# --- cashback ------------------------------------------------------------------------------------


class TestCashback:
    def test_value_is_converted_to_points_at_the_default_point_value(
        self, tenant: TenantHandle
    ) -> None:
        upsert(tenant, "ana")
        result = assert_ok(post(tenant, "ana", "cashback", cashback_body(10.50)))
        assert result["PointsBalance"] == 1050
        assert result["CashbackBalance"] == 10.5
        assert result["PointHistory"][0]["Points"] == 1050
        assert result["PointHistory"][0]["CashbackValue"] == 10.5
        assert result["PointHistory"][0]["PointType"] == ADJUSTMENT

    def test_a_negative_value_removes_cashback(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        assert_ok(post(tenant, "ana", "cashback", cashback_body(10)))
        result = assert_ok(post(tenant, "ana", "cashback", cashback_body(-2.25)))
        assert result["PointsBalance"] == 775
        assert result["CashbackBalance"] == 7.75
        assert result["PointHistory"][0]["Points"] == -225
        assert result["PointHistory"][0]["CashbackValue"] == -2.25

    def test_unknown_customer_is_404(self, tenant: TenantHandle) -> None:
        assert_refused(tenant, "ghost", "cashback", cashback_body(1), 404, "CustomerNotFound")

    @pytest.mark.parametrize("number", ["0.1000000000000000001", "12345678.9999999999999"])
    def test_a_json_number_is_read_exactly_never_through_a_float(
        self, tenant: TenantHandle, number: str
    ) -> None:
        # As floats these are 0.1 and 12345679.0: amounts of two places, silently rounded.
        upsert(tenant, "ana")
        raw = '{"Value": ' + number + ', "OperationType": 0, "Reason": "x"}'
        response = tenant.http.post(
            "/v1/pvt/Customer/ana/cashback",
            content=raw.encode(),
            headers={"Content-Type": "application/json"},
        )
        assert (response.status_code, response.json()["CodeName"]) == (400, "InvalidValue")
        assert points_of(tenant, "ana")["PointsBalance"] == 0

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param(0.001, id="three-decimals-tiny"),
            pytest.param(1.005, id="three-decimals"),
            pytest.param("1.005", id="three-decimals-as-text"),
            pytest.param(0, id="zero"),
            pytest.param(0.0, id="zero-float"),
        ],
    )
    def test_invalid_values(self, tenant: TenantHandle, value: Any) -> None:
        upsert(tenant, "ana")
        add_points(tenant, "ana", 100)
        assert_refused(tenant, "ana", "cashback", cashback_body(value), 400, "InvalidValue")

    def test_a_value_beyond_the_points_range_is_invalid(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        # R$ 30 000 000.00 at R$ 0.01 a point is 3 000 000 000 points: more than 32 bits.
        body = cashback_body(30_000_000)
        assert_refused(tenant, "ana", "cashback", body, 400, "InvalidValue")

    def test_the_sign_must_match_the_operation(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        add_points(tenant, "ana", 1000)
        add_negative = {**cashback_body(-1), "OperationType": 0}
        assert_refused(tenant, "ana", "cashback", add_negative, 400, "OperationTypeMismatch")
        remove_positive = {**cashback_body(1), "OperationType": 1}
        assert_refused(tenant, "ana", "cashback", remove_positive, 400, "OperationTypeMismatch")

    def test_the_points_rules_apply(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        add_points(tenant, "ana", 100)
        blank_reason = cashback_body(1, Reason=" ")
        assert_refused(tenant, "ana", "cashback", blank_reason, 400, "ReasonRequired")
        too_long = cashback_body(1, CustomerReason="a" * 256)
        assert_refused(tenant, "ana", "cashback", too_long, 400, "CustomerReasonTooLong")
        assert_refused(tenant, "ana", "cashback", cashback_body(-1.01), 400, "InsufficientBalance")
        disable(tenant, "ana")
        assert_refused(tenant, "ana", "cashback", cashback_body(1), 400, "CustomerDisabled")

    def test_a_value_must_be_a_whole_number_of_points(self, tenant: TenantHandle) -> None:
        upsert(tenant, "ana")
        put_program(tenant, PointValue="0.05")
        assert_refused(tenant, "ana", "cashback", cashback_body(0.03), 400, "InvalidValue")
        result = assert_ok(post(tenant, "ana", "cashback", cashback_body(0.10)))
        assert result["PointsBalance"] == 2
        assert result["CashbackBalance"] == 0.1

    def test_cashback_disabled_refuses_changes_and_shows_no_cashback(
        self, tenant: TenantHandle
    ) -> None:
        upsert(tenant, "ana")
        add_points(tenant, "ana", 500)
        put_program(tenant, CashbackEnabled=False)
        assert_refused(tenant, "ana", "cashback", cashback_body(1), 400, "CashbackNotEnabled")
        assert_refused(tenant, "ana", "cashback", cashback_body(-1), 400, "CashbackNotEnabled")
        points = points_of(tenant, "ana")
        assert points["PointsBalance"] == 500
        assert points["CashbackBalance"] == 0
        customer = assert_ok(tenant.http.get("/v1/pvt/Customer/ana"))
        assert customer["BalanceCashback"] == 0


# --- lots and expiry -----------------------------------------------------------------------------


class TestLotsAndExpiry:
    def test_removals_consume_the_earliest_expiry_first(
        self, tenant: TenantHandle, clock: Clock
    ) -> None:
        upsert(tenant, "ana")
        in_10_days = clock() + timedelta(days=10)
        in_5_days = clock() + timedelta(days=5)
        credit(tenant, "ana", 100, expires=in_10_days)
        credit(tenant, "ana", 100, expires=in_5_days)
        credit(tenant, "ana", 100)

        result = assert_ok(post(tenant, "ana", "points", points_body(-150)))

        # The 5-day lot is gone, the 10-day lot gave 50; the lot without expiry is untouched.
        assert result["PointsBalance"] == 150
        expiring = [(item["Points"], when(item["When"])) for item in result["PointsToExpire"]]
        assert expiring == [(50, in_10_days)]
        assert points_of(tenant, "ana")["PointsToExpire"] == result["PointsToExpire"]

    def test_points_to_expire_are_listed_soonest_first(
        self, tenant: TenantHandle, clock: Clock
    ) -> None:
        upsert(tenant, "ana")
        later, sooner = clock() + timedelta(days=20), clock() + timedelta(days=3)
        credit(tenant, "ana", 70, expires=later)
        credit(tenant, "ana", 30, expires=sooner)
        credit(tenant, "ana", 5)
        expiring = points_of(tenant, "ana")["PointsToExpire"]
        assert [(item["Points"], when(item["When"])) for item in expiring] == [
            (30, sooner),
            (70, later),
        ]

    def test_an_expiration_date_in_the_past_is_invalid(
        self, tenant: TenantHandle, clock: Clock
    ) -> None:
        upsert(tenant, "ana")
        yesterday = (clock() - timedelta(days=1)).isoformat()
        body = points_body(10, ExpirationDate=yesterday)
        assert_refused(tenant, "ana", "points", body, 400, "InvalidValue")
        body = cashback_body(1, ExpirationDate=yesterday)
        assert_refused(tenant, "ana", "cashback", body, 400, "InvalidValue")

    def test_the_expiration_date_is_shown_on_the_history_item(
        self, tenant: TenantHandle, clock: Clock
    ) -> None:
        upsert(tenant, "ana")
        expiry = clock() + timedelta(days=7)
        result = credit(tenant, "ana", 10, expires=expiry)
        assert when(result["PointHistory"][0]["ExpirationDate"]) == expiry

    def test_points_expire_after_days_sets_the_expiry_of_new_lots(
        self, tenant: TenantHandle, clock: Clock
    ) -> None:
        upsert(tenant, "ana")
        put_program(tenant, PointsExpireAfterDays=30)
        before = clock()
        result = credit(tenant, "ana", 100)
        after = clock()
        [expiring] = result["PointsToExpire"]
        assert expiring["Points"] == 100
        assert before + timedelta(days=30) <= when(expiring["When"]) <= after + timedelta(days=30)

    def test_an_explicit_expiration_date_beats_the_program_setting(
        self, tenant: TenantHandle, clock: Clock
    ) -> None:
        upsert(tenant, "ana")
        put_program(tenant, PointsExpireAfterDays=30)
        expiry = clock() + timedelta(days=3)
        result = credit(tenant, "ana", 100, expires=expiry)
        assert [when(item["When"]) for item in result["PointsToExpire"]] == [expiry]

    def test_balances_are_right_at_every_instant(self, tenant: TenantHandle, clock: Clock) -> None:
        upsert(tenant, "ana")
        credit(tenant, "ana", 100, expires=clock() + timedelta(days=1))
        credit(tenant, "ana", 50)

        clock.advance(days=2)

        # No job has run: the expired lot simply no longer counts.
        points = points_of(tenant, "ana")
        assert points["PointsBalance"] == 50
        assert points["PointsToExpire"] == []
        assert assert_ok(tenant.http.get("/v1/pvt/Customer/ana"))["BalanceOfPoints"] == 50

        assert_refused(tenant, "ana", "points", points_body(-60), 400, "InsufficientBalance")
        result = assert_ok(post(tenant, "ana", "points", points_body(-50)))
        assert result["PointsBalance"] == 0

        items = history(tenant, "ana")["Items"]
        assert [(i["Points"], i["PointType"]) for i in items] == [
            (-50, ADJUSTMENT),
            (-100, EXPIRATION),
            (50, ADJUSTMENT),
            (100, ADJUSTMENT),
        ]


# --- history -------------------------------------------------------------------------------------


class TestHistory:
    def test_changes_are_listed_newest_first_with_signed_amounts(
        self, tenant: TenantHandle
    ) -> None:
        upsert(tenant, "ana")
        assert_ok(post(tenant, "ana", "points", points_body(300, CustomerReason="Boas-vindas")))
        assert_ok(post(tenant, "ana", "points", points_body(-120)))
        assert_ok(post(tenant, "ana", "cashback", cashback_body(2.5)))

        items = history(tenant, "ana")["Items"]

        assert [i["Points"] for i in items] == [250, -120, 300]
        assert [i["CashbackValue"] for i in items] == [2.5, -1.2, 3.0]
        assert {i["PointType"] for i in items} == {ADJUSTMENT}
        assert {i["PointTypeDescription"] for i in items} == {"Ajuste de pontos"}
        assert [i["Title"] for i in items] == [
            DEFAULT_CUSTOMER_REASON,
            DEFAULT_CUSTOMER_REASON,
            "Boas-vindas",
        ]
        assert all(i["IsCanceled"] is False for i in items)
        ids = [i["Id"] for i in items]
        assert ids == sorted(ids, reverse=True)
        dates = [when(i["Date"]) for i in items]
        assert dates == sorted(dates, reverse=True)

    def test_points_response_history_matches_the_history_endpoint(
        self, tenant: TenantHandle
    ) -> None:
        upsert(tenant, "ana")
        for points in (10, 20, -5):
            assert_ok(post(tenant, "ana", "points", points_body(points)))
        assert points_of(tenant, "ana")["PointHistory"] == history(tenant, "ana")["Items"]


def test_a_huge_customer_reason_is_customer_reason_too_long(tenant: TenantHandle) -> None:
    upsert(tenant, "long@example.com")
    response = add_points(tenant, "long@example.com", 10, CustomerReason="x" * 100_000)
    assert response.status_code == 400
    assert response.json()["CodeName"] == "CustomerReasonTooLong"
    assert points_of(tenant, "long@example.com")["PointsBalance"] == 0
