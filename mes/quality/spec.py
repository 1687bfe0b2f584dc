"""Specification checks of gauge scans: statistics, out-of-spec and unmeasured intervals, disposition.

Only finite lane values are measurements: NaN and ±Inf are missing values,
left out of excursions and statistics and counted by coverage (``coverage.py``),
whose unmeasured stretches become intervals of their own kind at the close.

An excursion is any scan with a finite lane outside [LSL, USL]. Excursions closer than
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
from mes.lots.genealogy import band_extent as band_extent  # re-exported: disposition's callers
from mes.lots.models import (
    Characteristic,
    Disposition,
    GaugeScan,
    IntervalKind,
    IntervalStatus,
    Layer,
    LayerResult,
    Lot,
    LotStatus,
    OosInterval,
)
from mes.lots.scans import finite_values
from mes.quality.alarms import clear_conditions, raise_alarm
from mes.quality.coverage import Coverage, coverage, scan_measures
from mes.quality.models import AlarmPriority

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
    """The scans ``(position_m, lane values)`` with a finite lane outside [lsl, usl], worst lane each.

    Values are in the characteristic's unit. NaN and ±Inf lanes are missing
    measurements (see ``coverage.py``), never excursions and never hiding one;
    a scan with no finite lane, or at a position that is not a number, has none.
    """
    found = []
    for position, values in scans:
        lanes = finite_values(values)
        if not lanes or not math.isfinite(position):
            continue
        low, high = min(lanes), max(lanes)
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
    intervals = list(
        session.exec(
            select(OosInterval).where(
                OosInterval.characteristic_id == char.id, OosInterval.kind == IntervalKind.OUT_OF_SPEC
            )
        ).all()
    )
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
            old = hit.worst_value if hit.worst_value is not None else exc.worst
            worse = exc.worst > old if exc.kind == "usl" else exc.worst < old
            hit.worst_value = exc.worst if worse else old
        session.add(hit)
    session.flush()
    return created


@dataclass(frozen=True)
class Stats:
    n: int
    minimum: float
    mean: float
    maximum: float
    stddev: float


def lane_statistics(lane_rows: Iterable[Sequence[float]]) -> Stats | None:
    """n, min, mean, max and sample standard deviation of the finite lane values; None if there are none.

    NaN and ±Inf lanes are left out (they are unmeasured, counted by coverage),
    so no statistic is ever NaN. Welford's update keeps the deviation exact when
    the values are large and close together (nm thicknesses).
    """
    n, mean, m2 = 0, 0.0, 0.0
    low, high = math.inf, -math.inf
    for values in lane_rows:
        for v in finite_values(values):
            n += 1
            delta = v - mean
            mean += delta / n
            m2 += delta * (v - mean)
            low, high = min(low, v), max(high, v)
    if n == 0:
        return None
    variance = m2 / (n - 1) if n > 1 else 0.0
    return Stats(n, low, mean, high, math.sqrt(max(0.0, variance)))


def close_layer(session: Session, layer: Layer) -> LayerResult:
    """Judge each characteristic of a made layer, apply the recipe's disposition; returns the layer's result.

    Per characteristic: statistics over the finite lane values; coverage of the
    lot's length from the stored scans (``coverage.py``), each unmeasured stretch
    an ``unmeasured`` interval with an alarm naming lot, layer, characteristic and
    metres; the result ``incomplete`` when coverage is short of the recipe's
    ``min_coverage_pct``, else ``out_of_spec`` with any out-of-spec interval, else
    ``in_spec``. Open intervals of both kinds take the disposition's status. The
    lot is held when a characteristic is ``incomplete`` (whatever the disposition:
    unjudged metres wait for a person) and when the layer is out of spec under
    ``hold_lot``; under ``hold_interval`` an out-of-spec lot goes on with its bad
    metres held. Running it again changes nothing.
    """
    lot = session.get(Lot, layer.lot_id)
    assert lot is not None  # noqa: S101 - a layer belongs to a lot
    chars = session.exec(select(Characteristic).where(Characteristic.layer_id == layer.id)).all()
    results: list[LayerResult] = []
    unmeasured: list[tuple[Characteristic, Coverage]] = []
    nothing_measured = False
    for char in chars:
        rows = session.exec(
            select(GaugeScan.position_m, GaugeScan.lane_values)
            .where(GaugeScan.characteristic_id == char.id)
            .order_by(col(GaugeScan.seq))
        ).all()
        stats = lane_statistics(lanes for _, lanes in rows)
        char.n_values = stats.n if stats else 0
        char.min_value, char.mean_value = (stats.minimum, stats.mean) if stats else (None, None)
        char.max_value, char.stddev_value = (stats.maximum, stats.stddev) if stats else (None, None)
        cover = coverage(
            (pos for pos, lanes in rows if scan_measures(lanes, char.lanes)),
            char.pitch_m,
            lot.length_m,
            char.max_gap_pitches,
        )
        char.measured_m = cover.measured_m
        if cover.unmeasured:
            _record_unmeasured(session, layer, char, cover)
            unmeasured.append((char, cover))
        intervals = session.exec(select(OosInterval).where(OosInterval.characteristic_id == char.id)).all()
        if not cover.meets(char.min_coverage_pct):
            char.result = LayerResult.INCOMPLETE  # metres nobody measured cannot be in spec
        elif any(i.kind == IntervalKind.OUT_OF_SPEC for i in intervals):
            char.result = LayerResult.OUT_OF_SPEC
        else:
            char.result = LayerResult.IN_SPEC
        nothing_measured = nothing_measured or cover.measured_m <= 0
        for interval in intervals:
            if interval.status == IntervalStatus.OPEN:
                interval.status = _STATUS_FOR[interval.disposition]
                interval.closed_at = utcnow()
                session.add(interval)
        results.append(char.result)
        session.add(char)
    # The layer is made: its live conditions end; what stays is the interval and the disposition.
    clear_conditions(session, [f"char:{c.id}:" for c in chars])
    for char, cover in unmeasured:
        _raise_unmeasured(session, lot, layer, char, cover)
    layer.result = next(
        (r for r in (LayerResult.INCOMPLETE, LayerResult.OUT_OF_SPEC) if r in results), LayerResult.IN_SPEC
    )
    layer.closed_at = utcnow()
    session.add(layer)
    if layer.result == LayerResult.INCOMPLETE:
        # Metres nobody measured are not judged at all: the lot waits for a person, whatever the
        # disposition (which still decides what happens to the unmeasured metres themselves).
        why = "measured nothing" if nothing_measured else "did not measure enough of the roll"
        hold_lot(session, lot, f"layer {layer.name} {why}; held whatever the disposition", layer=layer.name)
    elif layer.disposition_policy == Disposition.HOLD_LOT and (
        layer.result == LayerResult.OUT_OF_SPEC or unmeasured
    ):
        # Unmeasured metres within the coverage requirement still follow the disposition: under
        # hold_lot the lot waits, as it would for an out-of-spec stretch.
        what = "out of spec" if layer.result == LayerResult.OUT_OF_SPEC else "has unmeasured metres"
        hold_lot(
            session,
            lot,
            f"layer {layer.name} {what}; recipe disposition {layer.disposition_policy}",
            layer=layer.name,
        )
    session.flush()
    return layer.result


def hold_lot(session: Session, lot: Lot, reason: str, **after: str) -> None:
    """Put ``lot`` on hold (unless rejected or already held) with an audit event by ``system``."""
    if lot.status in (LotStatus.REJECTED, LotStatus.ON_HOLD):
        return
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
        after={"status": lot.status.value, **after},
        reason=reason,
    )


def _record_unmeasured(session: Session, layer: Layer, char: Characteristic, cover: Coverage) -> None:
    assert char.id is not None  # noqa: S101 - a stored characteristic
    known = {
        (round(i.start_m, 6), round(i.end_m, 6))
        for i in session.exec(
            select(OosInterval).where(
                OosInterval.characteristic_id == char.id, OosInterval.kind == IntervalKind.UNMEASURED
            )
        ).all()
    }
    for start, end in cover.unmeasured:
        if (round(start, 6), round(end, 6)) in known:
            continue
        session.add(
            OosInterval(
                lot_id=layer.lot_id,
                layer_id=char.layer_id,
                characteristic_id=char.id,
                kind=IntervalKind.UNMEASURED,
                start_m=start,
                end_m=end,
                limit_kind="none",
                disposition=layer.disposition_policy,
            )
        )
    session.flush()


def _raise_unmeasured(
    session: Session, lot: Lot, layer: Layer, char: Characteristic, cover: Coverage
) -> None:
    stretches = ", ".join(f"{a:.2f}–{b:.2f} m" for a, b in cover.unmeasured[:5])
    more = f" and {len(cover.unmeasured) - 5} more" if len(cover.unmeasured) > 5 else ""
    raise_alarm(
        session,
        f"coverage:{char.id}",
        f"{lot.number} {layer.name} {char.name} unmeasured at {stretches}{more}: measured "
        f"{cover.measured_m:.2f} of {cover.length_m:g} m ({cover.pct:.1f} %, recipe requires "
        f"{char.min_coverage_pct:g} %)",
        priority=AlarmPriority.HIGH,
        lot_id=lot.id,
        characteristic_id=char.id,
        position_m=cover.unmeasured[0][0],
    )


def unjudged_layers(session: Session, lot: Lot) -> list[str]:
    """Names of ``lot``'s layers that were not judged in full: result ``pending`` or ``incomplete``.

    Such a lot is never released automatically (``finish_lot`` holds it): the metres
    a gauge did not measure cannot be in spec, whatever the disposition.
    """
    layers = session.exec(
        select(Layer.name).where(
            Layer.lot_id == lot.id, col(Layer.result).in_((LayerResult.PENDING, LayerResult.INCOMPLETE))
        )
    ).all()
    return sorted(layers)
