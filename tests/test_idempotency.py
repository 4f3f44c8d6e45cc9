"""Unit tests of the request fingerprint that idempotency keys store (`idempotency.service`)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fidelis.idempotency.service import _canonical, request_hash


def fingerprint(value: object) -> str:
    return request_hash("lock", 7, {"quantity": value})


@pytest.mark.parametrize("spelling", ["25", "25.0", "25.00", "2.5E+1", "25.000000"])
def test_an_amount_counts_by_its_value(spelling: str) -> None:
    assert fingerprint(Decimal(spelling)) == fingerprint(Decimal("25.00"))


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("25.01", "25.00"),
        ("0.1", "0.01"),
        ("1E-40", "2E-40"),
        ("1E-40", "1E-41"),
        ("1E+40", "1E+41"),
    ],
)
def test_different_amounts_differ(one: str, other: str) -> None:
    assert fingerprint(Decimal(one)) != fingerprint(Decimal(other))


def test_a_number_of_absurd_size_is_spelled_short() -> None:
    # Written out with all its places, each of these would be a megabyte of text to hash, for
    # every item of a request.
    for spelling, same in (("1E-999999", "1.000E-999999"), ("1E+999999", "10E+999998")):
        value = Decimal(spelling)
        assert len(_canonical(value)) < 40
        assert fingerprint(value) == fingerprint(Decimal(same))
    assert _canonical(Decimal("0.1234567890123456789012345678")) == "0.1234567890123456789012345678"
    assert fingerprint(Decimal("1E-999999")) != fingerprint(Decimal("0"))
