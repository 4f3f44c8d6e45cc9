"""`create_app(settings)`: the HTTP application, its routers and the error mappers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from fidelis import __version__, logs
from fidelis.api.admin import customers as admin_customers
from fidelis.api.admin import program as admin_program
from fidelis.api.admin import reports as admin_reports
from fidelis.api.admin import rewards as admin_rewards
from fidelis.api.json import JSONResponse
from fidelis.api.middleware import Edge
from fidelis.api.observe import router as metrics_router
from fidelis.api.pvt import checkout as pvt_checkout
from fidelis.api.pvt import customers as pvt_customers
from fidelis.api.pvt import envelope
from fidelis.api.pvt import orders as pvt_orders
from fidelis.api.pvt import pos as pvt_pos
from fidelis.api.pvt import rewards as pvt_rewards
from fidelis.api.rewards import errors as reservation_errors
from fidelis.api.rewards import routes as reservation
from fidelis.config import Settings
from fidelis.console import routes as console
from fidelis.db.engine import Database
from fidelis.errors import FidelisError, InvalidField, InvalidValue
from fidelis.kit.clock import utc_now
from fidelis.tenant.keys import KeyCache

log = structlog.get_logger("fidelis.http")


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], datetime] = utc_now
) -> FastAPI:
    """Build the app. `clock` is the source of every request's `now` (tests pass their own)."""
    settings = settings or Settings()
    logs.configure(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            hot_connections=settings.db_hot_connections,
            batches_in_flight=settings.db_batches_in_flight,
            timeout=settings.db_timeout_seconds,
        )
        try:
            yield
        finally:
            await app.state.db.dispose()

    app = FastAPI(
        title="Fidelis",
        version=__version__,
        summary="Loyalty and cashback engine: BonifiQ-compatible Private API and more.",
        lifespan=lifespan,
        default_response_class=JSONResponse,
        # Only `/docs` and `/openapi.json` are open besides `/health`: no ReDoc page, and no
        # OAuth2 redirect page (the API takes HTTP Basic credentials only).
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        # Fidelis has its own metrics (`/metrics`) and log line; FastAPI's OpenTelemetry hooks
        # would otherwise look up three global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.keys = KeyCache()
    # The router tries the routes in this order, about a microsecond each (the express routes
    # are moved ahead of all, below). No two of these routers have paths in common, so the
    # order decides nothing else.
    routers = [
        pvt_customers.router,
        reservation.router,
        pvt_orders.router,
        pvt_rewards.router,
        pvt_pos.router,
        pvt_checkout.router,
        admin_program.router,
        admin_rewards.router,
        admin_customers.router,
        admin_reports.router,
        metrics_router,
    ]
    for router in routers:
        # The routes themselves, not the router: FastAPI matches an included router's routes
        # through a wrapper per router that re-walks every route's version on every request
        # (a fifth of a worker's time under load); the routers set no prefix, dependency or
        # tag at inclusion, so their routes are complete as they are.
        app.router.routes.extend(router.routes)

    @app.get(
        "/health",
        tags=["Operations"],
        summary="Liveness and database reachability (no credentials)",
        response_model=None,
        responses={
            200: _health("ok", "ok", "Up, database reachable."),
            503: _health("degraded", "unavailable", "The database cannot be reached."),
        },
    )
    async def health(request: Request) -> JSONResponse:
        db: Database = request.app.state.db
        try:
            async with db.read() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "degraded", "database": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    if settings.admin_password:
        # The console exists only with a password: unset, every /admin path is a plain 404.
        console.mount(app)

    # FastAPI put its documentation's routes first; no API path matches them, so they go last.
    documentation = {
        app.openapi_url,
        app.docs_url,
        app.redoc_url,
        app.swagger_ui_oauth2_redirect_url,
    } - {None}
    # The express routes first (`api.middleware.Edge` serves them), the documentation's last; a
    # stable sort: every other route keeps its place.
    express = [r for r in app.router.routes if _is_express(r)]
    app.router.routes.sort(
        key=lambda route: (
            not _is_express(route),
            getattr(route, "path", None) in documentation,
        )
    )
    _install_error_mappers(app)
    _describe_api(app)
    # One middleware (besides Starlette's own): it watches every answer, 413s of the body limit
    # and 500s included, and hands the app the path as the route declares it.
    app.add_middleware(
        Edge,
        routes=[
            (_methods(r), r.path)
            for router in routers
            for r in router.routes
            if isinstance(r, APIRoute)
        ],
        express=express,
        router=app.router,
    )
    return app


# The routes stores call most, served past the layers between the app's middleware and them
# (`api.middleware.Edge`).
EXPRESS = frozenset(
    {
        ("POST", "/v1/pvt/Customer/{customer_id:path}/points"),
        ("GET", "/v1/pvt/Customer/{customer_id:path}/points"),
        ("POST", "/v1/rewards/lock"),
        ("POST", "/v1/rewards/commit"),
    }
)


def _is_express(route: object) -> bool:
    return isinstance(route, APIRoute) and any(
        (method, route.path) in EXPRESS for method in route.methods or ()
    )


# What any route with credentials can answer, for the routes that document no errors of their own.
_ENVELOPE = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
AUTH_ERRORS = {
    "401": {"description": "Unauthorized", "content": _ENVELOPE},
    "429": {"description": "RateLimited", "content": _ENVELOPE},
}


def _health(status: str, database: str, description: str) -> dict[str, Any]:
    value = {"status": status, "database": database}
    properties = {name: {"type": "string", "const": v} for name, v in value.items()}
    schema = {"type": "object", "properties": properties, "required": list(value)}
    return {
        "description": description,
        "content": {"application/json": {"schema": schema, "example": value}},
    }


def _describe_api(app: FastAPI) -> None:
    """`/openapi.json` as the app really answers: HTTP Basic on every route but /health, and
    no 422 (a request that fails validation is a 400 of its face, documented by each route)."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            spec.setdefault("components", {})["securitySchemes"] = {
                "HTTPBasic": {"type": "http", "scheme": "basic", "description": "ApiToken:ApiKey"}
            }
            for path, operations in spec.get("paths", {}).items():
                for operation in operations.values():
                    operation["responses"].pop("422", None)
                    for answer in operation["responses"].values():
                        # FastAPI takes the app's orjson response class for plain text and
                        # says "string" next to the documented model; the body is JSON.
                        media = answer.get("content", {}).get("application/json", {})
                        if media.get("schema", {}).get("type") == "string":
                            del media["schema"]["type"]
                    if path != "/health":
                        operation["security"] = [{"HTTPBasic": []}]
                        # Routes without their own error documentation (e.g. /metrics)
                        # still answer 401 and 429 in the envelope.
                        for status, answer in AUTH_ERRORS.items():
                            operation["responses"].setdefault(status, answer)
            schemas = spec["components"].get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]  # FastAPI's documented override


def _methods(route: APIRoute) -> frozenset[str]:
    methods = set(route.methods or ())
    if "GET" in methods:
        methods.add("HEAD")
    return frozenset(methods)


def _in_path(request: Request) -> bool:
    return "customer_id" in request.path_params


def _install_error_mappers(app: FastAPI) -> None:
    # Each face maps errors to its own wire format; the path says which face a request is for.
    def mapped(request: Request, exc: FidelisError) -> Response:
        if reservation_errors.serves(request.url.path):
            return reservation_errors.error(exc)
        return envelope.error(exc, in_path=_in_path(request))

    @app.exception_handler(FidelisError)
    async def domain_error(request: Request, exc: FidelisError) -> Response:
        return mapped(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if all(error.get("type") == "decimal_max_places" for error in exc.errors()):
            # Amounts carry at most two places and quantities six; more is `InvalidValue`.
            return mapped(request, InvalidValue(_describe(exc)))
        return mapped(request, InvalidField(_describe(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if console.serves(request):
            return console.framework_error(request, exc)
        if exc.status_code == 400:
            # The framework could not parse the body (e.g. nesting too deep for the parser).
            return mapped(request, InvalidField("The body could not be parsed as JSON."))
        messages = {404: "Not found.", 405: "Method not allowed."}
        message = messages.get(exc.status_code, "Error.")
        if reservation_errors.serves(request.url.path):
            codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
            return reservation_errors.plain(
                exc.status_code, codes.get(exc.status_code, "ERROR"), message
            )
        return envelope.plain_error(exc.status_code, message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled_error", path=request.url.path, error=type(exc).__name__, exc_info=exc)
        return mapped(request, FidelisError("Internal error."))


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        location = [str(p) for p in error.get("loc", ()) if p != "body"]
        where = ".".join(location) or "body"
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "json_invalid":
            return "The body is not valid JSON."
        parts.append(f"{where}: {message}")
    return "; ".join(parts) or "The request is invalid."


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (each worker process builds its own app).

    What the worker has built by now (modules, routes, schemas, the app) lives as long as the
    worker does, so it is moved out of the garbage collector's sight: a full collection
    walked those objects every time, some 80 ms during which the worker served no request
    (under a load of refused requests, one a second: that load's p99; docs/DECISIONS.md).
    """
    app = create_app(Settings())
    gc.collect()
    gc.freeze()
    return app
