"""Hostile input: huge bodies, deep nesting, absurd numbers, control characters, SQL and HTML.

Each is refused with a clear error (never a 500, never a stack trace) or stored as inert text,
and changes nothing it should not.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import TenantHandle, add_points, points_of, upsert

ANA = "ana@example.com"


def no_trace(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    for marker in ("Traceback", 'File "', "sqlalchemy", "asyncpg", "pydantic_core"):
        assert marker not in response.text, response.text


def code_name(response: httpx.Response) -> tuple[int, str | None]:
    no_trace(response)
    return response.status_code, response.json().get("CodeName")


class TestSize:
    def test_a_body_over_1_mib_is_413(self, tenant: TenantHandle) -> None:
        upsert(tenant, ANA)
        body = json.dumps({"OriginalId": ANA, "Name": "x" * (1024 * 1024)})
        response = tenant.http.post(
            "/v1/pvt/Customer/upsert", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        no_trace(response)
        assert upsert(tenant, ANA)["Name"] is None

    def test_a_chunked_body_that_hides_its_size_is_413_too(self, tenant: TenantHandle) -> None:
        upsert(tenant, ANA)

        def chunks() -> Iterator[bytes]:
            yield b'{"Points": 1, "OperationType": 0, "Reason": "'
            for _ in range(1100):
                yield b"x" * 1024
            yield b'"}'

        response = tenant.http.post(
            f"/v1/pvt/Customer/{ANA}/points",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 413
        assert points_of(tenant, ANA)["PointsBalance"] == 0

    def test_a_content_length_padded_with_zeros_is_read_as_its_number(
        self, tenant: TenantHandle
    ) -> None:
        # `fidelis serve`'s HTTP parser (httptools, the test server's too) passes a
        # Content-Length of 5 000 leading zeros and a number on, as the number.
        url = httpx.URL(tenant.base_url)
        basic = b"Basic " + base64.b64encode(":".join(tenant.auth).encode())

        def upsert_declaring(length: int, body: bytes) -> bytes:
            with socket.create_connection((url.host, url.port), timeout=10) as connection:
                connection.sendall(
                    b"POST /v1/pvt/Customer/upsert HTTP/1.1\r\nHost: fidelis\r\n"
                    b"Authorization: " + basic + b"\r\nContent-Type: application/json\r\n"
                    b"Connection: close\r\n"
                    b"Content-Length: " + b"0" * 5000 + str(length).encode() + b"\r\n\r\n" + body
                )
                answer = b""
                while chunk := connection.recv(65536):
                    answer += chunk
            assert b"Traceback" not in answer
            return answer

        # Declared larger than the limit: refused before the body is read.
        too_large = upsert_declaring(2 * 1024 * 1024, b'{"OriginalId": "x"}')
        assert too_large.startswith(b"HTTP/1.1 413 "), too_large[:300]
        assert tenant.http.get("/v1/pvt/Customer/x").status_code == 404
        body = json.dumps({"OriginalId": ANA}).encode()
        done = upsert_declaring(len(body), body)
        assert done.startswith(b"HTTP/1.1 200 "), done[:300]
        assert tenant.http.get(f"/v1/pvt/Customer/{ANA}").status_code == 200


class TestShape:
    @pytest.mark.parametrize("depth", [100, 5_000, 100_000])
    def test_deeply_nested_json_is_a_validation_error(
        self, tenant: TenantHandle, depth: int
    ) -> None:
        upsert(tenant, ANA)
        body = '{"Points": 1, "OperationType": 0, "Reason": ' + "[" * depth + "]" * depth + "}"
        response = tenant.http.post(
            f"/v1/pvt/Customer/{ANA}/points",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert code_name(response) == (400, "ValidationError")
        assert points_of(tenant, ANA)["PointsBalance"] == 0

    @pytest.mark.parametrize(
        "points",
        ["1e400", "-1e400", "100000000000000000000000000000000000000000", "1.5", "NaN", "Infinity"],
    )
    def test_absurd_numbers_are_refused(self, tenant: TenantHandle, points: str) -> None:
        upsert(tenant, ANA)
        body = '{"Points": ' + points + ', "OperationType": 0, "Reason": "x"}'
        response = tenant.http.post(
            f"/v1/pvt/Customer/{ANA}/points",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert code_name(response) == (400, "ValidationError")
        assert points_of(tenant, ANA)["PointsBalance"] == 0

    @pytest.mark.parametrize(
        "value",
        [
            "1e400",
            "99999999999999999999.99",
            "1e-400",
            "NaN",
            "1e99999999999999999999999999",  # beyond what a Decimal holds
            "-99999999999999999999",  # beyond 64 bits
        ],
    )
    def test_absurd_money_is_refused(self, tenant: TenantHandle, value: str) -> None:
        upsert(tenant, ANA)
        body = '{"Value": ' + value + ', "OperationType": 0, "Reason": "x"}'
        response = tenant.http.post(
            f"/v1/pvt/Customer/{ANA}/cashback",
            content=body,
            headers={"content-type": "application/json"},
        )
        status, name = code_name(response)
        assert status == 400
        assert name in {"ValidationError", "InvalidValue"}
        assert points_of(tenant, ANA)["PointsBalance"] == 0

    @pytest.mark.parametrize(
        "path",
        ["/v1/pvt/Order/o-1/cancel", "/v1/pvt/Customer/ana/cashback", "/v1/rewards/lock"],
    )
    def test_a_number_beyond_a_decimal_is_never_a_500(
        self, tenant: TenantHandle, path: str
    ) -> None:
        huge = "1e99999999999999999999999999"
        response = tenant.http.post(
            path,
            content=f'{{"Value": {huge}, "total": {huge}}}'.encode(),
            headers={"content-type": "application/json", "brand": tenant.slug},
        )
        no_trace(response)
        assert 400 <= response.status_code < 500, response.text

    def test_absurd_numbers_on_the_reservation_face(self, tenant: TenantHandle) -> None:
        upsert(tenant, ANA)
        add_points(tenant, ANA, 100)
        for total in ("1e400", "NaN", '"-5"', "[]", '{"a": 1}', "1e99999999999999999999999999"):
            response = tenant.http.post(
                "/v1/rewards/lock",
                content='{"customer_id": "' + ANA + '", "total": ' + total + "}",
                headers={"content-type": "application/json", "brand": tenant.slug},
            )
            no_trace(response)
            assert response.status_code == 400, total
            assert response.json()["error"]["code"] == "INVALID_ARGUMENT"
        assert points_of(tenant, ANA)["HeldPoints"] == 0

    @pytest.mark.parametrize(
        "body",
        ["", "null", "[]", '"text"', "{", '{"Points": 1,}', "\xff\xfe", '{"Points": 1} trailing'],
    )
    def test_bodies_that_are_not_an_object(self, tenant: TenantHandle, body: str) -> None:
        upsert(tenant, ANA)
        response = tenant.http.post(
            f"/v1/pvt/Customer/{ANA}/points",
            content=body.encode("utf-8", "surrogateescape") if body else b"",
            headers={"content-type": "application/json"},
        )
        assert code_name(response) == (400, "ValidationError")


class TestDates:
    """Instants outside the years Fidelis takes (1000 to 8999, UTC): ones whose offset carries
    them past Python's calendar, .NET's `DateTime.MinValue` and the far future, where a
    program's day counts would overflow it."""

    @pytest.mark.parametrize(
        "when",
        [
            "9999-12-31T23:59:59-03:00",
            "0001-01-01T00:00:00+03:00",
            "0001-01-01T00:00:00",
            "9500-01-01T00:00:00Z",
        ],
    )
    def test_every_date_field_refuses_them_and_nothing_changes(
        self, tenant: TenantHandle, when: str
    ) -> None:
        upsert(tenant, ANA)
        sent = {
            f"/v1/pvt/Customer/{ANA}/points": {
                "Points": 10,
                "OperationType": 0,
                "Reason": "x",
                "ExpirationDate": when,
            },
            f"/v1/pvt/Customer/{ANA}/cashback": {
                "Value": 1,
                "OperationType": 0,
                "Reason": "x",
                "ExpirationDate": when,
            },
            "/v1/pvt/Customer/upsert": {"OriginalId": "bob", "BirthdayDate": when},
            "/v1/pvt/Order": {
                "OriginalId": "o-1",
                "Customer": {"OriginalId": ANA, "SignupDate": when},
                "OrderTotal": 100,
                "IsCompleted": True,
                "OrderCompletedDate": when,
            },
            "/v1/admin/rewards": {
                "Title": "R",
                "RewardType": 1,
                "Value": 10,
                "Points": 500,
                "ValidDateEnd": when,
            },
        }
        for path, body in sent.items():
            response = tenant.http.post(path, json=body)
            assert code_name(response) == (400, "ValidationError"), path
            assert "between 1000-01-01 and 8999-12-31" in response.json()["ErrorMessage"]
        assert points_of(tenant, ANA)["PointsBalance"] == 0
        assert tenant.http.get("/v1/pvt/Customer/bob").status_code == 404
        assert points_of(tenant, ANA)["PendingPoints"] == 0
        assert tenant.http.get("/v1/admin/rewards").json()["Result"] == []

    def test_the_edges_of_the_years_taken_work_end_to_end(self, tenant: TenantHandle) -> None:
        # A completion late in the range, with the longest pending time and expiry a program
        # may set: the lot's dates land past 9000 and every view of them still renders.
        settings = {"OrderPointsPendingDays": 3650, "PointsExpireAfterDays": 36500}
        assert tenant.http.put("/v1/admin/program", json=settings).status_code == 200
        upsert(tenant, ANA, BirthdayDate="1000-01-01T00:00:00Z")
        response = tenant.http.post(
            "/v1/pvt/Order",
            json={
                "OriginalId": "o-late",
                "Customer": {"OriginalId": ANA},
                "OrderTotal": 100,
                "IsCompleted": True,
                "OrderCompletedDate": "8999-12-31T23:59:59Z",
            },
        )
        assert response.status_code == 200, response.text
        assert points_of(tenant, ANA)["PendingPoints"] > 0
        balance = tenant.http.get(
            f"/v1/rewards/customers/{ANA}/balance", headers={"brand": tenant.slug}
        )
        no_trace(balance)
        assert balance.status_code == 200
        assert tenant.http.get(f"/v1/pvt/Customer/{ANA}").json()["Result"]["BirthdayDate"] == (
            "1000-01-01T00:00:00Z"
        )


