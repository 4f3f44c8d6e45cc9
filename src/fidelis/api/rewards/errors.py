"""The reservation API's error mapper: the one place domain errors become its wire format,
`{"error": {"code": "UPPER_SNAKE", "message": ...}}` with its HTTP status."""

from __future__ import annotations

from fidelis.api.json import JSONResponse
from fidelis.errors import FidelisError

# Domain code -> (this face's code, HTTP status).
CODES: dict[str, tuple[str, int]] = {
    "CustomerNotFound": ("CUSTOMER_NOT_FOUND", 404),
    "IdempotencyKeyConflict": ("IDEMPOTENCY_KEY_CONFLICT", 409),
    "LockNotFound": ("LOCK_NOT_FOUND", 404),
    "LockRolledBack": ("LOCK_ROLLED_BACK", 409),
    "LockExpired": ("LOCK_EXPIRED", 409),
    "LockAlreadyCommitted": ("LOCK_ALREADY_COMMITTED", 409),
    "ValueExceedsLock": ("VALUE_EXCEEDS_LOCK", 422),
    "InvalidValue": ("INVALID_ARGUMENT", 400),
    "InvalidField": ("INVALID_ARGUMENT", 400),
    "Unauthorized": ("UNAUTHORIZED", 401),
    "MissingBrand": ("MISSING_BRAND", 403),
    "AccessDenied": ("ACCESS_DENIED", 403),
    "RateLimited": ("RATE_LIMITED", 429),
    "ServiceUnavailable": ("SERVICE_UNAVAILABLE", 503),
}

# Errors without a code of their own here answer by their family.
FAMILIES: dict[str, tuple[str, int]] = {
    "NotFound": ("NOT_FOUND", 404),
    "Conflict": ("CONFLICT", 409),
    "RuleViolation": ("UNPROCESSABLE", 422),
    "InvalidInput": ("INVALID_ARGUMENT", 400),
    "Forbidden": ("ACCESS_DENIED", 403),
}

PREFIX = "/v1/rewards"


def serves(path: str) -> bool:
    """True for the paths of this face (routes match case-insensitively)."""
    return path.lower().startswith(PREFIX)


def body(code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message}}


def error(exc: FidelisError) -> JSONResponse:
    found = CODES.get(exc.code)
    if found is None:
        family = next((c.__name__ for c in type(exc).__mro__ if c.__name__ in FAMILIES), None)
        found = FAMILIES.get(family or "", ("INTERNAL", 500))
    code, status = found
    headers = None
    if code == "UNAUTHORIZED":
        headers = {"WWW-Authenticate": 'Basic realm="fidelis"'}
    elif code == "SERVICE_UNAVAILABLE":
        headers = {"Retry-After": "1"}
    elif code == "RATE_LIMITED":
        headers = {"Retry-After": "60"}
    return JSONResponse(body(code, exc.message), status_code=status, headers=headers)


def plain(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(body(code, message), status_code=status)
