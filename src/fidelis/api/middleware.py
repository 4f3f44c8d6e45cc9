"""ASGI middleware: case-insensitive routes and the request body limit."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from fidelis.api.pvt import envelope
from fidelis.api.rewards import errors as reservation_errors

MAX_BODY_BYTES = 1024 * 1024


class CaseInsensitivePaths:
    """Rewrite `/v1/pvt/customer/x/POINTS` to the declared `/v1/pvt/Customer/x/points`.

    Only the fixed segments of a route are matched without case; parameter segments (customer
    ids, e-mails) keep the case the client sent.
    """

    def __init__(self, app: ASGIApp, routes: list[tuple[frozenset[str], str]]) -> None:
        self.app = app
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            fixed = self.canonical(scope["method"], path)
            if fixed != path:
                scope = {**scope, "path": fixed, "raw_path": fixed.encode()}
        await self.app(scope, receive, send)


def _declares_more_than(length: bytes, limit: int) -> bool:
    """Whether a Content-Length value declares more than `limit` bytes. The server lets through
    any number of leading zeros, and `int` refuses a number of over 4 300 digits."""
    if not length.isdigit():
        return False
    significant = length.lstrip(b"0")
    return len(significant) > len(str(limit)) or int(significant or b"0") > limit


class BodyLimit:
    """Refuse bodies over 1 MiB with 413, whether or not Content-Length tells the truth."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length" and _declares_more_than(value, self.limit):
                await _too_large(scope, receive, send)
                return
            chunked = chunked or name == b"transfer-encoding"
        if not chunked:
            # The server hands the app exactly the declared length (no body when none is
            # declared): only a chunked body needs counting.
            await self.app(scope, receive, send)
            return
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
                if seen > self.limit:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Any) -> None:
            if not too_large:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
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
