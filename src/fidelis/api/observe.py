"""Watching requests: one JSON log line and the Prometheus samples per request; `/metrics`.

Two ASGI middlewares share one small record per request:

- `ObserveRequests` (outermost) times the request, sees its status (even a 413 from the body
  limit or a 500), then writes the log line and the metrics.
- `RecordRoute` (innermost, after case-insensitive paths are canonicalized) notes the route
  template the router matched. Middlewares hand a *copy* of the scope down when they rewrite
  it, so the router's match is not visible outside; the shared record carries it out.

The log line names the route template, never the raw path: paths hold customer ids, e-mails
and documents. The tenant is the slug `current_tenant` put on `request.state`.
"""

from __future__ import annotations

import functools
import re
import time
from typing import Any

import structlog
from fastapi import APIRouter
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fidelis import metrics
from fidelis.api.deps import CurrentTenant
from fidelis.api.quick import QuickRoute

log = structlog.get_logger("fidelis.http")

_RECORD = "fidelis.observed"
UNMATCHED = "unmatched"
# `{customer_id:path}` → `{customer_id}`: the converter is routing detail, not part of the name.
_CONVERTER = re.compile(r"\{([^}:]+):[^}]+\}")


@functools.cache
def route_template(path: str) -> str:
    return _CONVERTER.sub(r"{\1}", path)


class ObserveRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record: dict[str, Any] = {}
        # `request.state` lives in scope["state"]; make sure every copy of the scope shares ours.
        scope.setdefault("state", {})
        scope[_RECORD] = record
        status = 500
        started = time.perf_counter()

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            seconds = time.perf_counter() - started
            route = record.get("route", UNMATCHED)
            method = str(scope["method"])
            metrics.observe_request(method, route, status, seconds)
            tenant = scope["state"].get("tenant")
            log.info(
                "request",
                method=method,
                path=route,
                status=status,
                latency_ms=round(seconds * 1000, 1),
                tenant=tenant,
            )


class RecordRoute:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        record = scope.get(_RECORD)
        if record is None:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            # The router stores the route it matched (fully, or all but the method) in the scope
            # it was handed, which is this very dict.
            route = scope.get("route")
            path = getattr(route, "path", None)
            if isinstance(path, str):
                record["route"] = route_template(path)


router = APIRouter(tags=["Operations"], route_class=QuickRoute)


@router.get(
    "/metrics",
    summary="Prometheus metrics (any tenant's credentials)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def get_metrics(tenant: CurrentTenant) -> Response:
    # The figures are process-wide, not per tenant, and name no tenant or customer; any valid
    # key may read them (a dedicated monitoring tenant is the recommended setup).
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
