"""How ``mes lot show`` and ``mes lot trace --backward`` read as text (their ``--json`` prints the models)."""

from __future__ import annotations

from datetime import datetime

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from mes.base import worst_beyond
from mes.lots.models import IntervalKind
from mes.lots.schemas import Coverage, HoldReason, HoldSource, LotDetail
from mes.lots.trace_models import BackwardNode


def when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "time not recorded"


_HOLD_LABEL = {
    HoldSource.SIGNED: "signed hold",
    HoldSource.SYSTEM: "held by the line",
    HoldSource.BLOCKED: "blocked",
    HoldSource.STEP: "step",
    HoldSource.INTERVAL: "held interval",
}


def hold_text(hold: HoldReason) -> str:
    """One line: what holds it, who and when, whether signed, and the alarms raised for it."""
    label = _HOLD_LABEL[hold.source] + (f" {hold.interval_id}" if hold.interval_id is not None else "")
    on = f" on {hold.unit}" if hold.unit else ""
    who = f"{hold.by}, " if hold.by else ""
    signed = ", signed" if hold.signed else ""
    alarms = f" [alarm {', '.join(str(i) for i in hold.alarm_ids)}]" if hold.alarm_ids else ""
    return f"{label}{on}: {hold.what} ({who}{when(hold.at)}{signed}){alarms}"


def _coverage_text(cover: Coverage) -> str:
    if cover.measured_m is None or cover.pct is None:
        return "coverage not judged yet"
    return f"measured {cover.measured_m:.2f} of {cover.length_m:g} m ({cover.pct:.1f} %)"


def print_lot(console: Console, d: LotDetail) -> None:
    """Every line is Text, not markup: lot numbers, materials and reasons may contain brackets."""

    def line(text: str) -> None:
        console.print(Text(text))

    fields = {
        "lot": d.lot,
        "kind": d.kind.value,
        "status": d.status.value,
        "order": d.order,
        "recipe": d.recipe,
        "recipe_hash": d.recipe_hash,
        "length_m": f"{d.length_m:g}",
        "material": d.material,
        "supplier": d.supplier,
        "supplier_lot": d.supplier_lot,
    }
    for key, value in fields.items():
        if value:
            line(f"{key}: {value}")
    if d.holds:
        line("on hold because:" if d.status.value == "on_hold" else "held:")
        for hold in d.holds:
            line(f"  {hold_text(hold)}")
    for step in d.steps:
        on = f" on {step.unit}" if step.unit else ""
        error = f" — {step.error}" if step.error else ""
        line(f"step {step.step_index} {step.step} (job {step.job_id}){on}: {step.state.value}{error}")
    for layer in d.layers:
        on = f" on {layer.unit}" if layer.unit else ""
        line(f"layer {layer.name} ({layer.material}, {layer.method}){on}: {layer.result.value}")
        for c in layer.characteristics:
            stats = (
                f"mean {c.mean:.4g} [{c.min:.4g}, {c.max:.4g}]"
                if c.mean is not None and c.min is not None and c.max is not None
                else "no data"
            )
            line(
                f"  {c.name} {c.unit} spec {c.lsl:g}–{c.usl:g}: {c.result.value}, "
                f"{c.scans} scans, {stats}, {_coverage_text(c.coverage)}"
            )
    units = {(layer.name, c.name): c.unit for layer in d.layers for c in layer.characteristics}
    for i in d.intervals:
        what = (
            "unmeasured"
            if i.kind == IntervalKind.UNMEASURED or i.worst is None or i.limit is None
            else worst_beyond(i.worst, i.limit, i.limit_kind, units.get((i.layer, i.characteristic), ""))
        )
        by = f" by {i.dispositioned_by} {when(i.dispositioned_at)}" if i.dispositioned_by else ""
        metres = f"{i.start_m:.2f}–{i.end_m:.2f} m"
        line(f"interval {i.id} {i.characteristic} {metres}: {what}, {i.status.value}{by}")
    for link in d.inputs:
        supplier = f" (supplier lot {link.supplier_lot})" if link.supplier_lot else ""
        line(f"input {link.role}: {link.lot} {link.start_m:.2f}–{link.end_m:.2f} m{supplier}")


def _wrapped(text: str) -> Text:
    """A tree's line, as Text (not markup: lot numbers and materials may contain brackets) that
    wraps between words under its branch: a tree crops what does not fit its width, whatever the
    console's soft wrap."""
    return Text(text, no_wrap=False, overflow="fold")


def backward_tree(node: BackwardNode, tree: Tree | None = None) -> Tree:
    """The backward trace as a tree; every line is printed whole, wrapped at the terminal's width."""
    lot = node.lot
    label = f"{lot.number} ({lot.kind.value}, {lot.status.value}"
    label += f", {lot.material}" if lot.material else ""
    label += f", {lot.supplier} lot {lot.supplier_lot}" if lot.supplier_lot else ""
    label += ")"
    if node.role is not None and node.start_m is not None and node.end_m is not None:
        label = f"{node.role}: {label} {node.start_m:.2f}–{node.end_m:.2f} m"
    label += " — cycle, not expanded" if node.cycle else ""
    label += " — inputs beyond the depth limit" if node.truncated else ""
    branch = Tree(_wrapped(label)) if tree is None else tree.add(_wrapped(label))
    for layer in node.layers:
        on = f" on {layer.unit}" if layer.unit else ""
        sub = branch.add(
            _wrapped(f"layer {layer.name} ({layer.material}, {layer.method}){on}: {layer.result.value}")
        )
        for c in layer.characteristics:
            s = c.stats
            stats = (
                f"{s.n_scans} scans ({s.n_values} values), "
                f"mean {s.mean_value:.4g} [{s.min_value:.4g}, {s.max_value:.4g}]"
                if s.mean_value is not None and s.min_value is not None and s.max_value is not None
                else "no scans in these metres"
            )
            sub.add(_wrapped(f"{c.name} {c.unit} spec {c.lsl:g}/{c.target:g}/{c.usl:g}: {stats}"))
    node_units = {c.name: c.unit for layer in node.layers for c in layer.characteristics}
    for i in node.intervals:
        what = (
            "unmeasured"
            if i.kind == IntervalKind.UNMEASURED or i.worst_value is None or i.limit_value is None
            else worst_beyond(
                i.worst_value, i.limit_value, i.limit_kind, node_units.get(i.characteristic, "")
            )
        )
        branch.add(
            _wrapped(f"interval {i.start_m:.2f}–{i.end_m:.2f} m: {i.characteristic} {what}, {i.status.value}")
        )
    for parent in node.parents:
        backward_tree(parent, branch)
    return branch
