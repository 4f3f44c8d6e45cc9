"""Fast JSON responses. Decimals (R$) are written as exact JSON numbers, never via float."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from fastapi.responses import Response


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # The exact decimal text, written as a JSON number (never through a binary float).
        return orjson.Fragment(format(value, "f").encode())
    raise TypeError(f"cannot serialize {type(value).__name__}")


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default)


def plain(content: Any) -> Any:
    """`content` as plain JSON values (what a JSON column can store), as it would be sent."""
    return orjson.loads(orjson.dumps(content, default=_default))
