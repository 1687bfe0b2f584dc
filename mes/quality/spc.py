"""Statistical process control: Shewhart and EWMA control charts, capability, cross-web profiles.

Charts come in two phases. In phase I the limits are estimated from the data
itself (a baseline): ``imr(values)``. In phase II stored limits are passed in and
the data is only judged against them: ``imr(values, limits=stored)``; the limits
come from :func:`baseline_limits` and survive storage through
``ControlLimits.to_dict`` / ``ControlLimits.from_dict``.

Every value is in the unit of the measured characteristic. σ is always the
standard deviation of *individual* values (within-subgroup, short-term) unless
named otherwise; the σ of a plotted mean is σ/√n. Run rules are in
:mod:`mes.quality.spc_rules`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mes.quality.errors import SpcError
from mes.quality.spc_rules import RULE_TEXT, RuleSet, Violation, evaluate, nelson, rule_set, western_electric

__all__ = [
    "CONSTANTS",
    "E2",
    "RULE_TEXT",
    "ChartConstants",
    "ControlChart",
    "ControlLimits",
    "EwmaChart",
    "LimitsChart",
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

FloatArray = NDArray[np.float64]
Rules = str | RuleSet | None

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
        raise SpcError(f"subgroup size must be {MIN_SUBGROUP}–{MAX_SUBGROUP}, not {n}")
    return CONSTANTS[n]


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
        raise SpcError(f"chart must be imr, xbar-r or xbar-s, not {chart!r}")
    return charts[chart](data, rules=None).limits


# --- input checks ---------------------------------------------------------------------------------


def _finite(array: FloatArray, what: str) -> None:
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        where = np.unravel_index(int(bad[0]), array.shape)
        position = ", ".join(str(int(i)) for i in where)
        raise SpcError(f"{what}: value {array.flat[int(bad[0])]} at index {position} is not a finite number")


def _values(values: ArrayLike, what: str = "values") -> FloatArray:
    try:
        # A copy: results hold read-only arrays and must not freeze or alias the caller's.
        x = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SpcError(f"{what} must be numbers: {exc}") from None
    if x.ndim != 1:
        raise SpcError(f"{what} must be a 1-D series, got an array of shape {x.shape}")
    _finite(x, what)
    return x


def _groups(data: ArrayLike, least: int = 2) -> FloatArray:
    try:
        g = np.array(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SpcError(f"subgroups must be numbers of equal-size subgroups: {exc}") from None
    if g.ndim != 2:
        raise SpcError(f"subgroups must be a 2-D array (one row per subgroup), got shape {g.shape}")
    constants(g.shape[1])
    if g.shape[0] < least:
        raise SpcError(f"at least {least} subgroup{'s are' if least > 1 else ' is'} needed, got {g.shape[0]}")
    _finite(g, "subgroups")
    return g


def subgroups(values: ArrayLike, size: int) -> FloatArray:
    """Consecutive values in rows of ``size``; a trailing partial subgroup is refused, not dropped."""
    x = _values(values)
    constants(size)
    if x.size % size:
        raise SpcError(
            f"{x.size} values do not make whole subgroups of {size} "
            f"({x.size % size} left over); give complete subgroups only"
        )
    return x.reshape(-1, size)


def _rules(rules: Rules, run_length: int | None) -> RuleSet | None:
    if (rules is None or rules == "none") and run_length is not None:
        raise SpcError("a run length needs a rule set (nelson or western-electric)")
    return rule_set(rules, run_length)


def _no_variation(what: str) -> SpcError:
    return SpcError(f"the data do not vary ({what} is 0): control limits would have zero width")


def _no_within_variation(g: FloatArray, means: FloatArray) -> SpcError:
    """Every subgroup holds one value repeated: X̄ limits from the within spread would have zero width."""
    if not np.ptp(means):
        return _no_variation("the mean subgroup range")
    return SpcError(
        f"the values within each subgroup of {g.shape[1]} are identical (mean subgroup range 0) while the "
        f"subgroup means differ ({means.min():.6g} to {means.max():.6g}): X̄ limits from the within-subgroup "
        "spread would have zero width; chart the subgroup means as individuals (imr), or subgroup "
        "readings the gauge can tell apart"
    )


# --- Shewhart charts ------------------------------------------------------------------------------


def _readonly(array: FloatArray) -> FloatArray:
    array.flags.writeable = False
    return array


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


def _violation_dict(v: Violation) -> dict[str, Any]:
    return {"index": v.index, "rule": v.rule, "points": list(v.points)}


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


# --- EWMA -----------------------------------------------------------------------------------------


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
        raise SpcError(f"lambda must be in (0, 1], not {lam}")
    if not (math.isfinite(L) and L > 0):
        raise SpcError(f"L (the width of the limits in σ) must be positive, not {L}")
    phase: Literal["I", "II"] = "II" if target is not None and sigma is not None else "I"
    if target is None:
        target = float(x.mean())
    elif not math.isfinite(target):
        raise SpcError(f"target must be a finite number, not {target}")
    if sigma is None:
        sigma = float(np.abs(np.diff(x)).mean()) / CONSTANTS[2].d2
        if sigma == 0:
            raise _no_variation("the mean moving range")
    elif not (math.isfinite(sigma) and sigma > 0):
        raise SpcError(f"sigma must be positive, not {sigma}")
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
