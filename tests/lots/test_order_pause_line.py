"""Pause, resume and abort of a work order through the API, on a line of real worker processes, the
collector and the PackML simulator: Hold reaches the machine and holds it, Unhold lets the roll finish,
Abort ends it and the unit serves the next order; no job is started twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
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
from mes.sim.unit import SimUnit
from tests.api.broker import celery_broker
from tests.api.conftest import Callers, TestClient, make_callers
from tests.lots.harness import LineUnderTest

S = PackMLState
SI = "capped-si-anode@1"  # si-active (0.135 m/min) then cu-cap (0.5 m/min), both on the sputter unit
UNIT = "sputter-1"


@dataclass
class Plant:
    line: LineUnderTest
    sim: SimUnit
    api: TestClient
    callers: Callers
    commands: list[tuple[Command, str]] = field(default_factory=list)  # each with the job id it met

    async def post(self, path: str, body: dict[str, Any], **headers: str) -> Any:
        # In a thread: the simulator answers the workers from this event loop meanwhile.
        auth = {**self.callers.bearer(Role.OPERATOR), **headers}
        return await asyncio.to_thread(self.api.post, f"/api/v1/orders{path}", json=body, headers=auth)

    async def get(self, number: str) -> Any:
        auth = self.callers.bearer(Role.QUALITY)
        return (await asyncio.to_thread(self.api.get, f"/api/v1/orders/{number}", headers=auth)).json()

    async def order(self, key: str) -> str:
        made = await self.post("", {"recipe": SI, "lots": 1, "lot_size": 1.5}, **{"Idempotency-Key": key})
        assert made.status_code == 201 and made.json()["sent"] is True, made.text
        number: str = made.json()["order"]["number"]
        return number

    async def rolling(self) -> None:
        await self.line.wait_for(
            lambda: self.sim.machine.state == S.EXECUTE and self.sim.position_m > 0.2, 30, "the roll running"
        )

    def sent(self, job: str) -> list[Command]:
        """Start, Hold, Unhold and Abort the machine received while it had ``job`` (the next step's
        Clear and Reset of it come before that step's own job id is written)."""
        wanted = (Command.START, Command.HOLD, Command.UNHOLD, Command.ABORT)
        return [c for c, j in self.commands if j == job and c in wanted]


@asynccontextmanager
async def plant(tmp_path: Path, pg_url: str, broker: str) -> AsyncIterator[Plant]:
    """One sputter unit; 1.5 m at 60x: si-active runs about 11 s, cu-cap about 3 s."""
    line = LineUnderTest(tmp_path, pg_url, broker, [UNIT], time_scale=60, stale_after_s=15)
    await line.start()
    sim = line.runner.sims[UNIT]
    app = create_app(
        Settings(database_url=pg_url, line_config=line.line_file, broker_url=broker), engine=line.engine
    )
    try:
        with celery_broker(broker), TestClient(app, base_url="http://127.0.0.1") as api:
            here = Plant(line, sim, api, make_callers(line.engine))
            real = sim.command

            async def logged(command: Command) -> None:
                here.commands.append((command, str(sim._read("job.id") or "")))
                await real(command)

            sim.command = logged  # type: ignore[method-assign]
            yield here
    finally:
        await line.stop()


def _steps(line: LineUnderTest, number: str) -> list[StepRun]:
    with session_scope(line.engine) as session:
        order = session.exec(select(WorkOrder).where(WorkOrder.number == number)).one()
        [lot] = session.exec(select(Lot).where(Lot.work_order_id == order.id)).all()
        return list(session.exec(select(StepRun).where(StepRun.lot_id == lot.id)).all())


async def test_pause_holds_the_unit_and_resume_finishes_the_lot(
    tmp_path: Path, pg_url: str, broker: str
) -> None:
    async with plant(tmp_path, pg_url, broker) as p:
        number = await p.order("line-1")
        await p.rolling()
        paused = await p.post(f"/{number}:pause", {"reason": "splice coming"})
        assert paused.status_code == 200, paused.text
        assert paused.json()["order"]["job_order_state"] == "Interrupted"
        await p.line.wait_for(lambda: p.sim.machine.state == S.HELD, 15, f"{UNIT} Held")
        await p.line.wait_for(lambda: _steps(p.line, number)[0].unit_held_at is not None, 10, "Held recorded")
        where = p.sim.position_m
        await asyncio.sleep(1.5)  # = 90 s of the machine's time
        assert p.sim.machine.state == S.HELD and p.sim.position_m == where  # paused: no band made
        step = _steps(p.line, number)[0]
        assert (step.state, step.error) == (StepRunState.RUNNING, None)  # paused is not a fault
        shown = (await p.get(number))["lots"][0]["steps"][0]
        assert (shown["unit"], shown["progress_source"], shown["eta"]) == (UNIT, "gauge", None)
        assert 0 < shown["progress_m"] <= where
        assert shown["pause_requested_at"] is not None and shown["unit_held_at"] is not None
        resumed = await p.post(f"/{number}:resume", {"reason": "splice done"})
        assert resumed.status_code == 200, resumed.text
        await p.line.wait_for(p.line.orders_done, 45, "the order done")
    steps = _steps(p.line, number)
    jobs = [s.job_id for s in steps]
    # Start, Hold, Unhold of the first job; each job started exactly once.
    assert p.sent(jobs[0]) == [Command.START, Command.HOLD, Command.UNHOLD], p.commands
    assert [job for c, job in p.commands if c == Command.START] == jobs
    assert p.sim.start_counts == dict.fromkeys(jobs, 1)
    with session_scope(p.line.engine) as session:
        order = session.exec(select(WorkOrder).where(WorkOrder.number == number)).one()
        lot = session.get(Lot, steps[0].lot_id)
        unit = session.exec(select(EquipmentUnit).where(EquipmentUnit.name == UNIT)).one()
        alarms = session.exec(select(Alarm.condition)).all()
        events = session.exec(select(AuditEvent).where(AuditEvent.entity_id == number)).all()
    assert order.state == WorkOrderState.COMPLETED
    assert lot is not None and lot.status == LotStatus.RELEASED
    assert [s.state for s in steps] == [StepRunState.COMPLETED, StepRunState.COMPLETED]
    assert steps[0].held_s >= 1.5 and (steps[0].pause_requested_at, steps[0].unit_held_at) == (None, None)
    assert unit.healthy and not [a for a in alarms if a.startswith(("step:", "unit:"))]
    assert [(e.action, e.reason) for e in events if e.action in ("order.pause", "order.resume")] == [
        ("order.pause", "splice coming"), ("order.resume", "splice done")]  # fmt: skip


async def test_abort_aborts_the_running_roll_and_the_unit_serves_the_next_order(
    tmp_path: Path, pg_url: str, broker: str
) -> None:
    async with plant(tmp_path, pg_url, broker) as p:
        number = await p.order("line-2")
        await p.rolling()
        aborted = await p.post(f"/{number}:abort", {"reason": "wrong substrate loaded"})
        assert aborted.status_code == 200, aborted.text
        assert aborted.json()["order"]["job_order_state"] == "Aborted"
        await p.line.wait_for(lambda: _steps(p.line, number)[0].state == StepRunState.ABORTED, 15, "aborted")
        assert p.sim.machine.state in (S.ABORTING, S.ABORTED)
        # The unit is free and healthy: the next order runs on it (Clear, Reset, Start).
        following = await p.order("line-3")
        await p.line.wait_for(p.line.orders_done, 40, "the next order done")
    first, second = _steps(p.line, number), _steps(p.line, following)
    assert [s.state for s in first] == [StepRunState.ABORTED, StepRunState.ABORTED]
    assert p.sent(first[0].job_id) == [Command.START, Command.ABORT], p.commands
    assert [job for c, job in p.commands if c == Command.START] == [first[0].job_id] + [
        s.job_id for s in second
    ]
    with session_scope(p.line.engine) as session:
        lots = {o: session.exec(select(Lot.status).join(WorkOrder).where(WorkOrder.number == o)).one()
                for o in (number, following)}  # fmt: skip
        states = {o: session.exec(select(WorkOrder.state).where(WorkOrder.number == o)).one()
                  for o in (number, following)}  # fmt: skip
    assert lots == {number: LotStatus.ON_HOLD, following: LotStatus.RELEASED}  # nothing aborted is released
    assert states == {number: WorkOrderState.ABORTED, following: WorkOrderState.COMPLETED}
