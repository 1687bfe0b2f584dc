"""Lots made through the services, as the line makes them, without running the line: an order of the
shipped carbon anode recipe (20 m lots, 8 lanes at 1 cm), each lot's scans ingested on sputter-1 by
:func:`mes.execution.steps.ingest` (intervals folded, SPC checked), its layer closed and judged by
:func:`mes.quality.spec.close_layer`, the lot finished; control limits computed from the first lots.

- ``BASELINE_1``, ``BASELINE_2``: in spec, released; the limits' baseline.
- ``SUSPECT``: a mean shift at 6–8 m (out of control, in spec), out of spec at 12.00–12.30 m (above
  the USL of 600 nm), no scans at 16–17 m (unmeasured): the intervals held by the recipe's
  ``hold_interval``, the lot held because a metre of it was not measured.
- ``CELL``: a cell wound from 0–0.65 m of ``BASELINE_1`` (its genealogy link written as the
  disposition tests write theirs: winding needs a whole line).
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from mes.base import pk, utcnow
from mes.db import session_scope
from mes.demo import ENGINEER, prepare
from mes.equipment.driver import ScanRecord
from mes.equipment.models import EquipmentClass, EquipmentUnit
from mes.execution.scheduler import finish_lot, plan
from mes.execution.steps import ingest
from mes.lots.models import (
    GenealogyLink,
    IntervalKind,
    Layer,
    Lot,
    LotKind,
    LotStatus,
    OosInterval,
    StepRun,
    StepRunState,
    WorkOrder,
)
from mes.lots.orders import expand_order
from mes.quality.limits import compute_limits
from mes.quality.spec import close_layer
from mes.recipes.service import get_recipe

ROOT = Path(__file__).resolve().parents[2]
RECIPE = "thin-composite-anode-carbon@1"
UNIT = "sputter-1"
CHARACTERISTIC = "carbon-film.thickness"
ORDER = "WO-260413-C4R8ON"
BASELINE_1, BASELINE_2, SUSPECT = (f"{ORDER}-L0{i}" for i in (1, 2, 3))
CELL = "WO-260414-W1ND3R-L01"
LENGTH_M, PITCH_M, LANES = 20.0, 0.01, 8
SHIFT_M = (6.0, 8.0)
OOS_M = (12.0, 12.3)
GAP_M = (16.0, 17.0)


@dataclass(frozen=True)
class MadeLots:
    lots: tuple[str, ...]
    oos_interval: int
    unmeasured_interval: int


def thickness(position_m: float, lane: int, lot: int) -> float:
    """nm: on target with a cross-web profile and a little noise that differs from lot to lot."""
    return (
        500.0
        + 2.0 * (lane - 3.5)
        + 1.5 * math.sin(position_m * 7.3 + lot)
        + 0.8 * math.sin(position_m * 53.0)
    )


def scans(lot: int, *, suspect: bool) -> list[ScanRecord]:
    found = []
    for seq in range(1, round(LENGTH_M / PITCH_M) + 1):
        position = round((seq - 1) * PITCH_M, 6)
        if suspect and GAP_M[0] <= position < GAP_M[1]:
            continue  # the gauge sent nothing here
        lanes = [thickness(position, lane, lot) for lane in range(LANES)]
        if suspect and SHIFT_M[0] <= position < SHIFT_M[1]:
            lanes = [v + 12.0 for v in lanes]
        if suspect and OOS_M[0] <= position < OOS_M[1]:
            lanes = [v + 140.0 + lane for lane, v in enumerate(lanes)]
        found.append(ScanRecord(seq=seq, position_m=position, measured_at=1.8e9 + seq, values=lanes))
    return found


def _make(engine: Engine, number: str, unit_id: int, index: int, *, suspect: bool) -> None:
    """Run lot ``number``'s only step on the unit through the services: ingest, close, finish."""
    with session_scope(engine) as s:
        lot = s.exec(select(Lot).where(Lot.number == number)).one()
        step = s.exec(select(StepRun).where(StepRun.lot_id == lot.id)).one()
        step.equipment_unit_id, step.state, step.started_at = unit_id, StepRunState.RUNNING, utcnow()
        lot.status = LotStatus.IN_PROCESS
        s.add_all([step, lot])
        s.flush()
        found = plan(s, pk(step))
        assert found is not None
        ingest(s, found, {"xrf": scans(index, suspect=suspect)}, final=True)
        step.state, step.ended_at = StepRunState.COMPLETED, utcnow()
        s.add(step)
        layer = s.exec(select(Layer).where(Layer.step_run_id == step.id)).one()
        close_layer(s, layer)
        finish_lot(s, lot)


def build(engine: Engine) -> MadeLots:
    with tempfile.TemporaryDirectory() as folder:  # the one recipe: importing all of them takes 4× longer
        shutil.copy(ROOT / "recipes" / f"{RECIPE.split('@')[0]}.yaml", folder)
        prepare(engine, Path(folder))  # its users' passwords are not needed: tests sign as their own
    with session_scope(engine) as s:
        unit = EquipmentUnit(name=UNIT, equipment_class=EquipmentClass.SPUTTER,
                             endpoint="opc.tcp://127.0.0.1:4840", profile="packml-sputter")  # fmt: skip
        s.add(unit)
        recipe = get_recipe(s, RECIPE, version_required=True)
        order = WorkOrder(number=ORDER, recipe_id=pk(recipe), lots_requested=3, lot_size=LENGTH_M,
                          created_by=ENGINEER)  # fmt: skip
        s.add(order)
        s.flush()
        expand_order(s, order)
        unit_id = pk(unit)
    _make(engine, BASELINE_1, unit_id, 1, suspect=False)
    _make(engine, BASELINE_2, unit_id, 2, suspect=False)
    with session_scope(engine) as s:
        compute_limits(s, recipe_ref=RECIPE, unit=UNIT, layer_name="carbon-film", characteristic="thickness",
                       lot_numbers=[BASELINE_1, BASELINE_2], by=ENGINEER, reason="baseline of the first lots",
                       accept_few_lots=True, accept_violations=True)  # fmt: skip
    _make(engine, SUSPECT, unit_id, 3, suspect=True)
    with session_scope(engine) as s:
        anode = s.exec(select(Lot).where(Lot.number == BASELINE_1)).one()
        cell = Lot(
            number=CELL, kind=LotKind.CELL, status=LotStatus.RELEASED, length_m=1, material="18650 cell"
        )
        s.add(cell)
        s.flush()
        s.add(GenealogyLink(parent_lot_id=pk(anode), parent_start_m=0.0, parent_end_m=0.65, child_lot_id=pk(cell),
                            role="anode"))  # fmt: skip
    with session_scope(engine) as s:
        lot = s.exec(select(Lot).where(Lot.number == SUSPECT)).one()
        intervals = s.exec(select(OosInterval).where(OosInterval.lot_id == lot.id)).all()
        oos = next(i for i in intervals if i.kind == IntervalKind.OUT_OF_SPEC)
        gap = next(i for i in intervals if i.kind == IntervalKind.UNMEASURED)
        return MadeLots((BASELINE_1, BASELINE_2, SUSPECT, CELL), pk(oos), pk(gap))
