"""Run rules for control charts: Nelson 1–8 and Western Electric 1–4, vectorised with numpy.

A rule looks at a window of consecutive points and *fires at the point that
completes the pattern*: the last point of the window, 0-based. It fires at every
such point, so a run of 12 points on one side with a run length of 9 fires at
the 9th, 10th, 11th and 12th point (indexes 8–11).

Zones are measured in σ of the plotted statistic, ``(UCL − center) / 3`` of the
chart being evaluated. Comparisons are strict: "beyond 2σ" is ``|z| > 2``,
"within 1σ" is ``|z| < 1``, and a point exactly on the center line is on
neither side, so it ends a same-side run. Trends and alternation compare the raw
values; a tie ends them.

For "k of m beyond a zone" (Nelson 5 and 6, Western Electric 2 and 3) the firing
point must itself be beyond the zone on that side: a normal point that follows
two wild ones completes no pattern. Near the start the window is shortened, so
two wild points at indexes 0 and 1 fire at 1. The points involved are the ones
beyond the zone. For every other rule they are the whole window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from mes.quality.errors import SpcError, SpcInvalid

Family = Literal["nelson", "western-electric"]
RULE_FAMILIES: tuple[Family, ...] = ("nelson", "western-electric")
BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

RULE_TEXT: dict[str, str] = {
    "nelson-1": "1 point beyond 3σ",
    "nelson-2": "a run of points on one side of the center line (9 unless configured)",
    "nelson-3": "points steadily increasing or decreasing (6 unless configured)",
    "nelson-4": "points alternating up and down (14 unless configured)",
    "nelson-5": "2 of 3 points beyond 2σ on the same side",
    "nelson-6": "4 of 5 points beyond 1σ on the same side",
    "nelson-7": "points in a row within 1σ of the center line (15 unless configured)",
    "nelson-8": "points in a row beyond 1σ on either side (8 unless configured)",
    "western-electric-1": "1 point beyond 3σ",
    "western-electric-2": "2 of 3 points beyond 2σ on the same side",
    "western-electric-3": "4 of 5 points beyond 1σ on the same side",
    "western-electric-4": "a run of points on one side of the center line (8 unless configured)",
    "ewma": "EWMA statistic beyond its control limits",
    "beyond-limits": "point beyond the control limits of the range, S or moving-range chart",
}


@dataclass(frozen=True)
class Violation:
    """A rule fired at point ``index`` (0-based); ``points`` are the indexes of the points involved."""

    rule: str
    index: int
    points: tuple[int, ...]


@dataclass(frozen=True)
class RuleSet:
    """Which rules of one family are on, and their run lengths (in points)."""

    family: Family
    enabled: frozenset[int]
    run_length: int  # same side of the center line: Nelson 2, Western Electric 4
    trend_length: int = 6  # Nelson 3
    alternating_length: int = 14  # Nelson 4
    within_length: int = 15  # Nelson 7
    beyond_length: int = 8  # Nelson 8

    def __post_init__(self) -> None:
        count = 8 if self.family == "nelson" else 4
        unknown = sorted(set(self.enabled) - set(range(1, count + 1)))
        if unknown:
            raise SpcInvalid(f"{self.family} has rules 1–{count}; no rule {unknown[0]}")
        for name, value, least in (
            ("run length", self.run_length, 2),
            ("trend length", self.trend_length, 2),
            ("alternating length", self.alternating_length, 3),
            ("within-1σ length", self.within_length, 2),
            ("beyond-1σ length", self.beyond_length, 2),
        ):
            if value < least:
                raise SpcInvalid(f"the {name} must be at least {least} points, not {value}")


def nelson(
    *,
    enabled: Iterable[int] = range(1, 9),
    run_length: int = 9,
    trend_length: int = 6,
    alternating_length: int = 14,
    within_length: int = 15,
    beyond_length: int = 8,
) -> RuleSet:
    """Nelson's eight rules (all on by default) with their usual run lengths."""
    return RuleSet(
        "nelson",
        frozenset(enabled),
        run_length,
        trend_length=trend_length,
        alternating_length=alternating_length,
        within_length=within_length,
        beyond_length=beyond_length,
    )


def western_electric(*, enabled: Iterable[int] = range(1, 5), run_length: int = 8) -> RuleSet:
    """The four Western Electric zone rules (all on by default); ``run_length`` is rule 4's."""
    return RuleSet("western-electric", frozenset(enabled), run_length)


def rule_set(name: str | RuleSet | None, run_length: int | None = None) -> RuleSet | None:
    """A rule set by name (``nelson``, ``western-electric``, ``none``, or a subset ``nelson:1,2,5``).

    ``run_length`` replaces the same-side run length of the family's default.
    """
    if name is None or isinstance(name, RuleSet):
        if run_length is not None and name is not None:
            return RuleSet(
                name.family,
                name.enabled,
                run_length,
                trend_length=name.trend_length,
                alternating_length=name.alternating_length,
                within_length=name.within_length,
                beyond_length=name.beyond_length,
            )
        return name
    if name == "none":
        return None
    if ":" in name:  # a subset, e.g. nelson:1,2,3,5
        family, _, numbers = name.partition(":")
        try:
            enabled = {int(n) for n in numbers.split(",")}
        except ValueError:
            raise SpcInvalid(
                f"rules {name!r}: after the colon give rule numbers, e.g. nelson:1,2,3,5"
            ) from None
        if family == "nelson":
            return (
                nelson(enabled=enabled)
                if run_length is None
                else nelson(enabled=enabled, run_length=run_length)
            )
        if family == "western-electric":
            if run_length is None:
                return western_electric(enabled=enabled)
            return western_electric(enabled=enabled, run_length=run_length)
    if name == "nelson":
        return nelson() if run_length is None else nelson(run_length=run_length)
    if name == "western-electric":
        return western_electric() if run_length is None else western_electric(run_length=run_length)
    raise SpcInvalid(
        f"rules must be nelson, western-electric or none, or a subset like nelson:1,2,5, not {name!r}"
    )


