"""How far each work order of a list has got (the order pages' read model): its steps counted, those
under way with their metres and ETA, and whether it can still be cancelled (both backends)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from mes.base import utcnow
from mes.db import session_scope
from mes.demo import ENGINEER, prepare
from mes.equipment.profile import Line, load_line
from mes.execution.order_control import pause_order
from mes.execution.scheduler import schedule, sync_units
from mes.lots.models import Characteristic, GaugeScan, Layer, StepRun, StepRunState, WorkOrder
from mes.lots.order_queries import order_detail, orders_progress
from mes.lots.orders import expand_order, place_order

ROOT = Path(__file__).resolve().parents[2]
SI = "capped-si-anode@1"  # si-active at 0.135 m/min, then cu-cap


@pytest.fixture
def line() -> Line:
    return load_line(ROOT / "deploy" / "line.yaml")


@pytest.fixture
def prepared(engine: Engine, line: Line) -> Engine:
    prepare(engine, ROOT / "recipes")
    with session_scope(engine) as session:
        sync_units(session, line)
    return engine


def test_the_progress_of_a_list_of_orders(prepared: Engine, line: Line) -> None:
    with session_scope(prepared) as s:
        stored = place_order(s, SI, 1, by=ENGINEER, line=line, start=False).order.number
        running = place_order(s, SI, 2, by=ENGINEER, line=line, lot_size=10).order.number
        lots = expand_order(s, s.exec(select(WorkOrder).where(WorkOrder.number == running)).one())
        schedule(s, line)
        step = s.exec(select(StepRun).where(StepRun.lot_id == lots[0].id, StepRun.step_index == 0)).one()
        step.state, step.started_at = StepRunState.RUNNING, utcnow()
        s.add(step)
        layer = s.exec(select(Layer).where(Layer.step_run_id == step.id)).one()
        char = s.exec(select(Characteristic).where(Characteristic.layer_id == layer.id)).first()
        assert char is not None and char.id is not None and layer.id is not None and lots[0].id is not None
        s.add(GaugeScan(lot_id=lots[0].id, layer_id=layer.id, characteristic_id=char.id, seq=1, position_m=2.5,
                        measured_at=utcnow(), lane_values=[1.0] * char.lanes))  # fmt: skip
    with session_scope(prepared) as s:
        found = orders_progress(s, [stored, running, "WO-NOPE"])
        detail = order_detail(s, running)
    assert set(found) == {stored, running}
    assert (found[stored].steps_total, found[stored].steps_started, found[stored].underway) == (0, 0, [])
    made = found[running]
    assert (made.steps_total, made.steps_completed, made.steps_started) == (4, 0, 2)
    assert [(u.lot, u.state, u.unit, u.progress_m, u.length_m) for u in made.underway] == [
        (lots[0].number, StepRunState.RUNNING, "sputter-1", 2.5, 10.0),
        (lots[1].number, StepRunState.DISPATCHED, "sputter-2", None, 10.0)]  # fmt: skip
    # The same metres and ETA as the order's own page, step by step.
    assert made.underway[0].eta == detail.lots[0].steps[0].eta is not None
    assert made.eta == detail.eta is None  # a step waits for a unit: when the order ends is not known
    with session_scope(prepared) as s:
        pause_order(s, running, by=ENGINEER, reason="jam")
        paused = orders_progress(s, [running])[running]
    assert [u.paused for u in paused.underway] == [True, True]
    with session_scope(prepared) as s:
        assert orders_progress(s, []) == {}
