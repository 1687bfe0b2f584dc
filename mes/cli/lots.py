"""``mes lot …``, ``mes collector``, ``mes demo``."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from mes.base import dumps_json, pk
from mes.cli.common import database, out
from mes.config import get_settings
from mes.db import session_scope
from mes.equipment.profile import load_line
from mes.lots.models import IntervalKind, LotKind
from mes.lots.orders import get_lot, list_lots, receive_lot
from mes.lots.report import lot_detail, lot_summary
from mes.lots.trace import TraceRefused, backward, forward
from mes.lots.trace_models import BackwardNode

lot_app = typer.Typer(help="Lots: list, show, receive purchased material.", no_args_is_help=True)


@lot_app.command("list")
def lot_list(limit: int = typer.Option(200, "--limit", min=1, max=10_000)) -> None:
    """Newest lots first."""
    with database() as engine, session_scope(engine) as session:
        rows = [lot_summary(session, lot) for lot in list_lots(session, limit)]
    table = Table("lot", "kind", "status", "recipe", "length m", "layers not good", "intervals (held)")
    for r in rows:
        table.add_row(
            str(r["lot"]),
            str(r["kind"]),
            str(r["status"]),
            str(r["recipe"] or "purchased"),
            f"{r['length_m']:g}",
            # Out of spec, or not judged (pending / incomplete): none of them is good.
            f"{r['layers_out_of_spec'] + r['layers_not_judged']}/{r['layers']}",
            f"{r['intervals']} ({r['intervals_held']})",
        )
    out.print(table)


@lot_app.command("show")
def lot_show(number: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """Everything about one lot: steps, layers, statistics, intervals, inputs."""
    with database() as engine, session_scope(engine) as session:
        detail = lot_detail(session, get_lot(session, number))
    if as_json:
        out.print_json(dumps_json(detail, default=str))
        return
    for key in (
        "lot",
        "kind",
        "status",
        "recipe",
        "recipe_hash",
        "length_m",
        "material",
        "supplier",
        "supplier_lot",
    ):
        if detail.get(key) is not None:
            out.print(f"{key}: {detail[key]}")
    for step in detail["steps"]:
        out.print(
            f"step {step['index']} {step['name']}: {step['state']} (job {step['job_id']})"
            + (f" — {step['error']}" if step["error"] else "")
        )
    for layer in detail["layers"]:
        out.print(f"layer {layer['name']} ({layer['material']}, {layer['method']}): {layer['result']}")
        for c in layer["characteristics"]:
            stats = (
                f"mean {c['mean']:.4g} [{c['min']:.4g}, {c['max']:.4g}]"
                if c["mean"] is not None
                else "no data"
            )
            out.print(
                f"  {c['name']} {c['unit']} spec {c['lsl']:g}–{c['usl']:g}: {c['result']}, "
                f"{c['scans']} scans, {stats}, {_coverage_text(c['coverage'])}"
            )
    for i in detail["intervals"]:
        what = (
            "unmeasured"
            if i["kind"] == IntervalKind.UNMEASURED
            else f"worst {i['worst']:.4g} vs {i['limit_kind'].upper()} {i['limit']:g}"
        )
        out.print(
            f"interval {i['id']} {i['characteristic']} {i['start_m']:.2f}–{i['end_m']:.2f} m: {what}, "
            f"{i['status']}"
        )
    for link in detail["inputs"]:
        out.print(
            f"input {link['role']}: {link['lot']} {link['start_m']:.2f}–{link['end_m']:.2f} m"
            + (f" (supplier lot {link['supplier_lot']})" if link["supplier_lot"] else "")
        )


@lot_app.command("receive")
def lot_receive(
    kind: LotKind = typer.Option(..., "--kind", help="separator, foil or substrate."),
    material: str = typer.Option(..., "--material"),
    length_m: float = typer.Option(..., "--length-m", min=0.001),
    supplier: str = typer.Option(..., "--supplier"),
    supplier_lot: str = typer.Option(..., "--supplier-lot"),
    width_mm: float | None = typer.Option(None, "--width-mm", min=0.001),
    by: str = typer.Option(..., "--by"),
) -> None:
    """Receive a purchased web into stock with its supplier's lot number."""
    with database() as engine, session_scope(engine) as session:
        lot = receive_lot(
            session,
            kind=kind,
            material=material,
            length_m=length_m,
            supplier=supplier,
            supplier_lot=supplier_lot,
            by=by,
            width_mm=width_mm,
        )
        number = lot.number
    out.print(f"lot {number} received ({kind.value}, {length_m:g} m, supplier lot {supplier_lot})")


