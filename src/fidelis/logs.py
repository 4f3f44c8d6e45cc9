"""Structured logging: one JSON object per line on stderr, never a pretty traceback.

Configured once per process by `create_app`. Exceptions are rendered as plain text in the
`exception` field (rendering locals, as development renderers do, can take seconds on a large
request and would stall the event loop while it runs).

Privacy (spec: logs never hold API keys, passwords or full documents): the `redact` processor
runs on every event after the exception is rendered, so it also sees traceback text. It drops
keys that name secrets (`authorization`, `password`, `api_key`, ...) wherever they are nested,
and masks anything that looks like a CPF or CNPJ in any string, keeping the last two digits
(`***.***.***-12`, `**.***.***/****-34`). Masking errs on the side of hiding: any run of 11 or
14 digits is treated as a document, whether or not its check digits are valid. The server's
own stdlib loggers (uvicorn's error log prints tracebacks) get the same masking through a
logging filter.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

# Compared after lower-casing and dropping "-" and "_": "Api-Key", "api_key", "APIKEY" alike.
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "proxyauthorization",
        "password",
        "passwd",
        "secret",
        "apikey",
        "xapikey",
        "apisecret",
        "cookie",
        "setcookie",
        "token",
        "accesstoken",
        "refreshtoken",
        "sessionid",
        "csrftoken",
    }
)
_SENSITIVE_SUFFIXES = ("password", "secret", "apikey")

# Digits glued to letters are part of a word (a slug, a hex id), not a document.
_CNPJ = re.compile(r"(?<![0-9A-Za-z])\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?(\d{2})(?![0-9A-Za-z])")
_CPF = re.compile(r"(?<![0-9A-Za-z])\d{3}\.?\d{3}\.?\d{3}-?(\d{2})(?![0-9A-Za-z])")


def is_sensitive(key: str) -> bool:
    name = key.lower().replace("-", "").replace("_", "")
    return name in SENSITIVE_KEYS or name.endswith(_SENSITIVE_SUFFIXES)


def mask_documents(text: str) -> str:
    """Every CPF- or CNPJ-looking number in `text`, masked down to its last two digits."""
    text = _CNPJ.sub(lambda m: f"**.***.***/****-{m.group(1)}", text)
    return _CPF.sub(lambda m: f"***.***.***-{m.group(1)}", text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return mask_documents(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not is_sensitive(str(k))}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return mask_documents(value.decode("utf-8", "replace"))
    return value


def redact(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: drop secret-named keys, mask documents everywhere else."""
    for key in list(event_dict):
        if is_sensitive(key):
            del event_dict[key]
        else:
            event_dict[key] = _clean(event_dict[key])
    return event_dict


class RedactingFilter(logging.Filter):
    """The same masking for records of stdlib loggers (message, arguments and traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_documents(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_documents(record.exc_text)
        return True


_STDLIB_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi")


def configure(level: str = "info") -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    for name in _STDLIB_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
