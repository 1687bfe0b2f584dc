"""The demo's line (``deploy/line.yaml``: two sputter units, a coater, a winder) in a test database,
set up through the domain services as a running line leaves it: orders dispatched by the scheduler,
steps running with their scans stored as the collector stores them, and the collector's heartbeat with
what it last read of each unit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Browser
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mes.base import pk, utcnow
from mes.collector.live import LiveValues
from mes.config import Settings
from mes.db import session_scope
from mes.demo import ENGINEER, ROOT, prepare
from mes.equipment.driver import ScanRecord
from mes.equipment.profile import Line, load_line
from mes.events.schemas import ProcessValues
from mes.execution.faults import mark_unit
from mes.execution.scheduler import ACTIVE, plan, release_lease, schedule, sync_units, transition
from mes.execution.steps import ingest
from mes.execution.units import beat
from mes.hmi.app import create_web_app
from mes.lots.models import StepRun, StepRunState
from mes.lots.orders import create_order, expand_order
from mes.quality.models import ControlLimit
from mes.recipes.service import get_recipe
from tests.api.conftest import make_callers
from tests.api.server import serve
from tests.hmi.conftest import Hmi
from tests.lots.conftest import REDIS_DB
from tests.services import ServiceUrls

LINE_FILE = ROOT / "deploy" / "line.yaml"
SPUTTER, COATER, IDLE, WINDER = "sputter-1", "coater-1", "sputter-2", "winder-1"
LINK_LOST = "lost the link to winder-1: 10 attempts over 61 s failed"


@dataclass(frozen=True)
class Running:
    """A step running on a unit: its job, lot and the characteristic its gauge measures."""

    unit: str
    job: str
    lot: str
    step_id: int
    gauge: str
    characteristic: str
    lanes: int
    pitch_m: float
    length_m: float


def line() -> Line:
    return load_line(LINE_FILE)


def _start(session: Session, ref: str, size: float, the_line: Line) -> None:
    order = create_order(session, ref, 1, by=ENGINEER, line=the_line, lot_size=size)
    expand_order(session, order)
    schedule(session, the_line, holder="test")


def _running(session: Session, unit: str) -> Running:
    step = session.exec(
        select(StepRun).where(StepRun.state == StepRunState.DISPATCHED).order_by(StepRun.id)  # type: ignore[arg-type]
    ).all()
    found = [s for s in step if (p := plan(session, pk(s), lock=False)) is not None and p.unit == unit]
    assert found, f"no step was dispatched to {unit}"
    current = found[0]
    p = plan(session, pk(current), lock=False)
    assert p is not None
    started = utcnow() - timedelta(minutes=5)
    assert transition(session, pk(current), p.chain_token, ACTIVE, state=StepRunState.RUNNING, started_at=started,
                      seen_running_at=started, gauge_seq_start=dict.fromkeys(p.gauges, 0))  # fmt: skip
    from mes.lots.models import Characteristic

    gauge, char_id = next(iter(p.gauges.items()))
    char = session.get(Characteristic, char_id)
    assert char is not None
    return Running(unit, p.job_id, p.lot_number, pk(current), gauge, char.name, char.lanes, char.pitch_m,
                   p.length_m)  # fmt: skip


def build(engine: Engine) -> dict[str, Running]:
    """Sputter-1 and coater-1 running (no scans yet), sputter-2 idle, winder-1 out of service with
    no link; the collector alive and every other unit answering."""
    prepare(engine, ROOT / "recipes")
    the_line = line()
    with session_scope(engine) as s:
        sync_units(s, the_line)
        _start(s, "capped-si-anode@1", 40.0, the_line)
        _start(s, "cathode-lco@1", 40.0, the_line)
        running = {u: _running(s, u) for u in (SPUTTER, COATER)}
        from mes.equipment.models import EquipmentUnit

        winder = s.exec(select(EquipmentUnit).where(EquipmentUnit.name == WINDER)).one()
        mark_unit(s, pk(winder), False, LINK_LOST)
        # Control limits of the Si layer on sputter-1, as a phase I baseline leaves them.
        sputter = s.exec(select(EquipmentUnit).where(EquipmentUnit.name == SPUTTER)).one()
        s.add(ControlLimit(recipe_id=pk(get_recipe(s, "capped-si-anode@1")), equipment_unit_id=pk(sputter),
                           layer_name="si-active", characteristic="thickness", segment_m=0.5, center=4000.0,
                           lcl=3900.0, ucl=4100.0, sigma=33.3, n_baseline=25, source="test baseline",
                           created_by=ENGINEER))  # fmt: skip
    answer(engine)
    return running


def answer(engine: Engine, *, silent: tuple[str, ...] = (WINDER,), ago_s: float = 0.0) -> None:
    """The collector's heartbeat, with every unit but ``silent`` answering ``ago_s`` seconds ago (the
    silent ones last answered ten minutes ago)."""
    now = utcnow()
    seen = {}
    for name in (SPUTTER, COATER, IDLE, WINDER):
        at = now - timedelta(minutes=10) if name in silent else now - timedelta(seconds=ago_s)
        seen[name] = ("Stopped" if name in silent else "Execute" if name in (SPUTTER, COATER) else "Idle", at)
    with session_scope(engine) as s:
        beat(s, "collector", host="test", pid=1, started_at=now - timedelta(hours=1), seen=seen)


def value_at(target: float, position_m: float) -> float:
    """A smooth wander of ±1 % around ``target``."""
    return target * (1 + 0.01 * math.sin(position_m * 3.0))


def store_scans(
    engine: Engine,
    run: Running,
    values: list[float],
    *,
    first_seq: int = 1,
    measured_at: datetime | None = None,
) -> None:
    """Scans of the step's first gauge with these lane means, one pitch apart from ``first_seq``, stored
    as the collector stores them."""
    at = (measured_at or utcnow()).timestamp()
    records = [
        ScanRecord(first_seq + i, round((first_seq + i - 1) * run.pitch_m, 9), at, [v] * run.lanes)
        for i, v in enumerate(values)
    ]
    with session_scope(engine) as s:
        p = plan(s, run.step_id, lock=False, active_only=False)
        assert p is not None
        ingest(s, p, {run.gauge: records}, low=p.gauge_seq_start)


def redis_url() -> str:
    """The test Redis, at this run's database (``MES_TEST_REDIS_DB``): live values go through it (its
    channels are shared by every database of the server; the pages follow only their own jobs)."""
    base = ServiceUrls.from_env().redis_url.rsplit("/", 1)[0]
    return f"{base}/{REDIS_DB}"


@pytest.fixture
def live_hmi(db_url: str, engine: Engine, browser: Browser) -> Iterator[Hmi]:
    """:func:`tests.hmi.conftest.hmi` with live values through the test Redis (``MES_LIVE_URL``)."""
    callers = make_callers(engine)
    app = create_web_app(Settings(database_url=db_url, live_url=redis_url()), engine=engine)
    with serve(app) as base_url:
        found = Hmi(base_url, callers, browser, [])
        yield found
        for context in found.contexts:
            context.close()


def publish(
    engine: Engine,
    run: Running,
    values: list[float],
    *,
    first_seq: int,
    process: dict[str, float] | None = None,
) -> int:
    """Scans stored, then the newest published on Redis, as the collector does each poll (with the
    unit's process values when given); the next seq."""
    store_scans(engine, run, values, first_seq=first_seq)
    last = first_seq + len(values) - 1
    scan = ScanRecord(
        last, round((last - 1) * run.pitch_m, 9), utcnow().timestamp(), [values[-1]] * run.lanes
    )
    with session_scope(engine) as s:
        step = plan(s, run.step_id, lock=False, active_only=False)
    assert step is not None
    sample = None
    if process is not None:
        sample = ProcessValues(unit=run.unit, lot=run.lot, job=run.job, read_at=utcnow(), values=process,
                               units=dict.fromkeys(process, ""))  # fmt: skip
    live = LiveValues(redis_url(), "MES_LIVE_URL")
    try:
        live.publish(step, {run.gauge: scan} if values else {}, sample)
    finally:
        live.redis.close()
    return last + 1


def jobs_done(engine: Engine, unit: str, count: int) -> list[tuple[str, str]]:
    """``count`` one-step lots made on ``unit`` (which must be the free one the scheduler picks), one
    after the other; their (job id, lot), oldest first."""
    the_line = line()
    made = []
    for _ in range(count):
        with session_scope(engine) as s:
            _start(s, "thin-composite-anode-carbon@1", 5.0, the_line)
            step = s.exec(select(StepRun).where(StepRun.state == StepRunState.DISPATCHED)).all()
            p = next(p for st in step if (p := plan(s, pk(st), lock=False)) is not None and p.unit == unit)
            done = utcnow()
            assert transition(s, p.step_run_id, p.chain_token, ACTIVE, state=StepRunState.COMPLETED,
                              started_at=done - timedelta(minutes=2), ended_at=done)  # fmt: skip
            release_lease(s, p.unit_id, p.step_run_id)
            made.append((p.job_id, p.lot_number))
    return made
