"""The sync → async bridge Celery tasks use: a loop thread per process, timeouts that cancel."""

from __future__ import annotations

import asyncio
import multiprocessing
import subprocess
import sys
import threading

import pytest

from mes.equipment.driver import UnitDriver
from mes.equipment.jobs import run_job
from mes.equipment.profile import PackMLState, UnitConfig
from mes.sim.unit import SimUnit
from tests.equipment.conftest import PROFILES, profile
from tests.equipment.test_sim_driver import SPUTTER
from tests.services import free_port
from workers.bridge import LoopThread
from workers.errors import BridgeTimeout


def test_runs_a_coroutine_and_cancels_on_timeout() -> None:
    bridge = LoopThread()
    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    try:
        assert bridge.run(add(2, 3), timeout_s=5) == 5
        with pytest.raises(BridgeTimeout, match="cancelled"):
            bridge.run(slow(), timeout_s=0.2)
        assert cancelled.wait(5)
        assert bridge.run(add(1, 1), timeout_s=5) == 2  # still usable
    finally:
        bridge.stop()


def _use_inherited(bridge: LoopThread, result: multiprocessing.Queue[str]) -> None:
    async def nothing() -> None:
        return None

    try:
        bridge.run(nothing(), timeout_s=1)
        result.put("ran")
    except RuntimeError as exc:
        result.put(str(exc))


def test_a_loop_inherited_across_fork_is_refused() -> None:
    bridge = LoopThread()
    try:
        queue: multiprocessing.Queue[str] = multiprocessing.get_context("fork").Queue()
        child = multiprocessing.get_context("fork").Process(target=_use_inherited, args=(bridge, queue))
        child.start()
        child.join(20)
        assert "create it after fork" in queue.get(timeout=5)
    finally:
        bridge.stop()


def test_a_full_sputter_job_through_the_bridge() -> None:
    prof = profile("packml-sputter")
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    unit = UnitConfig(name="sputter-b", equipment_class=prof.equipment_class, endpoint=endpoint,
                      profile=PROFILES / "packml-sputter.yaml")  # fmt: skip
    sim_loop, worker_loop = LoopThread("sim"), LoopThread("worker")
    sim = SimUnit("sputter-b", prof, endpoint, time_scale=2000, seed=1)
    try:
        sim_loop.run(sim.start(), timeout_s=30)
        driver = UnitDriver(unit, prof)

        async def job() -> PackMLState:
            await driver.connect()
            try:
                result = await run_job(driver, job_id="BR-1", setpoints=SPUTTER, product="Si", length_m=3.0,
                                       timeout_s=30, recipe=SPUTTER)  # fmt: skip
                return result.final_state
            finally:
                await driver.disconnect()

        assert worker_loop.run(job(), timeout_s=60) == PackMLState.COMPLETE
        assert sim.start_counts == {"BR-1": 1}
    finally:
        sim_loop.run(sim.stop(), timeout_s=30)
        sim_loop.stop()
        worker_loop.stop()


def test_each_process_makes_its_own_loop_after_fork() -> None:
    code = (
        "from workers import bridge\n"
        "try:\n    bridge.process_loop()\nexcept RuntimeError as e:\n    print('before:', e)\n"
        "a = bridge.init_process_loop(); b = bridge.init_process_loop()\n"
        "print('same:', a is b, bridge.process_loop() is a)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert "before: no equipment loop in this process" in result.stdout
    assert "same: True True" in result.stdout
