"""Faults that must end in a held step with an alarm — with real workers, simulators, PostgreSQL, Redis.

Also the ways back (``mes step resume|abort``, ``mes unit set-healthy``) through the real CLI.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sqlmodel import col, select

from mes.audit.models import AuditEvent
from mes.db import session_scope
from mes.demo import ENGINEER, prepare
from mes.equipment.models import EquipmentUnit
from mes.equipment.profile import Command, PackMLState, load_line
from mes.execution.faults import hold_step
from mes.execution.scheduler import plan, schedule, sync_units
from mes.lots.models import Lot, LotStatus, StepRun, StepRunState
from mes.lots.orders import create_order, expand_order
from mes.migrate import upgrade
from mes.quality.models import Alarm
from mes.sim.unit import SimUnit
from tests.lots.harness import ROOT, LineUnderTest, write_line

SI = "capped-si-anode@1"
MES = str(Path(sys.executable).with_name("mes"))


def _unit(line: LineUnderTest, name: str) -> EquipmentUnit:
    with session_scope(line.engine) as session:
        unit = session.exec(select(EquipmentUnit).where(EquipmentUnit.name == name)).one()
        session.expunge(unit)
        return unit


def _alarms(line: LineUnderTest, condition: str) -> list[Alarm]:
    with session_scope(line.engine) as session:
        return list(session.exec(select(Alarm).where(Alarm.condition == condition)).all())


async def test_a_unit_that_stays_down_is_held_after_the_budget(
    tmp_path: Path, pg_url: str, broker: str
) -> None:
    # The reconciler re-chains a step nobody touched for 2 s: it must not restart the budget.
    line = LineUnderTest(tmp_path, pg_url, broker, ["sputter-1"], time_scale=600, stale_after_s=2)
    line.env.update({"MES_STEP_LINK_ATTEMPTS": "3", "MES_STEP_LINK_BUDGET_S": "4"})
    try:
        await line.start()
        line.order(SI, 1, lot_size=20)
        await line.wait_for(lambda: line.step_in(StepRunState.RUNNING, 0), 60, "step running")
        await line.runner.sims.pop("sputter-1").stop()  # and it stays down
        await line.wait_for(lambda: line.step_in(StepRunState.HELD, 0), 120, "the step to be held")
        step = line.steps()[0]
        assert "lost the link to sputter-1" in (step.error or "")
        assert step.link_failures >= 3
        unit = _unit(line, "sputter-1")
        assert not unit.healthy
        assert "lost the link to sputter-1" in (unit.health_reason or "")
        [alarm] = _alarms(line, f"step:{step.id}:held")
        assert "lost the link to sputter-1" in alarm.message
        assert [lot.status for lot in line.lots()] == [LotStatus.ON_HOLD]
        await asyncio.sleep(6)  # a reconcile or two later: still held, nothing counted again
        again = line.steps()
        assert (again[0].state, again[0].link_failures) == (StepRunState.HELD, step.link_failures)
        assert again[1].state == StepRunState.PENDING
    finally:
        await line.stop()


async def test_a_profile_that_does_not_match_its_unit_takes_it_out_before_any_command(
    tmp_path: Path, pg_url: str, broker: str
) -> None:
    line = LineUnderTest(tmp_path, pg_url, broker, ["sputter-1"], time_scale=600, stale_after_s=2)
    good = ROOT / "recipes" / "profiles" / "packml-sputter.yaml"
    broken = tmp_path / "broken-sputter.yaml"
    broken.write_text(
        good.read_text().replace("s=Sputter.Setpoints.Power,", "s=Sputter.Setpoints.NoSuchPower,")
    )
    workers_line = tmp_path / "workers-line.yaml"
    workers_line.write_text(line.line_file.read_text().replace(str(good), str(broken)))
    line.env["MES_LINE_CONFIG"] = str(
        workers_line
    )  # the workers see the broken profile, the sims the real one
    try:
        await line.start(collector=False)
        sim = line.runner.sims["sputter-1"]
        commands: list[Command] = []
        real = sim.command

        async def counted(command: Command) -> None:
            commands.append(command)
            await real(command)

        sim.command = counted  # type: ignore[method-assign]
        pressure = sim._read("sp.pressure_pa")
        line.order(SI, 1, lot_size=5)
        await line.wait_for(lambda: not _unit(line, "sputter-1").healthy, 60, "the unit to be taken out")
        await asyncio.sleep(6)  # reconciles later: no loop resetting and rewriting the machine
        step = line.steps()[0]
        # Nothing was started: the lot is not at fault; the step waits for a unit that matches.
        assert step.state == StepRunState.PENDING and step.equipment_unit_id is None
        assert [lot.status for lot in line.lots()] != [LotStatus.ON_HOLD]
        unit_row = _unit(line, "sputter-1")
        [alarm] = _alarms(line, f"unit:{unit_row.id}:unhealthy")
        message = "sputter-1: profile packml-sputter does not match its server: sp.power_w"
        assert message in alarm.message and "BadNodeIdUnknown" in alarm.message
        assert commands == []  # never reset, never started
        assert sim._read("sp.pressure_pa") == pressure  # nothing written
        assert sim._read("job.id") in ("", None)
        unit = _unit(line, "sputter-1")
        assert not unit.healthy and "sp.power_w" in (unit.health_reason or "")
        assert sim.machine.state == PackMLState.STOPPED
    finally:
        await line.stop()


async def _mes(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        MES, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _audit(engine: object, action: str) -> list[AuditEvent]:
    with session_scope(engine) as session:  # type: ignore[arg-type]
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


async def test_resume_abort_and_set_healthy_are_checked_and_audited(
    tmp_path: Path, pg_url: str, broker: str
) -> None:
    line_file = write_line(tmp_path / "line.yaml", ["sputter-1"])
    mes_line = load_line(line_file)
    from mes.db import make_engine

    engine = make_engine(pg_url)
    upgrade(engine)
    prepare(engine, ROOT / "recipes")
    name = "sputter-1"
    sim = SimUnit(name, mes_line.profiles[name], mes_line.units[name].endpoint, time_scale=50, seed=1)
    await sim.start()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MES_")},
           "MES_DATABASE_URL": pg_url, "MES_LINE_CONFIG": str(line_file), "MES_BROKER_URL": broker}  # fmt: skip
    try:
        with session_scope(engine) as session:
            sync_units(session, mes_line)
            order = create_order(session, SI, 1, by=ENGINEER, line=mes_line, lot_size=5)
            expand_order(session, order)
            [item] = schedule(session, mes_line)
            current = plan(session, item.step_run_id)
            assert current is not None
            assert hold_step(session, current, StepRunState.HELD, f"{name}: test fault", unit_fault=True)
        job = current.job_id

        # The unit is Stopped: neither running our job nor Idle — refused, one line, no traceback.
        code, _, err = await _mes(env, "step", "resume", job, "--by", ENGINEER, "--reason", "checked")
        assert code != 0
        assert err.strip().splitlines() == [
            f"mes: error: step {job}: {name} is Stopped with job ''; a resume needs it running {job}, "
            "or Idle without having run it"
        ]
        await sim.command(Command.RESET)
        while sim.machine.state != PackMLState.IDLE:  # noqa: ASYNC110 - the simulator ticks in this loop
            await asyncio.sleep(0.05)
        code, out, err = await _mes(
            env, "step", "resume", job, "--by", ENGINEER, "--reason", "interlock reset"
        )
        assert (code, err) == (0, ""), err
        assert f"step {job} resumed: dispatched on {name}" in out
        with session_scope(engine) as session:
            step = session.exec(select(StepRun).where(StepRun.job_id == job)).one()
            lot = session.get(Lot, step.lot_id)
            assert step.state == StepRunState.DISPATCHED and step.error is None
            assert lot is not None and lot.status == LotStatus.IN_PROCESS  # nothing else held it
            alarm = session.exec(select(Alarm).where(Alarm.condition == f"step:{step.id}:held")).one()
            assert alarm.state.value != "active_unack"  # the condition was cleared
        [resumed] = _audit(engine, "step.resume")
        assert (resumed.actor, resumed.entity_id, resumed.reason) == (ENGINEER, job, "interlock reset")
        assert resumed.after is not None and resumed.after["state"] == "dispatched"

        with session_scope(engine) as session:
            current = plan(session, step.id or 0)
            assert current is not None
            assert hold_step(session, current, StepRunState.HELD, f"{name}: again", unit_fault=True)
        code, out, err = await _mes(env, "step", "abort", job, "--by", ENGINEER, "--reason", "roll damaged")
        assert (code, err) == (0, ""), err
        with session_scope(engine) as session:
            steps = session.exec(select(StepRun).order_by(col(StepRun.step_index))).all()
            assert [s.state for s in steps] == [StepRunState.ABORTED, StepRunState.ABORTED]
            lot = session.get(Lot, steps[0].lot_id)
            assert lot is not None and lot.status == LotStatus.ON_HOLD
        [aborted] = _audit(engine, "step.abort")
        assert (aborted.entity_id, aborted.reason) == (job, "roll damaged")

        code, out, err = await _mes(
            env, "unit", "set-healthy", name, "--by", ENGINEER, "--reason", "cable fixed"
        )
        assert (code, err) == (0, ""), err
        with session_scope(engine) as session:
            unit = session.exec(select(EquipmentUnit).where(EquipmentUnit.name == name)).one()
            assert (unit.healthy, unit.health_reason) == (True, None)
        [healthy] = _audit(engine, "unit.set_healthy")
        assert healthy.before == {"healthy": False, "reason": f"{name}: again"}
        assert healthy.reason == "cable fixed"
        code, _, err = await _mes(env, "audit", "verify")
        assert code == 0, err
    finally:
        await sim.stop()
        engine.dispose()
