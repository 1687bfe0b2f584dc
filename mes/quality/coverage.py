"""Which metres of a roll a characteristic's gauge actually measured.

A gauge scan stands for one sampling pitch of band from its position on, and it
counts as a measurement of those metres only when **every lane is a number**: a
NaN or ±Inf lane is a strip of web nobody measured, so the scan's pitch is
unmeasured across the whole width (intervals run along the band, not across it).
Its finite lanes still count for the statistics and the spec check.

Between measured scans, a gap of up to ``max_gap_pitches`` pitches (the recipe's
tolerance, default 2) is bridged — a missed scan between two good neighbours is
not a hole in the product — and so is the same stretch at the head and the tail
of the roll. Every longer gap is an **unmeasured stretch** ``[start_m, end_m)``.
The measured metres are the roll's length less those stretches, and the
characteristic is complete when they reach ``min_coverage_pct`` of the length.

::

    scans      |·|·|·|·|  (NaN)  |·|·|   (dead gauge)
    measured   [=========)        [====)
    unmeasured          [--------)    [------------]  end of roll
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Positions are stored as floats; scans one pitch apart must read as touching.
_TOUCH = 1e-6


def scan_measures(values: Sequence[float], lanes: int) -> bool:
    """Whether a scan measured its pitch of band: all ``lanes`` lanes present and finite."""
    return len(values) >= lanes and all(math.isfinite(v) for v in values)


@dataclass(frozen=True)
class Coverage:
    """What a gauge covered of a roll ``length_m`` long (metres along the band)."""

    length_m: float
    measured_m: float
    unmeasured: tuple[tuple[float, float], ...]  # [start_m, end_m) stretches beyond the tolerance

    @property
    def pct(self) -> float:
        """Measured share of the roll [%]; 0 for a roll of no length."""
        return 100.0 * self.measured_m / self.length_m if self.length_m > 0 else 0.0

    def meets(self, min_coverage_pct: float) -> bool:
        """Whether the measured share reaches ``min_coverage_pct`` [%] (and anything was measured)."""
        return self.measured_m > 0 and self.pct >= min_coverage_pct - 1e-9


def coverage(positions: Iterable[float], pitch_m: float, length_m: float, max_gap_pitches: int) -> Coverage:
    """The measured and unmeasured metres of a roll from the positions [m] of its measuring scans.

    ``positions`` are those of scans that passed :func:`scan_measures`, in any
    order; each stands for ``[position, position + pitch_m)`` clipped to the
    roll. Gaps up to ``max_gap_pitches × pitch_m`` count as measured. Raises
    ``ValueError`` for a pitch or length that is not positive.
    """
    if pitch_m <= 0 or length_m <= 0:
        raise ValueError(f"pitch {pitch_m} m and roll length {length_m} m must be positive")
    tolerance = max_gap_pitches * pitch_m + _TOUCH
    covered: list[tuple[float, float]] = []
    for start in sorted(p for p in positions if math.isfinite(p)):
        a, b = max(0.0, start), min(length_m, start + pitch_m)
        if b < a:
            continue  # beyond the roll's end: measures nothing of it
        if covered and a <= covered[-1][1] + tolerance:
            covered[-1] = (covered[-1][0], max(covered[-1][1], b))
        else:
            covered.append((a, b))
    gaps: list[tuple[float, float]] = []
    cursor = 0.0
    for a, b in covered:
        if a - cursor > tolerance:
            gaps.append((cursor, a))
        cursor = b
    if length_m - cursor > tolerance:
        gaps.append((cursor, length_m))
    if not covered:
        gaps = [(0.0, length_m)]
    unmeasured_m = sum(b - a for a, b in gaps)
    return Coverage(length_m, max(0.0, length_m - unmeasured_m), tuple(gaps))
