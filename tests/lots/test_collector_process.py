"""The collector publishes the unit's process values with the live values while a step runs on it:
a real simulator, the collector, the test Redis; a Bad process-value node leaves the scans alone."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy.engine import Engine
from sqlmodel import select

from mes.base import pk, utcnow
from mes.collector.live import read_process
from mes.collector.service import Collector
from mes.db import session_scope
from mes.demo import ENGINEER, ROOT, prepare
from mes.equipment.driver import UnitDriver
from mes.equipment.profile import load_line
from mes.events.live import live_channel, parse_message
from mes.events.schemas import LiveMessage
from mes.execution.scheduler import ACTIVE, plan, schedule, sync_units, transition
from mes.logs import StateLog
from mes.lots.models import StepRun, StepRunState
from mes.lots.orders import create_order, expand_order
from mes.sim.faults import parse_fault
from mes.sim.unit import SimUnit
from tests.lots.conftest import REDIS_DB
from tests.lots.harness import write_line
from tests.services import ServiceUrls, free_port

pytestmark = pytest.mark.timeout(120)


def _redis_url() -> str:
    return ServiceUrls.from_env().redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"


def _running_step(engine: Engine, line_file: Path, unit: str) -> int:
    """A capped-Si lot's first step running on ``unit`` (as the step task leaves it after Start)."""
    line = load_line(line_file)
    prepare(engine, ROOT / "recipes")
    with session_scope(engine) as s:
        sync_units(s, line)
        order = create_order(s, "capped-si-anode@1", 1, by=ENGINEER, line=line, lot_size=5.0)
        expand_order(s, order)
        schedule(s, line, holder="test")
        step = s.exec(select(StepRun).where(StepRun.state == StepRunState.DISPATCHED)).one()
        p = plan(s, pk(step), lock=False)
        assert p is not None and p.unit == unit
        assert transition(s, p.step_run_id, p.chain_token, ACTIVE, state=StepRunState.RUNNING, started_at=utcnow(),
                          gauge_seq_start=dict.fromkeys(p.gauges, 0))  # fmt: skip
        return p.step_run_id


async def test_process_values_go_out_with_the_live_values_while_a_step_runs(
    tmp_path: Path, engine: Engine
) -> None:
    unit = f"sputter-{secrets.token_hex(3)}"  # Redis channels are shared by every test on the server
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    line_file = write_line(tmp_path / "line.yaml", [unit], external={unit: (endpoint, "packml-sputter")})
    step_id = _running_step(engine, line_file, unit)
    line = load_line(line_file)
    sim = SimUnit(unit, line.profiles[unit], endpoint, time_scale=10, seed=5)
    await sim.start()
    listener = aioredis.Redis.from_url(_redis_url())
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(live_channel(unit))
    collector = Collector(
        engine, line, spool_path=tmp_path / "spool.sqlite", spool_max_mb=1, live_url=_redis_url()
    )
    stop = asyncio.Event()
    run = asyncio.create_task(collector.run(stop))
    try:
        got: LiveMessage | None = None
        deadline = time.monotonic() + 60
        while got is None or got.process is None:
            assert time.monotonic() < deadline, "no live message with process values"
            message = await pubsub.get_message(timeout=1.0)
            if message is not None:
                got = parse_message(message["data"])
        process = got.process
        with session_scope(engine) as s:
            step = s.get(StepRun, step_id)
            assert step is not None
            assert (process.unit, process.job, got.job) == (unit, step.job_id, step.job_id)
        assert set(process.values) == set(line.profiles[unit].process_values)
        assert process.units["power_w"] == "W" and process.units["web_speed_m_min"] == "m/min"
        assert process.published_at == got.published_at
        assert got.values == []  # the machine is idle: no scans, the process values all the same
    finally:
        stop.set()
        await asyncio.gather(run, return_exceptions=True)
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await listener.aclose()
        await sim.stop()


async def test_a_process_value_node_answering_bad_is_said_once_and_reads_go_on(
    tmp_path: Path, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    unit = "sputter-1"
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    line_file = write_line(tmp_path / "line.yaml", [unit], external={unit: (endpoint, "packml-sputter")})
    step_id = _running_step(engine, line_file, unit)
    line = load_line(line_file)
    sim = SimUnit(unit, line.profiles[unit], endpoint, time_scale=10, seed=5,
                  faults=[parse_fault("bad_status,node=pv.power_w,status=BadSensorFailure")])  # fmt: skip
    await sim.start()
    driver = UnitDriver(line.unit(unit), line.profiles[unit], retry_s=5.0)
    await driver.connect()
    try:
        with session_scope(engine) as s:
            current = plan(s, step_id, lock=False)
        assert current is not None
        failing = StateLog(logging.getLogger("mes.collector.live"))
        deadline = time.monotonic() + 30
        while failing.ok:  # the fault arms with the unit's next tick
            assert time.monotonic() < deadline, "the Bad node never answered Bad"
            await read_process(driver, current, failing)
            await asyncio.sleep(0.05)
        assert await read_process(driver, current, failing) is None  # no exception: the scans go on
        assert (await driver.read_state()) is not None
        said = [r.getMessage() for r in caplog.records if "process values not read" in r.getMessage()]
        assert len(said) == 1 and unit in said[0]
    finally:
        await driver.disconnect()
        await sim.stop()
