"""Authentication on every route, key revocation, and the wall between tenants.

The route table comes from the live server's OpenAPI document, so a route added later is covered
without touching this file.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest

from fidelis.db.engine import Database
from fidelis.kit.clock import utc_now
from fidelis.tenant import repository as tenant_repository
from fidelis.tenant import service as tenant_service
from fidelis.tenant.service import Credentials
from tests.conftest import Server, TenantHandle, add_points, points_of, run_async, upsert

PUBLIC = {"/health", "/docs", "/openapi.json"}
METHODS = {"get", "post", "put", "patch", "delete"}


def routes(server: Server) -> list[tuple[str, str]]:
    """(method, concrete path) of every route the server documents, except the public ones."""
    document = httpx.get(f"{server.base_url}/openapi.json").json()
    found = []
    for template, operations in document["paths"].items():
        if template in PUBLIC:
            continue
        path = re.sub(r"\{[^}/]+\}", "someone", template)
        found += [(method.upper(), path) for method in operations if method in METHODS]
    # Guard against walking an empty table: the routes the foundation is known to have.
    assert ("POST", "/v1/pvt/Customer/someone/points") in found
    assert ("PUT", "/v1/admin/program") in found
    return sorted(found)


def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def bad_credentials(tenant: TenantHandle) -> dict[str, dict[str, str | bytes]]:
    """Authorization headers that must all be refused, by name (no header at all included)."""
    token, key = tenant.api_token.encode(), tenant.api_key.encode()
    return {
        "missing": {},
        "wrong secret": {"Authorization": basic(token + b":" + b"not-the-key")},
        "unknown token": {"Authorization": basic(b"APIUSER-nobody-" + uuid.uuid4().hex.encode())},
        "unknown token, real secret": {"Authorization": basic(b"APIUSER-x-0000:" + key)},
        "other scheme": {"Authorization": f"Bearer {tenant.api_key}"},
        "scheme only": {"Authorization": "Basic"},
        "not base64": {"Authorization": "Basic %%%not-base64%%%"},
        "unencoded pair": {"Authorization": f"Basic {tenant.api_token}:{tenant.api_key}"},
        "no colon": {"Authorization": basic(token + key)},
        "empty token": {"Authorization": basic(b":" + key)},
        "empty secret": {"Authorization": basic(token + b":")},
        "not utf-8": {"Authorization": basic(b"\xff\xfe:\xff")},
        # Bytes past ASCII in the header itself (the server reads them as Latin-1).
        "not ascii": {"Authorization": b"Basic \xff\xfe=="},
        "secret with a suffix": {"Authorization": basic(token + b":" + key + b"x")},
        "NUL in the token": {"Authorization": basic(token + b"\x00:" + key)},
        "NUL in the secret": {"Authorization": basic(token + b":" + key + b"\x00")},
    }


def send(
    client: httpx.Client, method: str, path: str, headers: dict[str, str | bytes]
) -> httpx.Response:
    body: dict[str, Any] | None = None if method == "GET" else {}
    return client.request(method, path, json=body, headers=headers)


def unauthorized_problems(response: httpx.Response) -> list[str]:
    """What is wrong with `response` as a 401 answer (empty when it is right), in the error
    shape of the face its path belongs to."""
    if response.request.url.path.lower().startswith("/v1/rewards"):
        return reservation_unauthorized_problems(response)
    problems = []
    if response.status_code != 401:
        problems.append(f"status {response.status_code}")
    if not response.headers.get("www-authenticate", "").lower().startswith("basic"):
        problems.append(f"WWW-Authenticate {response.headers.get('www-authenticate')!r}")
    try:
        answer: Any = response.json()
    except ValueError:
        return [*problems, f"body is not JSON: {response.text[:80]!r}"]
    expected = {
        "CodeName": "Unauthorized",
        "Code": "40",
        "ErrorCode": 40,
        "Severity": 2,
        "HasError": True,
        "HasWarning": False,
        "Result": None,
    }
    got = {name: answer.get(name) for name in expected} if isinstance(answer, dict) else answer
    if got != expected or not answer.get("ErrorMessage"):
        problems.append(f"envelope {answer!r}")
    return problems


def reservation_unauthorized_problems(response: httpx.Response) -> list[str]:
    problems = []
    if response.status_code != 401:
        problems.append(f"status {response.status_code}")
    if not response.headers.get("www-authenticate", "").lower().startswith("basic"):
        problems.append(f"WWW-Authenticate {response.headers.get('www-authenticate')!r}")
    try:
        answer: Any = response.json()
    except ValueError:
        return [*problems, f"body is not JSON: {response.text[:80]!r}"]
    error = answer.get("error") if isinstance(answer, dict) else None
    if (
        not isinstance(error, dict)
        or error.get("code") != "UNAUTHORIZED"
        or not error.get("message")
    ):
        problems.append(f"error body {answer!r}")
    return problems


# --- every route needs credentials -------------------------------------------------------------


def test_every_route_refuses_bad_credentials(server: Server, tenant: TenantHandle) -> None:
    failures = []
    with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
        for method, path in routes(server):
            # Routes match without case, so the refusal must not depend on the spelling either.
            for spelled in (path, path.swapcase()):
                for name, headers in bad_credentials(tenant).items():
                    response = send(anonymous, method, spelled, headers)
                    failures += [
                        f"{method} {spelled} [{name}]: {problem}"
                        for problem in unauthorized_problems(response)
                    ]
    assert failures == []


def test_every_route_lets_good_credentials_through(server: Server, tenant: TenantHandle) -> None:
    # The control for the test above: the paths built from the document do reach their routes.
    for method, path in routes(server):
        response = send(tenant.http, method, path, {})
        assert response.status_code not in (401, 405), f"{method} {path}: {response.text}"
        assert response.status_code < 500, f"{method} {path}: {response.text}"


def test_public_routes_need_no_credentials(server: Server) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
        health = anonymous.get("/health")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "database": "ok"}
        # Wrong credentials on a public route are simply ignored.
        bad = anonymous.get("/health", headers={"Authorization": "Basic %%%"})
        assert (bad.status_code, bad.json()) == (200, {"status": "ok", "database": "ok"})
        assert anonymous.get("/openapi.json").status_code == 200
        assert anonymous.get("/docs").status_code == 200
        # Those three and no other: FastAPI's second documentation page and its OAuth2
        # redirect page are not served.
        for path in ("/redoc", "/docs/oauth2-redirect"):
            assert anonymous.get(path).status_code == 404, path


# --- revocation -------------------------------------------------------------------------------


def second_key(server: Server, tenant: TenantHandle) -> Credentials:
    async def work(db: Database) -> Credentials:
        async with db.write() as conn:
            found = await tenant_repository.get_by_slug(conn, tenant.slug)
            assert found is not None
            return await tenant_service.create_key(conn, tenant=found, now=utc_now())

    return run_async(server.database_url, work)


def revoke(server: Server, tenant: TenantHandle, token: str) -> None:
    async def work(db: Database) -> None:
        async with db.write() as conn:
            found = await tenant_repository.get_by_slug(conn, tenant.slug)
            assert found is not None
            await tenant_service.revoke_key(conn, tenant=found, token=token, now=utc_now())

    run_async(server.database_url, work)


def test_a_revoked_key_is_refused_at_once(server: Server, tenant: TenantHandle) -> None:
    spare = second_key(server, tenant)
    upsert(tenant, "rita@example.com")
    assert add_points(tenant, "rita@example.com", 50).status_code == 200

    revoke(server, tenant, tenant.api_token)

    # The very next request, even on the same kept-alive connection, is refused.
    for response in (
        tenant.http.get("/v1/pvt/Customer/rita@example.com/points"),
        add_points(tenant, "rita@example.com", 50),
        tenant.http.get("/v1/admin/program"),
    ):
        assert unauthorized_problems(response) == []
    # The tenant's other key still works, and the refused change did not happen.
    with httpx.Client(
        base_url=server.base_url, auth=(spare.api_token, spare.api_key), timeout=30
    ) as other:
        points = other.get("/v1/pvt/Customer/rita@example.com/points")
        assert points.status_code == 200
        assert points.json()["PointsBalance"] == 50


def test_a_revoked_key_is_refused_at_once_by_original_id(
    server: Server, tenant: TenantHandle
) -> None:
    # By OriginalId the points routes take PostgreSQL's one-statement paths, where a server
    # that has seen the key authenticate skips its own lookup: the statement itself must
    # refuse the revoked key.
    spare = second_key(server, tenant)
    upsert(tenant, "rita-1")
    assert add_points(tenant, "rita-1", 50).status_code == 200
    assert tenant.http.get("/v1/pvt/Customer/rita-1/points").status_code == 200

    revoke(server, tenant, tenant.api_token)

    for response in (
        add_points(tenant, "rita-1", 50),
        tenant.http.get("/v1/pvt/Customer/rita-1/points"),
        add_points(tenant, "rita-1", 50),
    ):
        assert unauthorized_problems(response) == []
    with httpx.Client(
        base_url=server.base_url, auth=(spare.api_token, spare.api_key), timeout=30
    ) as other:
        points = other.get("/v1/pvt/Customer/rita-1/points")
        assert points.status_code == 200
        assert points.json()["PointsBalance"] == 50
        # A wrong secret for the spare key, right after its right one, is refused too.
        wrong = other.get(
            "/v1/pvt/Customer/rita-1/points", auth=(spare.api_token, spare.api_key + "x")
        )
        assert unauthorized_problems(wrong) == []


def test_a_key_revoked_with_the_cli_is_refused(server: Server, tenant: TenantHandle) -> None:
    assert tenant.http.get("/v1/admin/program").status_code == 200
    env = {**os.environ, "FIDELIS_DATABASE_URL": server.database_url}
    command = [sys.executable, "-m", "fidelis", "key", "revoke", tenant.api_token]

    done = subprocess.run(
        [*command, "--tenant", tenant.slug], env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert unauthorized_problems(tenant.http.get("/v1/admin/program")) == []
    again = subprocess.run(
        [*command, "--tenant", tenant.slug], env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode != 0


# --- tenant isolation -------------------------------------------------------------------------

SHARED = "shared@example.com"
CPF = "529.982.247-25"


@pytest.fixture
def ana(tenant: TenantHandle) -> TenantHandle:
    """Tenant A, whose customer `shared@example.com` holds 500 points."""
    upsert(tenant, SHARED, Name="Ana", Email=SHARED, Document=CPF)
    assert add_points(tenant, SHARED, 500, CustomerReason="Boas-vindas").status_code == 200
    return tenant


def a_state(tenant: TenantHandle) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    customer = tenant.http.get(f"/v1/pvt/Customer/{SHARED}")
    history = tenant.http.post(f"/v1/pvt/Customer/{SHARED}/history", params={"PageSize": 50})
    assert customer.status_code == history.status_code == 200
    return customer.json()["Result"], points_of(tenant, SHARED), history.json()


def assert_customer_not_found(response: httpx.Response) -> None:
    answer = response.json()
    assert (response.status_code, answer["CodeName"], answer["Code"]) == (
        404,
        "CustomerNotFound",
        "01",
    ), response.text
    assert answer["Result"] is None


def test_another_tenant_cannot_see_or_touch_the_customer(
    ana: TenantHandle, other_tenant: TenantHandle
) -> None:
    before = a_state(ana)
    bia = other_tenant.http
    for ident in (SHARED, "SHARED@example.com", "52998224725", CPF):
        assert_customer_not_found(bia.get(f"/v1/pvt/Customer/{ident}"))
        unknown = bia.get(f"/v1/pvt/Customer/{ident}/points")
        assert unknown.status_code == 200
        assert unknown.json()["CustomerExists"] is False
        assert unknown.json()["PointsBalance"] == 0
        assert unknown.json()["PointHistory"] == []

    path = f"/v1/pvt/Customer/{SHARED}"
    reason = {"Reason": "intrusion", "ChangeKey": "b-key"}
    for response in (
        bia.post(f"{path}/points", json={"Points": 100, "OperationType": 0, **reason}),
        bia.post(f"{path}/points", json={"Points": -100, "OperationType": 1, **reason}),
        bia.post(f"{path}/cashback", json={"Value": 5, "OperationType": 0, **reason}),
        bia.post(f"{path}/cashback", json={"Value": -5, "OperationType": 1, **reason}),
        bia.post(f"{path}/history"),
        bia.post(f"{path}/changestatus", json={"IsEnabled": False, "Reason": "intrusion"}),
    ):
        assert_customer_not_found(response)

    # The same OriginalId, e-mail and document make B's own, separate customer.
    created = upsert(other_tenant, SHARED, Name="Bia", Email=SHARED, Document=CPF)
    assert created["Operation"] == "created"
    assert (created["BalanceOfPoints"], created["Name"]) == (0, "Bia")
    assert created["InternalId"] != before[0]["InternalId"]
    assert points_of(other_tenant, SHARED)["PointsBalance"] == 0
    # The refused attempts did not spend B's key: it is still free in B's namespace.
    assert add_points(other_tenant, SHARED, 30, ChangeKey="b-key").status_code == 200
    assert points_of(other_tenant, SHARED)["PointsBalance"] == 30
    # A is exactly as it was: customer, points, history.
    assert a_state(ana) == before
    assert before[1]["PointsBalance"] == 500
    assert [item["Points"] for item in before[2]["Items"]] == [500]


def test_change_keys_are_per_tenant(ana: TenantHandle, other_tenant: TenantHandle) -> None:
    upsert(other_tenant, SHARED)
    key = {"ChangeKey": "order-123"}

    assert add_points(ana, SHARED, 10, **key).status_code == 200
    assert add_points(other_tenant, SHARED, 20, **key).status_code == 200
    again_a = add_points(ana, SHARED, 10, **key)
    again_b = ana.http.post(
        f"/v1/pvt/Customer/{SHARED}/cashback",
        json={"Value": 1, "OperationType": 0, "Reason": "test", **key},
    )
    again_other = add_points(other_tenant, SHARED, 20, **key)

    for response in (again_a, again_b, again_other):
        assert (response.status_code, response.json()["CodeName"]) == (
            409,
            "ChangeKeyAlreadyUsed",
        )
    assert again_a.json()["Result"]["PointsBalance"] == 510
    assert again_other.json()["Result"]["PointsBalance"] == 20
    assert points_of(ana, SHARED)["PointsBalance"] == 510
    assert points_of(other_tenant, SHARED)["PointsBalance"] == 20