def evaluate(values: FloatArray, center: float, sigma: float, rules: RuleSet) -> tuple[Violation, ...]:
    """Every firing of the enabled rules over ``values``, ordered by index then rule.

    ``center`` and ``sigma`` are the center line and the σ of the plotted
    statistic (a third of the distance from center to UCL), in the values' unit.
    """
    if not sigma > 0:
        raise SpcError(f"zone sigma must be positive, not {sigma}")
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return ()
    z = (x - center) / sigma
    names: list[str] = []
    indexes: list[IntArray] = []
    points: list[tuple[int, ...]] = []
    for number, check in enumerate(_checks(rules), start=1):
        if number in rules.enabled:
            fired, involved = check(x, z)
            names += [f"{rules.family}-{number}"] * fired.size
            indexes.append(fired)
            points += involved
    if not names:
        return ()
    # Checks run rule by rule; one stable sort by index puts them in (index, rule) order.
    index = np.concatenate(indexes)
    order = np.argsort(index, kind="stable")
    at = index[order].tolist()
    ranked = order.tolist()
    return tuple(map(Violation, [names[k] for k in ranked], at, [points[k] for k in ranked]))


# A check takes the raw values and their z-scores and returns the indexes where the rule fires,
# ascending, with the points involved in each firing.
Firings = tuple[IntArray, list[tuple[int, ...]]]
Check = Callable[[FloatArray, FloatArray], Firings]


def _checks(rules: RuleSet) -> list[Check]:
    beyond_3: Check = partial(_zone, 3.0, 1, 1)
    if rules.family == "western-electric":
        return [
            beyond_3,
            partial(_zone, 2.0, 2, 3),
            partial(_zone, 1.0, 4, 5),
            partial(_same_side, rules.run_length),
        ]
    return [
        beyond_3,
        partial(_same_side, rules.run_length),
        partial(_trend, rules.trend_length),
        partial(_alternating, rules.alternating_length),
        partial(_zone, 2.0, 2, 3),
        partial(_zone, 1.0, 4, 5),
        partial(_all_within_1, rules.within_length),
        partial(_all_beyond_1, rules.beyond_length),
    ]


def _counts(mask: BoolArray, length: int) -> NDArray[np.signedinteger[Any]]:
    """How many of ``mask[i - length + 1 .. i]`` are true, for every ``i`` (shorter windows at the start)."""
    # int32 sums booleans several times faster than int64 and cannot overflow below 2^31 points.
    total: NDArray[np.signedinteger[Any]]
    if mask.size < 2**31:
        total = np.cumsum(mask, dtype=np.int32)
    else:
        total = np.cumsum(mask, dtype=np.int64)
    counted = total.copy()
    counted[length:] -= total[:-length]
    return counted


def _full(mask: BoolArray, length: int) -> IntArray:
    """Indexes ``i`` where all of ``mask[i - length + 1 .. i]`` are true."""
    return np.flatnonzero(_counts(mask, length) == length)


def _same_side(length: int, x: FloatArray, z: FloatArray) -> Firings:
    # A point on the center line is on neither side: it ends a run on either.
    return _window(np.union1d(_full(z > 0, length), _full(z < 0, length)), length)


def _all_within_1(length: int, x: FloatArray, z: FloatArray) -> Firings:
    return _window(_full(np.abs(z) < 1, length), length)


def _all_beyond_1(length: int, x: FloatArray, z: FloatArray) -> Firings:
    return _window(_full(np.abs(z) > 1, length), length)


def _trend(length: int, x: FloatArray, z: FloatArray) -> Firings:
    # A trend of L points is L − 1 steps the same way; step j (x[j + 1] − x[j]) ends at point j + 1.
    steps = np.diff(x)
    return _window(np.union1d(_full(steps > 0, length - 1), _full(steps < 0, length - 1)) + 1, length)


def _alternating(length: int, x: FloatArray, z: FloatArray) -> Firings:
    # L alternating points are L − 1 steps of alternating sign, i.e. L − 2 turns in a row; the turn
    # between steps j and j + 1 (a zero step is no turn) is seen at point j + 2.
    signs = np.sign(np.diff(x))
    turns = signs[:-1] * signs[1:] < 0
    return _window(_full(turns, length - 2) + 2, length)


def _window(fired: IntArray, length: int) -> Firings:
    return fired, [tuple(range(i - length + 1, i + 1)) for i in fired.tolist()]


def _zone(limit: float, k: int, m: int, x: FloatArray, z: FloatArray) -> Firings:
    """``k`` of ``m`` points beyond ``limit``σ on the same side, the firing point among them."""
    fired_parts: list[IntArray] = []
    involved: list[tuple[int, ...]] = []
    for beyond in (z > limit, z < -limit):
        fired = np.flatnonzero(beyond & (_counts(beyond, m) >= k))
        # The window of each firing, padded with m − 1 points that are not beyond before index 0.
        padded = np.concatenate((np.zeros(m - 1, dtype=bool), beyond))
        windows = sliding_window_view(padded, m)[fired].tolist()
        starts = (fired - (m - 1)).tolist()
        involved += [
            tuple(start + j for j, hit in enumerate(window) if hit)
            for start, window in zip(starts, windows, strict=True)
        ]
        fired_parts.append(fired)
    # A point is beyond on one side only, so sorting cannot split the two sides' firings apart.
    both = np.concatenate(fired_parts)
    order = np.argsort(both, kind="stable")
    return both[order], [involved[k] for k in order.tolist()]
