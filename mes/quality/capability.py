"""Process capability (Cp, Cpk, Pp, Ppk) and the cross-web × down-web view of a coated web.

Built on the charts and constants of :mod:`mes.quality.spc`; values are in the
characteristic's unit, positions in metres along the band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from mes.quality.errors import SpcError, SpcInvalid
from mes.quality.spc import ControlChart, imr
from mes.quality.spc_constants import CONSTANTS
from mes.quality.spc_data import (
    FloatArray,
    Rules,
    _finite,
    _groups,
    _readonly,
    _values,
    subgroups,
)

MIN_CAPABILITY_POINTS = 30  # below this Cp/Cpk confidence intervals are too wide to quote the index alone


# --- capability -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capability:
    """Process capability against the spec limits, in units of the spread of individual values.

    Cp/Cpk use the within (short-term) σ, Pp/Ppk the overall sample standard
    deviation. With one spec limit Cp and Pp are None and Cpk/Ppk use that side.
    When the within σ is 0 (every subgroup holds one value repeated) but the
    values vary, Cp and Cpk are None and ``within_note`` says why.
    """

    n: int
    mean: float
    sigma_within: float
    sigma_overall: float
    within_method: str
    lsl: float | None
    usl: float | None
    cp: float | None
    cpk: float | None
    pp: float | None
    ppk: float
    warning: str | None
    within_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape printed by ``mes spc capability --json`` (``warning`` only when there is one)."""
        out: dict[str, Any] = {
            "n": self.n,
            "mean": self.mean,
            "sigma_within": self.sigma_within,
            "sigma_overall": self.sigma_overall,
            "within_method": self.within_method,
            "lsl": self.lsl,
            "usl": self.usl,
            "cp": self.cp,
            "cpk": self.cpk,
            "pp": self.pp,
            "ppk": self.ppk,
        }
        if self.warning:
            out["warning"] = self.warning
        if self.within_note:
            out["within_note"] = self.within_note
        return out


def _indices(mean: float, sigma: float, lsl: float | None, usl: float | None) -> tuple[float | None, float]:
    sides = [(usl - mean) / (3 * sigma)] if usl is not None else []
    if lsl is not None:
        sides.append((mean - lsl) / (3 * sigma))
    potential = (usl - lsl) / (6 * sigma) if usl is not None and lsl is not None else None
    return potential, min(sides)


