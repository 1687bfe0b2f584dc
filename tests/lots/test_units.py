"""``mes unit list|show``: state, current step, health, last value age — from the database the collector writes."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from mes.base import pk, utcnow
from mes.collector.service import Collector
from mes.db import make_engine, session_scope
from mes.demo import ENGINEER, prepare
from mes.equipment.models import EquipmentUnit
from mes.equipment.profile import Line, load_line
from mes.execution.errors import UnitNotFound
from mes.execution.scheduler import schedule, sync_units
from mes.execution.units import beat, last_beat, list_unit_status, unit_status
from mes.lots.models import Characteristic, Layer, StepRun, StepRunState
from mes.lots.orders import create_order, expand_order
from mes.lots.scans import insert_scans, scan_row
from mes.migrate import upgrade
from mes.sim.unit import SimUnit
from tests.lots.harness import write_line
from tests.test_cli import assert_one_line_error, run_mes

ROOT = Path(__file__).resolve().parents[2]
LINE = ROOT / "deploy" / "line.yaml"


@pytest.fixture
def line() -> Line:
    return load_line(LINE)


def test_unit_status_puts_state_step_health_and_freshness_together(engine: Engine, line: Line) -> None:
    prepare(engine, ROOT / "recipes")
    with session_scope(engine) as session:
        sync_units(session, line)
        order = create_order(session, "cathode-lco@1", 1, by=ENGINEER, line=line, lot_size=10)
        [lot] = expand_order(session, order)
        [item] = schedule(session, line)
        step = session.get(StepRun, item.step_run_id)
        assert step is not None
        step.state, step.started_at = StepRunState.RUNNING, utcnow() - timedelta(seconds=60)
        layer = session.exec(select(Layer).where(Layer.step_run_id == step.id)).one()
        char = session.exec(select(Characteristic).where(Characteristic.layer_id == layer.id)).first()
        assert char is not None
        made = time.time() - 30
        insert_scans(session, [scan_row(pk(lot), pk(layer), pk(char), s, s * 0.01, made - 10 + s, [1.0] * char.lanes)
                               for s in range(1, 11)])  # fmt: skip
        unhealthy = session.exec(select(EquipmentUnit).where(EquipmentUnit.name == "winder-1")).one()
        unhealthy.healthy, unhealthy.health_reason = False, "lost the link to winder-1"
        seen = utcnow() - timedelta(seconds=100)
        beat(session, "collector", host="h", pid=1, started_at=seen, seen={"coater-1": ("Execute", seen)})
    with session_scope(engine) as session:
        coater = unit_status(session, "coater-1")
        units = {u.name: u for u in list_unit_status(session)}
        with pytest.raises(UnitNotFound, match="no unit nope .*coater-1"):
            unit_status(session, "nope")
    # Expected: the last state the collector read, the step holding the lease, and the age of the newer
    # of the unit's last answer (100 s ago) and its last scan (made 30 s ago).
    assert coater.state == "Execute" and coater.healthy
    assert coater.current_step is not None
    assert (coater.current_step.lot, coater.current_step.step) == (lot.number, "lco-coat")
    assert coater.current_step.state == StepRunState.RUNNING
    assert coater.last_value_age_s is not None and 29 <= coater.last_value_age_s < 40
    assert list(units) == ["coater-1", "sputter-1", "sputter-2", "winder-1"]
    winder = units["winder-1"]
    assert not winder.healthy and winder.health_reason == "lost the link to winder-1"
    assert winder.state is None and winder.current_step is None and winder.last_value_age_s is None


async def test_the_collector_records_states_and_its_heartbeat(tmp_path: Path) -> None:
    path = write_line(tmp_path / "line.yaml", ["sputter-1", "coater-1"])
    line = load_line(path)
    url = f"sqlite:///{tmp_path / 'mes.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        sync_units(session, line)
    sim = SimUnit("sputter-1", line.profiles["sputter-1"], line.unit("sputter-1").endpoint, time_scale=100)
    await sim.start()  # coater-1 has no machine behind it
    collector = Collector(engine, line, spool_path=tmp_path / "spool.sqlite", spool_max_mb=16)
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with session_scope(engine) as session:
                if unit_status(session, "sputter-1").state is not None:
                    break
            await asyncio.sleep(0.2)
        env = {"MES_DATABASE_URL": url, "MES_LINE_CONFIG": str(path)}
        shown = await asyncio.to_thread(run_mes, "unit", "show", "sputter-1", "--json", env=env, cwd=tmp_path)
        listed = await asyncio.to_thread(run_mes, "unit", "list", env=env, cwd=tmp_path)
    finally:
        stop.set()
        await task
        await sim.stop()
    # Expected: the simulator's state as the collector read it, seconds ago; the unit without a machine
    # never seen; the collector's heartbeat fresh.
    sputter = json.loads(shown.stdout)
    assert sputter["state"] == "Stopped" and sputter["last_value_age_s"] < 10, sputter
    assert sputter["healthy"] is True and sputter["current_step"] is None
    assert "sputter-1" in listed.stdout and "Stopped" in listed.stdout and "not seen" in listed.stdout
    with session_scope(engine) as session:
        heartbeat = last_beat(session, "collector")
    assert heartbeat is not None and heartbeat.alive and heartbeat.age_s < 10
    engine.dispose()
    assert_one_line_error(run_mes("unit", "show", "nope", env=env, cwd=tmp_path), "no unit nope")
