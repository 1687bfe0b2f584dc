"""``mes lot …``, ``mes collector``, ``mes demo``."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.text import Text

from mes.base import pk
from mes.cli.common import AsJson, database, finite, free_text, out, print_json, user_name
from mes.cli.lot_text import backward_tree, print_lot
from mes.cli.tables import Column, ident, print_table
from mes.config import Settings, get_settings
from mes.db import session_scope
from mes.equipment.line import load_line_for
from mes.lots.errors import TraceInvalid
from mes.lots.models import LotKind
from mes.lots.orders import get_lot, list_lots, receive_lot
from mes.lots.report import lot_summaries
from mes.lots.schemas import ForwardTrace, LotSummary
from mes.lots.trace import backward, forward

if TYPE_CHECKING:
    from mes.demo import DemoResult

lot_app = typer.Typer(help="Lots: list, show, receive purchased material.", no_args_is_help=True)


@lot_app.command("list")
def lot_list(limit: int = typer.Option(200, "--limit", min=1, max=10_000), as_json: bool = AsJson) -> None:
    """Newest lots first."""
    with database() as engine, session_scope(engine) as session:
        rows = lot_summaries(session, list_lots(session, limit))
    if as_json:
        print_json(rows)
        return
    columns = [
        ident("lot"),
        Column("kind"),
        Column("status"),
        ident("recipe"),
        Column("length m", justify="right"),
        Column("layers not good"),
        Column("intervals (held)"),
    ]
    print_table(
        columns,
        [
            [
                r.lot,
                r.kind.value,
                r.status.value,
                r.recipe or "purchased",
                f"{r.length_m:g}",
                # Out of spec, or not judged (pending / incomplete): none of them is good.
                f"{r.layers_out_of_spec + r.layers_not_judged}/{r.layers}",
                f"{r.intervals} ({r.intervals_held})",
            ]
            for r in rows
        ],
    )


@lot_app.command("show")
def lot_show(number: str = typer.Argument(...), as_json: bool = AsJson) -> None:
    """Everything about one lot: why it is on hold, steps and units, layers, statistics, intervals, inputs."""
    from mes.quality.lot_view import lot_view

    with database() as engine, session_scope(engine) as session:
        detail = lot_view(session, get_lot(session, number))
    if as_json:
        print_json(detail)
        return
    print_lot(out, detail)


@lot_app.command("receive")
def lot_receive(
    kind: LotKind = typer.Option(..., "--kind", help="separator, foil or substrate."),
    material: str = typer.Option(..., "--material", callback=free_text),
    length_m: float = typer.Option(..., "--length-m", callback=finite, min=0.001),
    supplier: str = typer.Option(..., "--supplier", callback=free_text),
    supplier_lot: str = typer.Option(..., "--supplier-lot", callback=free_text),
    width_mm: float | None = typer.Option(None, "--width-mm", callback=finite, min=0.001),
    by: str = typer.Option(..., "--by", callback=user_name),
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
    start_m: float | None = typer.Option(
        None, "--start-m", callback=finite, help="With --forward: first metre of the lot."
    ),
    end_m: float | None = typer.Option(
        None, "--end-m", callback=finite, help="With --forward: last metre of the lot."
    ),
    max_depth: int = typer.Option(10, "--max-depth", min=1, max=100, help="Levels of genealogy to follow."),
    as_json: bool = AsJson,
) -> None:
    """Genealogy of a lot: its inputs' metres, layers and intervals, or every lot made from it."""
    if to_forward == to_backward:
        raise TraceInvalid("give exactly one of --forward or --backward")
    if to_backward and (start_m is not None or end_m is not None):
        raise TraceInvalid("--start-m/--end-m select metres to trace forward; use them with --forward")
    with database() as engine, session_scope(engine) as session:
        lot_id = pk(get_lot(session, number))
        tree = backward(session, lot_id, max_depth=max_depth) if to_backward else None
        hits = forward(session, lot_id, start_m, end_m, max_depth=max_depth) if to_forward else []
    if tree is not None:
        if as_json:
            print_json(tree)
        else:
            out.print(backward_tree(tree))
        return
    if as_json:
        print_json(ForwardTrace(lot=number, start_m=start_m, end_m=end_m, hits=hits))
        return
    where = f" {start_m:g}–{end_m:g} m" if start_m is not None and end_m is not None else ""
    if not hits:
        out.print(Text(f"nothing was made from lot {number}{where}"))
        return
    columns = [
        Column("depth", justify="right"),
        ident("lot"),
        Column("kind"),
        Column("status"),
        Column("role"),
        ident("from lot"),
        Column("metres"),
    ]
    rows = [
        [
            str(h.depth),
            h.number,
            h.kind.value,
            h.status.value,
            h.role,
            h.parent_number,
            f"{h.start_m:.2f}–{h.end_m:.2f}",
        ]
        for h in hits
    ]
    print_table(columns, rows, title=f"made from {number}{where}")


