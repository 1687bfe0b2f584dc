"""Orders, lots, scheduling, leases, intervals and genealogy in the database (no workers)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mes.base import pk
from mes.db import session_scope
from mes.demo import ENGINEER, prepare
from mes.equipment.models import EquipmentUnit, UnitLease
from mes.equipment.profile import Line, load_line
from mes.execution.scheduler import acquire_lease, schedule, sync_units, transition
from mes.lots.errors import LotInvalid, OrderRefused
from mes.lots.genealogy import usable_segments
from mes.lots.models import (
    Characteristic,
    GaugeScan,
    IntervalStatus,
    Layer,
    LayerResult,
    Lot,
    LotKind,
    LotStatus,
    OosInterval,
    StepRun,
    StepRunState,
)
from mes.lots.orders import create_order, expand_order, receive_lot
from mes.lots.scans import insert_scans, scan_row
from mes.quality.spec import close_layer, excursions, merge_excursions
from mes.recipes import service as recipes
from mes.recipes.load import load_recipe_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def line() -> Line:
    return load_line(ROOT / "deploy" / "line.yaml")


@pytest.fixture
def prepared(engine: Engine, line: Line) -> Engine:
    prepare(engine, ROOT / "recipes")
    with session_scope(engine) as session:
        sync_units(session, line)
    return engine


def test_orders_need_a_released_recipe(engine: Engine, line: Line) -> None:
    prepare(engine, ROOT / "recipes")
    loaded = load_recipe_file(ROOT / "recipes" / "cathode-lco.yaml").recipe
    assert loaded is not None
    v2 = loaded.model_copy(update={"version": 2})
    with session_scope(engine) as session:
        recipes.import_recipe(session, v2, by=ENGINEER)
    for ref, message in (("nope@1", "no recipe nope@1"), ("cathode-lco@2", "only released recipes can be dispatched"),
                         ("cathode-lco", "expected ID@VERSION")):  # fmt: skip
        with pytest.raises(OrderRefused, match=message), session_scope(engine) as session:
            create_order(session, ref, 1, by=ENGINEER, line=line)
    with pytest.raises(OrderRefused, match="lot size 5000 is outside"), session_scope(engine) as session:
        create_order(session, "cathode-lco@1", 1, by=ENGINEER, line=line, lot_size=5000)
    with pytest.raises(OrderRefused, match="1 to 1000 lots"), session_scope(engine) as session:
        create_order(session, "cathode-lco@1", 0, by=ENGINEER, line=line)
    with session_scope(engine) as session:
        assert session.exec(select(Lot)).all() != []  # only the demo's received separator…
        assert all(
            lot.kind == LotKind.SEPARATOR for lot in session.exec(select(Lot)).all()
        )  # …nothing half-made


def test_an_order_no_unit_can_run_is_refused(prepared: Engine, tmp_path: Path) -> None:
    text = (ROOT / "deploy" / "line.yaml").read_text().replace("../recipes", str(ROOT / "recipes"))
    only_sputter = tmp_path / "line.yaml"
    only_sputter.write_text(text.split("  - name: coater-1")[0])
    with (
        pytest.raises(OrderRefused, match="no unit of line electrode-line-1 can run it"),
        session_scope(prepared) as s,
    ):
        create_order(s, "cathode-lco@1", 1, by=ENGINEER, line=load_line(only_sputter))


def test_expand_creates_lots_with_steps_layers_and_the_recipe_hash(prepared: Engine, line: Line) -> None:
    with session_scope(prepared) as session:
        order = create_order(session, "capped-si-anode@1", 2, by=ENGINEER, line=line, lot_size=25)
        lots = expand_order(session, order)
        assert expand_order(session, order) == []  # idempotent
        row = recipes.get_recipe(session, "capped-si-anode@1")
        assert [lot.recipe_hash for lot in lots] == [row.content_hash] * 2
        assert [lot.length_m for lot in lots] == [25.0, 25.0]
        steps = session.exec(
            select(StepRun).where(StepRun.lot_id == lots[0].id).order_by(col(StepRun.step_index))
        )
        assert [s.step_name for s in steps] == ["si-active", "cu-cap"]
        chars = session.exec(select(Characteristic).join(Layer).where(Layer.lot_id == lots[0].id)).all()
        assert {(c.name, c.gauge, c.lsl, c.usl) for c in chars} == {
            ("thickness", "xrf", 3800, 4200),
            ("thickness", "xrf", 150, 250),
        }


def test_schedule_gives_each_free_unit_one_step(prepared: Engine, line: Line) -> None:
    with session_scope(prepared) as session:
        order = create_order(session, "capped-si-anode@1", 3, by=ENGINEER, line=line)
        expand_order(session, order)
        first = schedule(session, line)
        assert sorted(e.queue for e in first) == ["unit.sputter-1", "unit.sputter-2"]  # two sputter units
        assert schedule(session, line) == []  # both busy now
        leases = session.exec(select(UnitLease).where(col(UnitLease.step_run_id).is_not(None))).all()
        assert len(leases) == 2
        assert all(lease.token == 1 for lease in leases)
        dispatched = session.exec(select(StepRun).where(StepRun.state == StepRunState.DISPATCHED)).all()
        assert {s.step_index for s in dispatched} == {0}  # second steps wait for their first
        taken = dispatched[0]
        assert acquire_lease(session, taken.equipment_unit_id or 0, 999, "intruder") is None
        # A duplicate task with an old chain token cannot move the step.
        assert not transition(
            session, pk(taken), "stale-token", (StepRunState.DISPATCHED,), state=StepRunState.RUNNING
        )
        assert transition(session, pk(taken), taken.chain_token or "", (StepRunState.DISPATCHED,),
                          state=StepRunState.RUNNING)  # fmt: skip


def test_unhealthy_units_get_nothing(prepared: Engine, line: Line) -> None:
    with session_scope(prepared) as session:
        session.execute(sa.update(EquipmentUnit).values(healthy=False))
        order = create_order(session, "cathode-lco@1", 1, by=ENGINEER, line=line)
        expand_order(session, order)
        assert schedule(session, line) == []


def _lot_with_layer(session: Session, line: Line) -> tuple[Lot, Layer, Characteristic]:
    order = create_order(session, "cathode-lco@1", 1, by=ENGINEER, line=line, lot_size=10)
    [lot] = expand_order(session, order)
    layer = session.exec(select(Layer).where(Layer.lot_id == lot.id)).one()
    char = session.exec(select(Characteristic).where(Characteristic.layer_id == layer.id,
                                                     Characteristic.name == "coat_weight")).one()  # fmt: skip
    return lot, layer, char


def test_intervals_from_scans_are_idempotent_and_hold_only_their_metres(prepared: Engine, line: Line) -> None:
    with session_scope(prepared) as session:
        lot, layer, char = _lot_with_layer(session, line)
        scans = [(i * 0.02, [20.0 if not 100 <= i <= 120 else 21.0] * 6) for i in range(500)]
        rows = [
            scan_row(pk(lot), pk(layer), pk(char), i + 1, pos, 1.7e9, values)
            for i, (pos, values) in enumerate(scans)
        ]
        for _ in range(2):  # the collector and the step's close both offer them
            insert_scans(session, rows)
            merge_excursions(session, char, layer, excursions(scans, char.lsl, char.usl))
        assert session.exec(select(sa.func.count()).select_from(GaugeScan)).one() == 500
        [interval] = session.exec(select(OosInterval)).all()
        assert (interval.start_m, interval.end_m, interval.worst_value) == (2.0, 2.4, 21.0)
        # The layer's other characteristic measured the whole roll in spec: only coat weight fails.
        thickness = session.exec(select(Characteristic).where(Characteristic.layer_id == layer.id,
                                                              Characteristic.name == "thickness")).one()  # fmt: skip
        insert_scans(session, [scan_row(pk(lot), pk(layer), pk(thickness), i + 1, i * 0.02, 1.7e9, [65.0] * 6)
                               for i in range(501)])  # fmt: skip
        assert close_layer(session, layer) == LayerResult.OUT_OF_SPEC
        assert interval.status == IntervalStatus.HELD
        assert char.n_values == 3000
        assert lot.status != LotStatus.ON_HOLD  # hold_interval: the rest of the lot is usable
        # The last bad scan at 2.4 m stands for one pitch (0.02 m) of band.
        assert usable_segments(session, lot) == [(0.0, 2.0), (2.42, 10.0)]


def test_received_lots_are_traceable_to_their_supplier(prepared: Engine) -> None:
    with session_scope(prepared) as session:
        lot = receive_lot(session, kind=LotKind.FOIL, material="Cu 10 um", length_m=500, supplier="Foil Co",
                          supplier_lot="F-123", by=ENGINEER)  # fmt: skip
        assert (lot.status, lot.supplier_lot) == (LotStatus.RELEASED, "F-123")
        # A lot no receipt can make: a LotInvalid, exit 2 (it was an OrderRefused, exit 1).
        with pytest.raises(LotInvalid, match="made on the line"):
            receive_lot(session, kind=LotKind.ANODE, material="x", length_m=1, supplier="a", supplier_lot="b",
                        by=ENGINEER)  # fmt: skip
