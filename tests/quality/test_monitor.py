"""The live SPC check inside ``ingest``: segments, batches, one alarm per rule, broken limits."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mes.db import session_scope
from mes.equipment.driver import ScanRecord
from mes.equipment.models import EquipmentClass, EquipmentUnit
from mes.execution.scheduler import StepPlan
from mes.execution.steps import ingest
from mes.lots.models import Characteristic, Disposition, Layer, Lot, LotKind, StepRun, StepRunState
from mes.quality.models import Alarm, AlarmPriority, ControlLimit
from mes.recipes.models import Recipe as RecipeRow

PITCH_M, LANES = 0.01, 4


@dataclass
class Setup:
    engine: Engine
    plan: StepPlan
    char_id: int


def _setup(engine: Engine, *, sigma: float = 1.0) -> Setup:
    with session_scope(engine) as session:
        recipe = RecipeRow(name="r", version=1, title="r", product_family="f", content="{}", content_hash="h",
                           created_by="eng")  # fmt: skip
        unit = EquipmentUnit(
            name="sputter-1", equipment_class=EquipmentClass.SPUTTER, endpoint="x", profile="p"
        )
        session.add(recipe)
        session.add(unit)
        session.flush()
        lot = Lot(number="A-1", kind=LotKind.ANODE, length_m=100, recipe_id=recipe.id)
        session.add(lot)
        session.flush()
        step = StepRun(lot_id=lot.id or 0, step_index=0, step_name="si", equipment_class=EquipmentClass.SPUTTER,
                       equipment_unit_id=unit.id, job_id="J-1", state=StepRunState.RUNNING)  # fmt: skip
        session.add(step)
        session.flush()
        layer = Layer(lot_id=lot.id or 0, step_run_id=step.id, layer_index=0, name="si", material="Si",
                      method="sputter", disposition_policy=Disposition.HOLD_INTERVAL)  # fmt: skip
        session.add(layer)
        session.flush()
        char = Characteristic(layer_id=layer.id or 0, name="thickness", unit="nm", target=100, lsl=90, usl=110,
                              gauge="g", pitch_m=PITCH_M, lanes=LANES)  # fmt: skip
        session.add(char)
        session.flush()
        session.add(
            ControlLimit(
                recipe_id=recipe.id or 0,
                equipment_unit_id=unit.id or 0,
                layer_name="si",
                characteristic="thickness",
                segment_m=0.5,
                center=100,
                ucl=103,
                lcl=97,
                sigma=sigma,
                n_baseline=50,
                source="test",
                created_by="eng",
            )  # fmt: skip
        )
        plan = StepPlan(step_run_id=step.id or 0, lot_id=lot.id or 0, lot_number="A-1", job_id="J-1",
                        unit="sputter-1", unit_id=unit.id or 0, state=StepRunState.RUNNING, chain_token="t",
                        lease_token=1, setpoints={}, product="Si", length_m=100, time_limit_s=60,
                        layer_id=layer.id or 0, gauges={"g": char.id or 0}, gauge_seq_start={"g": 0},
                        gauge_seq_end=None, started_at_unix=None, is_last_step=False)  # fmt: skip
        return Setup(engine, plan, char.id or 0)


def _scans(first_seq: int, values: list[float]) -> list[ScanRecord]:
    """One scan per pitch; ``values`` is the lane mean of each (all lanes equal)."""
    return [
        ScanRecord(
            seq=first_seq + i,
            position_m=round((first_seq + i - 1) * PITCH_M, 6),
            measured_at=0.0,
            values=[v] * LANES,
        )  # fmt: skip
        for i, v in enumerate(values)
    ]


def _ingest(setup: Setup, scans: list[ScanRecord]) -> None:
    with session_scope(setup.engine) as session:
        ingest(session, setup.plan, {"g": scans})


def _alarms(setup: Setup) -> list[Alarm]:
    with session_scope(setup.engine) as session:
        return list(session.exec(select(Alarm).order_by(col(Alarm.id))).all())


def test_a_run_across_batches_alarms_once_at_its_segment(engine: Engine) -> None:
    setup = _setup(engine)
    # Nine 0.5 m segments (50 scans each) around the center, mixing near and far points
    # (so neither 15 within 1σ nor 8 beyond it), the last one below: no rule fires.
    cycle = [98.8, 101.2, 99.5, 100.5]
    _ingest(setup, _scans(1, [cycle[(i // 50) % 4] for i in range(450)]))
    assert _alarms(setup) == []
    # Then segments at center + 0.5σ from 4.5 m: nelson-2 needs 9 in a row on one side, so
    # the 9th is segment 8.5–9.0 m. Its scans all come in the second batch, but it is only
    # complete when the third brings a scan beyond it.
    _ingest(setup, _scans(451, [100.5] * 200))
    _ingest(setup, _scans(651, [100.5] * 250))
    assert _alarms(setup) == []
    _ingest(setup, _scans(901, [100.5] * 101))
    alarms = _alarms(setup)
    assert [a.condition for a in alarms] == [f"char:{setup.char_id}:spc:nelson-2"]
    assert alarms[0].position_m == pytest.approx(9.0)
    assert alarms[0].priority == AlarmPriority.MEDIUM
    _ingest(setup, _scans(901, [100.5] * 101))  # the same scans again: nothing new
    assert len(_alarms(setup)) == 1


def test_a_point_beyond_3_sigma_is_high_priority_and_spec_excursions_alarm_too(engine: Engine) -> None:
    setup = _setup(engine)
    _ingest(setup, _scans(1, [100.0] * 50 + [101.5] * 50 + [111.0] * 50 + [100.0]))
    by_condition = {a.condition.split(":", 2)[2]: a for a in _alarms(setup)}
    assert set(by_condition) == {"spc:nelson-1", "oos"}
    assert by_condition["spc:nelson-1"].priority == AlarmPriority.HIGH
    assert by_condition["spc:nelson-1"].position_m == pytest.approx(1.5)  # segment 1.0–1.5 m
    assert by_condition["oos"].position_m == pytest.approx(1.0)  # first scan beyond the USL


def test_unusable_stored_limits_raise_one_low_alarm_and_scans_are_still_stored(engine: Engine) -> None:
    setup = _setup(engine, sigma=0.0)
    _ingest(setup, _scans(1, [100.0] * 120))
    _ingest(setup, _scans(121, [100.0] * 120))
    alarms = _alarms(setup)
    assert [(a.condition.rsplit(":", 1)[1], a.priority) for a in alarms] == [("limits", AlarmPriority.LOW)]
    assert "sigma must be positive" in alarms[0].message
    with session_scope(engine) as session:
        lot = session.exec(select(Lot)).one()
        assert lot.number == "A-1"
        from mes.lots.models import GaugeScan

        assert len(session.exec(select(GaugeScan)).all()) == 240


def test_the_last_segment_is_charted_when_the_step_completes(engine: Engine) -> None:
    setup = _setup(engine)
    _ingest(setup, _scans(1, [100.0] * 100 + [108.0] * 20))  # the layer ends 20 scans into a segment
    assert _alarms(setup) == []  # that segment could still grow
    with session_scope(setup.engine) as session:
        ingest(session, setup.plan, {"g": []}, final=True)  # completion: nothing new, the layer is made
    [alarm] = _alarms(setup)
    assert alarm.condition.endswith(":spc:nelson-1") and alarm.position_m == pytest.approx(1.5)
