"""Money and points.

Points are the ledger's one unit and always integers. Cashback is points shown as R$:
`cashback = points * point_value`. Amounts are `Decimal` in code and never `float`.

The one rounding rule: when a computed R$ amount or point count is not whole (a percentage cap,
points per R$ of an order), it is rounded **toward zero** (`ROUND_DOWN`) — the program never
gives away a fraction it did not promise, and a removal shows the same size as the same add.
An amount the *caller* gives must convert exactly; it is never rounded (`to_points` raises).
"""

from __future__ import annotations

import functools
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from fractions import Fraction

CENT = Decimal("0.01")
MAX_MONEY = Decimal("99999999.99")
MAX_POINTS = 2_147_483_647


class InexactAmount(ValueError):
    """An R$ amount has more than 2 decimals or is not a whole number of points."""


def cents_exact(value: Decimal) -> bool:
    """True when `value` has at most two decimal places."""
    try:
        return value == value.quantize(CENT)
    except InvalidOperation:
        return False


def to_points(value: Decimal, point_value: Decimal) -> int:
    """Convert an R$ amount to points exactly, or raise `InexactAmount`."""
    if not cents_exact(value):
        raise InexactAmount(f"{value} has more than 2 decimal places")
    points = value / point_value
    if points != points.to_integral_value():
        raise InexactAmount(f"R$ {value} is not a whole number of points at R$ {point_value} each")
    return int(points)


def to_money(points: int, point_value: Decimal) -> Decimal:
    """The R$ value of `points`, rounded toward zero to the cent."""
    return floor_cents(Decimal(points) * point_value)


def floor_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_DOWN)


def floor_points(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_DOWN))


@functools.lru_cache(maxsize=256)
def cent_step(point_value: Decimal) -> int:
    """The fewest points worth a whole number of cents (1 when a point is)."""
    return Fraction(point_value / CENT).denominator


def floor_whole_cents(points: int, point_value: Decimal) -> int:
    """The most points, up to `points`, worth a whole number of cents: what a limit the program
    works out (`redemption.rule.limit_points`) may spend, so that the points are worth exactly
    the R$ shown for them."""
    return points - points % cent_step(point_value)


def brl(value: Decimal) -> str:
    """R$ as Brazilians write it: `R$ 1.234,56`."""
    text = f"{floor_cents(value):,.2f}"  # 1,234.56
    return "R$ " + text.replace(",", "_").replace(".", ",").replace("_", ".")
