"""Shewhart chart constants: d2, d3, c4 and the A2, A3, D3, D4, B3, B4 factors built from them.

The tables every control chart and capability study of :mod:`mes.quality.spc` and
:mod:`mes.quality.capability` read: d2/d3 of the range of n normal values for
subgroups of 2–25 (Harter's tables to five decimals), c4 computed exactly, the
factors derived from them, and E2 for charts of individuals. All are
dimensionless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mes.quality.errors import SpcInvalid

# d2 = E[R/σ] and d3 = sd[R/σ] of the range of n normal values (Harter's tables; the usual
# 3-decimal tables are these rounded). Five decimals are needed for D3/D4 to round to the published
# 3-decimal values: with d3 = 0.853, d2 = 1.128, D4(2) would come out 3.269 instead of 3.267.
_D2_D3: dict[int, tuple[float, float]] = {
    2: (1.12838, 0.85250),
    3: (1.69257, 0.88837),
    4: (2.05875, 0.87981),
    5: (2.32593, 0.86408),
    6: (2.53441, 0.84804),
    7: (2.70436, 0.83321),
    8: (2.84720, 0.81983),
    9: (2.97003, 0.80783),
    10: (3.07751, 0.79705),
    11: (3.17287, 0.78732),
    12: (3.25846, 0.77848),
    13: (3.33598, 0.77042),
    14: (3.40676, 0.76302),
    15: (3.47183, 0.75621),
    16: (3.53198, 0.74991),
    17: (3.58788, 0.74405),
    18: (3.64006, 0.73859),
    19: (3.68896, 0.73348),
    20: (3.73495, 0.72869),
    21: (3.77834, 0.72417),
    22: (3.81938, 0.71992),
    23: (3.85832, 0.71589),
    24: (3.89535, 0.71207),
    25: (3.93063, 0.70844),
}


@dataclass(frozen=True)
class ChartConstants:
    """Shewhart chart constants for subgroups of ``n`` (dimensionless)."""

    n: int
    d2: float
    d3: float
    c4: float
    A2: float
    A3: float
    D3: float
    D4: float
    B3: float
    B4: float


def _chart_constants(n: int) -> ChartConstants:
    d2, d3 = _D2_D3[n]
    # c4 = E[s]/σ exactly; lgamma keeps Γ(n/2) finite for any n.
    c4 = math.sqrt(2 / (n - 1)) * math.exp(math.lgamma(n / 2) - math.lgamma((n - 1) / 2))
    s_spread = 3 * math.sqrt(1 - c4 * c4) / c4
    return ChartConstants(
        n=n,
        d2=d2,
        d3=d3,
        c4=c4,
        A2=3 / (d2 * math.sqrt(n)),
        A3=3 / (c4 * math.sqrt(n)),
        D3=max(0.0, 1 - 3 * d3 / d2),
        D4=1 + 3 * d3 / d2,
        B3=max(0.0, 1 - s_spread),
        B4=1 + s_spread,
    )


CONSTANTS: dict[int, ChartConstants] = {n: _chart_constants(n) for n in _D2_D3}
MIN_SUBGROUP, MAX_SUBGROUP = min(CONSTANTS), max(CONSTANTS)
# Individuals: σ = MR̄/d2(2) from moving ranges of two, so the limits are x̄ ± E2·MR̄ and the
# moving-range chart's UCL is D4(2)·MR̄ (≈ 2.66 and 3.267).
E2 = 3 / CONSTANTS[2].d2


def constants(n: int) -> ChartConstants:
    """The chart constants for subgroup size ``n`` (2–25)."""
    if n not in CONSTANTS:
        raise SpcInvalid(f"subgroup size must be {MIN_SUBGROUP}–{MAX_SUBGROUP}, not {n}")
    return CONSTANTS[n]