class TestText:
    def test_control_characters_are_refused_or_kept_inert(self, tenant: TenantHandle) -> None:
        nul = tenant.http.post(
            "/v1/pvt/Customer/upsert", json={"OriginalId": ANA, "Name": "Ana\x00Maria"}
        )
        assert code_name(nul) == (400, "ValidationError")
        # In a search too: PostgreSQL cannot compare text holding NUL either.
        search = tenant.http.get("/v1/admin/customers", params={"Query": "Ana\x00"})
        assert code_name(search) == (400, "ValidationError")
        odd = "Ana\x07\x1b[31m\u202eMaria\r\n"
        created = upsert(tenant, ANA, Name=odd)
        assert created["Name"] == odd
        assert tenant.http.get(f"/v1/pvt/Customer/{ANA}").json()["Result"]["Name"] == odd

    def test_lone_surrogates_are_refused_in_every_kind_of_body(self, tenant: TenantHandle) -> None:
        # A JSON escape can spell half of a UTF-16 surrogate pair, which no UTF-8 (what both
        # databases store) can encode. Sent as raw JSON: a client library would not encode it.
        upsert(tenant, ANA, Name="Ana")
        assert add_points(tenant, ANA, 100).status_code == 200
        lone = "x\\ud800"
        attempts = [
            ("POST", "/v1/pvt/Customer/upsert", f'{{"OriginalId": "{lone}"}}'),
            ("POST", "/v1/pvt/Customer/upsert", f'{{"OriginalId": "{ANA}", "Name": "{lone}"}}'),
            (
                "POST",
                f"/v1/pvt/Customer/{ANA}/points",
                f'{{"Points": 5, "OperationType": 0, "Reason": "r", "ChangeKey": "{lone}"}}',
            ),
            (
                "POST",
                f"/v1/pvt/Customer/{ANA}/points",
                f'{{"Points": -5, "OperationType": 1, "Reason": "{lone}"}}',
            ),
            (
                "POST",
                "/v1/rewards/lock",
                f'{{"customer_id": "{ANA}", "total": "1.00", "custom_data": {{"{lone}": "v"}}}}',
            ),
            (
                "POST",
                "/v1/rewards/lock",
                f'{{"customer_id": "{ANA}", "total": "1.00", "custom_data": {{"k": "{lone}"}}}}',
            ),
            ("PUT", "/v1/admin/program", f'{{"DefaultCustomerReason": "{lone}"}}'),
            ("PUT", "/v1/admin/program", f'{{"RedemptionRule": {{"ExcludedSkus": ["{lone}"]}}}}'),
            (
                "POST",
                "/v1/admin/rewards",
                f'{{"Title": "{lone}", "RewardType": 0, "Value": 10, "Points": 100}}',
            ),
        ]
        headers = {"content-type": "application/json", "brand": tenant.slug}
        for method, path, body in attempts:
            response = tenant.http.request(method, path, content=body.encode(), headers=headers)
            assert response.status_code == 400, (path, body, response.text)
            no_trace(response)
        points = points_of(tenant, ANA)
        assert (points["PointsBalance"], points["HeldPoints"]) == (100, 0)
        assert upsert(tenant, ANA)["Name"] == "Ana"
        program = tenant.http.get("/v1/admin/program").json()["Result"]
        assert program["DefaultCustomerReason"] == "Ajuste de pontos"
        assert program["RedemptionRule"]["ExcludedSkus"] == []
        assert tenant.http.get("/v1/admin/rewards").json()["Result"] == []
        # A whole pair is a character like any other.
        paired = f'{{"OriginalId": "{ANA}", "Name": "Ana \\ud83d\\ude00"}}'
        kept = tenant.http.post("/v1/pvt/Customer/upsert", content=paired.encode(), headers=headers)
        assert kept.json()["Result"]["Name"] == "Ana \U0001f600"

    def test_sql_is_stored_as_text(self, tenant: TenantHandle) -> None:
        sneaky = "Robert'); DROP TABLE customer; --"
        upsert(tenant, sneaky, Name=sneaky)
        assert tenant.http.get(f"/v1/pvt/Customer/{sneaky}").json()["Result"]["Name"] == sneaky
        found = tenant.http.get("/v1/pvt/Customer/x' OR '1'='1")
        assert code_name(found) == (404, "CustomerNotFound")

    def test_html_in_customer_facing_text_is_stripped(self, tenant: TenantHandle) -> None:
        upsert(tenant, ANA)
        response = add_points(
            tenant, ANA, 10, CustomerReason='<img src=x onerror="alert(1)">Bônus<script>x</script>'
        )
        assert response.status_code == 200, response.text
        assert points_of(tenant, ANA)["PointHistory"][0]["Title"] == "Bônus"

    def test_over_long_text_is_refused(self, tenant: TenantHandle) -> None:
        long_id = "a" * 201
        response = tenant.http.post("/v1/pvt/Customer/upsert", json={"OriginalId": long_id})
        assert code_name(response) == (400, "ValidationError")
        upsert(tenant, ANA)
        response = add_points(tenant, ANA, 10, Reason="r" * 1001)
        assert code_name(response) == (400, "ValidationError")
        assert points_of(tenant, ANA)["PointsBalance"] == 0
