"""``mes demo``: the main job on the embedded default — no server to install.

SQLite file, filesystem broker, simulated line, collector, and real Celery
worker processes. It imports and releases the shipped recipes, receives a
separator lot, orders lots of every product family, injects a few faults so some
layers go out of spec, waits for everything to finish and prints what was made.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mes.auth.models import Role
from mes.auth.service import create_user
from mes.base import pk
from mes.config import Settings
from mes.db import make_engine, session_scope
from mes.equipment.line import load_line_for
from mes.errors import ConfigError, MesError
from mes.execution.scheduler import TERMINAL, sync_units
from mes.lots.models import Lot, LotKind, StepRun, StepRunState, WorkOrder, WorkOrderState
from mes.lots.orders import create_order, expand_order, receive_lot
from mes.lots.report import lot_summary
from mes.lots.schemas import LotSummary
from mes.migrate import upgrade
from mes.quality.models import Alarm
from mes.recipes import service as recipes
from mes.recipes.load import load_recipe_file
from mes.recipes.models import RecipeStatus
from mes.runner import LineRunner
from mes.sim.faults import parse_fault

ROOT = Path(__file__).resolve().parent.parent
OPERATOR, ENGINEER, QUALITY = "demo-operator", "demo-engineer", "demo-quality"
# The demo users' passwords on the embedded default (a SQLite file), published in the README and the
# demo's summary so that the operator pages and a signed release can be tried. Never set anywhere else:
# a demo pointed at a database server gets random passwords (printed), and a production environment
# refuses the demo.
DEMO_PASSWORDS = {
    OPERATOR: "demo-operator-pw",
    ENGINEER: "demo-engineer-pw",
    QUALITY: "demo-quality-pw",
}  # fmt: skip
DEMO_QUALITY_PASSWORD = DEMO_PASSWORDS[QUALITY]
DEMO_ROLES = {OPERATOR: Role.OPERATOR, ENGINEER: Role.ENGINEER, QUALITY: Role.QUALITY}

# recipe → (lots, lot size: metres, or cells for the jelly roll)
ORDERS: list[tuple[str, int, float]] = [
    ("capped-si-anode@1", 2, 40.0),
    ("alloy-film-anode@1", 2, 40.0),
    ("thin-composite-anode-oxide@1", 2, 40.0),
    ("thin-composite-anode-carbon@1", 2, 40.0),
    ("cathode-lco@1", 2, 40.0),
    ("jelly-roll-alloy-film@1", 1, 20.0),
]
# (recipe, lot index, step index) → fault armed on the simulators for that step's job
FAULTS: dict[tuple[str, int, int], str] = {
    ("capped-si-anode", 2, 0): "drift,pct_per_100m=25,start_m=15",
    ("thin-composite-anode-oxide", 2, 0): "step,pct=5,at_m=25",
    ("thin-composite-anode-carbon", 1, 0): "arc,at_m=12,length_m=1,depth_pct=30",
    ("jelly-roll-alloy-film", 1, 0): "tension_spike,at_m=5,length_m=0.5",
}


@dataclass
class DemoResult:
    lots: list[LotSummary]
    seconds: float
    scans: int


def prepare(engine: Engine, recipes_dir: Path, *, published: bool = False) -> dict[str, str]:
    """Users (an operator, an engineer, a quality engineer), recipes (imported, approved, released), a
    purchased separator lot.

    Returns each demo user's password: the published ones of :data:`DEMO_PASSWORDS` when
    ``published`` (the embedded default only), else random ones.
    """
    passwords = {n: DEMO_PASSWORDS[n] if published else secrets.token_urlsafe(12) for n in DEMO_ROLES}
    password = passwords[QUALITY]
    with session_scope(engine) as session:
        from mes.auth.models import User

        for name, role in DEMO_ROLES.items():
            secret = passwords[name]
            existing = session.exec(select(User).where(User.name == name)).first()
            if existing is not None:
                from mes.auth.service import hash_password

                existing.password_hash = hash_password(secret)
                session.add(existing)
            else:
                create_user(session, name, role, secret, full_name=f"demo {role.value}")
    for path in sorted(recipes_dir.glob("*.yaml")):
        loaded = load_recipe_file(path)
        if loaded.recipe is None:
            raise MesError("\n".join(str(i) for i in loaded.issues))
        with session_scope(engine) as session:
            row, _ = recipes.import_recipe(session, loaded.recipe, by=ENGINEER, source_path=str(path))
            ref = f"{row.name}@{row.version}"
            if row.status == RecipeStatus.DRAFT:
                recipes.approve(session, ref, by=ENGINEER, reason="demo: trials passed")
            if row.status == RecipeStatus.APPROVED:
                recipes.release(
                    session, ref, by=QUALITY, password=password, reason="demo: released for the run"
                )
    with session_scope(engine) as session:
        receive_lot(
            session,
            kind=LotKind.SEPARATOR,
            material="PE 20 um",
            length_m=200.0,
            supplier="Separator supplier",
            supplier_lot=f"SEP-{secrets.token_hex(3).upper()}",
            by=ENGINEER,
            width_mm=60.0,
        )
    return passwords


def _progress_text(session: Session, orders: list[int]) -> tuple[int, int, str]:
    lots = session.exec(select(Lot).where(col(Lot.work_order_id).in_(orders))).all()
    steps = session.exec(select(StepRun).where(col(StepRun.lot_id).in_([lot.id for lot in lots]))).all()
    done = sum(1 for s in steps if s.state in TERMINAL)
    running = [f"{s.step_name}" for s in steps if s.state == StepRunState.RUNNING]
    return done, len(steps), ", ".join(running) or "waiting"


async def _watch(
    engine: Engine, runner: LineRunner, orders: list[int], console: Console, timeout_s: float
) -> None:
    started = time.monotonic()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        bar = progress.add_task("running", total=1)
        while True:
            with session_scope(engine) as session:
                done, total, text = _progress_text(session, orders)
                finished = all(
                    o.state in (WorkOrderState.COMPLETED, WorkOrderState.ABORTED)
                    for o in session.exec(select(WorkOrder).where(col(WorkOrder.id).in_(orders))).all()
                )
                stuck = session.exec(select(StepRun).where(StepRun.state == StepRunState.PENDING)).all()
            progress.update(bar, total=max(total, 1), completed=done, description=f"running: {text}"[:60])
            if finished or (done == total and total > 0):
                return
            if time.monotonic() - started > timeout_s:
                raise MesError(
                    f"demo did not finish in {timeout_s:g} s; {len(stuck)} step(s) still pending "
                    f"(see {runner.workdir}/worker-*.log)"
                )
            await asyncio.sleep(0.25)


@dataclass(frozen=True)
class ArmedFault:
    """A fault armed on the simulated line for one step's job: which lot it will hit."""

    spec: str
    step_run_id: int
    lot: str
    step: str


