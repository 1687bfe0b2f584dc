"""Pause and resume of a work order through the API, on a line of real worker processes, the collector
and the PackML simulator: Hold reaches the machine and holds it, Unhold lets the roll finish, and no
job is started twice."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlmodel import select

from mes.api.app import create_app
from mes.audit.models import AuditEvent
from mes.auth.models import Role
from mes.config import Settings
from mes.db import session_scope
from mes.equipment.models import EquipmentUnit
from mes.equipment.profile import Command, PackMLState
from mes.lots.models import Lot, LotStatus, StepRun, StepRunState, WorkOrder, WorkOrderState
from mes.quality.models import Alarm
from tests.api.broker import celery_broker
from tests.api.conftest import TestClient, make_callers
from tests.lots.harness import LineUnderTest

S = PackMLState
SI = "capped-si-anode@1"  # si-active (0.135 m/min) then cu-cap (0.5 m/min), both on the sputter unit
UNIT = "sputter-1"


async def test_pause_holds_the_unit_and_resume_finishes_the_lot(
    tmp_path: Path, pg_url: str, broker: str
) -> None:
    # 1.5 m at 60x: si-active runs about 11 s, cu-cap about 3 s.
    line = LineUnderTest(tmp_path, pg_url, broker, [UNIT], time_scale=60, stale_after_s=15)
    await line.start()
    sim = line.runner.sims[UNIT]
    commands: list[tuple[Command, str]] = []  # every command the machine received, with its job id then
    real = sim.command

    async def logged(command: Command) -> None:
        commands.append((command, str(sim._read("job.id") or "")))
        await real(command)

    sim.command = logged  # type: ignore[method-assign]
    callers = make_callers(line.engine)
    app = create_app(
        Settings(database_url=pg_url, line_config=line.line_file, broker_url=broker), engine=line.engine
    )
    try:
        with celery_broker(broker), TestClient(app, base_url="http://127.0.0.1") as api:

            async def post(path: str, body: dict[str, Any], **headers: str) -> Any:
                # In a thread: the simulator answers the workers from this event loop meanwhile.
                auth = {**callers.bearer(Role.OPERATOR), **headers}
                return await asyncio.to_thread(api.post, f"/api/v1/orders{path}", json=body, headers=auth)

            made = await post("", {"recipe": SI, "lots": 1, "lot_size": 1.5}, **{"Idempotency-Key": "line-1"})
            assert made.status_code == 201 and made.json()["sent"] is True, made.text
            number = made.json()["order"]["number"]
            await line.wait_for(
                lambda: sim.machine.state == S.EXECUTE and sim.position_m > 0.2, 30, "the roll running"
            )

            paused = await post(f"/{number}:pause", {"reason": "splice coming"})
            assert paused.status_code == 200, paused.text
            assert paused.json()["order"]["job_order_state"] == "Interrupted"
            await line.wait_for(lambda: sim.machine.state == S.HELD, 15, f"{UNIT} Held")
            await line.wait_for(lambda: _first_step(line).unit_held_at is not None, 10, "the Hold recorded")
            where = sim.position_m
            await asyncio.sleep(1.5)  # = 90 s of the machine's time
            assert sim.machine.state == S.HELD and sim.position_m == where  # paused, not making band
            step = _first_step(line)
            assert (step.state, step.error) == (StepRunState.RUNNING, None)  # paused is not a fault
            detail = (
                await asyncio.to_thread(
                    api.get, f"/api/v1/orders/{number}", headers=callers.bearer(Role.QUALITY)
                )
            ).json()
            shown = detail["lots"][0]["steps"][0]
            assert (shown["unit"], shown["progress_source"], shown["eta"]) == (UNIT, "gauge", None)
            assert 0 < shown["progress_m"] <= where
            assert shown["pause_requested_at"] is not None and shown["unit_held_at"] is not None

            resumed = await post(f"/{number}:resume", {"reason": "splice done"})
            assert resumed.status_code == 200, resumed.text
            await line.wait_for(line.orders_done, 45, "the order done")
    finally:
        await line.stop()
    jobs = [s.job_id for s in line.steps()]
    # Hold, then Unhold, of the first job; each job started exactly once.
    sent = [c for c, job in commands if job == jobs[0] and c in (Command.START, Command.HOLD, Command.UNHOLD)]
    assert sent == [Command.START, Command.HOLD, Command.UNHOLD], commands
    assert [job for c, job in commands if c == Command.START] == jobs
    assert sim.start_counts == dict.fromkeys(jobs, 1)
    with session_scope(line.engine) as session:
        order = session.exec(select(WorkOrder).where(WorkOrder.number == number)).one()
        [lot] = session.exec(select(Lot).where(Lot.work_order_id == order.id)).all()
        steps = session.exec(select(StepRun).where(StepRun.lot_id == lot.id)).all()
        unit = session.exec(select(EquipmentUnit).where(EquipmentUnit.name == UNIT)).one()
        alarms = session.exec(select(Alarm.condition)).all()
        events = session.exec(select(AuditEvent).where(AuditEvent.entity_id == number)).all()
    assert order.state == WorkOrderState.COMPLETED
    assert lot.status == LotStatus.RELEASED
    assert [s.state for s in steps] == [StepRunState.COMPLETED, StepRunState.COMPLETED]
    assert steps[0].held_s >= 1.5 and (steps[0].pause_requested_at, steps[0].unit_held_at) == (None, None)
    assert unit.healthy and not [a for a in alarms if a.startswith(("step:", "unit:"))]
    assert [(e.action, e.reason) for e in events if e.action in ("order.pause", "order.resume")] == [
        ("order.pause", "splice coming"), ("order.resume", "splice done")]  # fmt: skip


def _first_step(line: LineUnderTest) -> StepRun:
    return next(s for s in line.steps() if s.step_index == 0)
