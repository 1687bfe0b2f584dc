"""The EWMA control chart of individual values, with exact per-point limits.

An exponentially weighted moving average reacts to small sustained shifts that a
Shewhart chart of individuals (:mod:`mes.quality.spc`) needs many points to show.
Phase I estimates the target and σ from the data; phase II takes both as given.
Values are in the unit of the measured characteristic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from mes.quality.errors import SpcError, SpcInvalid
from mes.quality.spc_constants import CONSTANTS
from mes.quality.spc_data import FloatArray, _no_variation, _readonly, _values, _violation_dict
from mes.quality.spc_rules import Violation


@dataclass(frozen=True, eq=False)
class EwmaChart:
    """EWMA chart: ``values`` is the EWMA statistic per point, ``ucl_points``/``lcl_points`` its
    exact limits at that point, ``ucl``/``lcl`` the steady-state limits they approach."""

    center: float
    ucl: float
    lcl: float
    sigma: float
    lam: float
    L: float
    phase: Literal["I", "II"]
    values: FloatArray
    ucl_points: FloatArray
    lcl_points: FloatArray
    violations: tuple[Violation, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape printed by ``mes spc chart --type ewma --json``."""
        return {
            "chart": "ewma",
            "phase": self.phase,
            "n": int(self.values.size),
            "center": self.center,
            "ucl": self.ucl,
            "lcl": self.lcl,
            "sigma": self.sigma,
            "lambda": self.lam,
            "L": self.L,
            "violations": [_violation_dict(v) for v in self.violations],
            "ewma": self.values.tolist(),
            "ucl_points": self.ucl_points.tolist(),
            "lcl_points": self.lcl_points.tolist(),
        }


def _ewma_statistic(x: FloatArray, lam: float, start: float) -> FloatArray:
    w = 1.0 - lam
    if w == 0.0:
        return x.copy()
    # z_k = w^k·(start + λ·Σ_{j≤k} w^-j·x_j) turns the recursion into a cumulative sum, but w^-j
    # overflows on long series, so restart from the last z every `block` points (w^block ≥ 1e-100).
    # 1 − λ is at least 2^-53 for λ < 1, so a block is never shorter than 6 points.
    # Working on deviations from the first start keeps the sums small when the values sit far from 0.
    block = max(1, int(100 / -math.log10(w)))
    offset, deviations = start, x - start
    out = np.empty_like(x)
    level = 0.0
    for first in range(0, x.size, block):
        chunk = deviations[first : first + block]
        powers = w ** np.arange(1, chunk.size + 1)
        out[first : first + chunk.size] = powers * (level + lam * np.cumsum(chunk / powers))
        level = float(out[first + chunk.size - 1])
    return out + offset


def ewma(
    values: ArrayLike,
    *,
    lam: float = 0.2,
    L: float = 3.0,
    target: float | None = None,
    sigma: float | None = None,
) -> EwmaChart:
    """EWMA chart z_i = λ·x_i + (1 − λ)·z_{i−1}, z_0 = target, of individual values in time order.

    ``target`` defaults to the mean of the values and ``sigma`` (σ of individual
    values) to MR̄/d2(2): phase I. Give both for phase II. Point i (1-based) has
    limits target ± L·σ·√(λ/(2−λ)·(1 − (1−λ)^2i)); rule ``ewma`` fires where the
    statistic is outside them. ``ucl``/``lcl`` are the steady-state limits.
    """
    x = _values(values)
    if x.size < 2:
        raise SpcError(f"an EWMA chart needs at least 2 values, got {x.size}")
    if not 0 < lam <= 1:
        raise SpcInvalid(f"lambda must be in (0, 1], not {lam}")
    if not (math.isfinite(L) and L > 0):
        raise SpcInvalid(f"L (the width of the limits in σ) must be positive, not {L}")
    phase: Literal["I", "II"] = "II" if target is not None and sigma is not None else "I"
    if target is None:
        target = float(x.mean())
    elif not math.isfinite(target):
        raise SpcInvalid(f"target must be a finite number, not {target}")
    if sigma is None:
        sigma = float(np.abs(np.diff(x)).mean()) / CONSTANTS[2].d2
        if sigma == 0:
            raise _no_variation("the mean moving range")
    elif not (math.isfinite(sigma) and sigma > 0):
        raise SpcInvalid(f"sigma must be positive, not {sigma}")
    z = _ewma_statistic(x, lam, target)
    i = np.arange(1, x.size + 1)
    steady = lam / (2 - lam)
    half_width = L * sigma * np.sqrt(steady * (1 - (1 - lam) ** (2 * i)))
    upper, lower = target + half_width, target - half_width
    outside = np.flatnonzero((z > upper) | (z < lower))
    return EwmaChart(
        center=target,
        ucl=target + L * sigma * math.sqrt(steady),
        lcl=target - L * sigma * math.sqrt(steady),
        sigma=sigma,
        lam=lam,
        L=L,
        phase=phase,
        values=_readonly(z),
        ucl_points=_readonly(upper),
        lcl_points=_readonly(lower),
        violations=tuple(Violation("ewma", int(j), (int(j),)) for j in outside),
    )