def _arm_faults(session: Session, runner: LineRunner, orders: list[int]) -> list[ArmedFault]:
    """Arm each planned fault on every simulator for its job id, before the job can start."""
    from mes.recipes.models import Recipe as RecipeRow

    armed: list[ArmedFault] = []
    rows = session.exec(
        select(StepRun, Lot, RecipeRow)
        .join(Lot, col(Lot.id) == col(StepRun.lot_id))
        .join(RecipeRow, col(RecipeRow.id) == col(Lot.recipe_id))
        .where(col(Lot.work_order_id).in_(orders))
    ).all()
    for step, lot, recipe in rows:
        spec = FAULTS.get((recipe.name, int(lot.number.rsplit("-L", 1)[1]), step.step_index))
        if spec is None:
            continue
        for sim in runner.sims.values():
            fault = parse_fault(spec)
            fault.job = step.job_id
            sim.inject(fault)
        armed.append(ArmedFault(spec, pk(step), lot.number, step.step_name))
    return armed


def _fault_lines(session: Session, armed: list[ArmedFault]) -> tuple[list[str], str | None]:
    """What each injected fault did to its lot, and a signed release to try (a held interval)."""
    from mes.equipment.models import EquipmentUnit
    from mes.lots.models import IntervalStatus, OosInterval

    lines: list[str] = []
    release: str | None = None
    for fault in armed:
        step = session.get(StepRun, fault.step_run_id)
        lot = session.exec(select(Lot).where(Lot.number == fault.lot)).one()
        unit = session.get(EquipmentUnit, step.equipment_unit_id) if step and step.equipment_unit_id else None
        held = session.exec(
            select(OosInterval).where(OosInterval.lot_id == lot.id, OosInterval.status == IntervalStatus.HELD)
        ).all()
        on = f" on {unit.name}" if unit else ""
        lines.append(
            f"  {fault.spec.split(',')[0]} ({fault.spec}){on} hit lot {fault.lot}, step {fault.step}: "
            f"lot {lot.status.value}, {len(held)} interval(s) held"
        )
        if release is None and held:
            release = (
                f"echo {{password}} | mes lot release {fault.lot} --interval {held[0].id} --by {QUALITY} "
                '--reason "demo: held metres reviewed" --password-stdin'
            )
    return lines, release


