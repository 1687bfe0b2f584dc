"""Stored control limits: computed once from baseline lots (phase I), then used by the line (phase II).

The charted statistic is the mean over a segment of band (``segment_m``) of the
scans' lane means, in band order (an individuals chart of segment means): lanes
of one scan differ by the cross-web profile, not by chance, so using them as a
subgroup would make the limits far too tight; and single scans, a centimetre
apart, would give so many points that chance alone trips the run rules.
Limits belong to one recipe version, one equipment unit, one layer and one
characteristic; a new computation supersedes the active row and is audited.

A baseline must be fit to judge the line by. Limits from fewer than
``MIN_BASELINE_LOTS`` lots leave out most of the lot-to-lot variation (a new
roll, target erosion), and a baseline whose own points break the rules it is
to be judged by is not in control: either way the next lot raises alarms about
nothing. Both are refused with what was found, unless the engineer confirms
(``accept_few_lots``, ``accept_violations``); the confirmation is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlmodel import Session, col, select

from mes.audit.service import record
from mes.auth.models import Role
from mes.auth.service import get_user, require_role
from mes.equipment.models import EquipmentUnit
from mes.lots.models import Characteristic, GaugeScan, Layer, StepRun
from mes.lots.orders import get_lot
from mes.quality import spc
from mes.quality.errors import SpcError, SpcInvalid
from mes.quality.models import ControlLimit
from mes.quality.schemas import ControlLimitPublic, LimitsComputed
from mes.recipes.models import Recipe as RecipeRow
from mes.recipes.service import get_recipe

ROLES_LIMITS = (Role.ENGINEER, Role.QUALITY)
MIN_BASELINE_SEGMENTS = 20  # fewer points than this give limits too uncertain to act on
# Phase I wants 20-25 subgroups (Montgomery, Introduction to Statistical Quality Control, 8th ed., §6.4;
# the AIAG SPC manual, 2nd ed., asks for 25). Segments of one lot are neighbours on one roll: the
# variation between lots is sampled once per lot, so the lots are the subgroups that count here.
MIN_BASELINE_LOTS = 20
MAX_LISTED = 20  # violations listed in a refusal; the rest are counted
DEFAULT_SEGMENT_M = 0.5
MAX_SEGMENT_M = 100.0
RULES_MAX_CHARS = 32  # the stored column


@dataclass(frozen=True)
class BaselinePoint:
    """One charted point of a baseline: the mean of a complete segment of a lot."""

    lot: str
    segment: int
    mean: float


def segment_means(
    positions_m: NDArray[np.float64], means: NDArray[np.float64], segment_m: float
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Segment index ``floor(position / segment_m)`` and the mean of the scan means in it, in order."""
    keys = np.floor(positions_m / segment_m).astype(np.int64)
    segments, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=means)
    counts = np.bincount(inverse)
    return segments, sums / counts


def _baseline_means(
    session: Session,
    lot_numbers: list[str],
    recipe: RecipeRow,
    unit: EquipmentUnit,
    layer: str,
    name: str,
    segment_m: float,
) -> list[BaselinePoint]:
    points: list[BaselinePoint] = []
    for number in lot_numbers:
        lot = get_lot(session, number)
        if lot.recipe_id != recipe.id:
            raise SpcError(f"lot {number} was not made with {recipe.name}@{recipe.version}")
        row = session.exec(
            select(Characteristic, StepRun.equipment_unit_id)
            .join(Layer, col(Layer.id) == col(Characteristic.layer_id))
            .join(StepRun, col(StepRun.id) == col(Layer.step_run_id))
            .where(Layer.lot_id == lot.id, Layer.name == layer, Characteristic.name == name)
        ).first()
        if row is None:
            raise SpcError(f"lot {number} has no characteristic {layer}.{name}")
        char, unit_id = row
        if unit_id != unit.id:
            raise SpcError(f"lot {number} layer {layer} was not made on {unit.name}")
        rows = session.exec(
            # A scan with no finite lane has no mean (NULL): it measured nothing to chart.
            select(GaugeScan.position_m, GaugeScan.mean_value).where(
                GaugeScan.characteristic_id == char.id, col(GaugeScan.mean_value).is_not(None)
            )
        ).all()
        data = np.asarray(rows, dtype=np.float64).reshape(-1, 2)
        segments, values = segment_means(data[:, 0], data[:, 1], segment_m)
        # The last segment of a lot (segments come sorted) is usually cut short: it would not average
        # as many scans.
        complete = [
            BaselinePoint(number, int(k), float(v)) for k, v in zip(segments[:-1], values[:-1], strict=True)
        ]
        if not complete:
            # A lot named for the baseline must count: leaving it out would make the baseline look bigger.
            raise SpcError(
                f"lot {number} has no complete {segment_m:g} m segment of {layer}.{name} measured; "
                "leave it out of the baseline"
            )
        points += complete
    return points


