"""Pause, resume and abort of a work order: the services on both backends, one move of a step against
a real simulator, and what a move records (compare-and-set under the chain token)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mes.audit.models import AuditEvent
from mes.base import utcnow
from mes.db import session_scope
from mes.demo import ENGINEER, prepare
from mes.equipment.models import UnitLease
from mes.equipment.profile import Line, PackMLState, load_line
from mes.execution.order_control import abort_order, pause_order, resume_order
from mes.execution.scheduler import plan, schedule, sync_units
from mes.execution.steps import Observation, act, record
from mes.lots.errors import OrderRefused
from mes.lots.models import Lot, LotStatus, StepRun, StepRunState, WorkOrder, WorkOrderState
from mes.lots.orders import expand_order, place_order
from tests.lots.test_step_faults import a_plan, unit

ROOT = Path(__file__).resolve().parents[2]
SI = "capped-si-anode@1"
S = PackMLState


async def test_a_paused_order_holds_its_running_unit_and_a_resume_unholds_it() -> None:
    async with unit(time_scale=5) as (sim, driver):
        started = await act(driver, a_plan("J-P", StepRunState.DISPATCHED), window_s=0.5)
        assert started.kind == "started"
        # The order is paused but the pause has not reached the step's row yet: no Hold is sent (the
        # move records the pause first, so that the Unhold it will owe is never forgotten).
        racing = a_plan("J-P", StepRunState.RUNNING, seen_running=True, order_paused=True)
        assert (await act(driver, racing, window_s=0.3)).hold is None
        assert await driver.read_state() in (S.STARTING, S.EXECUTE)
        paused = a_plan(
            "J-P", StepRunState.RUNNING, seen_running=True, order_paused=True, pause_requested=True
        )
        obs = await act(driver, paused, window_s=2)
        assert (obs.kind, obs.hold) == ("running", "held")  # running, not a fault: its unit Held
        assert await driver.read_state() == S.HELD
        position = sim.position_m
        again = await act(driver, paused, window_s=0.5)  # later moves keep it Held, send nothing
        assert (again.kind, again.hold) == ("running", "held")
        assert sim.position_m == position
        resumed = a_plan("J-P", StepRunState.RUNNING, seen_running=True, pause_requested=True, unit_held=True)
        obs = await act(driver, resumed, window_s=1)
        assert (obs.kind, obs.hold) == ("running", "released")
        assert await driver.read_state() in (S.UNHOLDING, S.EXECUTE)
        assert sim.start_counts == {"J-P": 1}


async def test_an_aborted_order_aborts_its_step_on_the_unit_and_starts_nothing() -> None:
    async with unit(time_scale=5) as (sim, driver):
        obs = await act(driver, a_plan("J-A0", StepRunState.DISPATCHED, order_aborted=True), window_s=0.5)
        assert obs.kind == "aborted" and "not started" in obs.reason
        assert sim.start_counts == {}
        waiting = await act(driver, a_plan("J-A0", StepRunState.DISPATCHED, order_paused=True), window_s=0.5)
        assert waiting.kind == "waiting" and "paused" in waiting.reason
        assert sim.start_counts == {}
        await act(driver, a_plan("J-A", StepRunState.DISPATCHED), window_s=0.5)
        aborting = a_plan("J-A", StepRunState.RUNNING, seen_running=True, order_aborted=True)
        obs = await act(driver, aborting, window_s=1)
        assert obs.kind == "aborted" and "commanded Abort" in obs.reason
        assert await driver.read_state() in (S.ABORTING, S.ABORTED)
        assert sim.start_counts == {"J-A": 1}


@pytest.fixture
def line() -> Line:
    return load_line(ROOT / "deploy" / "line.yaml")


@pytest.fixture
def prepared(engine: Engine, line: Line) -> Engine:
    prepare(engine, ROOT / "recipes")
    with session_scope(engine) as session:
        sync_units(session, line)
    return engine


def _running_order(engine: Engine, line: Line, lots: int = 3) -> tuple[str, list[int]]:
    """An order of ``lots`` lots: two first steps dispatched (two sputter units), one running."""
    with session_scope(engine) as session:
        number = place_order(session, SI, lots, by=ENGINEER, line=line, lot_size=5).order.number
        order = session.exec(select(WorkOrder).where(WorkOrder.number == number)).one()
        expand_order(session, order)
        items = schedule(session, line)
        first = session.get(StepRun, items[0].step_run_id)
        assert first is not None
        first.state, first.started_at, first.seen_running_at = StepRunState.RUNNING, utcnow(), utcnow()
        session.add(first)
    return number, [i.step_run_id for i in items]


def _step(session: Session, step_id: int) -> StepRun:
    step = session.get(StepRun, step_id, populate_existing=True)
    assert step is not None
    return step


def test_pause_and_resume_are_checked_audited_and_reach_the_steps(prepared: Engine, line: Line) -> None:
    number, [running, dispatched] = _running_order(prepared, line)
    with session_scope(prepared) as session:
        paused = pause_order(session, number, by=ENGINEER, reason="slitter jam downstream")
    assert (paused.state, paused.job_order_state.value) == (WorkOrderState.SUSPENDED, "Interrupted")
    steps = [s for lot in paused.lots for s in lot.steps if s.state != StepRunState.PENDING]
    assert len(steps) == 2 and all(s.pause_requested_at is not None for s in steps)
    with (
        pytest.raises(OrderRefused, match=r"is suspended \(Interrupted\): only a running order"),
        session_scope(prepared) as session,
    ):
        pause_order(session, number, by=ENGINEER, reason="twice")
    with session_scope(prepared) as session:
        # Paused: the scheduler gives it nothing, and its dispatched step's chain gives its unit back.
        assert not [i for i in schedule(session, line) if i.step_run_id not in (running, dispatched)]
        current = plan(session, dispatched)
        assert current is not None and current.order_paused and current.pause_requested
        record(session, current, Observation("waiting", "its work order is paused"), line)
        back = _step(session, dispatched)
        assert (back.state, back.equipment_unit_id, back.pause_requested_at) == (
            StepRunState.PENDING,
            None,
            None,
        )
    with session_scope(prepared) as session:
        resumed, items = resume_order(session, number, by=ENGINEER, reason="jam cleared", line=line)
    assert resumed.state == WorkOrderState.RUNNING
    assert items and all(i.step_run_id != running for i in items)  # what waited is scheduled again
    with (
        pytest.raises(OrderRefused, match=r"is running \(Running\): only a paused order"),
        session_scope(prepared) as session,
    ):
        resume_order(session, number, by=ENGINEER, reason="twice", line=line)
    with session_scope(prepared) as session:
        events = session.exec(
            select(AuditEvent).where(col(AuditEvent.action).in_(("order.pause", "order.resume")))
        ).all()
        assert [(e.action, e.reason) for e in events] == [
            ("order.pause", "slitter jam downstream"), ("order.resume", "jam cleared")]  # fmt: skip
        assert events[0].after is not None and len(events[0].after["steps_to_hold"]) == 2


def test_a_move_records_the_pause_the_hold_and_its_end(prepared: Engine, line: Line) -> None:
    number, [running, _] = _running_order(prepared, line)
    with session_scope(prepared) as session:
        pause_order(session, number, by=ENGINEER, reason="shift change")
        step = _step(session, running)
        step.pause_requested_at = None  # as if the pause had raced this step's dispatch
        session.add(step)
    with session_scope(prepared) as session:
        current = plan(session, running)
        assert current is not None and current.order_paused and not current.pause_requested
        record(session, current, Observation("running", seen=True), line)
        assert _step(session, running).pause_requested_at is not None  # recorded before any Hold
    with session_scope(prepared) as session:
        current = plan(session, running)
        assert current is not None
        record(session, current, Observation("running", seen=True, hold="held"), line)
        held = _step(session, running)
        assert held.unit_held_at is not None and held.state == StepRunState.RUNNING
        held.unit_held_at = utcnow() - timedelta(seconds=30)
        session.add(held)
    with session_scope(prepared) as session:
        resume_order(session, number, by=ENGINEER, reason="shift started", line=line)
    with session_scope(prepared) as session:
        current = plan(session, running)
        assert current is not None and not current.order_paused and current.unit_held
        record(session, current, Observation("running", seen=True, hold="released"), line)
        done = _step(session, running)
        assert (done.pause_requested_at, done.unit_held_at) == (None, None)
        assert done.held_s >= 30  # not counted against the step's time limit
        later = plan(session, running)
        assert later is not None and done.started_at is not None and later.started_at_unix is not None
        assert later.started_at_unix - done.started_at.timestamp() == pytest.approx(done.held_s)


def test_abort_ends_every_step_and_releases_no_lot(prepared: Engine, line: Line) -> None:
    number, [running, dispatched] = _running_order(prepared, line)
    with session_scope(prepared) as session:
        stored = place_order(session, SI, 1, by=ENGINEER, line=line, start=False).order.number
        assert abort_order(session, stored, by=ENGINEER, reason="not needed").state == WorkOrderState.ABORTED
        detail = abort_order(session, number, by=ENGINEER, reason="customer withdrew the order")
    assert (detail.state, detail.job_order_state.value) == (WorkOrderState.ABORTED, "Aborted")
    # The two lots that went to a unit wait for quality; the third never started: cancelled.
    assert [lot.status for lot in detail.lots] == [LotStatus.ON_HOLD, LotStatus.ON_HOLD, LotStatus.CANCELLED]
    states = {s.job_id: s.state for lot in detail.lots for s in lot.steps}
    assert sorted(states.values()).count(StepRunState.ABORTED) == 4  # every step that waited for a unit
    with (
        pytest.raises(OrderRefused, match=r"is aborted \(Aborted\): an order that has ended"),
        session_scope(prepared) as session,
    ):
        abort_order(session, number, by=ENGINEER, reason="twice")
    # The running and dispatched steps are their chains' to end: the unit aborted, the lease freed.
    with session_scope(prepared) as session:
        for step_id, obs in ((running, Observation("aborted", "its work order was aborted; commanded Abort")),
                             (dispatched, Observation("aborted", "its work order was aborted; not started"))):  # fmt: skip
            current = plan(session, step_id)
            assert current is not None and current.order_aborted
            record(session, current, obs, line)
            step = _step(session, step_id)
            assert step.state == StepRunState.ABORTED and step.chain_token is None
        assert not session.exec(select(UnitLease).where(col(UnitLease.step_run_id).is_not(None))).all()
        lots = session.exec(select(Lot).where(col(Lot.work_order_id).is_not(None))).all()
        assert LotStatus.RELEASED not in {lot.status for lot in lots}
        [event] = session.exec(
            select(AuditEvent).where(AuditEvent.action == "order.abort", AuditEvent.entity_id == number)
        ).all()
        assert event.reason == "customer withdrew the order"
        assert event.after is not None and event.after["steps_aborted"] == 4
        assert len(event.after["steps_aborting"]) == 2 and len(event.after["lots_cancelled"]) == 1


def test_the_step_abort_path_is_taken_for_a_held_step(prepared: Engine, line: Line) -> None:
    number, [running] = _running_order(prepared, line, lots=1)
    with session_scope(prepared) as session:
        step = _step(session, running)
        step.state, step.error = StepRunState.HELD, "sputter-1: test fault"
        session.add(step)
    with session_scope(prepared) as session:
        abort_order(session, number, by=ENGINEER, reason="roll damaged")
        assert _step(session, running).state == StepRunState.ABORTED
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "step.abort")).all()
        assert event.reason == f"work order {number} aborted: roll damaged"
