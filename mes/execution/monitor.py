"""Evaluate the stored SPC rules as gauge scans arrive; a violation raises an alarm.

The charted point is the mean of a segment of band (``ControlLimit.segment_m``,
e.g. 0.5 m), not a single scan: a gauge scanning every centimetre gives
thousands of points a lot, and eight Nelson rules over raw scans would alarm on
chance alone several times a lot. A segment is charted once a scan beyond it has
arrived, together with the segments before it, so a run that straddles two
batches is still seen.

Called from ``ingest`` for every batch, by the collector (live) and by the
step's completion (the rest). Evaluating a batch twice raises nothing new: one
alarm is open per characteristic and rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sqlmodel import Session, col, select

from mes.execution.scheduler import StepPlan
from mes.lots.models import Characteristic, GaugeScan, Layer, Lot
from mes.quality import spc
from mes.quality.alarms import raise_alarm
from mes.quality.errors import SpcError
from mes.quality.limits import active_limits, segment_means
from mes.quality.models import AlarmPriority

# Segments before the new ones that a rule can reach back to (Nelson 7 looks at 15).
LOOKBACK = 15
_BEYOND_3_SIGMA = {"nelson-1", "western-electric-1"}


def check_rules(
    session: Session,
    plan: StepPlan,
    layer: Layer,
    char: Characteristic,
    scans: Sequence[tuple[int, float, Sequence[float]]],
    *,
    final: bool = False,
) -> int:
    """Rules over the segments that new ``scans`` (seq, position_m, lane values) complete; returns alarms.

    ``final``: the layer is made, so its last segment is complete too, even when
    no new scan came with this call.
    """
    lot = session.get(Lot, plan.lot_id)
    if lot is None or lot.recipe_id is None or not (scans or final):
        return 0
    limits = active_limits(session, lot.recipe_id, plan.unit_id, layer.name, char.name)
    if limits is None:
        return 0  # no baseline yet: spec limits still apply, SPC has nothing to compare with
    seg = limits.segment_m
    last_before = select(GaugeScan.position_m).where(GaugeScan.characteristic_id == char.id)
    if scans:
        last_before = last_before.where(col(GaugeScan.seq) < min(s[0] for s in scans))
    before = session.exec(last_before.order_by(col(GaugeScan.seq).desc()).limit(1)).first()
    if not scans and before is None:
        return 0
    # The segment of the last scan stored before these was still open then: it is new now.
    start_at = before if before is not None else min(s[1] for s in scans)
    end_at = max(s[1] for s in scans) if scans else start_at
    first_new = math.floor(start_at / seg)
    complete_below = math.floor(end_at / seg) + (1 if final else 0)  # the last one may still grow
    if complete_below <= first_new:
        return 0
    # One segment of slack each side in SQL; numpy's floor decides which segment a scan is in.
    rows = session.exec(
        select(GaugeScan.position_m, GaugeScan.mean_value).where(
            GaugeScan.characteristic_id == char.id,
            col(GaugeScan.position_m) >= (first_new - LOOKBACK - 1) * seg,
            col(GaugeScan.position_m) < (complete_below + 1) * seg,
            # NULL for a scan with no finite lane: nothing measured, nothing to chart (never a NaN mean).
            col(GaugeScan.mean_value).is_not(None),
        )
    ).all()
    if not rows:
        return 0
    data = np.asarray(rows, dtype=np.float64)
    segments, values = segment_means(data[:, 0], data[:, 1], seg)
    keep = (segments >= first_new - LOOKBACK) & (segments < complete_below)
    segments, values = segments[keep], values[keep]
    if values.size < 1:
        return 0
    try:
        fixed = spc.ControlLimits(center=limits.center, ucl=limits.ucl, lcl=limits.lcl, sigma=limits.sigma)
        chart = spc.imr(values, limits=fixed, rules=limits.rules, run_length=limits.run_length)
    except SpcError as exc:
        # Broken stored limits must not stop the scans being stored: say so, once, and go on.
        raise_alarm(
            session,
            f"char:{char.id}:spc:limits",
            f"{plan.lot_number} {layer.name} {char.name}: stored control limits {limits.id} unusable: {exc}",
            priority=AlarmPriority.LOW,
            lot_id=plan.lot_id,
            unit_id=plan.unit_id,
            characteristic_id=char.id,
        )
        return 0
    first: dict[str, int] = {}
    for v in chart.violations:
        if segments[v.index] >= first_new and v.rule not in first:
            first[v.rule] = v.index
    for rule, index in sorted(first.items(), key=lambda kv: kv[1]):
        start_m, end_m = segments[index] * seg, (segments[index] + 1) * seg
        raise_alarm(
            session,
            f"char:{char.id}:spc:{rule}",
            f"{plan.lot_number} {layer.name} {char.name}: {rule} ({spc.RULE_TEXT[rule]}) at "
            f"{start_m:.2f}–{end_m:.2f} m, mean {values[index]:.4g} {char.unit} "
            f"(center {limits.center:.4g}, limits {limits.lcl:.4g}–{limits.ucl:.4g})",
            priority=AlarmPriority.HIGH if rule in _BEYOND_3_SIGMA else AlarmPriority.MEDIUM,
            lot_id=plan.lot_id,
            unit_id=plan.unit_id,
            characteristic_id=char.id,
            position_m=float(end_m),
        )
    return len(first)
