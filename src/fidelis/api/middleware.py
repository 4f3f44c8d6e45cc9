"""`Edge`: the ASGI middleware every HTTP request passes first. It watches the request (its
log line and metrics, `api.observe`), refuses a body over 1 MiB with 413, and spells the
fixed segments of the path as the route declares them (case-insensitive routes).

One layer, not one per concern: each layer of ASGI middleware costs every request a coroutine
and a wrapped `send`.

The busiest routes (`express`: points add and read, the reservation API's lock and commit)
are handed to their route by `Edge` itself, past the layers between (Starlette's exception
middleware, FastAPI's exit stack for files, the router's walk over its routes and its
bookkeeping): a fifth of what a points add cost the app in the worker. What those layers give
the route, the express lane gives it too: the exception handlers in the scope, where the route
maps whatever its endpoint raises just as the middleware would; the stack FastAPI's handler
closes uploaded files with; the route's match in the scope. The express routes come first in
the router's order, so a request the lane takes is one the router would have given the same
route; any other request, or an app whose inner layer is not the exception middleware, takes
the full way.
"""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from typing import Any

from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fidelis.api import observe
from fidelis.api.pvt import envelope
from fidelis.api.rewards import errors as reservation_errors

MAX_BODY_BYTES = 1024 * 1024


class Edge:
    """The request watched from first to last byte (a 413 or a 500 too), its body limited to
    `limit` bytes whether or not Content-Length tells the truth, its path as declared
    (`RouteSpellings`) for the app; a request of an `express` route handed to it directly
    (module docstring). `app` is the next layer, Starlette's exception middleware."""

    def __init__(
        self,
        app: ASGIApp,
        routes: list[tuple[frozenset[str], str]],
        express: list[BaseRoute],
        router: ASGIApp,
        limit: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.spellings = RouteSpellings(routes)
        self.limit = limit
        self.router = router
        # What the exception middleware puts in the scope for the routes' own handling; behind
        # any other layer, no lane.
        self.express: list[BaseRoute] = []
        if isinstance(app, ExceptionMiddleware):
            self.express = express
            self.handlers = (app._exception_handlers, app._status_handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # `request.state` lives in scope["state"]; every copy of the scope shares this one.
        scope.setdefault("state", {})
        status = 500
        inner = scope

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            chunked = False
            for name, value in scope["headers"]:
                if name == b"content-length" and _declares_more_than(value, self.limit):
                    await _too_large(scope, receive, watched_send)
                    return
                chunked = chunked or name == b"transfer-encoding"
            path = scope["path"]
            fixed = self.spellings.canonical(scope["method"], path)
            if fixed != path:
                inner = {**scope, "path": fixed, "raw_path": fixed.encode()}
            if chunked:
                await _counting(self.app, self.limit, inner, receive, watched_send)
            elif (route := self._express_route(inner)) is not None:
                inner["router"] = self.router
                inner["starlette.exception_handlers"] = self.handlers
                async with AsyncExitStack() as files:
                    inner["fastapi_middleware_astack"] = files
                    await route.handle(inner, receive, watched_send)
            else:
                # The server hands the app exactly the declared length (no body when none is
                # declared): only a chunked body needs counting.
                await self.app(inner, receive, watched_send)
        finally:
            # The router notes the route it matched (fully, or all but the method) in the
            # scope it was handed: `inner`, the very dict.
            observe.record(
                str(scope["method"]),
                getattr(inner.get("route"), "path", None),
                status,
                time.perf_counter() - started,
                scope["state"].get("tenant"),
            )

    def _express_route(self, scope: Scope) -> BaseRoute | None:
        """The express route the router would give the request, its match noted in `scope`
        as the router notes it; None for the full way."""
        for route in self.express:
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                return route
        return None


class RouteSpellings:
    """`/v1/pvt/customer/x/POINTS` is the declared `/v1/pvt/Customer/x/points`.

    Only the fixed segments of a route are matched without case; parameter segments (customer
    ids, e-mails) keep the case the client sent.
    """

    def __init__(self, routes: list[tuple[frozenset[str], str]]) -> None:
        # The templates of each method by their number of segments, in declaration order.
        self.templates: dict[tuple[str, int], list[list[str | None]]] = {}
        for methods, path in routes:
            template = [None if s.startswith("{") else s for s in path.strip("/").split("/")]
            for method in sorted(methods):
                self.templates.setdefault((method, len(template)), []).append(template)

    def canonical(self, method: str, path: str) -> str:
        """The declared spelling of `path` for a route answering `method`, else `path`.

        Only routes of the request's method are considered, so a customer called "Upsert" in
        `GET /v1/pvt/Customer/Upsert` is not mistaken for the `POST .../upsert` route.
        """
        segments = path.strip("/").split("/")
        for template in self.templates.get((method, len(segments)), ()):
            exact = True
            for t, s in zip(template, segments, strict=True):
                if t is None or t == s:
                    continue
                if t.lower() != s.lower():
                    break
                exact = False
            else:
                if exact:
                    return path
                fixed = (s if t is None else t for t, s in zip(template, segments, strict=True))
                return "/" + "/".join(fixed)
        return path


def _declares_more_than(length: bytes, limit: int) -> bool:
    """Whether a Content-Length value declares more than `limit` bytes. The server lets through
    any number of leading zeros, and `int` refuses a number of over 4 300 digits."""
    if not length.isdigit():
        return False
    significant = length.lstrip(b"0")
    return len(significant) > len(str(limit)) or int(significant or b"0") > limit


async def _counting(app: ASGIApp, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    """`app` with a chunked body counted as it arrives: past `limit` bytes, 413."""
    seen = 0
    too_large = False

    async def limited_receive() -> Any:
        # Past the limit the app is told the client went away; whatever it answers then is
        # dropped below and replaced by the 413 (frameworks turn an exception raised here
        # into their own 400, so raising would not do).
        nonlocal seen, too_large
        if too_large:
            return {"type": "http.disconnect"}
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                too_large = True
                return {"type": "http.disconnect"}
        return message

    async def guarded_send(message: Any) -> None:
        if not too_large:
            await send(message)

    try:
        await app(scope, limited_receive, guarded_send)
    except Exception:
        if not too_large:
            raise
    if too_large:
        await _too_large(scope, receive, send)


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    # Each face answers in its own error shape, this one too.
    message = "Request body larger than 1 MiB."
    if reservation_errors.serves(scope["path"]):
        response = reservation_errors.plain(413, "TOO_LARGE", message)
    else:
        response = envelope.plain_error(413, message)
    await response(scope, receive, send)
