"""Cells of the CSV the MES writes for spreadsheets: times, text and numbers at the gauge's resolution.

Neither the recipe nor the equipment profile records a gauge's resolution, so values are
rounded by the characteristic's unit, to what inline gauges of that kind resolve:

============  ==========================  ==========================================
unit          measured values             statistics (means, σ, control limits)
============  ==========================  ==========================================
nm            0.1 nm (1 decimal)          2 decimals
um            0.01 µm (2 decimals)        3 decimals
mm            0.001 mm (3 decimals)       4 decimals
mg_cm2        0.001 mg/cm² (3 decimals)   4 decimals
g_m2          0.01 g/m² (2 decimals)      3 decimals
pct           0.01 % (2 decimals)         3 decimals
g_cc          0.001 g/cm³ (3 decimals)    4 decimals
ohm_sq, any   4 significant digits        5 significant digits
other unit
============  ==========================  ==========================================

Measured values are the spec limits and target, min, max, an interval's worst value and limit;
statistics carry one digit more, since a mean resolves finer than one reading. Positions along
the band are to the centimetre (2 decimals of a metre), coverage to 0.1 %, capability indices
to 2 decimals. Times are ISO 8601 in UTC to the second (``2026-04-13T06:00:00Z``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

DECIMALS = {"nm": 1, "um": 2, "mm": 3, "mg_cm2": 3, "g_m2": 2, "pct": 2, "g_cc": 3}
SIGNIFICANT = 4  # units a fixed number of decimals does not suit (sheet resistance spans decades)

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


def significant(value: float | None, digits: int) -> str:
    """``value`` to ``digits`` significant digits, written without an exponent."""
    if value is None or not math.isfinite(value):
        return ""
    if value == 0:
        return "0"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    return fixed(round(value, decimals), max(decimals, 0))


def measured(value: float | None, unit: str) -> str:
    """A reading (or a spec limit) of a characteristic in ``unit``, at the gauge's resolution."""
    if unit in DECIMALS:
        return fixed(value, DECIMALS[unit])
    return significant(value, SIGNIFICANT)


def statistic(value: float | None, unit: str) -> str:
    """A mean, σ or control limit in ``unit``: one digit finer than a reading."""
    if unit in DECIMALS:
        return fixed(value, DECIMALS[unit] + 1)
    return significant(value, SIGNIFICANT + 1)


def metres(value: float | None) -> str:
    return fixed(value, 2)
