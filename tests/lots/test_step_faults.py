"""One move of a step against a real simulator, and the fault bookkeeping in the database.

act() is the edge where the MES meets a machine: these tests drive it against a
real asyncua simulator; the database tests cover the budgets, the hold and the
reconciler's row locks on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mes.audit.models import AuditEvent
from mes.base import utcnow
from mes.db import session_scope
from mes.demo import ENGINEER, prepare
from mes.equipment.driver import UnitDriver
from mes.equipment.errors import BadState, BadStatus, CommandNotConfirmed, NodeMismatch
from mes.equipment.models import EquipmentUnit
from mes.equipment.profile import Command, Line, PackMLState, UnitConfig, load_line, load_profile
from mes.execution.errors import StepRefused
from mes.execution.faults import count_link_failure, describe_fault, hold_step
from mes.execution.scheduler import StepPlan, finish_orders, plan, schedule, stalled, sync_units
from mes.execution.service import UnitSeen, resume_step
from mes.execution.steps import Observation, act, record
from mes.lots.models import Lot, LotStatus, StepRun, StepRunState, WorkOrder, WorkOrderState
from mes.lots.orders import create_order, expand_order
from mes.quality.models import Alarm
from mes.sim.unit import SimUnit
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
SPUTTER = ROOT / "recipes" / "profiles" / "packml-sputter.yaml"
S = PackMLState
SETPOINTS = {"power_w": 1500.0, "pressure_pa": 0.6, "ar_flow_sccm": 30.0, "substrate_temp_c": 25.0,
             "web_speed_m_min": 0.135, "passes": 10.0, "tension_n": 57.0}  # fmt: skip


@asynccontextmanager
async def unit(
    driver_profile: Path = SPUTTER, time_scale: float = 50.0
) -> AsyncIterator[tuple[SimUnit, UnitDriver]]:
    """A sputter simulator with the shipped profile; the driver may use another profile of it."""
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    sim = SimUnit("sputter-t", load_profile(SPUTTER), endpoint, time_scale=time_scale, seed=3)
    await sim.start()
    prof = load_profile(driver_profile)
    cfg = UnitConfig(
        name="sputter-t", equipment_class=prof.equipment_class, endpoint=endpoint, profile=driver_profile
    )
    driver = UnitDriver(cfg, prof, timeout_s=2.0, retry_s=4.0)
    await driver.connect()
    try:
        yield sim, driver
    finally:
        await driver.disconnect()
        await sim.stop()


def a_plan(job_id: str, state: StepRunState, **changes: Any) -> StepPlan:
    base = StepPlan(step_run_id=1, lot_id=1, lot_number="L-1", job_id=job_id, unit="sputter-t", unit_id=1,
                    state=state, chain_token="c", lease_token=1, setpoints=SETPOINTS, product="Si", length_m=2.0,
                    time_limit_s=600.0, layer_id=1, gauges={"xrf": 1}, gauge_seq_start={"xrf": 0},
                    gauge_seq_end=None, started_at_unix=None, is_last_step=True)  # fmt: skip
    return StepPlan(**{**base.__dict__, **changes})


async def idle_with_job(sim: SimUnit, driver: UnitDriver, job_id: str) -> None:
    await driver.command(Command.RESET)
    await driver.wait_for_state({S.IDLE}, 10)
    await driver.write_job(job_id, "Si", 2.0)


async def test_idle_with_our_job_id_never_started_is_not_completed() -> None:
    """The refused-Start case: our job id written, the unit Idle, never seen running it."""
    async with unit() as (sim, driver):
        await idle_with_job(sim, driver, "J-NEVER")
        running = a_plan("J-NEVER", StepRunState.RUNNING, started_at_unix=1.0)
        with pytest.raises(CommandNotConfirmed, match="Start of job J-NEVER did not take"):
            await act(driver, running, window_s=0.5)
        assert sim.start_counts == {}
        # Seen running before, Idle now: reset outside the MES (which leaves a finished unit Complete
        # until the next step) — perhaps after an abort; not completed either.
        with pytest.raises(BadState, match="whether the roll was made is unknown"):
            await act(driver, a_plan("J-NEVER", StepRunState.RUNNING, seen_running=True), window_s=0.5)


async def test_a_start_the_unit_does_not_act_on_is_not_confirmed() -> None:
    async with unit() as (sim, driver):
        real = sim.command

        async def refuse_start(command: Command) -> None:  # a PackTags machine behind an interlock
            if command != Command.START:
                await real(command)

        sim.command = refuse_start  # type: ignore[method-assign]
        with pytest.raises(
            CommandNotConfirmed, match=r"sputter-t: Start not confirmed .*seen: state Idle, job 'J-INTERLOCK'"
        ):
            await act(driver, a_plan("J-INTERLOCK", StepRunState.DISPATCHED), window_s=0.5)
        assert sim.start_counts == {}


async def test_a_dispatched_step_of_a_held_lot_is_not_started() -> None:
    async with unit() as (sim, driver):
        obs = await act(driver, a_plan("J-HELD", StepRunState.DISPATCHED, lot_held=True), window_s=0.5)
        assert obs.kind == "waiting"
        assert sim.start_counts == {}
        assert sim.machine.state == S.STOPPED  # not even reset
        assert sim._read("job.id") in ("", None)  # nothing written


async def test_a_running_step_of_a_held_lot_follows_the_recipe() -> None:
    async with unit(time_scale=5) as (sim, driver):
        started = await act(driver, a_plan("J-RUN", StepRunState.DISPATCHED), window_s=0.5)
        assert (started.kind, started.seen) == ("started", True)
        finish = a_plan("J-RUN", StepRunState.RUNNING, seen_running=True, lot_held=True, on_lot_hold="finish")
        assert (await act(driver, finish, window_s=0.3)).kind == "running"
        hold = a_plan("J-RUN", StepRunState.RUNNING, seen_running=True, lot_held=True, on_lot_hold="hold")
        obs = await act(driver, hold, window_s=2)
        assert obs.kind == "running"  # the step waits with its lot, its unit in PackML Held
        assert await driver.read_state() == S.HELD
        # the lot released: the next move Unholds the unit and the roll goes on where it stopped
        released = a_plan(
            "J-RUN", StepRunState.RUNNING, seen_running=True, lot_held=False, on_lot_hold="hold"
        )
        obs = await act(driver, released, window_s=1)
        assert obs.kind == "running"
        assert await driver.read_state() in (S.UNHOLDING, S.EXECUTE)
        assert sim.start_counts == {"J-RUN": 1}


async def test_a_node_with_a_bad_status_is_named_with_unit_node_and_status(tmp_path: Path) -> None:
    broken = tmp_path / "broken-sputter.yaml"
    broken.write_text(
        SPUTTER.read_text().replace("s=Sputter.Gauges.Xrf.LastSeq,", "s=Sputter.Gauges.Xrf.NoSuchSeq,")
    )
    async with unit(broken) as (sim, driver):
        with pytest.raises(BadStatus) as raised:
            await act(driver, a_plan("J-BAD", StepRunState.DISPATCHED, gauge_seq_start=None), window_s=0.5)
        reason, unit_fault = describe_fault("sputter-t", raised.value)
        assert "sputter-t" in reason
        assert "BadNodeIdUnknown" in reason
        assert unit_fault
        assert sim.start_counts == {}
        assert sim._read("job.id") in ("", None)  # nothing written
        # What a worker checks on its first link to the unit names the entry and the status too.
        from workers.bridge import LoopThread
        from workers.context import WorkerContext

        ctx = WorkerContext(engine=None, line=None, bridge=LoopThread())  # type: ignore[arg-type]
        with pytest.raises(
            NodeMismatch,
            match=r"gauge.xrf.last_seq \(s=Sputter.Gauges.Xrf.NoSuchSeq\) missing: BadNodeIdUnknown",
        ):
            await ctx._check(driver)
        ctx.bridge.stop()


# --- the database side --------------------------------------------------------------------------


@pytest.fixture
def line() -> Line:
    return load_line(ROOT / "deploy" / "line.yaml")


def _dispatched(engine: Engine, line: Line, lots: int = 1) -> list[int]:
    prepare(engine, ROOT / "recipes")
    with session_scope(engine) as session:
        sync_units(session, line)
        order = create_order(session, "capped-si-anode@1", lots, by=ENGINEER, line=line, lot_size=5)
        expand_order(session, order)
        return [e.step_run_id for e in schedule(session, line)]


def test_the_link_budget_survives_a_new_chain(engine: Engine, line: Line) -> None:
    [sid] = _dispatched(engine, line)
    for expected in (1, 2):
        with session_scope(engine) as session:
            current = plan(session, sid)
            assert current is not None
            budget = count_link_failure(session, current, attempts=3, budget_s=0)
            assert budget is not None and (budget.failures, budget.spent) == (expected, False)
    with session_scope(engine) as session:
        session.execute(sa.update(StepRun).values(updated_at=utcnow().replace(year=2000)))
        assert len(stalled(session, 5)) == 1  # the reconciler gives the step a new chain…
    with session_scope(engine) as session:
        current = plan(session, sid)
        assert current is not None
        budget = count_link_failure(session, current, attempts=3, budget_s=0)
        assert budget is not None and (budget.failures, budget.spent) == (3, True)  # …not a new budget


def test_a_held_step_names_its_cause_and_takes_the_unit_out(engine: Engine, line: Line) -> None:
    [sid] = _dispatched(engine, line)
    with session_scope(engine) as session:
        current = plan(session, sid)
        assert current is not None
        reason, unit_fault = describe_fault(current.unit, BadStatus("x", unit=current.unit, node="sp.power_w",
                                                                    status="BadSensorFailure"))  # fmt: skip
        record(session, current, Observation("held", reason, unit_fault=unit_fault), line)
    with session_scope(engine) as session:
        step = session.get(StepRun, sid)
        assert step is not None and step.state == StepRunState.HELD
        assert step.error == f"{current.unit}: node sp.power_w answered BadSensorFailure (x)"
        unit_row = session.get(EquipmentUnit, current.unit_id)
        assert unit_row is not None and not unit_row.healthy
        assert unit_row.health_reason == step.error
        [alarm] = session.exec(select(Alarm).where(Alarm.condition == f"step:{sid}:held")).all()
        assert "sp.power_w answered BadSensorFailure" in alarm.message
        lot = session.get(Lot, step.lot_id)
        assert lot is not None and lot.status == LotStatus.ON_HOLD


def test_an_order_whose_lot_is_held_is_held_not_completed(engine: Engine, line: Line) -> None:
    [sid] = _dispatched(engine, line)
    with session_scope(engine) as session:
        current = plan(session, sid)
        assert current is not None
        assert hold_step(session, current, StepRunState.HELD, "sputter-1: test", unit_fault=False)
        step = session.get(StepRun, sid)
        assert step is not None
        session.execute(sa.update(StepRun).where(col(StepRun.lot_id) == step.lot_id, col(StepRun.id) != sid)
                        .values(state=StepRunState.ABORTED))  # fmt: skip
        order_id = session.exec(select(WorkOrder.id)).one()
        assert order_id is not None
        finish_orders(session, [order_id])
        order = session.get(WorkOrder, order_id)
        assert order is not None and order.state == WorkOrderState.HELD and order.ended_at is None


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite has no row locks to skip
def test_the_reconciler_skips_a_step_whose_row_another_worker_holds(engine: Engine, line: Line) -> None:
    sids = _dispatched(engine, line, lots=2)
    assert len(sids) == 2
    locked, free = sids
    with session_scope(engine) as session:
        session.execute(sa.update(StepRun).values(updated_at=utcnow().replace(year=2000)))
        before = session.get(StepRun, locked)
        assert before is not None
        token = before.chain_token
    holder = Session(engine)
    holder.exec(select(StepRun).where(StepRun.id == locked).with_for_update()).one()  # a completing worker
    try:
        result: dict[str, Any] = {}

        def reconcile() -> None:
            with session_scope(engine) as session:
                # Without SKIP LOCKED this waits for the holder; fail fast instead of hanging.
                session.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
                result["items"] = stalled(session, 5)

        thread = threading.Thread(target=reconcile)
        thread.start()
        thread.join(20)
        assert not thread.is_alive()
        assert [i.step_run_id for i in result["items"]] == [free]  # the other stalled step is re-chained
    finally:
        holder.rollback()
        holder.close()
    with session_scope(engine) as session:
        after = session.get(StepRun, locked)
        assert after is not None and after.chain_token == token  # untouched


def test_resume_follows_what_the_unit_shows(engine: Engine, line: Line) -> None:
    [sid] = _dispatched(engine, line)
    with session_scope(engine) as session:
        current = plan(session, sid)
        assert current is not None
        assert hold_step(session, current, StepRunState.HELD, f"{current.unit}: link lost", unit_fault=True)
    job = current.job_id
    with pytest.raises(StepRefused, match="is Idle with job"), session_scope(engine) as session:
        # Idle, but it counted a Start of our job: it ran it; resuming would lose that.
        resume_step(session, job, UnitSeen(S.IDLE, job, True), by=ENGINEER, reason="look")
    with pytest.raises(StepRefused, match="is Execute with job 'OTHER'"), session_scope(engine) as session:
        resume_step(session, job, UnitSeen(S.EXECUTE, "OTHER", False), by=ENGINEER, reason="look")
    with session_scope(engine) as session:
        item = resume_step(session, job, UnitSeen(S.EXECUTE, job, True), by=ENGINEER, reason="link back")
    with session_scope(engine) as session:
        step = session.get(StepRun, sid)
        assert step is not None
        assert (step.state, step.chain_token, step.link_failures) == (
            StepRunState.RUNNING,
            item.chain_token,
            0,
        )
        assert step.seen_running_at is not None  # it was seen running: a later Idle means completed
        assert (
            session.exec(select(AuditEvent).where(AuditEvent.action == "step.resume")).one().reason
            == "link back"
        )


async def test_a_job_that_ran_unseen_is_held_not_completed() -> None:
    async with unit(time_scale=500) as (sim, driver):
        await idle_with_job(sim, driver, "J-UNSEEN")
        await driver.command(Command.START)  # someone else ran our job id while the step was not looking
        await driver.wait_for_state({S.COMPLETE}, 30)
        await driver.command(Command.RESET)
        await driver.wait_for_state({S.IDLE}, 10)
        with pytest.raises(BadState, match="whether the roll was made is unknown"):
            await act(driver, a_plan("J-UNSEEN", StepRunState.DISPATCHED), window_s=0.5)
        assert sim.start_counts == {"J-UNSEEN": 1}


def test_pending_steps_of_a_held_lot_are_not_dispatched(engine: Engine, line: Line) -> None:
    prepare(engine, ROOT / "recipes")
    with session_scope(engine) as session:
        sync_units(session, line)
        order = create_order(session, "capped-si-anode@1", 1, by=ENGINEER, line=line, lot_size=5)
        [lot] = expand_order(session, order)
        lot.status = LotStatus.ON_HOLD
        session.add(lot)
        session.flush()
        assert schedule(session, line) == []
        states = session.exec(select(StepRun.state).where(StepRun.lot_id == lot.id)).all()
        assert set(states) == {StepRunState.PENDING}


def test_a_step_id_beyond_any_row_is_no_step(engine: Engine) -> None:
    from mes.execution.errors import StepRefused
    from mes.execution.service import get_step

    with session_scope(engine) as session, pytest.raises(StepRefused, match="no step 9{23}"):
        get_step(session, "9" * 23)  # SQLite's INTEGER would overflow: "internal error" before
