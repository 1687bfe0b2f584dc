"""The lot report as CSV tables a spreadsheet can chart.

One table per section, in one file: a ``# section`` line, a header row, one row per item, and a
blank line before the next section. Sections: ``lot``, ``holds``, ``steps``, ``layers``,
``characteristics`` (spec, statistics, coverage, capability, control limits), ``intervals``,
``segments`` (the down-web profile: one row per segment of band), ``lanes`` (the cross-web
profile), ``alarms``, ``alarm_journal``, ``dispositions``, ``inputs`` and ``made_from`` (lots
made from this one). Every row names its layer and characteristic, so a section filters and
charts on its own. Numbers are rounded as :mod:`mes.quality.csv_cells` documents (to the
gauge's resolution by unit); times are ISO 8601 UTC.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from mes.quality.csv_cells import fixed, iso_utc, measured, metres, statistic, text
from mes.quality.schemas import CapabilityPublic, CharacteristicQuality, LotReport, WebProfilePublic

Row = Sequence[str | int]


def _section(writer: Any, name: str, header: Sequence[str], rows: Iterable[Row]) -> None:
    writer.writerow([f"# {name}"])
    writer.writerow(header)
    writer.writerows(rows)
    writer.writerow([])


def report_csv(report: LotReport) -> str:
    buffer = io.StringIO()
    w = csv.writer(buffer, lineterminator="\n")
    r = report
    _section(
        w,
        "lot",
        ["lot", "kind", "status", "order", "recipe", "length_m", "width_mm", "material", "supplier",
         "supplier_lot", "created_at", "recipe_hash"],
        [[r.lot, r.kind.value, r.status.value, r.order or "", r.recipe or "", metres(r.length_m),
          fixed(r.width_mm, 1), text(r.material), text(r.supplier), text(r.supplier_lot),
          iso_utc(r.created_at), r.recipe_hash or ""]],
    )  # fmt: skip
    _section(
        w,
        "holds",
        ["source", "what", "by", "at", "signed", "unit", "job_id", "layer", "characteristic", "interval_id",
         "alarm_ids"],
        [[h.source.value, text(h.what), text(h.by), iso_utc(h.at), "yes" if h.signed else "no", h.unit or "",
          h.job_id or "", h.layer or "", h.characteristic or "", h.interval_id or "",
          " ".join(str(i) for i in h.alarm_ids)] for h in r.holds],
    )  # fmt: skip
    _section(
        w,
        "steps",
        ["step_index", "step", "job_id", "unit", "state", "started_at", "ended_at", "error"],
        [[s.step_index, s.step, s.job_id, s.unit or "", s.state.value, iso_utc(s.started_at),
          iso_utc(s.ended_at), text(s.error)] for s in r.steps],
    )  # fmt: skip
    _section(
        w,
        "layers",
        ["layer", "unit", "job_id", "material", "method", "result", "disposition_policy", "closed_at"],
        [[x.name, x.unit or "", x.job_id or "", text(x.material), x.method, x.result.value,
          x.disposition_policy.value, iso_utc(x.closed_at)] for x in r.layers],
    )  # fmt: skip
    chars = [(layer, c) for layer in r.layers for c in layer.characteristics]
    _section(
        w,
        "characteristics",
        ["layer", "characteristic", "unit", "lsl", "target", "usl", "result", "scans", "values", "min",
         "mean", "max", "stddev", "measured_m", "coverage_pct", "min_coverage_pct", "cp", "cpk", "pp", "ppk",
         "capability_note", "center", "lcl", "ucl", "limits_segment_m"],
        [_characteristic_row(layer.name, c) for layer, c in chars],
    )  # fmt: skip
    units = {(layer.name, c.name): c.unit for layer, c in chars}
    _section(
        w,
        "intervals",
        ["id", "layer", "characteristic", "unit", "kind", "start_m", "end_m", "worst", "limit", "limit_kind",
         "disposition", "status", "dispositioned_by", "dispositioned_at"],
        [[i.id, i.layer, i.characteristic, units.get((i.layer, i.characteristic), ""), i.kind.value,
          metres(i.start_m), metres(i.end_m), measured(i.worst, units.get((i.layer, i.characteristic), "")),
          measured(i.limit, units.get((i.layer, i.characteristic), "")), i.limit_kind, i.disposition.value,
          i.status.value, text(i.dispositioned_by), iso_utc(i.dispositioned_at)] for i in r.intervals],
    )  # fmt: skip
    _section(
        w,
        "segments",
        ["layer", "characteristic", "unit", "start_m", "end_m", "scans", "mean", "min", "max"],
        [[layer.name, c.name, c.unit, metres(s.start_m), metres(s.end_m), s.scans, statistic(s.mean, c.unit),
          measured(s.min, c.unit), measured(s.max, c.unit)] for layer, c in chars for s in c.segments],
    )  # fmt: skip
    lanes: list[Row] = []
    for layer, c in chars:
        profile = c.web_profile
        if isinstance(profile, WebProfilePublic):
            for lane, (mean, chart) in enumerate(zip(profile.lane_means, profile.down_web, strict=True)):
                lanes.append([layer.name, c.name, c.unit, lane, statistic(mean, c.unit),
                              statistic(chart.lcl, c.unit), statistic(chart.ucl, c.unit)])  # fmt: skip
    _section(w, "lanes", ["layer", "characteristic", "unit", "lane", "mean", "lcl", "ucl"], lanes)
    _section(
        w,
        "alarms",
        ["id", "condition", "priority", "state", "unit", "characteristic", "position_m", "raised_at",
         "cleared_at", "acknowledged_by", "acknowledged_at", "message"],
        [[a.id, a.condition, a.priority.value, a.state.value, a.unit or "", a.characteristic or "",
          metres(a.position_m), iso_utc(a.raised_at), iso_utc(a.cleared_at), text(a.acknowledged_by),
          iso_utc(a.acknowledged_at), text(a.message)] for a in r.alarms],
    )  # fmt: skip
    _section(
        w,
        "alarm_journal",
        ["alarm_id", "at", "transition", "from_state", "to_state", "by", "comment"],
        [[a.id, iso_utc(j.at), j.transition, j.from_state.value if j.from_state else "", j.to_state.value,
          text(j.by), text(j.comment)] for a in r.alarms for j in a.journal],
    )  # fmt: skip
    _section(
        w,
        "dispositions",
        ["at", "actor", "action", "entity_type", "entity_id", "reason"],
        [[iso_utc(e.occurred_at), text(e.actor), e.action, e.entity_type, text(e.entity_id), text(e.reason)]
         for e in r.dispositions],
    )  # fmt: skip
    _section(
        w,
        "inputs",
        ["role", "lot", "kind", "start_m", "end_m", "supplier", "supplier_lot"],
        [[i.role, i.lot, i.kind.value, metres(i.start_m), metres(i.end_m), text(i.supplier),
          text(i.supplier_lot)] for i in r.inputs],
    )  # fmt: skip
    _section(
        w,
        "made_from",
        ["depth", "lot", "kind", "status", "role", "from_lot", "start_m", "end_m"],
        [[h.depth, h.number, h.kind.value, h.status.value, h.role, h.parent_number, metres(h.start_m),
          metres(h.end_m)] for h in r.genealogy.forward],
    )  # fmt: skip
    return buffer.getvalue()


def _characteristic_row(layer: str, c: CharacteristicQuality) -> list[str | int]:
    u = c.unit
    capability = c.capability if isinstance(c.capability, CapabilityPublic) else None
    note = capability.warning if capability else getattr(c.capability, "error", None)  # Unavailable
    limits = c.control_limits
    return [
        layer,
        c.name,
        u,
        measured(c.lsl, u),
        measured(c.target, u),
        measured(c.usl, u),
        c.result.value,
        c.scans,
        c.values,
        measured(c.min, u),
        statistic(c.mean, u),
        measured(c.max, u),
        statistic(c.stddev, u),
        metres(c.coverage.measured_m),
        fixed(c.coverage.pct, 1),
        fixed(c.coverage.min_coverage_pct, 1),
        fixed(capability.cp, 2) if capability else "",
        fixed(capability.cpk, 2) if capability else "",
        fixed(capability.pp, 2) if capability else "",
        fixed(capability.ppk, 2) if capability else "",
        text(note),
        statistic(limits.center, u) if limits else "",
        statistic(limits.lcl, u) if limits else "",
        statistic(limits.ucl, u) if limits else "",
        metres(limits.segment_m) if limits else "",
    ]
