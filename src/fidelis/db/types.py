"""Column types that keep the domain's rules at the storage boundary."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes only: naive values are refused on write, UTC is attached on read.

    SQLite has no time zones, so values are stored there as naive UTC text; the fixed format
    keeps SQL comparisons (`expires_at <= :now`) correct.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: Fidelis stores aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sqlite_text(instant: datetime) -> str:
    """An aware instant as `UtcDateTime` stores it on SQLite (SQLAlchemy's format: naive UTC,
    microseconds always written), for statements sent to `sqlite3` directly."""
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def from_sqlite_text(text: str) -> datetime:
    """The aware instant of a `UtcDateTime` value read from SQLite directly."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class DecimalText(TypeDecorator[Decimal]):
    """An exact decimal stored as text (SQLite has no exact numeric type)."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)
