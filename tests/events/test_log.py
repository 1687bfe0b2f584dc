"""The event log: written by the database for every writer, in commit order, read back by id."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mes.base import utcnow
from mes.db import session_scope
from mes.equipment.models import EquipmentUnit
from mes.events.log import events_after, newest_id, prune_events, replay_plan
from mes.events.models import EventKind, EventLog
from mes.events.schemas import AlarmChange, StepChange, UnitChange
from mes.lots.models import Lot, LotStatus, StepRun, StepRunState, WorkOrder, WorkOrderState
from mes.quality import alarms
from tests.events.plant import ENGINEER, ORDER, UNIT, build

TRACKED_TABLES = ("work_order", "lot", "step_run", "alarm", "equipment_unit")


def _changes(engine: Engine, after: int = 0) -> list[tuple[str, str, str | None, str | None]]:
    with session_scope(engine) as s:
        return [(e.kind.value, e.entity, e.from_state, e.state) for e in events_after(s, after, 1000)]


def test_every_kind_is_logged_when_made_and_when_its_state_changes(engine: Engine) -> None:
    line = build(engine)
    # Made: the unit, the order, its lot and step (the dispatcher's expansion, through the ORM).
    assert _changes(engine) == [
        ("unit", UNIT, None, None),
        ("order", ORDER, None, "waiting"),
        ("lot", line.lot, None, "planned"),
        ("step", line.job, None, "pending"),
        ("order", ORDER, "waiting", "running"),
    ]
    start = newest_id_of(engine)
    with session_scope(engine) as s:
        order = s.get(WorkOrder, line.order_id)
        assert order is not None
        order.state = WorkOrderState.HELD
        lot = s.get(Lot, line.lot_id)
        assert lot is not None
        lot.status = LotStatus.IN_PROCESS
        s.add_all([order, lot])
        s.flush()
        # A compare-and-set in Core SQL, as the scheduler moves steps: no ORM flush sees it.
        moved = s.execute(
            sa.update(StepRun)
            .where(col(StepRun.id) == line.step_id, col(StepRun.state) == StepRunState.PENDING)
            .values(state=StepRunState.DISPATCHED, equipment_unit_id=line.unit_id)
        )
        assert moved.rowcount == 1  # type: ignore[attr-defined]
        alarm = alarms.raise_alarm(s, f"step:{line.step_id}:test", "a test alarm", lot_id=line.lot_id,
                                   unit_id=line.unit_id)  # fmt: skip
        alarm_id = alarm.id
        unit = s.get(EquipmentUnit, line.unit_id)
        assert unit is not None
        unit.last_state, unit.healthy, unit.health_reason = "Idle", False, "a test fault"
        s.add(unit)
    with session_scope(engine) as s:
        assert alarm_id is not None
        alarms.acknowledge(s, alarm_id, by=ENGINEER, comment="seen")
    assert _changes(engine, start) == [
        ("order", ORDER, "running", "held"),
        ("lot", line.lot, "planned", "in_process"),
        ("step", line.job, "pending", "dispatched"),
        ("alarm", f"step:{line.step_id}:test", None, "active_unack"),
        ("unit", UNIT, None, "Idle"),
        ("alarm", f"step:{line.step_id}:test", "active_unack", "active_ack"),
    ]
    with session_scope(engine) as s:
        events = events_after(s, start)
    step, alarm_raised, unit_event = events[2], events[3], events[4]
    # Names, not row ids: the unit, the lot and the order each event concerns.
    assert (step.unit, step.lot, step.order) == (UNIT, line.lot, ORDER)
    assert step.detail == StepChange(step="lco-coat", index=0, attempt=1, error=None)
    assert (alarm_raised.unit, alarm_raised.lot, alarm_raised.order) == (UNIT, line.lot, ORDER)
    assert isinstance(alarm_raised.detail, AlarmChange)
    assert alarm_raised.detail.alarm_id == alarm_id and alarm_raised.detail.open is True
    assert unit_event.detail == UnitChange(healthy=False, enabled=True, reason="a test fault")
    assert events[0].order == ORDER and events[0].lot is None and events[1].order == ORDER
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert all(e.occurred_at.tzinfo is not None for e in events)


def newest_id_of(engine: Engine) -> int:
    with session_scope(engine) as s:
        return newest_id(s)


def test_a_rolled_back_change_leaves_no_event(engine: Engine) -> None:
    line = build(engine)
    before = newest_id_of(engine)
    with pytest.raises(RuntimeError), session_scope(engine) as s:
        order = s.get(WorkOrder, line.order_id)
        assert order is not None
        order.state = WorkOrderState.ABORTED
        s.add(order)
        s.flush()
        raise RuntimeError("boom")
    assert _changes(engine, before) == []
    with session_scope(engine) as s:
        assert s.get(WorkOrder, line.order_id).state == WorkOrderState.RUNNING  # type: ignore[union-attr]


def test_a_row_touched_without_a_change_of_state_leaves_no_event(engine: Engine) -> None:
    line = build(engine)
    before = newest_id_of(engine)
    with session_scope(engine) as s:
        unit = s.get(EquipmentUnit, line.unit_id)
        step = s.get(StepRun, line.step_id)
        assert unit is not None and step is not None
        unit.last_seen_at = step.updated_at = utcnow()  # a heartbeat, a step's touch
        s.add_all([unit, step])
        s.execute(sa.text("UPDATE work_order SET priority = 5"))
    assert _changes(engine, before) == []


def test_every_tracked_table_has_its_triggers(engine: Engine) -> None:
    """A SQLite batch migration that rebuilds a table drops its triggers: this says which."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(sa.text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars()
        else:
            rows = conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars()
        names = set(rows)
    expected = {f"event_log_{t}_{verb}" for t in TRACKED_TABLES for verb in ("insert", "update")}
    assert expected <= names, sorted(expected - names)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_ids_are_the_commit_order(engine: Engine) -> None:
    """Two transactions: the first changes a state, the second changes one and commits, then the first
    commits. The first's event gets the larger id, so a reader that saw the second's never misses it."""
    line = build(engine)
    other = build(engine, order="WO-261201-F1F1F1")
    before = newest_id_of(engine)
    first_changed, second_done = threading.Event(), threading.Event()

    def first() -> None:
        with session_scope(engine) as s:
            s.execute(sa.update(WorkOrder).where(col(WorkOrder.id) == line.order_id).values(state="ready"))
            first_changed.set()
            assert second_done.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    assert first_changed.wait(10)
    with session_scope(engine) as s:
        s.execute(sa.update(WorkOrder).where(col(WorkOrder.id) == other.order_id).values(state="ready"))
    seen = _changes(engine, before)  # what a reader sees between the two commits
    second_done.set()
    thread.join(10)
    assert seen == [("order", "WO-261201-F1F1F1", "running", "ready")]
    with session_scope(engine) as s:
        events = events_after(s, before)
    assert [e.entity for e in events] == ["WO-261201-F1F1F1", ORDER]
    assert events[1].id > events[0].id
    # The pending ids a transaction holds before its commit never show.
    with session_scope(engine) as s:
        assert (s.exec(select(sa.func.min(EventLog.id))).one() or 0) > 0


