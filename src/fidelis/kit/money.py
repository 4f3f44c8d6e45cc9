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
import re
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from fractions import Fraction
from typing import Annotated

from pydantic import BeforeValidator

CENT = Decimal("0.01")
MAX_MONEY = Decimal("99999999.99")
MAX_POINTS = 2_147_483_647


# A number as JSON writes one (ASCII digits, a point, an exponent), spaces around it allowed.
_DECIMAL_TEXT = re.compile(
    r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*", re.ASCII
)


def is_decimal_text(text: str) -> bool:
    """Whether `text` is a plain decimal number. Every decimal a request, a setting, the
    console or the CLI takes as text must be: Python's `Decimal` also reads "1_000" and digits
    of other scripts (an Arabic-Indic 3 as 3), which no store types as an amount on purpose,
    and whole numbers are ASCII digits everywhere already."""
    return _DECIMAL_TEXT.fullmatch(text) is not None


def number_text(value: object) -> object:
    """`value`, refused (ValueError) when it is text but not a plain decimal number."""
    if isinstance(value, str) and not is_decimal_text(value):
        raise ValueError("must be a decimal number, such as 12.50")
    return value


# The type of every decimal number a request or a setting gives (amounts, prices, rates):
# a JSON number, or text that `number_text` takes.
DecimalNumber = Annotated[Decimal, BeforeValidator(number_text)]


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
