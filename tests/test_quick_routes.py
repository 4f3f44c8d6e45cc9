"""`api.quick`: a planned route answers every request exactly as FastAPI's own handler does.

The same server answers each request twice: once as it runs (planned routes served by their
plan) and once with a dependency override in place, which makes every route hand its requests
to FastAPI's solver. Valid and invalid requests alike must get the same status and body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from fidelis.api.middleware import Edge
from fidelis.api.quick import QuickRoute, _Plan
from tests.conftest import Server, TenantHandle, add_points, upsert


def _never_called() -> None:
    raise AssertionError("only present to force FastAPI's own handler")


@contextmanager
def fastapi_handler(server: Server) -> Iterator[None]:
    """Inside, every route runs FastAPI's own handler (plans step aside for overrides)."""
    server.app.dependency_overrides[_never_called] = _never_called
    try:
        yield
    finally:
        server.app.dependency_overrides.pop(_never_called, None)


def answer(response: httpx.Response) -> tuple[int, Any]:
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def both(
    server: Server, send: Callable[[], httpx.Response]
) -> tuple[tuple[int, Any], tuple[int, Any]]:
    """The answers to `send()` as the server runs, then with FastAPI's own handlers."""
    quick = answer(send())
    with fastapi_handler(server):
        full = answer(send())
    return quick, full


def test_the_hot_routes_have_a_plan(server: Server) -> None:
    planned = {
        (method, route.path)
        for route in server.app.routes
        if isinstance(route, QuickRoute) and _Plan.of(route) is not None
        for method in route.methods or ()
    }
    for hot in (
        ("POST", "/v1/pvt/Customer/{customer_id:path}/points"),
        ("GET", "/v1/pvt/Customer/{customer_id:path}/points"),
        ("POST", "/v1/rewards/lock"),
        ("POST", "/v1/rewards/commit"),
    ):
        assert hot in planned
    # Every API route is a QuickRoute; a route it cannot plan keeps FastAPI's handler.
    api_routes = [
        r for r in server.app.routes if isinstance(r, APIRoute) and r.path.startswith("/v1/")
    ]
    assert len(api_routes) > 30
    assert all(isinstance(r, QuickRoute) for r in api_routes)


BAD_BODIES: list[tuple[str, dict[str, str], bytes]] = [
    ("not JSON", {"content-type": "application/json"}, b"{nope"),
    ("empty", {"content-type": "application/json"}, b""),
    ("a list", {"content-type": "application/json"}, b"[1, 2]"),
    ("missing Points", {"content-type": "application/json"}, b'{"Reason": "x"}'),
    ("Points a word", {"content-type": "application/json"}, b'{"Points": "ten", "Reason": "x"}'),
    ("text/plain", {"content-type": "text/plain"}, b'{"Points": 5, "Reason": "x"}'),
    (
        "JSON with a charset",
        {"content-type": "application/json; charset=utf-8"},
        b'{"Points": 5, "OperationType": 0, "Reason": "x"}',
    ),
    ("no content type", {}, b'{"Points": 5, "OperationType": 0, "Reason": "x"}'),
    (
        "zero points",
        {"content-type": "application/json"},
        b'{"Points": 0, "OperationType": 0, "Reason": "x"}',
    ),
    (
        "Points as text",
        {"content-type": "application/json"},
        b'{"Points": "5", "OperationType": 0, "Reason": "x"}',
    ),
]


@pytest.mark.parametrize(
    ("headers", "body"), [(h, b) for _, h, b in BAD_BODIES], ids=[n for n, _, _ in BAD_BODIES]
)
def test_points_changes_answer_alike(
    tenant: TenantHandle, server: Server, headers: dict[str, str], body: bytes
) -> None:
    upsert(tenant, "alike")
    quick, full = both(
        server,
        lambda: tenant.http.post("/v1/pvt/Customer/alike/points", content=body, headers=headers),
    )
    if quick[0] == 200:
        # Both applied the change: the second answer holds one movement more.
        assert full[0] == 200
        assert full[1]["Result"]["PointsBalance"] - quick[1]["Result"]["PointsBalance"] == 5
    else:
        assert quick == full


