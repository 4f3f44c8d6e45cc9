"""`GET/PUT /v1/admin/program`: the program settings of one tenant, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import TenantHandle, add_points, points_of, upsert

DEFAULTS: dict[str, Any] = {
    "PointValue": "0.01",
    "CashbackEnabled": True,
    "PointsPerCurrency": "1",
    "OrderPointsPendingDays": 0,
    "PointsExpireAfterDays": None,
    "RedemptionRule": {
        "MaxPercentOfPurchase": "100",
        "MinPurchaseValue": "0",
        "MaxValue": None,
        "Base": "total",
        "ExcludedSkus": [],
        "ExcludedCategories": [],
        "AllowedStores": [],
        "AllowedSources": [],
    },
    "LockTtlSeconds": 900,
    "CheckoutHoldHours": 72,
    "RefundRedeemOnOrderCancel": True,
    "DefaultCustomerReason": "Ajuste de pontos",
}


def get_program(tenant: TenantHandle) -> dict[str, Any]:
    response = tenant.http.get("/v1/admin/program")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["HasError"] is False
    assert body["Severity"] == 0
    result: dict[str, Any] = body["Result"]
    return result


def put_program(tenant: TenantHandle, document: Any) -> httpx.Response:
    return tenant.http.put("/v1/admin/program", json=document)


def with_changes(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    rule = changes.pop("RedemptionRule", {})
    return {**base, **changes, "RedemptionRule": {**base["RedemptionRule"], **rule}}


def test_defaults_are_the_spec_table(tenant: TenantHandle) -> None:
    response = tenant.http.get("/v1/admin/program")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "ErrorMessage": None,
        "ErrorCode": None,
        "Result": DEFAULTS,
        "Code": None,
        "CodeName": None,
        "Severity": 0,
        "HasWarning": False,
        "HasError": False,
    }


def test_credentials_are_required(tenant: TenantHandle) -> None:
    anonymous = httpx.get(f"{tenant.base_url}/v1/admin/program", timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.json()["CodeName"] == "Unauthorized"
    wrong = httpx.put(
        f"{tenant.base_url}/v1/admin/program",
        json={"PointValue": "0.05"},
        auth=(tenant.api_token, "not-the-key"),
        timeout=30,
    )
    assert wrong.status_code == 401
    assert get_program(tenant) == DEFAULTS


def test_partial_put_changes_only_what_it_names(tenant: TenantHandle) -> None:
    response = put_program(
        tenant, {"PointValue": "0.05", "RedemptionRule": {"MaxPercentOfPurchase": 30}}
    )
    assert response.status_code == 200, response.text
    expected = with_changes(
        DEFAULTS, PointValue="0.05", RedemptionRule={"MaxPercentOfPurchase": "30"}
    )
    assert response.json()["Result"] == expected
    assert get_program(tenant) == expected

    # A later PUT of another nested field keeps the first one: RedemptionRule is merged.
    response = put_program(
        tenant,
        {
            "RedemptionRule": {"Base": "total_minus_discount", "MaxValue": "50.00"},
            "PointsExpireAfterDays": 365,
            "CashbackEnabled": False,
        },
    )
    assert response.status_code == 200, response.text
    expected = with_changes(
        expected,
        PointsExpireAfterDays=365,
        CashbackEnabled=False,
        RedemptionRule={"Base": "total_minus_discount", "MaxValue": "50.00"},
    )
    assert get_program(tenant) == expected

    # null clears a nullable setting.
    response = put_program(
        tenant, {"PointsExpireAfterDays": None, "RedemptionRule": {"MaxValue": None}}
    )
    assert response.status_code == 200, response.text
    expected = with_changes(expected, PointsExpireAfterDays=None, RedemptionRule={"MaxValue": None})
    assert get_program(tenant) == expected


def test_empty_put_changes_nothing(tenant: TenantHandle) -> None:
    response = put_program(tenant, {})
    assert response.status_code == 200, response.text
    assert get_program(tenant) == DEFAULTS


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"PointValue": -1}, "PointValue"),
        ({"PointValue": "-0.01"}, "PointValue"),
        ({"PointValue": 0}, "PointValue"),
        ({"PointValue": "0.0000001"}, "PointValue"),
        ({"PointValue": "NaN"}, "PointValue"),
        ({"PointsPerCurrency": "1_0"}, "PointsPerCurrency"),
        ({"RedemptionRule": {"MaxValue": "\u0661\u0660"}}, "MaxValue"),
        ({"RedemptionRule": {"MaxPercentOfPurchase": 101}}, "MaxPercentOfPurchase"),
        ({"RedemptionRule": {"MaxPercentOfPurchase": -1}}, "MaxPercentOfPurchase"),
        ({"RedemptionRule": {"Base": "x"}}, "Base"),
        ({"RedemptionRule": {"MinPurchaseValue": "10.001"}}, "MinPurchaseValue"),
        ({"RedemptionRule": {"NoSuchRule": 1}}, "NoSuchRule"),
        ({"RedemptionRule": None}, "RedemptionRule"),
        ({"NoSuchSetting": True}, "NoSuchSetting"),
        ({"PointsExpireAfterDays": 0}, "PointsExpireAfterDays"),
        ({"OrderPointsPendingDays": -1}, "OrderPointsPendingDays"),
        ({"LockTtlSeconds": 0}, "LockTtlSeconds"),
        ({"DefaultCustomerReason": "   "}, "DefaultCustomerReason"),
        # One bad field spoils the whole document: the good one is not applied either.
        ({"PointValue": "0.05", "RedemptionRule": {"MaxPercentOfPurchase": 150}}, "MaxPercent"),
    ],
)
def test_invalid_values_are_refused_and_change_nothing(
    tenant: TenantHandle, document: dict[str, Any], field: str
) -> None:
    response = put_program(tenant, document)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["CodeName"] == "ValidationError"
    assert body["Code"] == "10"
    assert body["HasError"] is True
    assert body["Result"] is None
    assert field in body["ErrorMessage"]
    assert get_program(tenant) == DEFAULTS


@pytest.mark.parametrize("document", [[{"PointValue": "0.05"}], "PointValue", 1, None])
def test_a_body_that_is_not_an_object_is_refused(tenant: TenantHandle, document: Any) -> None:
    response = put_program(tenant, document)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["CodeName"] == "ValidationError"
    assert body["ErrorMessage"]
    assert get_program(tenant) == DEFAULTS


def test_unparseable_body_is_refused(tenant: TenantHandle) -> None:
    response = tenant.http.put(
        "/v1/admin/program", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["CodeName"] == "ValidationError"
    assert get_program(tenant) == DEFAULTS


def test_another_tenants_settings_are_untouched(
    tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    response = put_program(
        tenant,
        {
            "PointValue": "0.02",
            "LockTtlSeconds": 60,
            "RedemptionRule": {"Base": "total_minus_discount"},
        },
    )
    assert response.status_code == 200, response.text
    assert get_program(other_tenant) == DEFAULTS

    response = put_program(other_tenant, {"DefaultCustomerReason": "Presente da loja"})
    assert response.status_code == 200, response.text
    assert get_program(tenant) == with_changes(
        DEFAULTS,
        PointValue="0.02",
        LockTtlSeconds=60,
        RedemptionRule={"Base": "total_minus_discount"},
    )
    assert get_program(other_tenant)["DefaultCustomerReason"] == "Presente da loja"


def test_point_value_changes_the_cashback_shown(tenant: TenantHandle) -> None:
    upsert(tenant, "ana@example.com")
    add_points(tenant, "ana@example.com", 100)
    assert points_of(tenant, "ana@example.com")["CashbackBalance"] == 1.0
    assert put_program(tenant, {"PointValue": "0.05"}).status_code == 200
    assert points_of(tenant, "ana@example.com")["CashbackBalance"] == 5.0


def test_default_customer_reason_is_the_title_of_changes_without_one(
    tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    upsert(tenant, "ana@example.com")
    upsert(other_tenant, "ana@example.com")
    response = put_program(tenant, {"DefaultCustomerReason": "  Bônus da loja  "})
    assert response.status_code == 200, response.text
    assert response.json()["Result"]["DefaultCustomerReason"] == "Bônus da loja"

    assert add_points(tenant, "ana@example.com", 10).status_code == 200
    assert (
        add_points(
            tenant, "ana@example.com", 5, CustomerReason="Presente de aniversário"
        ).status_code
        == 200
    )
    assert add_points(other_tenant, "ana@example.com", 7).status_code == 200

    history = points_of(tenant, "ana@example.com")["PointHistory"]
    assert [(i["Points"], i["Title"]) for i in history] == [
        (5, "Presente de aniversário"),
        (10, "Bônus da loja"),
    ]
    paged = tenant.http.post("/v1/pvt/Customer/ana@example.com/history")
    assert paged.status_code == 200, paged.text
    assert [i["Title"] for i in paged.json()["Items"]] == [
        "Presente de aniversário",
        "Bônus da loja",
    ]
    # The other tenant keeps the default text.
    other = points_of(other_tenant, "ana@example.com")["PointHistory"]
    assert [i["Title"] for i in other] == ["Ajuste de pontos"]


def test_default_customer_reason_is_plain_text(tenant: TenantHandle) -> None:
    # It is shown to customers as the Title of their history, like CustomerReason, whose HTML is
    # stripped; storing tags here would reach customers unsanitized. Either stripping or
    # refusing is acceptable; passing the tags through is not.
    response = put_program(tenant, {"DefaultCustomerReason": "<b>Bônus</b> da <i>loja</i>"})
    if response.status_code == 400:
        assert response.json()["CodeName"] == "ValidationError"
        assert get_program(tenant) == DEFAULTS
        return
    assert response.status_code == 200, response.text
    assert get_program(tenant)["DefaultCustomerReason"] == "Bônus da loja"
    upsert(tenant, "ana@example.com")
    add_points(tenant, "ana@example.com", 10)
    assert points_of(tenant, "ana@example.com")["PointHistory"][0]["Title"] == "Bônus da loja"
