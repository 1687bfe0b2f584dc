"""A small plant in the database for the read-model tests: the longest real identifiers, a lot
held by a signature with a held interval, a lot held by a step fault with its alarm, limits.

Lot numbers are as the dispatcher makes them (``WO-YYMMDD-XXXXXX-Lnn``), the recipe is the
shipped one with the longest id (``thin-composite-anode-carbon@1``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from mes.base import pk, utcnow
from mes.db import session_scope
from mes.demo import ENGINEER, QUALITY, prepare
from mes.equipment.models import EquipmentClass, EquipmentUnit
from mes.lots.models import (
    Characteristic,
    GaugeScan,
    IntervalKind,
    IntervalStatus,
    Layer,
    LayerResult,
    LotStatus,
    OosInterval,
    StepRun,
    StepRunState,
    WorkOrder,
)
from mes.lots.orders import expand_order
from mes.quality import alarms
from mes.quality import disposition as dispo
from mes.quality.models import AlarmPriority, ControlLimit
from mes.recipes.service import get_recipe

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "thin-composite-anode-carbon@1"
ORDER = "WO-260413-A1B2C3"
HELD_BY_SIGNATURE = f"{ORDER}-L01"
HELD_BY_FAULT = f"{ORDER}-L02"
LINK_LOST = "lost the link to sputter-1 after 10 attempts in 61 s"


@dataclass(frozen=True)
class Plant:
    password: str
    step_alarm: int
    oos_alarm: int
    interval: int
    jobs: tuple[str, str]


def thickness(position_m: float, lane: int) -> float:
    """nm, with more digits than any gauge resolves: what the report must round."""
    return 500.0 + 3.0 * lane / 7 + 11.0 * (position_m % 0.37) + random.random() / 1000  # noqa: S311


def build(engine: Engine) -> Plant:
    password = prepare(engine, ROOT / "recipes")[QUALITY]
    random.seed(7)
    with session_scope(engine) as s:
        units = {}
        for name, cls in (("sputter-1", EquipmentClass.SPUTTER), ("coater-1", EquipmentClass.COATER)):
            unit = EquipmentUnit(
                name=name, equipment_class=cls, endpoint="opc.tcp://127.0.0.1:4840", profile="p"
            )
            s.add(unit)
            s.flush()
            units[name] = pk(unit)
        recipe = get_recipe(s, RECIPE, version_required=True)
        order = WorkOrder(number=ORDER, recipe_id=pk(recipe), lots_requested=2, created_by=ENGINEER)
        s.add(order)
        s.flush()
        first, second = expand_order(s, order)
        now = utcnow()
        # First lot: made on sputter-1, out of spec over 10 cm, the interval held by the recipe.
        step = s.exec(select(StepRun).where(StepRun.lot_id == first.id)).one()
        step.equipment_unit_id, step.state = units["sputter-1"], StepRunState.COMPLETED
        step.started_at, step.ended_at = now - timedelta(hours=2), now - timedelta(hours=1)
        layer = s.exec(select(Layer).where(Layer.lot_id == first.id)).one()
        char = s.exec(select(Characteristic).where(Characteristic.layer_id == layer.id)).one()
        values = []
        for seq in range(300):
            position = seq * char.pitch_m
            lanes = [thickness(position, lane) for lane in range(char.lanes)]
            if 100 <= seq < 110:
                lanes = [v + 100.0 for v in lanes]
            values += lanes
            s.add(
                GaugeScan(
                    lot_id=pk(first),
                    layer_id=pk(layer),
                    characteristic_id=pk(char),
                    seq=seq,
                    position_m=position,
                    measured_at=now - timedelta(hours=2) + timedelta(seconds=seq),
                    lane_values=lanes,
                    min_value=min(lanes),
                    mean_value=sum(lanes) / len(lanes),
                    max_value=max(lanes),
                )
            )
        mean = sum(values) / len(values)
        char.n_values, char.min_value, char.max_value, char.mean_value = (
            len(values),
            min(values),
            max(values),
            mean,
        )
        char.stddev_value = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
        char.measured_m, char.result = 3.0, LayerResult.OUT_OF_SPEC
        layer.result, layer.closed_at = LayerResult.OUT_OF_SPEC, now - timedelta(hours=1)
        interval = OosInterval(
            lot_id=pk(first),
            layer_id=pk(layer),
            characteristic_id=pk(char),
            kind=IntervalKind.OUT_OF_SPEC,
            start_m=1.0,
            end_m=1.09,
            worst_value=max(values),
            limit_value=char.usl,
            limit_kind="usl",
            disposition=layer.disposition_policy,
            status=IntervalStatus.HELD,
            closed_at=now - timedelta(hours=1),
        )
        s.add_all([step, layer, char, interval])
        first.status = LotStatus.IN_PROCESS
        s.add(first)
        s.flush()
        oos = alarms.raise_alarm(
            s,
            f"char:{pk(char)}:oos",
            f"{first.number} {layer.name} {char.name} out of spec: {max(values):.4g} nm above USL 600",
            lot_id=pk(first),
            unit_id=units["sputter-1"],
            characteristic_id=pk(char),
            position_m=1.0,
        )
        s.add(
            ControlLimit(
                recipe_id=pk(recipe),
                equipment_unit_id=units["sputter-1"],
                layer_name=layer.name,
                characteristic=char.name,
                segment_m=0.5,
                center=501.23456789,
                ucl=506.98765432,
                lcl=495.4814814,
                sigma=1.91769547,
                n_baseline=40,
                source="phase I from lots WO-260401-FFFFFF-L01, WO-260401-FFFFFF-L02",
                created_by=ENGINEER,
                created_at=now - timedelta(days=3),
            )
        )
        # Second lot: its step held by a lost link, as a step fault holds it, with the alarm.
        held = s.exec(select(StepRun).where(StepRun.lot_id == second.id)).one()
        held.equipment_unit_id, held.state, held.error = units["sputter-1"], StepRunState.HELD, LINK_LOST
        held.started_at, held.ended_at = now - timedelta(minutes=30), now - timedelta(minutes=5)
        second.status = LotStatus.ON_HOLD
        s.add_all([held, second])
        s.flush()
        step_alarm = alarms.raise_alarm(
            s,
            f"step:{pk(held)}:held",
            f"{second.number} step {held.job_id} held: {LINK_LOST}",
            priority=AlarmPriority.URGENT,
            lot_id=pk(second),
            unit_id=units["sputter-1"],
        )
        plant = Plant(password, pk(step_alarm), pk(oos), pk(interval), (step.job_id, held.job_id))
    with session_scope(engine) as s:
        dispo.decide(
            s, dispo.Decision.HOLD, HELD_BY_SIGNATURE, by=QUALITY, password=password, reason="suspect target"
        )
    return plant
