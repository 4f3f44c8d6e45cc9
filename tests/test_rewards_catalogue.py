"""The rewards catalogue, told as a program manager's afternoon: set rewards up, fix a typo,
retire one, and let the store read the catalogue through the Private API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Server, TenantHandle

PERCENT, FIXED, SHIPPING, CASHBACK, CUSTOM = 0, 1, 2, 3, 4

TEN_PERCENT = {"Title": "10% off", "RewardType": PERCENT, "Value": 10, "Points": 500}


def create(tenant: TenantHandle, **fields: Any) -> httpx.Response:
    return tenant.http.post("/v1/admin/rewards", json=fields)


def created(tenant: TenantHandle, **fields: Any) -> dict[str, Any]:
    response = create(tenant, **fields)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["Result"]
    return result


def change(tenant: TenantHandle, reward_id: Any, **fields: Any) -> httpx.Response:
    return tenant.http.put(f"/v1/admin/rewards/{reward_id}", json=fields)


def catalogue(tenant: TenantHandle) -> list[dict[str, Any]]:
    response = tenant.http.get("/v1/admin/rewards")
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["Result"]
    return result


def assert_invalid(response: httpx.Response) -> None:
    answer = response.json()
    assert (response.status_code, answer["CodeName"], answer["Code"]) == (
        400,
        "ValidationError",
        "10",
    ), response.text
    assert answer["HasError"] is True
    assert answer["ErrorMessage"]


def assert_reward_not_found(response: httpx.Response) -> None:
    answer = response.json()
    assert (response.status_code, answer["CodeName"], answer["Code"], answer["ErrorCode"]) == (
        404,
        "RewardNotFound",
        "23",
        23,
    ), response.text
    assert answer["Result"] is None


class TestCreating:
    def test_a_percent_discount_with_every_field(self, tenant: TenantHandle) -> None:
        reward = created(
            tenant,
            Title="<b>12,5%</b> de desconto",
            Description="Em qualquer compra",
            RewardType=PERCENT,
            Value="12.5",
            Points=800,
            MinimalValue="50.00",
            CumulativeDiscount=True,
            ValidDays=30,
            CodePrefix="DESC-",
            CouponCodeLength=10,
            HasSameCustomerUsageLimit=True,
            SameCustomerUsageLimit=2,
            HasGlobalUsageLimit=True,
            GlobalUsageLimit=1000,
            ValidDateStart="2026-01-01T00:00:00-03:00",
            ValidDateEnd="2026-12-31T23:59:59Z",
        )
        assert isinstance(reward.pop("Id"), int)
        assert reward == {
            "Title": "12,5% de desconto",
            "Description": "Em qualquer compra",
            "RewardType": PERCENT,
            "Value": 12.5,
            "Points": 800,
            "IsActive": True,
            "MinimalValue": 50.0,
            "CumulativeDiscount": True,
            "ValidDays": 30,
            "CodePrefix": "DESC-",
            "CouponCodeLength": 10,
            "HasSameCustomerUsageLimit": True,
            "SameCustomerUsageLimit": 2,
            "HasGlobalUsageLimit": True,
            "GlobalUsageLimit": 1000,
            "ValidDateStart": "2026-01-01T03:00:00Z",
            "ValidDateEnd": "2026-12-31T23:59:59Z",
        }

    def test_defaults_for_what_is_left_out(self, tenant: TenantHandle) -> None:
        reward = created(tenant, **TEN_PERCENT)
        assert {k: reward[k] for k in reward if k not in ("Id", "Title")} == {
            "Description": None,
            "RewardType": PERCENT,
            "Value": 10,
            "Points": 500,
            "IsActive": True,
            "MinimalValue": 0,
            "CumulativeDiscount": False,
            "ValidDays": None,
            "CodePrefix": None,
            "CouponCodeLength": 8,
            "HasSameCustomerUsageLimit": False,
            "SameCustomerUsageLimit": None,
            "HasGlobalUsageLimit": False,
            "GlobalUsageLimit": None,
            "ValidDateStart": None,
            "ValidDateEnd": None,
        }

    def test_each_reward_type(self, tenant: TenantHandle) -> None:
        fixed = created(tenant, Title="R$ 15", RewardType=FIXED, Value="15.90", Points=1500)
        shipping = created(tenant, Title="Frete grátis", RewardType=SHIPPING, Points=300)
        custom = created(tenant, Title="Brinde", RewardType=CUSTOM, Points=50, Value=0)
        percent = created(tenant, **TEN_PERCENT)
        assert (fixed["RewardType"], fixed["Value"], fixed["Points"]) == (FIXED, 15.9, 1500)
        assert (shipping["RewardType"], shipping["Value"], shipping["Points"]) == (
            SHIPPING,
            None,
            300,
        )
        assert (custom["RewardType"], custom["Value"], custom["Points"]) == (CUSTOM, 0, 50)
        assert (percent["RewardType"], percent["Value"]) == (PERCENT, 10)
        assert [r["Id"] for r in catalogue(tenant)] == [
            fixed["Id"],
            shipping["Id"],
            custom["Id"],
            percent["Id"],
        ]

    def test_cashback_ignores_value_and_points(self, tenant: TenantHandle) -> None:
        reward = created(tenant, Title="Cashback", RewardType=CASHBACK, Value="99.99", Points=7)
        assert (reward["RewardType"], reward["Value"], reward["Points"]) == (CASHBACK, None, None)
        # Nothing needed either.
        bare = created(tenant, Title="Cashback 2", RewardType=CASHBACK)
        assert (bare["Value"], bare["Points"]) == (None, None)

    def test_a_usage_limit_without_its_flag_is_ignored(self, tenant: TenantHandle) -> None:
        reward = created(tenant, **TEN_PERCENT, SameCustomerUsageLimit=3, GlobalUsageLimit=0)
        assert (reward["SameCustomerUsageLimit"], reward["GlobalUsageLimit"]) == (None, None)

    @pytest.mark.parametrize("value", [100, "0.01", "99.99"])
    def test_percent_bounds_that_are_allowed(self, tenant: TenantHandle, value: Any) -> None:
        assert created(tenant, **{**TEN_PERCENT, "Value": value})["Value"] == float(value)


INVALID: dict[str, dict[str, Any]] = {
    "no title": {"RewardType": PERCENT, "Value": 10, "Points": 1},
    "null title": {**TEN_PERCENT, "Title": None},
    "blank title": {**TEN_PERCENT, "Title": "   "},
    "title only markup": {**TEN_PERCENT, "Title": "<b></b>"},
    "title too long": {**TEN_PERCENT, "Title": "x" * 256},
    "title NUL": {**TEN_PERCENT, "Title": "a\x00b"},
    "description too long": {**TEN_PERCENT, "Description": "x" * 2001},
    "no type": {"Title": "x", "Value": 10, "Points": 1},
    "type 5": {**TEN_PERCENT, "RewardType": 5},
    "type -1": {**TEN_PERCENT, "RewardType": -1},
    "type as string": {**TEN_PERCENT, "RewardType": "0"},
    "no points": {"Title": "x", "RewardType": PERCENT, "Value": 10},
    "zero points": {**TEN_PERCENT, "Points": 0},
    "negative points": {**TEN_PERCENT, "Points": -5},
    "points as string": {**TEN_PERCENT, "Points": "500"},
    "points as float": {**TEN_PERCENT, "Points": 1.5},
    "points over 32 bits": {**TEN_PERCENT, "Points": 2**31},
    "shipping without points": {"Title": "x", "RewardType": SHIPPING},
    "percent without value": {"Title": "x", "RewardType": PERCENT, "Points": 1},
    "percent zero": {**TEN_PERCENT, "Value": 0},
    "percent negative": {**TEN_PERCENT, "Value": -1},
    "percent over 100": {**TEN_PERCENT, "Value": "100.01"},
    "percent 3 decimals": {**TEN_PERCENT, "Value": "10.125"},
    "fixed without value": {"Title": "x", "RewardType": FIXED, "Points": 1},
    "fixed zero": {"Title": "x", "RewardType": FIXED, "Value": 0, "Points": 1},
    "fixed 3 decimals": {"Title": "x", "RewardType": FIXED, "Value": "1.001", "Points": 1},
    "fixed too large": {"Title": "x", "RewardType": FIXED, "Value": "100000000", "Points": 1},
    "custom negative value": {"Title": "x", "RewardType": CUSTOM, "Value": -1, "Points": 1},
    "value not a number": {**TEN_PERCENT, "Value": "ten"},
    "minimal value negative": {**TEN_PERCENT, "MinimalValue": "-0.01"},
    "minimal value 3 decimals": {**TEN_PERCENT, "MinimalValue": "1.005"},
    "minimal value null": {**TEN_PERCENT, "MinimalValue": None},
    "same customer limit missing": {**TEN_PERCENT, "HasSameCustomerUsageLimit": True},
    "same customer limit zero": {
        **TEN_PERCENT,
        "HasSameCustomerUsageLimit": True,
        "SameCustomerUsageLimit": 0,
    },
    "global limit missing": {**TEN_PERCENT, "HasGlobalUsageLimit": True},
    "global limit negative": {
        **TEN_PERCENT,
        "HasGlobalUsageLimit": True,
        "GlobalUsageLimit": -1,
    },
    "flag as string": {**TEN_PERCENT, "HasGlobalUsageLimit": "true", "GlobalUsageLimit": 5},
    "active as int": {**TEN_PERCENT, "IsActive": 1},
    "end before start": {
        **TEN_PERCENT,
        "ValidDateStart": "2026-06-01T00:00:00Z",
        "ValidDateEnd": "2026-05-31T23:59:59Z",
    },
    "end equals start": {
        **TEN_PERCENT,
        "ValidDateStart": "2026-06-01T00:00:00Z",
        "ValidDateEnd": "2026-06-01T00:00:00Z",
    },
    "date not a date": {**TEN_PERCENT, "ValidDateStart": "tomorrow"},
    "coupon length 3": {**TEN_PERCENT, "CouponCodeLength": 3},
    "coupon length 33": {**TEN_PERCENT, "CouponCodeLength": 33},
    "coupon length null": {**TEN_PERCENT, "CouponCodeLength": None},
    "prefix too long": {**TEN_PERCENT, "CodePrefix": "A" * 21},
    "prefix with space": {**TEN_PERCENT, "CodePrefix": "MY CODE"},
    "prefix with accent": {**TEN_PERCENT, "CodePrefix": "PROMOÇÃO"},
    "prefix with underscore": {**TEN_PERCENT, "CodePrefix": "A_B"},
    "valid days zero": {**TEN_PERCENT, "ValidDays": 0},
}


# A change is checked as the stored configuration (TEN_PERCENT) plus the fields sent.
INVALID_CHANGES: dict[str, dict[str, Any]] = {
    "null title": {"Title": None},
    "blank title": {"Title": " "},
    "null type": {"RewardType": None},
    "type 5": {"RewardType": 5},
    "null points": {"Points": None},
    "zero points": {"Points": 0},
    "null value": {"Value": None},
    "percent over 100": {"Value": 101},
    "to fixed with 3 decimals": {"RewardType": FIXED, "Value": "0.001"},
    "null active": {"IsActive": None},
    "same customer flag alone": {"HasSameCustomerUsageLimit": True},
    "global limit zero": {"HasGlobalUsageLimit": True, "GlobalUsageLimit": 0},
    "end before start": {
        "ValidDateStart": "2026-06-02T00:00:00Z",
        "ValidDateEnd": "2026-06-01T00:00:00Z",
    },
    "coupon length 40": {"CouponCodeLength": 40},
    "prefix with slash": {"CodePrefix": "A/B"},
}


class TestValidation:
    @pytest.mark.parametrize("body", INVALID.values(), ids=INVALID.keys())
    def test_an_invalid_reward_is_refused_and_nothing_is_created(
        self, tenant: TenantHandle, body: dict[str, Any]
    ) -> None:
        assert_invalid(create(tenant, **body))
        assert catalogue(tenant) == []

    @pytest.mark.parametrize("body", INVALID_CHANGES.values(), ids=INVALID_CHANGES.keys())
    def test_an_invalid_change_is_refused_and_nothing_changes(
        self, tenant: TenantHandle, body: dict[str, Any]
    ) -> None:
        reward = created(tenant, **TEN_PERCENT, Description="antes")
        assert_invalid(change(tenant, reward["Id"], **body))
        assert catalogue(tenant) == [reward]

    def test_a_body_that_is_not_an_object(self, tenant: TenantHandle) -> None:
        assert_invalid(tenant.http.post("/v1/admin/rewards", json=[TEN_PERCENT]))
        assert_invalid(tenant.http.post("/v1/admin/rewards", content=b"{not json"))
        assert catalogue(tenant) == []


class TestChanging:
    def test_a_partial_change_keeps_every_other_field(self, tenant: TenantHandle) -> None:
        reward = created(
            tenant,
            **TEN_PERCENT,
            Description="antes",
            CodePrefix="OFF",
            HasGlobalUsageLimit=True,
            GlobalUsageLimit=10,
        )
        response = change(tenant, reward["Id"], Title="15% off", Value="15.25")
        assert response.status_code == 200, response.text
        changed = response.json()["Result"]
        assert changed == {**reward, "Title": "15% off", "Value": 15.25}
        assert catalogue(tenant) == [changed]

    def test_an_explicit_null_clears_an_optional_field(self, tenant: TenantHandle) -> None:
        reward = created(tenant, **TEN_PERCENT, Description="antes", ValidDays=30)
        changed = change(tenant, reward["Id"], Description=None, ValidDays=None).json()["Result"]
        assert changed == {**reward, "Description": None, "ValidDays": None}

    def test_an_empty_change_changes_nothing(self, tenant: TenantHandle) -> None:
        reward = created(tenant, **TEN_PERCENT)
        response = change(tenant, reward["Id"])
        assert (response.status_code, response.json()["Result"]) == (200, reward)

    def test_changing_the_type_applies_the_new_type_rules(self, tenant: TenantHandle) -> None:
        reward = created(tenant, **TEN_PERCENT)
        cashback = change(tenant, reward["Id"], RewardType=CASHBACK).json()["Result"]
        assert (cashback["Value"], cashback["Points"]) == (None, None)
        # Back to a discount: the value and cost it lost must be given again.
        assert_invalid(change(tenant, reward["Id"], RewardType=FIXED))
        assert_invalid(change(tenant, reward["Id"], RewardType=FIXED, Value=5))
        fixed = change(tenant, reward["Id"], RewardType=FIXED, Value=5, Points=100)
        assert fixed.json()["Result"]["Value"] == 5
        assert fixed.json()["Result"]["Points"] == 100

    def test_a_change_is_checked_against_the_stored_fields(self, tenant: TenantHandle) -> None:
        reward = created(tenant, **TEN_PERCENT, ValidDateStart="2026-06-01T00:00:00Z")
        assert_invalid(change(tenant, reward["Id"], ValidDateEnd="2026-05-01T00:00:00Z"))
        assert_invalid(change(tenant, reward["Id"], Value=150))
        assert catalogue(tenant) == [reward]

    def test_a_deactivated_reward_is_still_readable(self, tenant: TenantHandle) -> None:
        reward = created(tenant, **TEN_PERCENT)
        off = change(tenant, reward["Id"], IsActive=False)
        assert off.status_code == 200
        assert off.json()["Result"] == {**reward, "IsActive": False}
        assert catalogue(tenant) == [{**reward, "IsActive": False}]
        one = tenant.http.get(f"/v1/pvt/RewardConfigurations/{reward['Id']}")
        assert one.json()["Result"]["IsActive"] is False
        listed = tenant.http.get("/v1/pvt/RewardConfigurations").json()["Items"]
        assert [r["IsActive"] for r in listed] == [False]
        back = change(tenant, reward["Id"], IsActive=True).json()["Result"]
        assert back == reward

    def test_an_unknown_reward(self, tenant: TenantHandle) -> None:
        assert_reward_not_found(change(tenant, 999_999_999, Title="x"))
        assert_reward_not_found(change(tenant, 2**63 - 1, Title="x"))
        assert_invalid(change(tenant, "abc", Title="x"))
        assert_invalid(change(tenant, 2**64, Title="x"))
        assert catalogue(tenant) == []


class TestPrivateApi:
    def test_the_catalogue_pages(self, tenant: TenantHandle) -> None:
        ids = [created(tenant, **{**TEN_PERCENT, "Title": f"R{n}"})["Id"] for n in range(5)]
        first = tenant.http.get("/v1/pvt/RewardConfigurations", params={"PageSize": 2})
        assert first.status_code == 200
        answer = first.json()
        assert [r["Id"] for r in answer.pop("Items")] == ids[:2]
        assert answer == {
            "TotalItemCount": 5,
            "PageSize": 2,
            "PageNumber": 1,
            "HasNextPage": True,
            "HasError": False,
            "ErrorMessages": [],
        }
        last = tenant.http.get(
            "/v1/pvt/rewardconfigurations", params={"PageSize": 2, "PageNumber": 3}
        ).json()
        assert ([r["Id"] for r in last["Items"]], last["HasNextPage"]) == (ids[4:], False)
        beyond = tenant.http.get("/v1/pvt/RewardConfigurations", params={"PageNumber": 9}).json()
        assert (beyond["Items"], beyond["TotalItemCount"]) == ([], 5)
        default = tenant.http.get("/v1/pvt/RewardConfigurations").json()
        assert (default["PageSize"], len(default["Items"])) == (10, 5)

    @pytest.mark.parametrize(
        "params", [{"PageSize": 51}, {"PageSize": 0}, {"PageNumber": 0}, {"PageSize": "x"}]
    )
    def test_bad_paging(self, tenant: TenantHandle, params: dict[str, Any]) -> None:
        assert_invalid(tenant.http.get("/v1/pvt/RewardConfigurations", params=params))

    def test_an_empty_catalogue(self, tenant: TenantHandle) -> None:
        answer = tenant.http.get("/v1/pvt/RewardConfigurations").json()
        assert (answer["Items"], answer["TotalItemCount"], answer["HasNextPage"]) == ([], 0, False)

    def test_one_configuration_in_the_envelope(self, tenant: TenantHandle) -> None:
        reward = created(tenant, Title="Cashback", RewardType=CASHBACK)
        response = tenant.http.get(f"/v1/pvt/RewardConfigurations/{reward['Id']}")
        assert response.status_code == 200
        assert response.json() == {
            "ErrorMessage": None,
            "ErrorCode": None,
            "Result": reward,
            "Code": None,
            "CodeName": None,
            "Severity": 0,
            "HasWarning": False,
            "HasError": False,
        }

    def test_an_unknown_configuration(self, tenant: TenantHandle) -> None:
        assert_reward_not_found(tenant.http.get("/v1/pvt/RewardConfigurations/424242"))
        assert_invalid(tenant.http.get("/v1/pvt/RewardConfigurations/ten"))
        assert_invalid(tenant.http.get("/v1/pvt/RewardConfigurations/0"))


class TestTenants:
    def test_another_tenant_cannot_read_or_change_a_reward(
        self, tenant: TenantHandle, other_tenant: TenantHandle
    ) -> None:
        reward = created(tenant, **TEN_PERCENT)
        bia = other_tenant.http
        assert_reward_not_found(bia.get(f"/v1/pvt/RewardConfigurations/{reward['Id']}"))
        assert_reward_not_found(change(other_tenant, reward["Id"], Title="mine", IsActive=False))
        assert catalogue(other_tenant) == []
        assert bia.get("/v1/pvt/RewardConfigurations").json()["TotalItemCount"] == 0
        assert catalogue(tenant) == [reward]

    def test_each_tenant_has_its_own_catalogue(
        self, tenant: TenantHandle, other_tenant: TenantHandle
    ) -> None:
        mine = created(tenant, **TEN_PERCENT)
        theirs = created(other_tenant, **{**TEN_PERCENT, "Title": "Deles"})
        assert catalogue(tenant) == [mine]
        assert catalogue(other_tenant) == [theirs]

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("POST", "/v1/admin/rewards"),
            ("PUT", "/v1/admin/rewards/1"),
            ("GET", "/v1/admin/rewards"),
            ("GET", "/v1/pvt/RewardConfigurations"),
            ("GET", "/v1/pvt/RewardConfigurations/1"),
        ],
    )
    def test_credentials_are_required(
        self, server: Server, tenant: TenantHandle, method: str, path: str
    ) -> None:
        body = TEN_PERCENT if method != "GET" else None
        with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
            response = anonymous.request(method, path, json=body)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].lower().startswith("basic")
        assert response.json()["CodeName"] == "Unauthorized"
        assert catalogue(tenant) == []
