"""Specification checks of gauge scans: statistics, out-of-spec intervals, disposition.

An excursion is any scan with a lane outside [LSL, USL]. Excursions closer than
``MERGE_GAP_M`` (or ``MERGE_PITCHES`` sampling pitches, if longer) join one
interval ``[start_m, end_m]`` along the band. Applying the same scans twice
changes nothing, so the collector (live) and the step's close (complete) can
both feed the same intervals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from mes.audit.service import record
from mes.base import utcnow
from mes.lots.models import (
    Characteristic,
    Disposition,
    GaugeScan,
    IntervalStatus,
    Layer,
    LayerResult,
    Lot,
    LotStatus,
    OosInterval,
)
from mes.quality.alarms import clear_conditions

MERGE_PITCHES = 3
# Excursions this close along the band are one interval: a slitter cuts out a
# stretch, not every centimetre that flickered over a limit.
MERGE_GAP_M = 0.5


@dataclass(frozen=True)
class Excursion:
    position_m: float
    worst: float
    kind: str  # "lsl" or "usl"
    limit: float


def excursions(scans: Iterable[tuple[float, Sequence[float]]], lsl: float, usl: float) -> list[Excursion]:
    """The scans ``(position_m, lane values)`` with a lane outside the limits, worst lane each."""
    found = []
    for position, values in scans:
        low, high = min(values), max(values)
        if high > usl and high - usl >= lsl - low:
            found.append(Excursion(position, high, "usl", usl))
        elif low < lsl:
            found.append(Excursion(position, low, "lsl", lsl))
    return found


_STATUS_FOR = {
    Disposition.HOLD_LOT: IntervalStatus.HELD,
    Disposition.HOLD_INTERVAL: IntervalStatus.HELD,
    Disposition.FLAG_ONLY: IntervalStatus.FLAGGED,
    Disposition.SCRAP: IntervalStatus.SCRAPPED,
}


def merge_excursions(session: Session, char: Characteristic, layer: Layer, found: Sequence[Excursion]) -> int:
    """Fold excursions into the characteristic's intervals; returns how many intervals are new."""
    if not found:
        return 0
    assert char.id is not None  # noqa: S101 - a stored characteristic
    gap = max(MERGE_PITCHES * char.pitch_m, MERGE_GAP_M)
    intervals = list(session.exec(select(OosInterval).where(OosInterval.characteristic_id == char.id)).all())
    created = 0
    for exc in sorted(found, key=lambda e: e.position_m):
        near = [
            i
            for i in intervals
            if i.limit_kind == exc.kind and i.start_m - gap <= exc.position_m <= i.end_m + gap
        ]
        hit = near[0] if near else None
        if hit is None:
            hit = OosInterval(
                lot_id=layer.lot_id,
                layer_id=char.layer_id,
                characteristic_id=char.id,
                start_m=exc.position_m,
                end_m=exc.position_m,
                worst_value=exc.worst,
                limit_value=exc.limit,
                limit_kind=exc.kind,
                disposition=layer.disposition_policy,
            )
            intervals.append(hit)
            created += 1
        else:
            hit.start_m, hit.end_m = min(hit.start_m, exc.position_m), max(hit.end_m, exc.position_m)
            worse = exc.worst > hit.worst_value if exc.kind == "usl" else exc.worst < hit.worst_value
            hit.worst_value = exc.worst if worse else hit.worst_value
        session.add(hit)
    session.flush()
    return created


def band_extent(interval: OosInterval, pitch_m: float, lot_length_m: float) -> tuple[float, float]:
    """The metres ``[start, end)`` an interval takes on the band: its last scan stands for one pitch.

    ``end_m`` is the position of the last bad scan, and a lone excursion has
    ``start_m == end_m``; the band it stands for runs one sampling pitch further.
    """
    end = min(interval.end_m + pitch_m, lot_length_m)
    return min(interval.start_m, max(0.0, end - pitch_m)), end


@dataclass(frozen=True)
class Stats:
    n: int
    minimum: float
    mean: float
    maximum: float
    stddev: float


def lane_statistics(lane_rows: Iterable[Sequence[float]]) -> Stats | None:
    n, total, total_sq = 0, 0.0, 0.0
    low, high = math.inf, -math.inf
    for values in lane_rows:
        for v in values:
            n += 1
            total += v
            total_sq += v * v
            low, high = min(low, v), max(high, v)
    if n == 0:
        return None
    mean = total / n
    variance = max(0.0, (total_sq - n * mean * mean) / (n - 1)) if n > 1 else 0.0
    return Stats(n, low, mean, high, math.sqrt(variance))


def close_layer(session: Session, layer: Layer) -> LayerResult:
    """Statistics and result of every characteristic; apply the recipe's disposition to the lot."""
    chars = session.exec(select(Characteristic).where(Characteristic.layer_id == layer.id)).all()
    any_out = False
    for char in chars:
        lanes = session.exec(
            select(GaugeScan.lane_values)
            .where(GaugeScan.characteristic_id == char.id)
            .order_by(col(GaugeScan.seq))
        ).all()
        stats = lane_statistics(lanes)
        if stats is not None:
            char.n_values, char.min_value, char.mean_value = stats.n, stats.minimum, stats.mean
            char.max_value, char.stddev_value = stats.maximum, stats.stddev
        intervals = session.exec(select(OosInterval).where(OosInterval.characteristic_id == char.id)).all()
        char.result = LayerResult.OUT_OF_SPEC if intervals else LayerResult.IN_SPEC
        if stats is None:
            char.result = LayerResult.PENDING  # nothing measured is not "in spec"
        for interval in intervals:
            if interval.status == IntervalStatus.OPEN:
                interval.status = _STATUS_FOR[interval.disposition]
                interval.closed_at = utcnow()
                session.add(interval)
        any_out = any_out or bool(intervals)
        session.add(char)
    # The layer is made: its live conditions end; what stays is the interval and the disposition.
    clear_conditions(session, [f"char:{c.id}:" for c in chars])
    layer.result = LayerResult.OUT_OF_SPEC if any_out else LayerResult.IN_SPEC
    layer.closed_at = utcnow()
    session.add(layer)
    if any_out and layer.disposition_policy == Disposition.HOLD_LOT:
        lot = session.get(Lot, layer.lot_id)
        if lot is not None and lot.status not in (LotStatus.REJECTED, LotStatus.ON_HOLD):
            before = lot.status.value
            lot.status, lot.updated_at = LotStatus.ON_HOLD, utcnow()
            session.add(lot)
            session.flush()
            # Not a signature, but the release that must follow will be: the trail shows both.
            record(
                session,
                actor="system",
                action="lot.hold",
                entity_type="lot",
                entity_id=lot.number,
                before={"status": before},
                after={"status": lot.status.value, "layer": layer.name},
                reason=f"layer {layer.name} out of spec; recipe disposition {layer.disposition_policy}",
            )
    session.flush()
    return layer.result