def _describe(violation: spc.Violation, points: list[BaselinePoint], segment_m: float) -> str:
    """``nelson-2 (…) at lot L segment 12 (6–6.5 m)``, with the first point of the pattern if earlier."""

    def where(p: BaselinePoint) -> str:
        return (
            f"lot {p.lot} segment {p.segment} ({p.segment * segment_m:g}–{(p.segment + 1) * segment_m:g} m)"
        )

    at = points[violation.index]
    first = points[min(violation.points)]
    since = f", from {where(first)}" if first != at else ""
    return f"{violation.rule} ({spc.RULE_TEXT.get(violation.rule, '')}) at {where(at)}{since}"


def _baseline_problems(
    lots: list[str], points: list[BaselinePoint], chart: spc.ControlChart, segment_m: float
) -> tuple[str | None, list[str]]:
    """(why the lots are too few or None, each violation of the baseline's own limits)."""
    few = None
    if len(lots) < MIN_BASELINE_LOTS:
        few = (
            f"{len(lots)} lot{'s are' if len(lots) != 1 else ' is'} fewer than {MIN_BASELINE_LOTS} "
            "(phase I wants 20–25 subgroups, and the segments of one lot show little of the variation "
            "between lots)"
        )
    return few, [_describe(v, points, segment_m) for v in chart.violations]


def compute_limits(
    session: Session,
    *,
    recipe_ref: str,
    unit: str,
    layer_name: str,
    characteristic: str,
    lot_numbers: list[str],
    by: str,
    reason: str,
    rules: str = "nelson",
    run_length: int = 9,
    segment_m: float = DEFAULT_SEGMENT_M,
    accept_few_lots: bool = False,
    accept_violations: bool = False,
) -> LimitsComputed:
    """Phase I individuals limits (center ± 3·MR̄/d2, MR̄/d2(2) = 1.128; Montgomery §6.4) of segment
    means of baseline lots, in the lots' order; stored and audited.

    Refused (:class:`SpcError` listing what was found) when the baseline has fewer
    than ``MIN_BASELINE_LOTS`` lots, unless ``accept_few_lots``, and when its own
    points break ``rules`` against the limits computed from them, unless
    ``accept_violations``. What was accepted is recorded in the audit event.
    """
    if not reason.strip():
        raise SpcInvalid("a reason is required to set control limits")
    if spc.rule_set(rules, run_length) is None or len(rules) > RULES_MAX_CHARS:
        raise SpcInvalid(f"rules {rules!r}: give nelson, western-electric or a subset such as nelson:1,2,3,5")
    if not 0 < segment_m <= MAX_SEGMENT_M:
        raise SpcInvalid(
            f"segment length must be more than 0 and at most {MAX_SEGMENT_M:g} m, not {segment_m:g}"
        )
    if not lot_numbers:
        raise SpcInvalid("name at least one baseline lot")
    twice = sorted({n for n in lot_numbers if lot_numbers.count(n) > 1})
    if twice:
        raise SpcInvalid(f"lot {', '.join(twice)} is named twice: each baseline lot counts once")
    user = get_user(session, by)
    require_role(user, ROLES_LIMITS, "set control limits")
    recipe = get_recipe(session, recipe_ref, version_required=True)
    unit_row = session.exec(select(EquipmentUnit).where(EquipmentUnit.name == unit)).first()
    if unit_row is None:
        raise SpcError(f"no equipment unit {unit!r}")
    points = _baseline_means(session, lot_numbers, recipe, unit_row, layer_name, characteristic, segment_m)
    what = f"{layer_name}.{characteristic}"
    size = (
        f"{len(lot_numbers)} lot{'s' if len(lot_numbers) != 1 else ''}, "
        f"{len(points)} complete {segment_m:g} m segments"
    )
    if len(points) < MIN_BASELINE_SEGMENTS:
        raise SpcError(
            f"the baseline of {what} has {size}; phase I needs at least {MIN_BASELINE_SEGMENTS} segments"
        )
    chart = spc.imr(
        np.asarray([p.mean for p in points], dtype=np.float64), rules=rules, run_length=run_length
    )
    few, violations = _baseline_problems(lot_numbers, points, chart, segment_m)
    refusals = []
    if few and not accept_few_lots:
        refusals.append(f"- {few}: add lots, or confirm with --accept-few-lots")
    if violations and not accept_violations:
        listed = [f"    {v}" for v in violations[:MAX_LISTED]]
        if len(violations) > MAX_LISTED:
            listed.append(f"    … and {len(violations) - MAX_LISTED} more")
        refusals += [
            f"- its own points break the {rules} rules against the limits computed from them (center "
            f"{chart.center:.6g}, LCL {chart.lcl:.6g}, UCL {chart.ucl:.6g}): {len(violations)} violation(s)",
            *listed,
            "  find and remove the cause (or the lot) and compute again, or confirm with --accept-violations",
        ]
    if refusals:
        raise SpcError("\n".join([f"baseline of {what} refused ({size}):", *refusals]))
    accepted = ((f"few lots: {few}",) if few else ()) + tuple(f"baseline violation: {v}" for v in violations)
    assert recipe.id is not None and unit_row.id is not None  # noqa: S101 - stored rows
    old = active_limits(session, recipe.id, unit_row.id, layer_name, characteristic)
    if old is not None:  # the partial unique index allows one active set
        old.active = False
        session.add(old)
        session.flush()
    source = f"phase I from lots {', '.join(lot_numbers)}"
    if accepted:
        source += f"; accepted by {user.name}: {'few lots, ' if few else ''}{len(violations)} violation(s)"
    row = ControlLimit(
        recipe_id=recipe.id,
        equipment_unit_id=unit_row.id,
        layer_name=layer_name,
        characteristic=characteristic,
        chart="imr",
        segment_m=segment_m,
        center=chart.center,
        ucl=chart.ucl,
        lcl=chart.lcl,
        sigma=chart.sigma,
        rules=rules,
        run_length=run_length,
        n_baseline=len(points),
        source=source[:500],
        created_by=user.name,
    )
    session.add(row)
    session.flush()
    after = {**_limit_view(row, recipe, unit), "baseline_lots": len(lot_numbers)}
    if accepted:
        after["accepted"] = list(accepted)
    record(
        session,
        actor=user.name,
        action="spc.limits",
        entity_type="control_limit",
        entity_id=f"{recipe.name}@{recipe.version}/{unit}/{what}",
        after=after,
        reason=reason,
    )
    return LimitsComputed(
        limit=limit_public(row, f"{recipe.name}@{recipe.version}", unit),
        baseline_violations=len({v.index for v in chart.violations}),
        lots=len(lot_numbers),
        segments=len(points),
        accepted=list(accepted),
    )


