"""Reading a customers CSV into rows: the format of docs/IMPORT.md, checked cell by cell.

Pure: no database. A problem with the file as a whole (missing, not UTF-8, no `original_id`
column, an unknown column) raises `ImportFileError` before anything is imported; a problem
with one row becomes a `RowError` naming the row's line, and the other rows go on.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fidelis.kit.clock import ACCEPTED, accepted_utc
from fidelis.kit.money import MAX_POINTS

COLUMNS = (
    "original_id",
    "name",
    "email",
    "phone",
    "document",
    "birthday_date",
    "signup_date",
    "points",
    "reason",
)
# The customer's own fields, as `customer.service.upsert` names them, with their length limits
# (the same as the Private API's upsert body).
CUSTOMER_FIELDS = {"name": 255, "email": 255, "phone": 50, "document": 50}
DATE_FIELDS = ("birthday_date", "signup_date")
ORIGINAL_ID_MAX = 200
REASON_MAX = 1000
# ASCII digits only: `\d` alone also matches other scripts' digits, which `int` reads.
_POINTS = re.compile(r"^\+?\d{1,10}$", re.ASCII)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_BR_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$", re.ASCII)


class ImportFileError(Exception):
    """The file cannot be imported at all; nothing was done."""


@dataclass(frozen=True, slots=True)
class Row:
    """One good row: the customer fields it sets, and its opening balance (0 = none)."""

    line: int
    original_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    points: int = 0
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    original_id: str | None
    message: str


def read(path: Path) -> list[Row | RowError]:
    """Every data row of the file, in order.

    Raises:
        ImportFileError: the file is missing, unreadable, not UTF-8, or its header is wrong.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ImportFileError(f"{path}: not UTF-8 text (save the CSV as UTF-8)") from None
    except OSError as exc:
        raise ImportFileError(f"{path}: {exc.strerror or exc}") from None
    return list(parse(text, name=str(path)))


def parse(text: str, *, name: str = "file") -> Iterator[Row | RowError]:
    header_line = text.split("\n", 1)[0]
    if not header_line.strip():
        raise ImportFileError(f"{name}: empty file; the first line must name the columns")
    # Spreadsheets set to Portuguese save CSV with semicolons.
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except csv.Error as exc:
        raise ImportFileError(f"{name}: line 1: {exc}") from None
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise ImportFileError(
            f"{name}: unknown column(s) {', '.join(map(repr, unknown))}; "
            f"the columns are {', '.join(COLUMNS)}"
        )
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise ImportFileError(f"{name}: column(s) named twice: {', '.join(repeated)}")
    if "original_id" not in header:
        raise ImportFileError(f"{name}: the column original_id is required")

    seen: dict[str, int] = {}
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # A broken quote swallows the rest of the file; nothing after it can be trusted.
            yield RowError(line, None, f"unreadable CSV ({exc}); the rest of the file is skipped")
            return
        start, line = line, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue  # blank line
        yield _row(start, header, cells, seen)


def _row(line: int, header: list[str], cells: list[str], seen: dict[str, int]) -> Row | RowError:
    if len(cells) != len(header):
        return RowError(line, None, f"{len(cells)} cells, but the header names {len(header)}")
    values = {h: c.strip() for h, c in zip(header, cells, strict=True)}
    original_id = values.pop("original_id")
    if not original_id:
        return RowError(line, None, "original_id is empty")
    if len(original_id) > ORIGINAL_ID_MAX:
        return RowError(line, None, f"original_id is longer than {ORIGINAL_ID_MAX} characters")
    if "\x00" in "".join(cells):
        return RowError(line, original_id, "a cell holds a NUL character")
    if original_id in seen:
        return RowError(
            line, original_id, f"original_id already appears on line {seen[original_id]}"
        )
    seen[original_id] = line
    fields: dict[str, Any] = {}
    for column, limit in CUSTOMER_FIELDS.items():
        value = values.get(column, "")
        if not value:
            continue  # an empty cell leaves the field as it is
        if len(value) > limit:
            return RowError(line, original_id, f"{column} is longer than {limit} characters")
        fields[column] = value
    for column in DATE_FIELDS:
        value = values.get(column, "")
        if value:
            parsed = _date(value)
            if parsed is None:
                return RowError(
                    line,
                    original_id,
                    f"{column} must be a date, YYYY-MM-DD or DD/MM/YYYY, {ACCEPTED}",
                )
            fields[column] = parsed
    points = 0
    raw_points = values.get("points", "")
    if raw_points:
        if not _POINTS.match(raw_points) or int(raw_points) > MAX_POINTS:
            return RowError(
                line, original_id, f"points must be a whole number from 0 to {MAX_POINTS}"
            )
        points = int(raw_points)
    reason = values.get("reason") or None
    if reason is not None and len(reason) > REASON_MAX:
        return RowError(line, original_id, f"reason is longer than {REASON_MAX} characters")
    return Row(line, original_id, fields, points, reason)


def _date(value: str) -> datetime | None:
    match = _BR_DATE.match(value)
    if match:
        value = f"{match.group(3)}-{match.group(2)}-{match.group(1)}"
    if not _ISO_DATE.match(value):
        return None
    try:
        return accepted_utc(datetime.fromisoformat(value))
    except ValueError:
        return None
