"""Watching requests: one JSON log line and the Prometheus samples per request; `/metrics`.

`record` is called once per request by the outermost middleware (`api.middleware.Edge`),
which times the request and sees its status (even a 413 from the body limit or a 500) and the
route the router matched.

The log line names the route template, never the raw path: paths hold customer ids, e-mails
and documents. The tenant is the slug `current_tenant` put on `request.state`.
"""

from __future__ import annotations

import functools
import re

import structlog
from fastapi import APIRouter
from starlette.responses import Response

from fidelis import metrics
from fidelis.api.deps import CurrentTenant
from fidelis.api.quick import QuickRoute

log = structlog.get_logger("fidelis.http")

UNMATCHED = "unmatched"
# `{customer_id:path}` → `{customer_id}`: the converter is routing detail, not part of the name.
_CONVERTER = re.compile(r"\{([^}:]+):[^}]+\}")


@functools.cache
def route_template(path: str) -> str:
    return _CONVERTER.sub(r"{\1}", path)


def record(method: str, route: str | None, status: int, seconds: float, tenant: str | None) -> None:
    """The log line and metrics of a request answered `status` in `seconds`; `route`: the path
    of the route it matched (None when none did)."""
    path = UNMATCHED if route is None else route_template(route)
    metrics.observe_request(method, path, status, seconds)
    log.info(
        "request",
        method=method,
        path=path,
        status=status,
        latency_ms=round(seconds * 1000, 1),
        tenant=tenant,
    )


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
