"""Cells of the CSV the MES writes for spreadsheets: times, text, numbers.

Times are ISO 8601 in UTC to the second (``2026-04-13T06:00:00Z``); positions along the band
are to the centimetre (2 decimals of a metre).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

# A cell starting with one of these is run as a formula by spreadsheets; reasons, comments and
# messages are partly typed by people, so such a cell gets a leading apostrophe.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def iso_utc(value: datetime | None) -> str:
    """``2026-04-13T06:00:00Z``: ISO 8601 in UTC to the second, which spreadsheets read as a time."""
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def text(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.startswith(FORMULA_START) else value


def fixed(value: float | None, decimals: int) -> str:
    """``value`` with ``decimals`` decimals; empty for a missing value (None, NaN, ±Inf)."""
    if value is None or not math.isfinite(value):
        return ""
    cell = f"{value:.{decimals}f}"
    return cell[1:] if cell.startswith("-") and float(cell) == 0 else cell  # no "-0.00"


def metres(value: float | None) -> str:
    return fixed(value, 2)
