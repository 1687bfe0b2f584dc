"""Statistical process control: Shewhart control charts (I-MR, X̄–R, X̄–S) and their limits.

Charts come in two phases. In phase I the limits are estimated from the data
itself (a baseline): ``imr(values)``. In phase II stored limits are passed in and
the data is only judged against them: ``imr(values, limits=stored)``; the limits
come from :func:`baseline_limits` and survive storage through
``ControlLimits.to_dict`` / ``ControlLimits.from_dict``.

Every value is in the unit of the measured characteristic. σ is always the
standard deviation of *individual* values (within-subgroup, short-term) unless
named otherwise; the σ of a plotted mean is σ/√n. This module is the entry point
and re-exports the rest: chart constants are in :mod:`mes.quality.spc_constants`,
input checks in :mod:`mes.quality.spc_data`, the EWMA chart in
:mod:`mes.quality.spc_ewma`, run rules in :mod:`mes.quality.spc_rules`;
capability and the cross-web view are in :mod:`mes.quality.capability`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from mes.quality.errors import SpcError, SpcInvalid
from mes.quality.spc_constants import CONSTANTS, E2, MAX_SUBGROUP, MIN_SUBGROUP, ChartConstants, constants
from mes.quality.spc_data import (
    FloatArray,
    Rules,
    _groups,
    _no_variation,
    _no_within_variation,
    _readonly,
    _rules,
    _values,
    _violation_dict,
    subgroups,
)
from mes.quality.spc_ewma import EwmaChart, ewma
from mes.quality.spc_rules import RULE_TEXT, RuleSet, Violation, evaluate, nelson, rule_set, western_electric

__all__ = [
    "CONSTANTS",
    "E2",
    "MAX_SUBGROUP",
    "MIN_SUBGROUP",
    "RULE_TEXT",
    "ChartConstants",
    "ControlChart",
    "ControlLimits",
    "EwmaChart",
    "FloatArray",
    "LimitsChart",
    "Rules",
    "RuleSet",
    "SpcError",
    "Violation",
    "baseline_limits",
    "constants",
    "ewma",
    "imr",
    "nelson",
    "rule_set",
    "subgroups",
    "western_electric",
    "xbar_r",
    "xbar_s",
]


# --- limits ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ControlLimits:
    """Limits of a chart of individuals (``subgroup_size`` 1) or of subgroup means.

    ``center``, ``ucl`` and ``lcl`` are for the plotted statistic; ``sigma`` is the
    σ of individual values the limits were built from, in the same unit.
    """

    center: float
    ucl: float
    lcl: float
    sigma: float
    subgroup_size: int = 1

    def __post_init__(self) -> None:
        for name in ("center", "ucl", "lcl", "sigma"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise SpcError(f"control limits: {name} must be a finite number, not {value!r}")
            # Plain floats, so to_dict is JSON-ready whatever numeric type came in.
            object.__setattr__(self, name, float(value))
        if not self.lcl < self.center < self.ucl:
            raise SpcError(
                f"control limits must satisfy lcl < center < ucl, got {self.lcl} / {self.center} / {self.ucl}"
            )
        if not self.sigma > 0:
            raise SpcError(f"control limits: sigma must be positive, not {self.sigma}")
        size = self.subgroup_size
        if (
            isinstance(size, bool)
            or not isinstance(size, numbers.Integral)
            or not (size == 1 or size in CONSTANTS)
        ):
            raise SpcError(
                f"control limits: subgroup_size must be 1 or {MIN_SUBGROUP}–{MAX_SUBGROUP}, not {size!r}"
            )
        object.__setattr__(self, "subgroup_size", int(size))

    def to_dict(self) -> dict[str, float | int]:
        """A JSON-ready dict; :meth:`from_dict` turns it back into equal limits."""
        return {
            "center": self.center,
            "ucl": self.ucl,
            "lcl": self.lcl,
            "sigma": self.sigma,
            "subgroup_size": self.subgroup_size,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ControlLimits:
        """Limits from a dict written by :meth:`to_dict` (``subgroup_size`` may be left out: 1)."""
        missing = [k for k in ("center", "ucl", "lcl", "sigma") if k not in data]
        if missing:
            raise SpcError(f"control limits: missing {', '.join(missing)}")
        unknown = sorted(set(data) - {"center", "ucl", "lcl", "sigma", "subgroup_size"})
        if unknown:
            raise SpcError(f"control limits: unknown key {unknown[0]!r}")
        return cls(
            center=data["center"],
            ucl=data["ucl"],
            lcl=data["lcl"],
            sigma=data["sigma"],
            subgroup_size=data.get("subgroup_size", 1),
        )


def baseline_limits(data: ArrayLike, chart: Literal["imr", "xbar-r", "xbar-s"] = "imr") -> ControlLimits:
    """Phase I limits estimated from baseline data, to store and pass to later charts as ``limits``.

    ``data`` is a 1-D series of individual values for ``imr`` or a 2-D array of
    subgroups (one row each) for ``xbar-r`` / ``xbar-s``.
    """
    charts = {"imr": imr, "xbar-r": xbar_r, "xbar-s": xbar_s}
    if chart not in charts:
        raise SpcInvalid(f"chart must be imr, xbar-r or xbar-s, not {chart!r}")
    return charts[chart](data, rules=None).limits


# --- Shewhart charts ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LimitsChart:
    """The spread chart beside a Shewhart chart: moving range (``mr``), ``range`` or ``s``.

    ``values[i]`` belongs to point ``first_index + i`` of the main chart (a moving
    range belongs to the later of its two values). Violations are points beyond
    these limits (rule ``beyond-limits``), indexed like the main chart.
    """

    name: str
    center: float
    ucl: float
    lcl: float
    values: FloatArray
    first_index: int
    violations: tuple[Violation, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "center": self.center,
            "ucl": self.ucl,
            "lcl": self.lcl,
            "values": self.values.tolist(),
            "violations": [_violation_dict(v) for v in self.violations],
        }


def _limits_chart(
    name: str, values: FloatArray, center: float, ucl: float, lcl: float, first: int
) -> LimitsChart:
    outside = np.flatnonzero((values > ucl) | (values < lcl)) + first
    found = tuple(Violation("beyond-limits", int(i), (int(i),)) for i in outside)
    return LimitsChart(name, center, ucl, lcl, _readonly(values), first, found)


@dataclass(frozen=True, eq=False)
class ControlChart:
    """A Shewhart chart of individuals (``imr``) or subgroup means (``xbar-r``, ``xbar-s``).

    ``values`` are the plotted points (individual values or subgroup means);
    ``sigma`` is the σ of individual values; ``violations`` are the run-rule
    firings on the main chart, ``spread`` is the MR / R / S chart.
    """

    chart: str
    phase: Literal["I", "II"]
    center: float
    ucl: float
    lcl: float
    sigma: float
    subgroup_size: int
    values: FloatArray
    violations: tuple[Violation, ...]
    spread: LimitsChart
    rules: RuleSet | None

    @property
    def limits(self) -> ControlLimits:
        """These limits, to store and use in phase II."""
        return ControlLimits(self.center, self.ucl, self.lcl, self.sigma, self.subgroup_size)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape printed by ``mes spc chart --json``."""
        statistic = "x" if self.chart == "imr" else "xbar"
        return {
            "chart": self.chart,
            "phase": self.phase,
            "n": int(self.values.size),
            "subgroup_size": self.subgroup_size,
            "center": self.center,
            "ucl": self.ucl,
            "lcl": self.lcl,
            "sigma": self.sigma,
            "rules": self.rules.family if self.rules else "none",
            "run_length": self.rules.run_length if self.rules else None,
            "violations": [_violation_dict(v) for v in self.violations],
            statistic: self.values.tolist(),
            self.spread.name: self.spread.to_dict(),
        }