async def run_demo(
    settings: Settings,
    console: Console,
    *,
    workdir: Path,
    time_scale: float = 3_000.0,
    timeout_s: float = 600.0,
    env: dict[str, str] | None = None,
    show_lots: Callable[[list[LotSummary]], None] | None = None,
    web: tuple[str, int] | None = None,
    serve: bool = False,
    finished: Callable[[DemoResult], None] | None = None,
) -> DemoResult:
    """The whole flow; ``env`` carries the MES_* settings the worker processes need; ``show_lots``
    prints what the line made (the command line's table, which never cuts a lot number).

    With ``web`` (host, port) the operator pages are served from the start (``mes web``, its URL
    printed first); with ``serve`` the line and the pages stay up after the summary, for orders made in
    the browser, until the run is interrupted (Ctrl-C)."""
    if settings.is_production:
        raise ConfigError(
            "MES_ENVIRONMENT is production: `mes demo` runs in development only (it makes users with a "
            "published password and orders on whatever database it is given)"
        )
    started = time.monotonic()
    line = load_line_for(settings)
    runner = LineRunner(line, env or {}, workdir, time_scale=time_scale)
    runner.check_ports()  # a taken port is refused before the database is touched
    engine = make_engine(settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    console.print(f"database {engine.url.render_as_string(hide_password=True)}, broker {settings.broker_url}")
    upgrade(engine)
    with session_scope(engine) as session:
        sync_units(session, line)
    embedded = engine.dialect.name == "sqlite"
    passwords = prepare(engine, ROOT / "recipes", published=embedded)
    password = passwords[QUALITY]
    console.print("recipes imported, approved and released; separator lot received")
    url = ""
    try:
        if web is not None:
            url = runner.start_web(*web)
            where = "the demo's database only" if embedded else "random, for this run"
            console.print(f"Operator pages: {url}/  (log in as {OPERATOR} / {passwords[OPERATOR]}, "
                          f"{ENGINEER} / {passwords[ENGINEER]} or {QUALITY} / {password}: {where})",
                          markup=False, soft_wrap=True)  # fmt: skip
        await runner.start_sims()
        console.print(f"{len(runner.sims)} simulated units up (time scale {time_scale:g})")
        runner.start_workers()
        await runner.start_collector(settings.database_url)
        from workers.app import make_app

        app = make_app(settings)  # this run's broker, whatever the process was started with
        orders: list[int] = []
        with session_scope(engine) as session:
            for ref, lots, size in ORDERS:
                order = create_order(session, ref, lots, by=ENGINEER, line=line, lot_size=size)
                expand_order(session, order)  # lots and job ids now, so faults can be armed per job
                orders.append(pk(order))
            armed = _arm_faults(session, runner, orders)
        for order_id in orders:
            app.send_task("mes.dispatch_order", (order_id,), queue="dispatch")
        console.print(
            f"{len(orders)} work orders dispatched; {len(armed)} faults armed on the simulated line"
        )
        await _watch(engine, runner, orders, console, timeout_s)
        result = _summary(engine, runner, orders, armed, console, started, show_lots=show_lots,
                          password=password, embedded=embedded)  # fmt: skip
        if finished is not None:
            finished(result)
        if serve and runner.web is not None:
            console.print(f"The line and the operator pages ({url}/) stay up for orders made in the "
                          "browser; Ctrl-C stops them.", markup=False, soft_wrap=True)  # fmt: skip
            await asyncio.Event().wait()  # until Ctrl-C cancels the run
        return result
    finally:
        await runner.stop()
        runner.wait_workers()
        engine.dispose()


def _summary(
    engine: Engine,
    runner: LineRunner,
    orders: list[int],
    armed: list[ArmedFault],
    console: Console,
    started: float,
    *,
    show_lots: Callable[[list[LotSummary]], None] | None,
    password: str,
    embedded: bool,
) -> DemoResult:
    """Print what the line made, the faults and the signed release to try; the result."""
    with session_scope(engine) as session:
        made = session.exec(select(Lot).where(col(Lot.work_order_id).in_(orders))).all()
        rows = [lot_summary(session, lot) for lot in made]
        open_alarms = len(session.exec(select(Alarm).where(col(Alarm.is_open))).all())
        faults, release = _fault_lines(session, armed)
    scans = runner.collector.stored if runner.collector else 0
    if show_lots is not None:
        show_lots(rows)
    held = sum(r.intervals_held for r in rows)
    cells = sum(int(r.material.split()[0]) for r in rows if r.kind == LotKind.CELL)
    console.print(
        f"{len(rows)} lots, {sum(r.layers for r in rows)} layers, "
        f"{sum(r.layers_out_of_spec for r in rows)} out of spec, {held} interval(s) held, "
        f"{cells} cells wound; {open_alarms} alarm(s) waiting for acknowledgement (mes alarm list)"
    )
    console.print("Faults injected, and the lot each hit:", markup=False)
    for text in faults:
        console.print(text, markup=False)
    where = "the demo's database only" if embedded else "random, for this run"
    console.print(f"Quality user: {QUALITY}, password {password} ({where}).", markup=False)
    if release is not None:
        console.print("Try a signed release of held metres:", markup=False)
        console.print(f"  {release.format(password=shlex.quote(password))}", markup=False)
    return DemoResult(rows, time.monotonic() - started, scans)


def demo_environment(settings: Settings, workdir: Path) -> dict[str, str]:
    """The settings the worker processes get: same database, same broker folder, same line."""
    return {
        "MES_DATABASE_URL": settings.database_url,
        "MES_BROKER_URL": settings.broker_url,
        "MES_BROKER_FOLDER": str(settings.broker_folder.resolve()),
        "MES_LINE_CONFIG": str(settings.line_config.resolve()),
        "MES_ENVIRONMENT": settings.environment,
    }


def embedded_settings(database_url: str | None, workdir: Path, line: Path | None = None) -> Settings:
    """The embedded default: a SQLite file and a filesystem broker under ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    broker = workdir / "broker"
    shutil.rmtree(broker, ignore_errors=True)  # messages of an earlier, interrupted demo
    values = {
        "broker_url": "filesystem://",
        "broker_folder": broker,
        "line_config": line or ROOT / "deploy" / "line.yaml",
    }
    if database_url:
        values["database_url"] = database_url
    settings = Settings(**values)  # type: ignore[arg-type]
    os.environ.update(demo_environment(settings, workdir))
    from mes.config import get_settings

    get_settings.cache_clear()  # anything that reads settings from here on sees the embedded ones
    return settings
