"""What the reservation face answers, for `/openapi.json` only.

The routes build their bodies as dicts; these models describe them, and `responses()` builds
each route's `responses=` from the face's one error mapper (`errors.error`), so the statuses and
example bodies are the ones the app sends. `BRAND` documents the `brand` header.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from fidelis import errors as domain
from fidelis.api.pvt.docs import HEADERS, RATE_LIMITED
from fidelis.api.rewards import errors
from fidelis.errors import FidelisError
from fidelis.lock.service import Reason

# Money is a decimal string with 2 decimals; dates are ISO-8601 at -03:00.
Money = Annotated[str, Field(pattern=r"^-?\d+\.\d{2}$", examples=["12.50"])]
Date = Annotated[
    str, Field(description="ISO-8601 at -03:00.", examples=["2026-11-21T10:15:00-03:00"])
]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Doc):
    code: str = Field(examples=["CUSTOMER_NOT_FOUND"])
    message: str


class ErrorBody(_Doc):
    """Every error of this face."""

    error: ErrorDetail


class HeldLot(_Doc):
    id: str
    value: Money
    expires_at: Date | None


class Locked(_Doc):
    """A lock taken (`lock_token` set), or nothing held (`lock_token` null with a `reason`)."""

    lock_token: str | None
    value: Money
    available_balance: Money = Field(description="Before the lock.")
    expires_at: Date | None = None
    rewards: list[HeldLot] | None = Field(default=None, description="The lots held.")
    reason: Reason | None = Field(default=None, description="Why nothing was held.")


class Committed(_Doc):
    status: Literal["committed"]
    value: Money
    committed_at: Date | None
    order_id: str | None


class RolledBack(_Doc):
    status: Literal["rolled_back", "expired"]


class Simulated(_Doc):
    value: Money
    available_balance: Money
    reason: Reason | None


class NextExpiration(_Doc):
    value: Money
    expires_at: Date


class Lot(_Doc):
    id: str
    status: Literal["available", "unavailable"]
    value: Money
    remaining: Money
    available_at: Date | None
    expires_at: Date | None


class Balance(_Doc):
    available_balance: Money
    unavailable_balance: Money = Field(description="Pending order cashback.")
    locked_balance: Money
    next_expiration: NextExpiration | None
    rewards: list[Lot]


BRAND = {
    "name": "brand",
    "in": "header",
    "required": True,
    "description": "The tenant's slug; the credentials must belong to it (else 403).",
    "schema": {"type": "string", "examples": ["minha-loja"]},
}

ErrorClass = type[FidelisError]
ALWAYS: tuple[ErrorClass, ...] = (
    domain.InvalidField,
    domain.Unauthorized,
    domain.MissingBrand,
    domain.AccessDenied,
    domain.ServiceUnavailable,
)


def responses(
    ok: type[BaseModel], *raised: ErrorClass, body: bool = True, path: bool = False
) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: its success model and the errors it can answer.

    `raised`: the domain errors its services raise; `body`: it reads a body (413 over 1 MiB);
    `path`: it has path parameters (404 for a path no route matches).
    """
    examples: dict[int, dict[str, Any]] = {}

    def add(status: int, name: str, value: Any) -> None:
        examples.setdefault(status, {})[name] = {"value": value}

    for cls in (*raised, *ALWAYS):
        answer = errors.error(cls())
        content = orjson.loads(bytes(answer.body))
        add(answer.status_code, content["error"]["code"], content)
    code, status = errors.CODES["RateLimited"]
    add(status, code, errors.body(code, RATE_LIMITED))
    if body:
        add(413, "TOO_LARGE", errors.body("TOO_LARGE", "Request body larger than 1 MiB."))
    if path:
        add(404, "NOT_FOUND", errors.body("NOT_FOUND", "Not found."))
    table: dict[int | str, dict[str, Any]] = {200: {"model": ok, "description": "Success."}}
    for status, named in sorted(examples.items()):
        table[status] = {
            "model": ErrorBody,
            "description": ", ".join(named),
            "content": {"application/json": {"examples": named}},
        }
        if status in HEADERS:
            table[status]["headers"] = HEADERS[status]
    return table
