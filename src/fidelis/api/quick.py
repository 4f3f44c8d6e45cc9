"""`QuickRoute`: FastAPI's route, serving the requests it can by a plan made at startup.

For every request FastAPI solves a route's parameters with general machinery: it walks the
dependency graph, looks up each dependency's cache key and scopes, parses the content type
through `email.message`, decodes the body and validates it field by field. On the
one-statement paths (`ledger.hotpath`) that was a third of a worker's time. Most routes need
none of that generality, so a `QuickRoute` looks once, when the app is built, at what its
endpoint takes; when every parameter is of these kinds:

- the `Request`;
- path parameters (each validated by its own field, as FastAPI does);
- at most one body parameter, a pydantic model taking the whole JSON body;
- dependencies that take only the `Request` (no sub-dependencies, no `yield`),

and the endpoint is a coroutine answering a `Response`, a request is served by the plan: path
parameters validated, the body validated from its JSON (parsed once for either handler, its
numbers exactly: `_read_json_exactly`), the dependencies awaited, the endpoint called. Whatever
the plan does not take as it is goes to FastAPI's own handler, unchanged: a body that is not
`application/json`, a parameter that fails validation, an app with dependency overrides (the
tests compare both handlers so). The plan decides before it calls anything, so a request it
hands over has run nothing, and every error answer is FastAPI's and the app's error mappers',
as before.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_typed_return_annotation
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class QuickRoute(APIRoute):
    """An `APIRoute` whose plain requests skip FastAPI's per-request parameter solving."""

    def get_route_handler(self) -> Handler:
        full = super().get_route_handler()
        plan = _Plan.of(self)
        takes_body = bool(self.dependant.body_params)

        async def handle(request: Request) -> Response:
            if takes_body:
                await _read_json_exactly(request)
            if plan is None or (values := await plan.bind(request)) is None:
                return await full(request)
            for names, call in plan.dependencies:
                value = await call(request)
                for name in names:
                    values[name] = value
            response = await plan.endpoint(**values)
            assert isinstance(response, Response), "a planned endpoint answers a Response"
            return response

        return handle


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to call one route's endpoint without FastAPI's solver."""

    endpoint: Callable[..., Coroutine[Any, Any, Any]]
    request_name: str | None
    path: tuple[tuple[str, Any], ...]  # (name, FastAPI's field)
    body: tuple[str, type[BaseModel]] | None  # (name, the model of the whole JSON body)
    # Each dependency once, with the parameters it fills (as FastAPI caches a dependency that
    # several parameters declare).
    dependencies: tuple[tuple[tuple[str, ...], Callable[[Request], Coroutine[Any, Any, Any]]], ...]

    @classmethod
    def of(cls, route: APIRoute) -> _Plan | None:
        """The route's plan; None when some parameter needs FastAPI's solver."""
        dependant = route.dependant
        endpoint = dependant.call
        if (
            endpoint is None
            or not inspect.iscoroutinefunction(endpoint)
            or not _answers_response(endpoint)
            or route.response_field is not None
            or _has_special(dependant)
            or dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
            or len(dependant.body_params) > 1
        ):
            return None
        body = None
        if dependant.body_params:
            field = dependant.body_params[0]
            annotation = field.field_info.annotation
            if (
                route._embed_body_fields
                or not isinstance(annotation, type)
                or not issubclass(annotation, BaseModel)
            ):
                return None
            body = (field.name, annotation)
        dependencies: dict[Callable[[Request], Coroutine[Any, Any, Any]], list[str]] = {}
        for sub in dependant.dependencies:
            if not _takes_only_request(sub) or not sub.use_cache:
                return None
            assert sub.call is not None
            names = dependencies.setdefault(sub.call, [])
            if sub.name is not None:
                names.append(sub.name)
        return cls(
            endpoint=endpoint,
            request_name=dependant.request_param_name,
            path=tuple((field.name, field) for field in dependant.path_params),
            body=body,
            dependencies=tuple((tuple(names), call) for call, names in dependencies.items()),
        )

    async def bind(self, request: Request) -> dict[str, Any] | None:
        """The endpoint's arguments but its dependencies; None to hand the request over."""
        if request.app.dependency_overrides:
            return None
        values: dict[str, Any] = {}
        if self.request_name is not None:
            values[self.request_name] = request
        for name, field in self.path:
            value, errors = field.validate(
                request.path_params.get(field.alias), loc=("path", field.alias)
            )
            if errors:
                return None
            values[name] = value
        if self.body is not None:
            name, model = self.body
            if request.headers.get("content-type") != "application/json":
                return None
            if not hasattr(request, "_json"):
                return None  # not JSON: FastAPI's handler says so
            try:
                values[name] = model.model_validate(await request.json())
            except ValidationError:
                return None
        return values


async def _read_json_exactly(request: Request) -> None:
    """Parse a JSON body once, a number with a fraction or an exponent as a `Decimal`, where
    whichever handler serves the request reads it: pydantic reads a JSON number as a float even
    for a `Decimal` field, and a float rounds an amount of 16 digits or more (0.1000000000000000001
    became 0.1, an amount of two places). FastAPI's handler reads the body by `Request.json()`,
    which keeps what it parsed in the request's `_json`: set here, so both handlers see the same
    exact document. A body that does not parse (nor would by `json.loads`) is left to FastAPI's
    handler, which answers it."""
    if "json" not in request.headers.get("content-type", "json"):
        return
    body = await request.body()
    if not body:
        return
    with contextlib.suppress(ValueError, RecursionError):
        request._json = _parsed(body)


# Where orjson would not read a number exactly: a digit followed by a point or an exponent (a
# fraction), or nineteen digits in a row (an integer it may not hold in 64 bits, read as a
# float). A string that merely looks so costs only the slower parser.
_INEXACT_FOR_ORJSON = re.compile(rb"[0-9][.eE]|[0-9]{19}")


def _parsed(body: bytes) -> Any:
    if _INEXACT_FOR_ORJSON.search(body) is None:
        # orjson reads such a body as the standard parser does, several times faster (a points
        # add's body).
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(body)
    return json.loads(body, parse_float=_exact)


def _exact(text: str) -> Decimal:
    """A JSON number with a fraction or an exponent, exactly; one beyond what `Decimal` holds
    (`1e99999999999999999999999999`, `1e-99999999999999999999999999`) is not a number, which
    every field refuses (never a float, which would read it as infinity or zero)."""
    try:
        return Decimal(text)
    except ArithmeticError:
        return Decimal("NaN")


def _answers_response(endpoint: Callable[..., Any]) -> bool:
    answer = get_typed_return_annotation(endpoint)
    return isinstance(answer, type) and issubclass(answer, Response)


def _has_special(dependant: Dependant) -> bool:
    return any(
        name is not None
        for name in (
            dependant.websocket_param_name,
            dependant.http_connection_param_name,
            dependant.response_param_name,
            dependant.background_tasks_param_name,
            dependant.security_scopes_param_name,
        )
    )


def _takes_only_request(sub: Dependant) -> bool:
    call = sub.call
    return (
        call is not None
        and inspect.iscoroutinefunction(call)
        and sub.request_param_name is not None
        and not _has_special(sub)
        and not (
            sub.path_params
            or sub.query_params
            or sub.header_params
            or sub.cookie_params
            or sub.body_params
            or sub.dependencies
        )
    )
