"""The quality report of one lot: what a customer or an auditor asks for, in JSON or CSV.

Layers with their statistics and capability, the control limits they were
watched with, out-of-spec intervals, alarms with their journal, every signed
disposition from the audit trail, and genealogy both ways. CSV is the same
content flattened to ``section,item,field,value`` rows, so that a spreadsheet
or a script can read any part of it without knowing the nesting.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

import numpy as np
from sqlmodel import Session, col, or_, select

from mes.audit.models import AuditEvent
from mes.lots.models import Characteristic, GaugeScan, Layer, Lot, StepRun
from mes.lots.report import lot_detail
from mes.lots.trace import backward, forward
from mes.quality import capability as cap
from mes.quality import spc
from mes.quality.alarms import journal
from mes.quality.coverage import scan_measures
from mes.quality.errors import SpcError
from mes.quality.limits import limits_at
from mes.quality.models import Alarm


def characteristic_quality(session: Session, char: Characteristic) -> dict[str, Any]:
    """Capability and the cross-web × down-web view of every lane value of a characteristic.

    Capability takes each scan as a subgroup of its lanes (within σ from the
    cross-web spread) against the whole layer (overall σ). The web profile gives
    the mean of each lane (the cross-web profile), the cross-web range of the
    scans, and each lane's down-web I-MR limits.
    """
    rows = session.exec(
        select(GaugeScan.position_m, GaugeScan.lane_values)
        .where(GaugeScan.characteristic_id == char.id)
        .order_by(col(GaugeScan.seq))
    ).all()
    # Only scans with every lane a number: a NaN lane is a missing value (coverage counts it), and
    # a subgroup of the cross-web lanes with a hole in it is not a subgroup.
    complete = [(p, v) for p, v in rows if scan_measures(v, char.lanes)]
    left_out = len(rows) - len(complete)
    rows = complete
    if not rows or len({len(values) for _, values in rows}) != 1:
        error = "no scans with every lane measured" if not rows else "scans differ in lane count"
        return {"capability": {"error": error}, "scans_left_out": left_out}
    grid = np.asarray([values for _, values in rows], dtype=np.float64)
    lanes = grid.shape[1]
    size = lanes if spc.MIN_SUBGROUP <= lanes <= spc.MAX_SUBGROUP else 1
    out: dict[str, Any] = {"scans_left_out": left_out}
    try:
        out["capability"] = cap.capability(
            grid.ravel(), lsl=char.lsl, usl=char.usl, subgroup_size=size
        ).to_dict()
    except SpcError as exc:
        out["capability"] = {"error": str(exc)}
    try:
        profile = cap.web_profile(grid, [p for p, _ in rows], rules=None)
    except SpcError as exc:
        out["web_profile"] = {"error": str(exc)}
        return out
    out["web_profile"] = {
        "lane_means": profile.lane_means.tolist(),
        "cross_web_range": {
            "mean": float(profile.spread.mean()),
            "max": float(profile.spread.max()),
            "at_m": float(profile.positions[int(profile.spread.argmax())]),
        },
        "down_web": [{"center": c.center, "ucl": c.ucl, "lcl": c.lcl} for c in profile.lane_charts],
    }
    return out


def _event(e: AuditEvent) -> dict[str, Any]:
    return {
        "at": e.occurred_at.isoformat(),
        "by": e.actor,
        "action": e.action,
        "entity": e.entity_id,
        "before": e.before,
        "after": e.after,
        "reason": e.reason,
    }


def lot_report(session: Session, lot: Lot) -> dict[str, Any]:
    """Everything quality knows about ``lot`` as one JSON-ready dict."""
    report = lot_detail(session, lot)
    chars = {
        c.id: c
        for c in session.exec(
            select(Characteristic)
            .join(Layer, col(Layer.id) == col(Characteristic.layer_id))
            .where(Layer.lot_id == lot.id)
        ).all()
    }
    by_name = {(layer["name"], c["name"]): c for layer in report["layers"] for c in layer["characteristics"]}
    for char in chars.values():
        layer = session.get(Layer, char.layer_id)
        if layer is None or (layer.name, char.name) not in by_name:
            continue
        view = by_name[(layer.name, char.name)]
        view.update(characteristic_quality(session, char))
        step = session.get(StepRun, layer.step_run_id) if layer.step_run_id else None
        limits = None
        if lot.recipe_id is not None and step is not None and step.equipment_unit_id is not None:
            limits = limits_at(
                session, lot.recipe_id, step.equipment_unit_id, layer.name, char.name, layer.closed_at
            )
        view["control_limits"] = (
            None
            if limits is None
            else {
                k: getattr(limits, k)
                for k in ("center", "lcl", "ucl", "sigma", "segment_m", "rules", "source")
            }
        )
    report["alarms"] = [
        {
            "id": a.id,
            "priority": a.priority.value,
            "state": a.state.value,
            "condition": a.condition,
            "message": a.message,
            "position_m": a.position_m,
            "raised_at": a.raised_at.isoformat(),
            "journal": [
                {
                    "at": j.occurred_at.isoformat(),
                    "transition": j.transition,
                    "by": j.actor,
                    "comment": j.comment,
                }
                for j in journal(session, a.id or 0)
            ],
        }
        for a in session.exec(select(Alarm).where(Alarm.lot_id == lot.id).order_by(col(Alarm.id))).all()
    ]
    report["dispositions"] = [
        _event(e)
        for e in session.exec(
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
    ]
    assert lot.id is not None  # noqa: S101 - a stored lot
    report["genealogy"] = {
        "backward": dataclasses.asdict(backward(session, lot.id)),
        "forward": [dataclasses.asdict(h) for h in forward(session, lot.id)],
    }
    return report


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, rows)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, rows)
    elif isinstance(value, str) and value.startswith(_FORMULA_START):
        # Reasons and comments are typed by people; a spreadsheet must not run them as formulas.
        rows.append((prefix, "'" + value))
    else:
        rows.append((prefix, "" if value is None else str(value)))


def report_csv(report: dict[str, Any]) -> str:
    """``section,item,field,value`` rows: section is the top-level key, item the list position."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["section", "item", "field", "value"])
    for section, value in report.items():
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            rows: list[tuple[str, str]] = []
            _flatten("", item, rows)
            item_id = str(index) if isinstance(value, list) else ""
            for field, text in rows:
                writer.writerow([section, item_id, field, text])
    return buffer.getvalue()
