"""What the alarm, order and audit page tests share: the app served in a plant whose time zone is not
UTC (so a page that shows or reads UTC as plant time fails), with the line's units and released
recipes, and the setups they build through the services."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mes.config import Settings
from mes.db import session_scope
from mes.demo import prepare
from mes.equipment.models import EquipmentUnit
from mes.equipment.profile import Line, load_line
from mes.execution.scheduler import schedule, sync_units
from mes.hmi.app import create_web_app
from mes.lots.models import Characteristic, GaugeScan, Layer, Lot, StepRun, StepRunState, WorkOrder
from mes.lots.orders import expand_order, place_order
from tests.api.conftest import make_callers
from tests.api.server import serve
from tests.hmi.conftest import Hmi

ROOT = Path(__file__).resolve().parents[2]
LINE = ROOT / "deploy" / "line.yaml"
ZONE = "Europe/Berlin"  # UTC+1 in winter, +2 in summer
SI = "capped-si-anode@1"  # two steps: si-active (sputter), cu-cap (sputter)
OPERATOR = "operator-person"


@pytest.fixture
def line() -> Line:
    return load_line(LINE)


@pytest.fixture
def plant(db_url: str, engine: Engine, browser: Browser, line: Line) -> Iterator[Hmi]:
    """:func:`tests.hmi.conftest.hmi` in Berlin, on the line of ``deploy/line.yaml`` (its units synced),
    with the recipes of ``recipes/`` released."""
    callers = make_callers(engine)
    prepare(engine, ROOT / "recipes")
    with session_scope(engine) as s:
        sync_units(s, line)
    app = create_web_app(Settings(database_url=db_url, plant_time_zone=ZONE, line_config=LINE), engine=engine)
    with serve(app) as base_url:
        found = Hmi(base_url, callers, browser, [])
        yield found
        for context in found.contexts:
            context.close()


def unit_id(s: Session, name: str) -> int:
    unit = s.exec(select(EquipmentUnit).where(EquipmentUnit.name == name)).one()
    assert unit.id is not None
    return unit.id


def place(engine: Engine, line: Line, *, lots: int = 1, lot_size: float = 10, start: bool = True) -> str:
    """A work order as the API stores it (the dispatcher not yet there): ready, or waiting."""
    with session_scope(engine) as s:
        return place_order(s, SI, lots, by=OPERATOR, line=line, lot_size=lot_size, start=start).order.number


def run_first_step(engine: Engine, line: Line, number: str, made_m: list[float] | None = None) -> str:
    """Expand the order and give its steps to units as the dispatcher would; the first step runs and,
    with ``made_m``, its gauge has measured at those metres. The running step's job id."""
    with session_scope(engine) as s:
        order = s.exec(select(WorkOrder).where(WorkOrder.number == number)).one()
        lots = expand_order(s, order)
        [first, *_] = schedule(s, line)
        step = s.get(StepRun, first.step_run_id)
        assert step is not None
        now = datetime.now().astimezone()
        step.state, step.started_at, step.seen_running_at = StepRunState.RUNNING, now, now
        s.add(step)
        if made_m:
            lot = next(lot for lot in lots if lot.id == step.lot_id)
            scans(s, lot, s.exec(select(Layer).where(Layer.step_run_id == step.id)).one(), made_m, now)
        return step.job_id


def scans(s: Session, lot: Lot, layer: Layer, positions: list[float], at: datetime) -> None:
    char = s.exec(select(Characteristic).where(Characteristic.layer_id == layer.id)).first()
    assert char is not None and char.id is not None and lot.id is not None and layer.id is not None
    for seq, position in enumerate(positions, start=1):
        s.add(GaugeScan(lot_id=lot.id, layer_id=layer.id, characteristic_id=char.id, seq=seq,
                        position_m=position, measured_at=at, lane_values=[1.0] * char.lanes))  # fmt: skip


def confirm(page: Page, text: str) -> None:
    """Answer the confirmation dialog (it must name ``text``) with Confirm."""
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(text)
    page.get_by_test_id("confirm-ok").click()
    expect(dialog).to_be_hidden()