def collector(spool: Path = typer.Option(Path(".mes-collector/spool.sqlite"), "--spool")) -> None:
    """Collect gauge scans from every unit of the line until Ctrl-C."""
    from mes.collector.service import Collector

    settings = get_settings()
    line = load_line_for(settings)
    live, live_setting = settings.live_values

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with database() as engine:
            service = Collector(
                engine,
                line,
                spool_path=spool,
                spool_max_mb=settings.collector_spool_max_mb,
                live_url=live,
                live_setting=live_setting,
            )
            out.print(f"collector: {len(line.units)} unit(s); Ctrl-C stops it")
            await service.run(stop)
        out.print(f"collector stopped; {service.stored} scans stored")

    asyncio.run(go())


def print_made(rows: Sequence[LotSummary], console: Console | None = None) -> None:
    """What the demo's line made, a lot a row."""
    columns = [
        ident("lot"),
        ident("recipe"),
        Column("kind"),
        Column("status"),
        Column("layers", justify="right"),
        Column("out of spec", justify="right"),
        Column("intervals (held)"),
    ]
    cells = [
        [
            r.lot,
            r.recipe or "purchased",
            r.kind.value,
            r.status.value,
            str(r.layers),
            str(r.layers_out_of_spec),
            f"{r.intervals} ({r.intervals_held})",
        ]
        for r in rows
    ]
    print_table(columns, cells, title="What the line made", console=console)


def demo(
    time_scale: float = typer.Option(
        3_000.0, "--time-scale", callback=finite, min=1, help="Process seconds per second."
    ),
    workdir: Path = typer.Option(Path(".mes-demo"), "--workdir", help="Broker folder, worker logs."),
    timeout: float = typer.Option(600.0, "--timeout", callback=finite, min=10),
    line: Path | None = typer.Option(None, "--line", help="Line file (default: the shipped simulated line)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address the operator pages listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port of the operator pages."),
    serve: bool | None = typer.Option(
        None,
        "--serve/--no-serve",
        help="After the run, keep the line and the operator pages up until Ctrl-C "
        "(default: when standard input is a terminal).",
    ),
) -> None:
    """Run the line on the embedded default: SQLite, filesystem broker, simulators, real workers, and
    the operator pages (their address is printed first)."""
    from mes.cli.web import check_port
    from mes.demo import embedded_settings

    check_port(host, port)  # before the database is touched, like the simulators' ports
    configured = get_settings()
    settings = embedded_settings(configured.database_url, workdir, line)
    keep_serving = sys.stdin.isatty() if serve is None else serve

    serving = False

    def finished(result: DemoResult) -> None:
        nonlocal serving
        serving = keep_serving
        out.print(
            f"demo finished in {result.seconds:.0f} s; {result.scans} scans collected live. "
            "Try: mes lot list, mes alarm list, mes lot report LOT, mes lot trace LOT --backward"
        )

    try:
        _run_demo(settings, workdir, time_scale, timeout, (host, port), keep_serving, finished)
    except KeyboardInterrupt:
        if not serving:
            raise  # the run itself was interrupted: `mes: interrupted`, exit 130
        out.print("demo stopped: the line and the operator pages are down")


def _run_demo(settings: Settings, workdir: Path, time_scale: float, timeout: float, web: tuple[str, int],
              serve: bool, finished: Callable[[DemoResult], None]) -> None:  # fmt: skip
    from mes.demo import demo_environment, run_demo

    def terminated(signum: int, frame: object) -> None:
        # SIGTERM (a service manager, `kill`) stops the demo as Ctrl-C does: asyncio.run then cancels
        # the run, whose clean-up stops the web server, the workers, the collector and the simulators
        # (they run in process groups of their own, which a signal to the demo's group does not reach).
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    asyncio.run(
        run_demo(
            settings,
            out,
            workdir=workdir,
            time_scale=time_scale,
            timeout_s=timeout,
            env=demo_environment(settings, workdir),
            show_lots=print_made,
            web=web,
            serve=serve,
            finished=finished,
        )
    )