@lot_app.command("trace")
def lot_trace(
    number: str = typer.Argument(..., help="Lot number (a cell lot, or any lot)."),
    to_forward: bool = typer.Option(False, "--forward", help="Every lot that contains any of this lot."),
    to_backward: bool = typer.Option(False, "--backward", help="Everything that went into this lot."),
    start_m: float | None = typer.Option(None, "--start-m", help="With --forward: first metre of the lot."),
    end_m: float | None = typer.Option(None, "--end-m", help="With --forward: last metre of the lot."),
    max_depth: int = typer.Option(10, "--max-depth", min=1, max=100, help="Levels of genealogy to follow."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Genealogy of a lot: its inputs' metres, layers and intervals, or every lot made from it."""
    if to_forward == to_backward:
        raise TraceRefused("give exactly one of --forward or --backward")
    if to_backward and (start_m is not None or end_m is not None):
        raise TraceRefused("--start-m/--end-m select metres to trace forward; use them with --forward")
    with database() as engine, session_scope(engine) as session:
        lot_id = pk(get_lot(session, number))
        tree = backward(session, lot_id, max_depth=max_depth) if to_backward else None
        hits = forward(session, lot_id, start_m, end_m, max_depth=max_depth) if to_forward else []
    if tree is not None:
        if as_json:
            typer.echo(dumps_json(asdict(tree), default=str))
        else:
            out.print(_backward_tree(tree))
        return
    if as_json:
        report = {"lot": number, "start_m": start_m, "end_m": end_m, "hits": [asdict(h) for h in hits]}
        typer.echo(dumps_json(report, default=str))
        return
    where = f" {start_m:g}–{end_m:g} m" if start_m is not None and end_m is not None else ""
    if not hits:
        out.print(f"nothing was made from lot {number}{where}")
        return
    table = Table(
        "depth", "lot", "kind", "status", "role", "from lot", "metres", title=f"made from {number}{where}"
    )
    for h in hits:
        table.add_row(
            str(h.depth),
            h.number,
            h.kind.value,
            h.status.value,
            h.role,
            h.parent_number,
            f"{h.start_m:.2f}–{h.end_m:.2f}",
        )
    out.print(table)


def _coverage_text(cover: dict[str, float | None]) -> str:
    if cover["measured_m"] is None:
        return "coverage not judged yet"
    return f"measured {cover['measured_m']:.2f} of {cover['length_m']:g} m ({cover['pct']:.1f} %)"


def _backward_tree(node: BackwardNode, tree: Tree | None = None) -> Tree:
    lot = node.lot
    label = f"{lot.number} ({lot.kind.value}, {lot.status.value}"
    label += f", {lot.material}" if lot.material else ""
    label += f", {lot.supplier} lot {lot.supplier_lot}" if lot.supplier_lot else ""
    label += ")"
    if node.role is not None and node.start_m is not None and node.end_m is not None:
        label = f"{node.role}: {label} {node.start_m:.2f}–{node.end_m:.2f} m"
    label += " — cycle, not expanded" if node.cycle else ""
    label += " — inputs beyond the depth limit" if node.truncated else ""
    # Text, not markup: lot numbers and materials may contain brackets.
    branch = Tree(Text(label)) if tree is None else tree.add(Text(label))
    for layer in node.layers:
        sub = branch.add(Text(f"layer {layer.name} ({layer.material}, {layer.method}): {layer.result.value}"))
        for c in layer.characteristics:
            s = c.stats
            stats = (
                f"{s.n_scans} scans ({s.n_values} values), "
                f"mean {s.mean_value:.4g} [{s.min_value:.4g}, {s.max_value:.4g}]"
                if s.mean_value is not None and s.min_value is not None and s.max_value is not None
                else "no scans in these metres"
            )
            sub.add(Text(f"{c.name} {c.unit} spec {c.lsl:g}/{c.target:g}/{c.usl:g}: {stats}"))
    for i in node.intervals:
        what = (
            "unmeasured"
            if i.kind == IntervalKind.UNMEASURED or i.worst_value is None or i.limit_value is None
            else f"worst {i.worst_value:.4g} vs {i.limit_kind.upper()} {i.limit_value:g}"
        )
        branch.add(
            Text(f"interval {i.start_m:.2f}–{i.end_m:.2f} m: {i.characteristic} {what}, {i.status.value}")
        )
    for parent in node.parents:
        _backward_tree(parent, branch)
    return branch


def collector(spool: Path = typer.Option(Path(".mes-collector/spool.sqlite"), "--spool")) -> None:
    """Collect gauge scans from every unit of the line until Ctrl-C."""
    from mes.collector.service import Collector

    settings = get_settings()
    line = load_line(settings.line_config)
    live = settings.live_url or (settings.broker_url if settings.broker_url.startswith("redis") else "")

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with database() as engine:
            service = Collector(engine, line, spool_path=spool, live_url=live)
            out.print(f"collector: {len(line.units)} unit(s); Ctrl-C stops it")
            await service.run(stop)
        out.print(f"collector stopped; {service.stored} scans stored")

    asyncio.run(go())


def demo(
    time_scale: float = typer.Option(3_000.0, "--time-scale", min=1, help="Process seconds per second."),
    workdir: Path = typer.Option(Path(".mes-demo"), "--workdir", help="Broker folder, worker logs."),
    timeout: float = typer.Option(600.0, "--timeout", min=10),
    line: Path | None = typer.Option(None, "--line", help="Line file (default: the shipped simulated line)."),
) -> None:
    """Run the line on the embedded default: SQLite, filesystem broker, simulators, real workers."""
    from mes.demo import demo_environment, embedded_settings, run_demo

    configured = get_settings()
    settings = embedded_settings(configured.database_url, workdir, line)
    result = asyncio.run(
        run_demo(
            settings,
            out,
            workdir=workdir,
            time_scale=time_scale,
            timeout_s=timeout,
            env=demo_environment(settings, workdir),
        )
    )
    out.print(
        f"demo finished in {result.seconds:.0f} s; {result.scans} scans collected live. "
        "Try: mes lot list, mes alarm list, mes lot report LOT, mes lot trace LOT --backward"
    )
