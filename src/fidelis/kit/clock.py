"""Time is timezone-aware UTC everywhere inside Fidelis.

Services never read the clock: entry points call `utc_now()` once and pass `now` down, so tests
and `fidelis jobs run --now` can move time without patching.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson

BRASILIA = timezone(timedelta(hours=-3), "BRT")


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Normalize an aware datetime to UTC; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso_utc(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with a `Z`, as the Private API writes dates."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = as_utc(value)
    # What `value.isoformat()` writes with `Z` for `+00:00` (microseconds only when not zero),
    # in under half the time: a history item carries one or two of these.
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)[1:-1].decode()


def iso_brasilia(value: datetime | None) -> str | None:
    """ISO-8601 at -03:00, as the reservation API's contract demands."""
    if value is None:
        return None
    return as_utc(value).astimezone(BRASILIA).isoformat()