def _shewhart(
    chart: str,
    points: FloatArray,
    limits: ControlLimits,
    phase: Literal["I", "II"],
    spread: LimitsChart,
    rules: RuleSet | None,
) -> ControlChart:
    found = evaluate(points, limits.center, (limits.ucl - limits.center) / 3, rules) if rules else ()
    return ControlChart(
        chart=chart,
        phase=phase,
        center=limits.center,
        ucl=limits.ucl,
        lcl=limits.lcl,
        sigma=limits.sigma,
        subgroup_size=limits.subgroup_size,
        values=_readonly(points),
        violations=found,
        spread=spread,
        rules=rules,
    )


def _check_size(limits: ControlLimits, size: int) -> None:
    if limits.subgroup_size != size:
        raise SpcError(
            f"the limits are for subgroups of {limits.subgroup_size}, the data has subgroups of {size}"
        )


def imr(
    values: ArrayLike,
    *,
    limits: ControlLimits | None = None,
    rules: Rules = "nelson",
    run_length: int | None = None,
) -> ControlChart:
    """Individuals and moving-range chart of a series of single values in time order.

    Phase I (no ``limits``, at least 2 values): center x̄, σ = MR̄/d2(2), limits
    x̄ ± 3σ (= x̄ ± E2·MR̄); MR chart center MR̄, UCL D4(2)·MR̄ ≈ 3.267·MR̄, LCL 0.
    Phase II (at least 1 value): the given limits, and an MR chart built from
    their σ (center d2·σ, UCL D4·d2·σ).
    ``rules`` is ``nelson``, ``western-electric``, ``none``/None or a RuleSet;
    ``run_length`` replaces its same-side run length.
    """
    x = _values(values)
    # Estimating limits needs a moving range; judging points against stored ones does not.
    least = 2 if limits is None else 1
    if x.size < least:
        raise SpcError(f"an I-MR chart needs at least {least} value{'s' if least > 1 else ''}, got {x.size}")
    ruleset = _rules(rules, run_length)
    moving = np.abs(np.diff(x))
    k = CONSTANTS[2]
    if limits is None:
        mr_bar = float(moving.mean())
        if mr_bar == 0:
            raise _no_variation("the mean moving range")
        center, sigma = float(x.mean()), mr_bar / k.d2
        limits = ControlLimits(center, center + 3 * sigma, center - 3 * sigma, sigma)
        phase: Literal["I", "II"] = "I"
    else:
        _check_size(limits, 1)
        mr_bar, phase = k.d2 * limits.sigma, "II"
    spread = _limits_chart("mr", moving, mr_bar, k.D4 * mr_bar, k.D3 * mr_bar, first=1)
    return _shewhart("imr", x, limits, phase, spread, ruleset)


