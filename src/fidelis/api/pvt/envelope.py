"""The Private API's envelope and code catalogue: the one place domain outcomes become HTTP.

Every `/v1/pvt` and `/v1/admin` response (except the few bare ones) is
`{ErrorMessage, ErrorCode, Result, Code, CodeName, Severity, HasWarning, HasError}`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from fidelis.api.json import JSONResponse
from fidelis.errors import FidelisError


class Severity(IntEnum):
    Success = 0
    Warning = 1
    Error = 2


# CodeName -> (Code, Severity, HTTP status). Stable: add at the end, never renumber.
CATALOGUE: dict[str, tuple[str, Severity, int]] = {
    "CustomerNotFound": ("01", Severity.Error, 400),
    "CheckoutIdRequired": ("02", Severity.Error, 400),
    "CheckoutNotFound": ("03", Severity.Warning, 200),
    "CashbackNotApplied": ("04", Severity.Warning, 200),
    "CashbackStillApplied": ("05", Severity.Warning, 200),
    "CashbackRemovedByCartChange": ("06", Severity.Warning, 200),
    "CashbackRemovedSuccessfully": ("07", Severity.Success, 200),
    "CashbackApplied": ("08", Severity.Success, 200),
    "ValidationError": ("10", Severity.Error, 400),
    "PointsCannotBeZero": ("11", Severity.Error, 400),
    "OperationTypeMismatch": ("12", Severity.Error, 400),
    "ReasonRequired": ("13", Severity.Error, 400),
    "CustomerReasonTooLong": ("14", Severity.Error, 400),
    "InvalidValue": ("15", Severity.Error, 400),
    "InvalidDocument": ("16", Severity.Error, 400),
    "InsufficientBalance": ("17", Severity.Error, 400),
    "CustomerDisabled": ("18", Severity.Error, 400),
    "CashbackNotEnabled": ("19", Severity.Error, 400),
    "ChangeKeyAlreadyUsed": ("20", Severity.Error, 409),
    "IdempotencyKeyConflict": ("21", Severity.Error, 409),
    "AlreadyProcessed": ("22", Severity.Warning, 200),
    "RewardNotFound": ("23", Severity.Error, 404),
    "RewardInactive": ("24", Severity.Error, 400),
    "RewardRequirementsNotMet": ("25", Severity.Error, 400),
    "NotEnoughPoints": ("26", Severity.Error, 400),
    "RedeemAlreadyCanceled": ("27", Severity.Warning, 200),
    "RedeemNotFound": ("28", Severity.Error, 404),
    "OrderNotFound": ("30", Severity.Error, 404),
    "OrderAlreadyCanceled": ("31", Severity.Warning, 200),
    "InvalidOrderTransition": ("32", Severity.Error, 400),
    "RefundExceedsOrderTotal": ("33", Severity.Error, 400),
    "CashbackValueTooHigh": ("34", Severity.Error, 400),
    "CustomerInDebt": ("35", Severity.Error, 400),
    "Unauthorized": ("40", Severity.Error, 401),
    "Forbidden": ("41", Severity.Error, 403),
    "RateLimited": ("42", Severity.Error, 429),
    "InternalError": ("99", Severity.Error, 500),
    "ServiceUnavailable": ("43", Severity.Error, 503),
}

# Domain errors that are not in the public catalogue (admin and CLI outcomes) map to these.
FAMILY_FALLBACK = {
    "NotFound": ("ValidationError", 404),
    "Conflict": ("ValidationError", 409),
}


def body(
    result: Any = None,
    *,
    code_name: str | None = None,
    message: str | None = None,
) -> tuple[dict[str, Any], int]:
    if code_name is None:
        severity, status, code = Severity.Success, 200, None
    else:
        code, severity, status = CATALOGUE[code_name]
    is_error = severity == Severity.Error
    return (
        {
            "ErrorMessage": message if is_error else None,
            "ErrorCode": int(code) if is_error and code is not None else None,
            "Result": result,
            "Code": code,
            "CodeName": code_name,
            "Severity": int(severity),
            "HasWarning": severity == Severity.Warning,
            "HasError": is_error,
        },
        status,
    )


def ok(result: Any = None, code_name: str | None = None) -> JSONResponse:
    content, status = body(result, code_name=code_name)
    return JSONResponse(content, status_code=status)


def error(exc: FidelisError, *, result: Any = None, in_path: bool = False) -> JSONResponse:
    code_name = exc.code
    status_override: int | None = None
    if code_name not in CATALOGUE:
        family = next(
            (c.__name__ for c in type(exc).__mro__ if c.__name__ in FAMILY_FALLBACK), None
        )
        code_name, status_override = FAMILY_FALLBACK.get(family or "", ("ValidationError", 400))
    content, status = body(result, code_name=code_name, message=exc.message)
    if code_name == "CustomerNotFound" and in_path:
        status = 404
    headers = None
    if code_name == "Unauthorized":
        headers = {"WWW-Authenticate": 'Basic realm="fidelis"'}
    elif code_name == "ServiceUnavailable":
        headers = {"Retry-After": "1"}
    elif code_name == "RateLimited":
        headers = {"Retry-After": "60"}
    return JSONResponse(content, status_code=status_override or status, headers=headers)


def plain_error(status: int, message: str) -> JSONResponse:
    """An error with no catalogue code (unknown route, wrong method)."""
    content = {
        "ErrorMessage": message,
        "ErrorCode": None,
        "Result": None,
        "Code": None,
        "CodeName": None,
        "Severity": int(Severity.Error),
        "HasWarning": False,
        "HasError": True,
    }
    return JSONResponse(content, status_code=status)
