"""Request fingerprints: "same request" = same endpoint, customer and business fields."""

from __future__ import annotations

import hashlib
import json
from decimal import Context, Decimal
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


# Beyond this many digits either side of the point, a number is spelled in its shortest
# scientific form instead: written out, `1E-999999` would be a megabyte to hash.
_WRITTEN_OUT = 28


def _canonical(value: object) -> str:
    if isinstance(value, Decimal) and value.is_finite():
        # One spelling per value, with at least two places: the way amounts are mostly sent,
        # so a key stored before this rule (the text as sent) still matches its retry.
        # Normalized with every digit kept (the default context would round to 28 of them).
        normal = value.normalize(Context(prec=max(len(value.as_tuple().digits), 1)))
        exponent = normal.as_tuple().exponent
        assert isinstance(exponent, int)
        if -exponent > _WRITTEN_OUT or normal.adjusted() >= _WRITTEN_OUT:
            return str(normal)
        return f"{value:.{max(2, -exponent)}f}"
    return str(value)