def _xbar(
    kind: Literal["range", "s"],
    data: ArrayLike,
    limits: ControlLimits | None,
    rules: Rules,
    run_length: int | None,
) -> ControlChart:
    g = _groups(data, least=2 if limits is None else 1)
    ruleset = _rules(rules, run_length)
    n = g.shape[1]
    k = CONSTANTS[n]
    means = g.mean(axis=1)
    spreads = g.max(axis=1) - g.min(axis=1) if kind == "range" else g.std(axis=1, ddof=1)
    # R̄ = d2·σ with the X̄ limits at A2·R̄ and the R chart at D3·R̄ / D4·R̄; likewise S̄ = c4·σ, A3, B3, B4.
    unbias, a, low, high = (k.d2, k.A2, k.D3, k.D4) if kind == "range" else (k.c4, k.A3, k.B3, k.B4)
    if limits is None:
        # Decided on the ranges, which are exact: subgroups of one repeated value can have an S of 1e-13.
        if not (g.max(axis=1) - g.min(axis=1)).any():
            raise _no_within_variation(g, means)
        spread_bar = float(spreads.mean())
        center = float(means.mean())
        limits = ControlLimits(
            center, center + a * spread_bar, center - a * spread_bar, spread_bar / unbias, n
        )
        phase: Literal["I", "II"] = "I"
    else:
        _check_size(limits, n)
        spread_bar, phase = unbias * limits.sigma, "II"
    spread = _limits_chart(kind, spreads, spread_bar, high * spread_bar, low * spread_bar, first=0)
    return _shewhart("xbar-r" if kind == "range" else "xbar-s", means, limits, phase, spread, ruleset)


def xbar_r(
    subgroups: ArrayLike,
    *,
    limits: ControlLimits | None = None,
    rules: Rules = "nelson",
    run_length: int | None = None,
) -> ControlChart:
    """X̄–R chart of equal subgroups (2-D, one row per subgroup of 2–25 values, rows in time order;
    at least 2 rows in phase I, 1 in phase II).

    Phase I: center x̄̄, limits x̄̄ ± A2·R̄, σ = R̄/d2; R chart D3·R̄ to D4·R̄.
    Phase II: the given limits; R chart from their σ (center d2·σ). Rules as for :func:`imr`.
    """
    return _xbar("range", subgroups, limits, rules, run_length)


def xbar_s(
    subgroups: ArrayLike,
    *,
    limits: ControlLimits | None = None,
    rules: Rules = "nelson",
    run_length: int | None = None,
) -> ControlChart:
    """X̄–S chart of equal subgroups (2-D, one row per subgroup of 2–25 values, rows in time order;
    at least 2 rows in phase I, 1 in phase II).

    Phase I: center x̄̄, limits x̄̄ ± A3·S̄, σ = S̄/c4 (S with n − 1); S chart B3·S̄ to
    B4·S̄. Phase II: the given limits; S chart from their σ (center c4·σ).
    """
    return _xbar("s", subgroups, limits, rules, run_length)
