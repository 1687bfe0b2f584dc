"""``mes order …``, ``mes lot …``, ``mes collector``, ``mes demo``."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import typer
from rich.table import Table

from mes.cli_common import database, out
from mes.config import get_settings
from mes.db import session_scope
from mes.equipment.profile import load_line
from mes.lots.models import LotKind
from mes.lots.orders import create_order, get_lot, list_lots, receive_lot
from mes.lots.report import lot_detail, lot_summary

order_app = typer.Typer(
    help="Work orders: ask the line to make lots of a released recipe.", no_args_is_help=True
)
lot_app = typer.Typer(help="Lots: list, show, receive purchased material.", no_args_is_help=True)


@order_app.command("create")
def order_create(
    recipe: str = typer.Option(..., "--recipe", help="Released recipe version, ID@VERSION."),
    lots: int = typer.Option(1, "--lots", help="How many lots."),
    priority: int = typer.Option(100, "--priority", help="Lower runs first."),
    lot_size: float | None = typer.Option(
        None, "--lot-size", help="Metres per electrode lot / cells per cell lot."
    ),
    by: str = typer.Option(..., "--by", help="Who orders (audit trail)."),
) -> None:
    """Create a work order and hand it to the dispatcher."""
    line = load_line(get_settings().line_config)
    with database() as engine, session_scope(engine) as session:
        from mes.lots.execution import sync_units

        sync_units(session, line)
        order = create_order(session, recipe, lots, by=by, line=line, priority=priority, lot_size=lot_size)
        number, order_id = order.number, order.id
    from workers.tasks import dispatch_order

    dispatch_order.apply_async((order_id,), queue="dispatch")  # after the commit
    out.print(f"work order {number}: {lots} lot(s) of {recipe}, dispatched")


@lot_app.command("list")
def lot_list(limit: int = typer.Option(200, "--limit", min=1, max=10_000)) -> None:
    """Newest lots first."""
    with database() as engine, session_scope(engine) as session:
        rows = [lot_summary(session, lot) for lot in list_lots(session, limit)]
    table = Table("lot", "kind", "status", "recipe", "length m", "layers out", "intervals (held)")
    for r in rows:
        table.add_row(
            str(r["lot"]),
            str(r["kind"]),
            str(r["status"]),
            str(r["recipe"] or "purchased"),
            f"{r['length_m']:g}",
            f"{r['layers_out_of_spec']}/{r['layers']}",
            f"{r['intervals']} ({r['intervals_held']})",
        )
    out.print(table)


@lot_app.command("show")
def lot_show(number: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """Everything about one lot: steps, layers, statistics, intervals, inputs."""
    with database() as engine, session_scope(engine) as session:
        detail = lot_detail(session, get_lot(session, number))
    if as_json:
        out.print_json(json.dumps(detail, default=str))
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
                f"{c['scans']} scans, {stats}"
            )
    for i in detail["intervals"]:
        out.print(
            f"interval {i['start_m']:.2f}–{i['end_m']:.2f} m: worst {i['worst']:.4g} vs "
            f"{i['limit_kind'].upper()} {i['limit']:g}, {i['status']}"
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
        "Try: mes lot list, mes lot show LOT"
    )