@pytest.mark.parametrize(
    "path",
    [
        "/v1/pvt/Customer/nobody/points",
        "/v1/pvt/Customer/" + "x" * 201 + "/points",
        "/v1/pvt/Customer/alike/points",
    ],
    ids=["unknown customer", "identifier too long", "known customer"],
)
def test_points_reads_answer_alike(tenant: TenantHandle, server: Server, path: str) -> None:
    upsert(tenant, "alike")
    assert add_points(tenant, "alike", 12).status_code == 200
    quick, full = both(server, lambda: tenant.http.get(path))
    assert quick == full


def test_credentials_are_refused_alike(server: Server, tenant: TenantHandle) -> None:
    upsert(tenant, "alike")
    for auth in (None, (tenant.api_token, "wrong"), ("nobody", "wrong")):
        with httpx.Client(base_url=server.base_url, auth=auth) as client:
            change = {"Points": 5, "OperationType": 0, "Reason": "x"}
            quick, full = both(
                server, partial(client.post, "/v1/pvt/Customer/alike/points", json=change)
            )
        assert quick == full
        assert quick[0] == 401


def test_reservation_answers_alike(tenant: TenantHandle, server: Server) -> None:
    upsert(tenant, "buyer")
    assert add_points(tenant, "buyer", 500).status_code == 200
    lock = {"customer_id": "buyer", "total": "100.00", "products": []}
    for headers in ({}, {"brand": "someone-else"}):
        quick, full = both(
            server, partial(tenant.http.post, "/v1/rewards/lock", json=lock, headers=headers)
        )
        assert quick == full
        assert quick[0] == 403
    for body in ({}, {"lock_token": ""}, {"lock_token": "no-such-lock"}, {"lock_token": 5}):
        brand = {"brand": tenant.slug}
        quick, full = both(
            server, partial(tenant.http.post, "/v1/rewards/commit", json=body, headers=brand)
        )
        assert quick == full
        assert quick[0] in (400, 404, 422)


def test_the_busiest_routes_take_the_express_lane(server: Server, tenant: TenantHandle) -> None:
    """`api.middleware.Edge` hands points add and read, lock and commit to their route itself:
    the layers behind it see none of those requests, however they are spelled or answered,
    and every other request."""
    upsert(tenant, "ana")
    assert add_points(tenant, "ana", 10).status_code == 200  # the app's layers are built
    edge = server.app.middleware_stack
    while not isinstance(edge, Edge):
        edge = edge.app
    behind, seen = edge.app, []

    async def watched(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["method"], scope["path"]))
        await behind(scope, receive, send)

    brand = {"brand": tenant.slug}
    edge.app = watched
    try:
        added = add_points(tenant, "ana", 5)
        read = tenant.http.get("/v1/pvt/customer/ana/POINTS")
        locked = tenant.http.post(
            "/v1/rewards/lock", json={"customer_id": "ana", "total": "0.05"}, headers=brand
        )
        committed = tenant.http.post(
            "/v1/rewards/commit", json={"lock_token": locked.json()["lock_token"]}, headers=brand
        )
        refused = tenant.http.post("/v1/rewards/commit", json={"lock_token": 1}, headers=brand)
        missing = add_points(tenant, "nobody", 5)
        customer = tenant.http.get("/v1/pvt/Customer/ana")
    finally:
        edge.app = behind
    assert (added.status_code, read.status_code, customer.status_code) == (200, 200, 200)
    assert read.json()["PointsBalance"] == 15
    assert (locked.status_code, committed.status_code) == (200, 200), committed.text
    # Errors mapped by the routes' own handlers, in each face's shape.
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "INVALID_ARGUMENT")
    assert (missing.status_code, missing.json()["CodeName"]) == (404, "CustomerNotFound")
    assert seen == [("GET", "/v1/pvt/Customer/ana")]
