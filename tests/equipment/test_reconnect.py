"""Lost links: the driver reconnects and backfills from the unit's ring buffer, losing no scan."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from mes.equipment.driver import ScanRecord, UnitDriver
from mes.equipment.profile import Command, PackMLState, load_line
from tests.equipment.conftest import ROOT, SimFactory
from tests.equipment.test_sim_driver import SPUTTER
from tests.services import free_port

S = PackMLState


async def _collect(driver: UnitDriver, until: set[PackMLState], timeout_s: float,
                   during: asyncio.Event | None = None) -> list[ScanRecord]:  # fmt: skip
    """Read new scans by sequence number until the unit reaches ``until``; ride out link loss."""
    scans: list[ScanRecord] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        batch = await driver.read_scans("xrf", (scans[-1].seq + 1) if scans else 1, 2_000)
        scans.extend(batch)
        if len(scans) > 50 and during is not None:
            during.set()
        if not batch and await driver.read_state() in until:
            return scans
        await asyncio.sleep(0.05)
    raise AssertionError(f"unit never reached {until}; have {len(scans)} scans")


async def test_server_restart_mid_run_loses_no_scan(sim_factory: SimFactory, tmp_path: Path) -> None:
    async with sim_factory("packml-sputter", time_scale=800, state_file=tmp_path / "s.sqlite") as (
        sim,
        driver,
    ):
        await driver.command(Command.RESET)
        await driver.wait_for_state({S.IDLE}, 5)
        await driver.write_setpoints(SPUTTER)
        await driver.write_job("R-1", "Si", 6.0)
        await driver.command(Command.START)
        halfway = asyncio.Event()
        collector = asyncio.create_task(_collect(driver, {S.COMPLETE}, 60, halfway))
        await halfway.wait()
        await sim.restart_server(down_s=1.5)  # the link drops; the machine keeps running
        scans = await collector
    assert [s.seq for s in scans] == list(range(1, 602))
    assert sim.start_counts == {"R-1": 1}


def _start_sim(line: Path, state_dir: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("mes")), "sim", "--line", str(line), "--time-scale", "600",
         "--state-dir", str(state_dir), "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip


async def _wait_listening(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    while True:
        line = await asyncio.to_thread(proc.stdout.readline)
        if not line:
            raise AssertionError(f"simulator exited with {proc.wait()}")
        if "simulators running" in line:
            return


async def test_simulator_process_killed_and_restarted(tmp_path: Path) -> None:
    port = free_port()
    line_file = tmp_path / "line.yaml"
    line_file.write_text(
        "line: kill-test\nunits:\n  - name: sputter-1\n    equipment_class: sputter\n"
        f"    endpoint: opc.tcp://127.0.0.1:{port}\n    profile: {ROOT / 'recipes/profiles/packml-sputter.yaml'}\n"
    )
    line = load_line(line_file)
    proc = _start_sim(line_file, tmp_path / "state")
    driver = UnitDriver(line.unit("sputter-1"), line.profiles["sputter-1"], timeout_s=2, retry_s=30)
    try:
        await _wait_listening(proc)
        await driver.connect()
        await driver.command(Command.RESET)
        await driver.wait_for_state({S.IDLE}, 5)
        await driver.write_setpoints(SPUTTER)
        await driver.write_job("K-1", "Si", 5.0)
        await driver.command(Command.START)
        halfway = asyncio.Event()
        collector = asyncio.create_task(_collect(driver, {S.COMPLETE}, 90, halfway))
        await halfway.wait()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc = _start_sim(line_file, tmp_path / "state")
        await _wait_listening(proc)
        scans = await collector
        assert [s.seq for s in scans] == list(range(1, 502))
        assert await driver.read_start_counts() == {"K-1": 1}
        assert await driver.read_state() == S.COMPLETE
    finally:
        await driver.disconnect()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
