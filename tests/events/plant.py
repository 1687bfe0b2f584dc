"""A small line in the database for the event tests: one unit, one order of one cathode lot with its
step run (made by the dispatcher's own expansion), and the engineer who ordered it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from mes.auth.models import Role
from mes.auth.service import create_user
from mes.base import pk
from mes.db import session_scope
from mes.equipment.models import EquipmentClass, EquipmentUnit
from mes.lots.models import StepRun, WorkOrder
from mes.lots.orders import expand_order
from mes.recipes.load import load_recipe_file
from mes.recipes.service import import_recipe

ROOT = Path(__file__).resolve().parents[2]
ENGINEER = "erin"
UNIT = "coater-1"
ORDER = "WO-261201-E0E0E0"


@dataclass(frozen=True)
class Line:
    unit_id: int
    order_id: int
    lot_id: int
    lot: str
    step_id: int
    job: str


def build(engine: Engine, order: str = ORDER, unit: str = UNIT) -> Line:
    with session_scope(engine) as s:
        if s.exec(select(EquipmentUnit).where(EquipmentUnit.name == unit)).first() is None:
            s.add(EquipmentUnit(name=unit, equipment_class=EquipmentClass.COATER, endpoint="opc.tcp://x:4840",
                                profile="packml-coater"))  # fmt: skip
        from mes.auth.models import User

        if s.exec(select(User).where(User.name == ENGINEER)).first() is None:
            create_user(s, ENGINEER, Role.ENGINEER, "engineer-password-1", full_name="Erin")
        loaded = load_recipe_file(ROOT / "recipes" / "cathode-lco.yaml")
        assert loaded.recipe is not None
        recipe, _ = import_recipe(s, loaded.recipe, by=ENGINEER, source_path="cathode-lco.yaml")
        row = WorkOrder(number=order, recipe_id=pk(recipe), lots_requested=1, created_by=ENGINEER)
        s.add(row)
        s.flush()
        [lot] = expand_order(s, row)
        step = s.exec(select(StepRun).where(StepRun.lot_id == lot.id)).one()
        unit_id = pk(s.exec(select(EquipmentUnit).where(EquipmentUnit.name == unit)).one())
        return Line(unit_id, pk(row), pk(lot), lot.number, pk(step), step.job_id)
