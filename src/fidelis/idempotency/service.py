"""Request fingerprints: "same request" = same endpoint, customer and business fields."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def request_hash(endpoint: str, customer: int | str | None, fields: dict[str, Any]) -> str:
    """`customer`: its id, or how the request named it."""
    canonical = json.dumps(
        {"endpoint": endpoint, "customer": customer, "fields": fields},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
