"""The quality report of one lot: what a customer or an auditor asks for (:class:`LotReport`).

Layers with their statistics, capability, web profile and down-web segments, the control limits
they were watched with, out-of-spec intervals, alarms with their journal, every signed disposition
from the audit trail, and genealogy both ways. :mod:`mes.quality.report_csv` prints it as tables.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sqlmodel import Session, col, or_, select

from mes.audit.models import AuditEvent
from mes.audit.service import event_public
from mes.lots.models import Characteristic, Layer, Lot
from mes.lots.orders import get_lot
from mes.lots.schemas import CharacteristicDetail
from mes.lots.trace import backward, forward
from mes.quality import capability as cap
from mes.quality.alarm_views import alarm_details
from mes.quality.errors import SpcError
from mes.quality.limits import DEFAULT_SEGMENT_M, limit_public, segment_means
from mes.quality.lot_capability import capability_of, complete_scans, limits_in_force
from mes.quality.lot_view import lot_view
from mes.quality.models import Alarm
from mes.quality.schemas import (
    CharacteristicQuality,
    CrossWebRange,
    Genealogy,
    LaneLimits,
    LayerQuality,
    LotReport,
    Segment,
    Unavailable,
    WebProfilePublic,
)
from mes.recipes.models import Recipe as RecipeRow


def segments(positions_m: NDArray[np.float64], grid: NDArray[np.float64], segment_m: float) -> list[Segment]:
    """The scans of each ``segment_m`` of band: count, mean of every lane value, min and max."""
    keys, means = segment_means(positions_m, grid.mean(axis=1), segment_m)
    index = np.floor(positions_m / segment_m).astype(np.int64)
    out = []
    for key, mean in zip(keys.tolist(), means.tolist(), strict=True):
        inside = grid[index == key]
        out.append(
            Segment(
                start_m=key * segment_m,
                end_m=(key + 1) * segment_m,
                scans=int(inside.shape[0]),
                mean=float(mean),
                min=float(inside.min()),
                max=float(inside.max()),
            )
        )
    return out


def characteristic_quality(
    session: Session, char: Characteristic, view: CharacteristicDetail, segment_m: float = DEFAULT_SEGMENT_M
) -> CharacteristicQuality:
    """Capability, web profile and down-web segments of every lane value of a characteristic.

    Capability takes each scan as a subgroup of its lanes (within σ from the cross-web spread)
    against the whole layer (overall σ). The web profile gives the mean of each lane, the
    cross-web range of the scans and each lane's down-web I-MR limits. Segments are ``segment_m``
    of band (the control limits' segment when the layer had limits).
    """
    scans = complete_scans(session, char)
    base = {**view.model_dump(), "scans_left_out": scans.left_out, "segment_m": segment_m}
    if scans.problem is not None:
        missing = Unavailable(error=scans.problem)
        return CharacteristicQuality(
            **base, capability=missing, web_profile=missing, segments=[], control_limits=None
        )
    grid, positions = scans.grid, scans.positions
    capability = capability_of(grid, char)
    profile: WebProfilePublic | Unavailable
    try:
        found = cap.web_profile(grid, positions.tolist(), rules=None)
        profile = WebProfilePublic(
            lane_means=found.lane_means.tolist(),
            cross_web_range=CrossWebRange(
                mean=float(found.spread.mean()),
                max=float(found.spread.max()),
                at_m=float(found.positions[int(found.spread.argmax())]),
            ),
            down_web=[LaneLimits(center=c.center, ucl=c.ucl, lcl=c.lcl) for c in found.lane_charts],
        )
    except SpcError as exc:
        profile = Unavailable(error=str(exc))
    return CharacteristicQuality(
        **base,
        capability=capability,
        web_profile=profile,
        segments=segments(positions, grid, segment_m),
        control_limits=None,
    )


def report_of(session: Session, number: str) -> LotReport:
    """:func:`lot_report` of lot ``number``. Raises :class:`LotNotFound`."""
    return lot_report(session, get_lot(session, number))


def lot_report(session: Session, lot: Lot) -> LotReport:
    """Everything quality knows about ``lot``."""
    detail = lot_view(session, lot)
    recipe = session.get(RecipeRow, lot.recipe_id) if lot.recipe_id is not None else None
    layers = []
    rows = session.exec(select(Layer).where(Layer.lot_id == lot.id).order_by(col(Layer.layer_index))).all()
    for layer, layer_view in zip(rows, detail.layers, strict=True):  # both in layer order
        chars = []
        char_rows = session.exec(
            select(Characteristic).where(Characteristic.layer_id == layer.id).order_by(col(Characteristic.id))
        ).all()
        for char, view in zip(char_rows, layer_view.characteristics, strict=True):
            limits = limits_in_force(session, lot, layer, char)
            quality = characteristic_quality(
                session, char, view, limits.segment_m if limits is not None else DEFAULT_SEGMENT_M
            )
            if limits is not None and recipe is not None and layer_view.unit is not None:
                public = limit_public(limits, f"{recipe.name}@{recipe.version}", layer_view.unit)
                quality = quality.model_copy(update={"control_limits": public})
            chars.append(quality)
        layers.append(LayerQuality(**{**layer_view.model_dump(), "characteristics": chars}))
    alarms = session.exec(select(Alarm).where(Alarm.lot_id == lot.id).order_by(col(Alarm.id))).all()
    dispositions = session.exec(
        select(AuditEvent)
        .where(
            or_(
                (col(AuditEvent.entity_type) == "lot") & (col(AuditEvent.entity_id) == lot.number),
                (col(AuditEvent.entity_type) == "oos_interval")
                & col(AuditEvent.entity_id).startswith(f"{lot.number}#", autoescape=True),
            )
        )
        .order_by(col(AuditEvent.id))
    ).all()
    assert lot.id is not None  # noqa: S101 - a stored lot
    return LotReport(
        **{**detail.model_dump(), "layers": layers},
        alarms=alarm_details(session, alarms),
        dispositions=[event_public(e) for e in dispositions],
        genealogy=Genealogy(backward=backward(session, lot.id), forward=forward(session, lot.id)),
    )
