"""Request fingerprints: "same request" = same endpoint, customer and business fields."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any


def request_hash(endpoint: str, customer: int | str | None, fields: dict[str, Any]) -> str:
    """`customer`: its id, or how the request named it. Amounts (`Decimal`) count by their
    value, so 25, 25.0 and "25.00" are the same request."""
    canonical = json.dumps(
        {"endpoint": endpoint, "customer": customer, "fields": fields},
        sort_keys=True,
        separators=(",", ":"),
        default=_canonical,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(value: object) -> str:
    if isinstance(value, Decimal) and value.is_finite():
        # One spelling per value, with at least two places: the way amounts are mostly sent,
        # so a key stored before this rule (the text as sent) still matches its retry.
        exponent = value.normalize().as_tuple().exponent
        assert isinstance(exponent, int)
        return f"{value:.{max(2, -exponent)}f}"
    return str(value)
