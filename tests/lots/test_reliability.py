"""Faults the line must survive: killed workers, a restarted broker, lost equipment links, busy units.

Each test runs real worker processes against real simulators, PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from sqlmodel import select

from mes.db import session_scope
from mes.equipment.profile import Command, PackMLState
from mes.execution.scheduler import unit_queue
from mes.lots.models import LotStatus, StepRunState
from mes.quality.models import Alarm
from mes.sim.unit import SimUnit
from tests.lots.harness import LineUnderTest
from tests.services import free_port

SI = "capped-si-anode@1"


def _starts(line: LineUnderTest, job: str) -> int:
    return sum(sim.start_counts.get(job, 0) for sim in line.runner.sims.values())


@pytest.fixture
async def sputter_line(tmp_path: Path, pg_url: str, broker: str) -> AsyncIterator[LineUnderTest]:
    line = LineUnderTest(tmp_path, pg_url, broker, ["sputter-1"], time_scale=600, stale_after_s=5)
    await line.start()
    yield line
    await line.stop()


async def test_worker_killed_while_starting_and_while_running(sputter_line: LineUnderTest) -> None:
    line = sputter_line
    queue = unit_queue("sputter-1")
    line.order(SI, 1, lot_size=12)
    await line.wait_for(
        lambda: line.step_in(StepRunState.DISPATCHED, 0, gauge_seq_start=True), 30, "step prepared"
    )
    line.runner.kill_worker(queue)  # kill -9 around the Start
    line.runner.start_worker(queue)
    await line.wait_for(lambda: line.step_in(StepRunState.RUNNING, 0), 60, "step running again")
    await asyncio.sleep(0.5)
    line.runner.kill_worker(queue)  # kill -9 while the unit executes
    line.runner.start_worker(queue)
    await line.wait_for(line.orders_done, 120, "the lot to complete")
    steps = line.steps()
    assert [s.state for s in steps] == [StepRunState.COMPLETED, StepRunState.COMPLETED]
    assert all(_starts(line, s.job_id) == 1 for s in steps)  # never started twice
    for step in steps:
        line.assert_scans_complete(step)  # no measurement missing
    assert [lot.status for lot in line.lots()] == [LotStatus.RELEASED]


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    if shutil.which("redis-server") is None:
        pytest.fail(
            "redis-server is not installed: the broker-restart test needs it (apt-get install redis-server)"
        )
    port = free_port()
    directory = tmp_path / "redis"
    directory.mkdir()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", "",
           "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no"]  # fmt: skip
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            import time

            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0", cmd
    for proc in procs:
        proc.terminate()
    subprocess.run(["pkill", "-f", f"redis-server 127.0.0.1:{port}"], check=False)


async def test_broker_restarted_mid_run_loses_no_step(tmp_path: Path, pg_url: str,
                                                      aof_redis: tuple[str, list[str]]) -> None:  # fmt: skip
    url, cmd = aof_redis
    line = LineUnderTest(tmp_path, pg_url, url, ["sputter-1"], time_scale=600, stale_after_s=5)
    try:
        await line.start()
        line.order(SI, 2, lot_size=8)
        await line.wait_for(lambda: line.step_in(StepRunState.RUNNING, 0), 60, "first step running")
        port = url.rsplit(":", 1)[1].split("/")[0]
        redis.Redis(port=int(port)).shutdown(nosave=False)  # AOF is fsynced on every write
        await asyncio.sleep(1.0)
        subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
        await line.wait_for(line.orders_done, 150, "both lots to complete after the broker restart")
        steps = line.steps()
        assert [s.state for s in steps] == [StepRunState.COMPLETED] * 4
        assert all(_starts(line, s.job_id) == 1 for s in steps)
    finally:
        await line.stop()


async def test_simulator_restarted_mid_step_resumes(sputter_line: LineUnderTest) -> None:
    line = sputter_line
    line.order(SI, 1, lot_size=12)
    await line.wait_for(lambda: line.step_in(StepRunState.RUNNING, 0), 60, "step running")
    await line.runner.sims["sputter-1"].restart_server(down_s=2.0)  # the machine keeps its job
    await line.wait_for(line.orders_done, 120, "the lot to complete")
    steps = line.steps()
    assert [s.state for s in steps] == [StepRunState.COMPLETED] * 2
    assert all(_starts(line, s.job_id) == 1 for s in steps)
    for step in steps:
        line.assert_scans_complete(step)


async def test_a_unit_that_lost_its_job_holds_the_step_with_an_alarm(sputter_line: LineUnderTest) -> None:
    line = sputter_line
    line.order(SI, 1, lot_size=20)
    await line.wait_for(lambda: line.step_in(StepRunState.RUNNING, 0), 60, "step running")
    old = line.runner.sims["sputter-1"]
    await old.stop()  # a power cycle: the new machine knows nothing of the job
    fresh = SimUnit("sputter-1", old.profile, old.endpoint, time_scale=600, seed=5)
    await fresh.start()
    line.runner.sims["sputter-1"] = fresh
    await line.wait_for(lambda: line.step_in(StepRunState.HELD, 0), 90, "the step to be held")
    step = line.steps()[0]
    assert "the job was lost" in (step.error or "")
    with session_scope(line.engine) as session:
        alarms = session.exec(select(Alarm)).all()
    assert any(a.condition == f"step:{step.id}:held" for a in alarms)
    assert [lot.status for lot in line.lots()] == [LotStatus.ON_HOLD]
    assert line.steps()[1].state == StepRunState.PENDING  # never silently completed


async def test_a_unit_busy_with_a_foreign_job_is_not_touched(
    tmp_path: Path, pg_url: str, broker: str
) -> None:
    line = LineUnderTest(tmp_path, pg_url, broker, ["sputter-1"], time_scale=50, stale_after_s=5)
    try:
        await line.start(collector=False)
        sim = line.runner.sims["sputter-1"]
        await sim.command(Command.RESET)
        await asyncio.sleep(0.5)
        assert sim.machine.state == PackMLState.IDLE
        await sim._write("job.id", "FOREIGN-1", "String")
        await sim._write("job.length_m", 1e6, "Double")
        await sim.command(Command.START)
        before = dict(sim.job["setpoints"])
        line.order(SI, 1, lot_size=5)
        await line.wait_for(lambda: line.step_in(StepRunState.HELD, 0), 60, "the step to be held")
        step = line.steps()[0]
        assert "a job starts only from Idle" in (step.error or "")
        assert sim.start_counts == {"FOREIGN-1": 1}  # our job was never started
        assert {k: float(sim._read(f"sp.{k}")) for k in before} == before  # nothing written
    finally:
        await line.stop()
