"""What the control charts and capability studies share: input checks and result helpers.

Every series or subgroup array passed to :mod:`mes.quality.spc`,
:mod:`mes.quality.spc_ewma` or :mod:`mes.quality.capability` is copied to float64
and refused with an :class:`~mes.quality.errors.SpcError` naming the first value
that is not a finite number; whole subgroups, rule-set names and a zero spread are
checked here too. Results hold read-only arrays (:func:`_readonly`), and a run-rule
violation is written out as JSON by :func:`_violation_dict`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mes.quality.errors import SpcError, SpcInvalid
from mes.quality.spc_constants import constants
from mes.quality.spc_rules import RuleSet, Violation, rule_set

FloatArray = NDArray[np.float64]
Rules = str | RuleSet | None


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
        raise SpcInvalid("a run length needs a rule set (nelson or western-electric)")
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


def _readonly(array: FloatArray) -> FloatArray:
    array.flags.writeable = False
    return array


def _violation_dict(v: Violation) -> dict[str, Any]:
    return {"index": v.index, "rule": v.rule, "points": list(v.points)}