def _limit_view(row: ControlLimit, recipe: RecipeRow, unit: str) -> dict[str, Any]:
    return {
        "recipe": f"{recipe.name}@{recipe.version}",
        "unit": unit,
        "layer": row.layer_name,
        "characteristic": row.characteristic,
        "chart": row.chart,
        "segment_m": row.segment_m,
        "center": row.center,
        "ucl": row.ucl,
        "lcl": row.lcl,
        "sigma": row.sigma,
        "rules": row.rules,
        "run_length": row.run_length,
        "n_baseline": row.n_baseline,
        "source": row.source,
        "created_by": row.created_by,
    }


def limit_public(row: ControlLimit, recipe: str, unit: str) -> ControlLimitPublic:
    return ControlLimitPublic(
        recipe=recipe,
        unit=unit,
        layer=row.layer_name,
        characteristic=row.characteristic,
        chart=row.chart,
        segment_m=row.segment_m,
        center=row.center,
        ucl=row.ucl,
        lcl=row.lcl,
        sigma=row.sigma,
        rules=row.rules,
        run_length=row.run_length,
        n_baseline=row.n_baseline,
        source=row.source,
        active=row.active,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def list_limits(session: Session) -> list[ControlLimitPublic]:
    """The active limits, by recipe, unit and layer."""
    rows = session.exec(
        select(ControlLimit, RecipeRow, EquipmentUnit)
        .join(RecipeRow, col(RecipeRow.id) == col(ControlLimit.recipe_id))
        .join(EquipmentUnit, col(EquipmentUnit.id) == col(ControlLimit.equipment_unit_id))
        .where(col(ControlLimit.active))
        .order_by(col(RecipeRow.name), col(EquipmentUnit.name), col(ControlLimit.layer_name))
    ).all()
    return [limit_public(c, f"{r.name}@{r.version}", u.name) for c, r, u in rows]


def active_limits(
    session: Session, recipe_id: int, unit_id: int, layer_name: str, characteristic: str
) -> ControlLimit | None:
    """The limits the line checks against now."""
    return limits_at(session, recipe_id, unit_id, layer_name, characteristic, None)


def limits_at(
    session: Session, recipe_id: int, unit_id: int, layer_name: str, characteristic: str, at: datetime | None
) -> ControlLimit | None:
    """The limits that were in force at ``at`` (the newest set no later than it); the active ones if None."""
    query = select(ControlLimit).where(
        ControlLimit.recipe_id == recipe_id,
        ControlLimit.equipment_unit_id == unit_id,
        ControlLimit.layer_name == layer_name,
        ControlLimit.characteristic == characteristic,
    )
    if at is None:
        return session.exec(query.where(col(ControlLimit.active))).first()
    query = query.where(col(ControlLimit.created_at) <= at)
    return session.exec(
        query.order_by(col(ControlLimit.created_at).desc(), col(ControlLimit.id).desc())
    ).first()