def capability(
    values: ArrayLike,
    *,
    lsl: float | None = None,
    usl: float | None = None,
    subgroup_size: int = 1,
    within: Literal["auto", "range", "s"] = "auto",
) -> Capability:
    """Cp, Cpk, Pp, Ppk of values in time order (consecutive values form subgroups of ``subgroup_size``).

    Within σ: MR̄/d2(2) for individuals; for subgroups R̄/d2 (``range``) or S̄/c4
    (``s``). ``auto`` takes the range up to subgroups of 10 and S above, where the
    range wastes more of the information in the subgroup. Overall σ: the sample
    standard deviation (n − 1) of all values. Cp = (USL − LSL)/6σ, Cpk =
    min(USL − x̄, x̄ − LSL)/3σ with the within σ, Pp and Ppk likewise with the
    overall σ (AIAG SPC manual, 2nd ed., ch. IV; Montgomery, Introduction to
    Statistical Quality Control, ch. 8). A warning is set below 30 values.

    Refused only when the values do not vary at all. When every subgroup holds one
    value repeated but the subgroups differ, the within σ is 0: Pp and Ppk are
    given, Cp and Cpk are None and ``within_note`` names the cause. Whether a
    spread is zero is decided on the ranges, which are exact, never on a σ computed
    in floating point (identical values can give a σ of 1e-13).
    """
    x = _values(values)
    if lsl is None and usl is None:
        raise SpcInvalid("give at least one spec limit (LSL or USL)")
    for name, limit in (("LSL", lsl), ("USL", usl)):
        if limit is not None and not math.isfinite(limit):
            raise SpcInvalid(f"{name} must be a finite number, not {limit}")
    if lsl is not None and usl is not None and not lsl < usl:
        raise SpcInvalid(f"LSL ({lsl}) must be below USL ({usl})")
    if within not in ("auto", "range", "s"):
        raise SpcInvalid(f"within must be auto, range or s, not {within!r}")
    within_note = None
    if subgroup_size == 1:
        if within == "s":
            raise SpcInvalid("within σ from S̄/c4 needs subgroups (subgroup size 2–25)")
        if x.size < 2:
            raise SpcError(f"capability needs at least 2 values, got {x.size}")
        # Values that vary have a moving range somewhere: an individuals' within σ is never 0 then.
        method, sigma_within = "moving-range", float(np.abs(np.diff(x)).mean()) / CONSTANTS[2].d2
    else:
        g = _groups(subgroups(x, subgroup_size))
        k = CONSTANTS[subgroup_size]
        method = within if within != "auto" else ("range" if subgroup_size <= 10 else "s")
        ranges = g.max(axis=1) - g.min(axis=1)
        if not ranges.any():
            sigma_within = 0.0
            means = g.mean(axis=1)
            within_note = (
                f"not computable (within σ = 0): the values within each subgroup of {subgroup_size} are "
                f"identical while the subgroup means differ ({means.min():.6g} to {means.max():.6g}); "
                "the gauge does not resolve the short-term spread, or each subgroup repeats one reading"
            )
        elif method == "range":
            sigma_within = float(ranges.mean()) / k.d2
        else:
            sigma_within = float(g.std(axis=1, ddof=1).mean()) / k.c4
    if not np.ptp(x):
        raise SpcError(f"the data do not vary (every value is {x[0]:.6g}): no capability can be computed")
    sigma_overall = float(x.std(ddof=1))
    mean = float(x.mean())
    cp, cpk = _indices(mean, sigma_within, lsl, usl) if sigma_within > 0 else (None, None)
    pp, ppk = _indices(mean, sigma_overall, lsl, usl)
    warning = None
    if x.size < MIN_CAPABILITY_POINTS:
        warning = (
            f"only {x.size} values: capability indices from fewer than {MIN_CAPABILITY_POINTS} are unreliable"
        )
    return Capability(
        x.size, mean, sigma_within, sigma_overall, method, lsl, usl, cp, cpk, pp, ppk, warning, within_note
    )


# --- cross-web × down-web -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class WebProfile:
    """A coated web measured in scans across lanes.

    ``lane_means`` is the cross-web profile (mean of each lane over all scans);
    ``spread`` the cross-web range (max − min over lanes) of each scan, at
    ``positions`` down the web; ``lane_charts`` an I-MR chart of each lane down the web.
    """

    positions: FloatArray
    lane_means: FloatArray
    spread: FloatArray
    lane_charts: tuple[ControlChart, ...]


def web_profile(
    scans: ArrayLike,
    positions: ArrayLike | None = None,
    *,
    rules: Rules = "nelson",
    run_length: int | None = None,
) -> WebProfile:
    """Cross-web profile and down-web I-MR charts of a (scans × lanes) array of one characteristic.

    ``positions`` is each scan's down-web position (e.g. metres), non-decreasing;
    by default 0, 1, 2, …
    """
    try:
        grid = np.array(scans, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SpcError(f"scans must be numbers: {exc}") from None
    if grid.ndim != 2 or grid.shape[1] < 1:
        raise SpcError(f"scans must be a 2-D array (scans × lanes), got shape {grid.shape}")
    if grid.shape[0] < 2:
        raise SpcError(f"a down-web chart needs at least 2 scans, got {grid.shape[0]}")
    _finite(grid, "scans")
    where = (
        np.arange(grid.shape[0], dtype=np.float64) if positions is None else _values(positions, "positions")
    )
    if where.size != grid.shape[0]:
        raise SpcError(f"{where.size} positions for {grid.shape[0]} scans")
    if np.any(np.diff(where) < 0):
        raise SpcError("positions must not decrease: scans are charted in down-web order")
    charts = []
    for lane in range(grid.shape[1]):
        try:
            charts.append(imr(grid[:, lane], rules=rules, run_length=run_length))
        except SpcError as exc:
            raise SpcError(f"lane {lane}: {exc}") from None
    return WebProfile(
        positions=_readonly(where),
        lane_means=_readonly(grid.mean(axis=0)),
        spread=_readonly(grid.max(axis=1) - grid.min(axis=1)),
        lane_charts=tuple(charts),
    )