def test_a_returning_client_is_replayed_within_the_window_and_told_a_gap_beyond(engine: Engine) -> None:
    line = build(engine)
    with session_scope(engine) as s:
        newest = newest_id(s)
        assert replay_plan(s, None, 10).model_dump() == {"start_after": newest, "gap": None}
        assert replay_plan(s, 1, 10).start_after == 1 and replay_plan(s, 1, 10).gap is None
        window = replay_plan(s, 1, 2)
        assert window.start_after == newest and window.gap is not None
        assert (window.gap.reason, window.gap.missed, window.gap.exact) == ("window", newest - 1, True)
        unknown = replay_plan(s, newest + 5, 10).gap
        assert unknown is not None and unknown.reason == "unknown" and unknown.missed is None
    with session_scope(engine) as s:
        old = utcnow() - timedelta(days=2)
        s.execute(sa.update(EventLog).where(col(EventLog.id) < 3).values(occurred_at=old))
    with session_scope(engine) as s:
        assert prune_events(s, utcnow() - timedelta(hours=24)) == 2
    with session_scope(engine) as s:
        assert replay_plan(s, 2, 10).gap is None  # event 3 on: all there
        pruned = replay_plan(s, 1, 10).gap
        assert pruned is not None and (pruned.reason, pruned.missed, pruned.exact) == (
            "pruned",
            newest - 1,
            False,
        )
    del line


def test_pruning_keeps_the_newest_event(engine: Engine) -> None:
    build(engine)
    with session_scope(engine) as s:
        newest = newest_id(s)
        s.execute(sa.update(EventLog).values(occurred_at=utcnow() - timedelta(days=2)))
    with session_scope(engine) as s:
        assert prune_events(s, utcnow()) == newest - 1
    with session_scope(engine) as s:
        assert [e.id for e in events_after(s, 0)] == [newest]
        assert replay_plan(s, newest, 10).gap is None
        assert {e.kind for e in events_after(s, 0)} <= set(EventKind)


def test_a_change_made_outside_the_mes_code_is_logged_too(engine: Engine) -> None:
    """A plain driver connection (a script, psql, another program): the database writes the event."""
    line = build(engine)
    before = newest_id_of(engine)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"UPDATE lot SET status = 'on_hold' WHERE id = {line.lot_id}")  # noqa: S608 - an int
        raw.commit()
    finally:
        raw.close()
    assert _changes(engine, before) == [("lot", line.lot, "planned", "on_hold")]
