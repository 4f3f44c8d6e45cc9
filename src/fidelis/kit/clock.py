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


# The instants and days Fidelis takes from outside (dates in requests, report periods, `--now`)
# lie in these years, far from the ends of Python's calendar (years 1 and 9999): any time
# zone, the program's day counts (a century at most) and a report's span around them stay in
# it. Outside is a validation error, never an overflow halfway through a change.
EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # excluded
ACCEPTED = f"between {EARLIEST:%Y-%m-%d} and {LATEST - timedelta(days=1):%Y-%m-%d} (UTC)"


def accepted_utc(value: datetime) -> datetime:
    """`as_utc(value)` of an instant from outside.

    Raises:
        ValueError: it lies outside `EARLIEST` .. `LATEST`.
    """
    try:
        utc = as_utc(value)
    except OverflowError:  # an offset that carries it past year 1 or 9999
        raise ValueError(f"must be {ACCEPTED}") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"must be {ACCEPTED}")
    return utc


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
