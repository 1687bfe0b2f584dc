"""Equipment units through the API: PackML state, current job, health, last value; set healthy again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mes.audit.models import AuditEvent
from mes.auth.models import Role
from mes.base import pk, utcnow
from mes.db import session_scope
from mes.equipment.models import EquipmentClass, EquipmentUnit, UnitLease
from mes.execution.faults import mark_unit
from mes.lots.models import StepRun, StepRunState, WorkOrder
from mes.lots.orders import expand_order
from mes.quality.alarms import raise_alarm
from mes.quality.models import Alarm, AlarmState
from mes.recipes import service as recipes
from mes.recipes.load import load_recipe_text
from tests.api.conftest import PASSWORD, Callers, TestClient
from tests.recipes.helpers import text_of

PROBLEM = "application/problem+json"
UNITS = "/api/v1/units"
FAULT = "profile mismatch: node ns=2;s=Power is Float, the profile says UInt16"


@dataclass(frozen=True)
class Line:
    job_id: str
    lot: str


@pytest.fixture
def line(engine: Engine, callers: Callers) -> Line:
    """sputter-1 running a step of a released recipe (read Execute a minute ago); coater-1 out of
    service after a fault, with its alarm; winder-1 never seen."""
    loaded = load_recipe_text(text_of("capped-si-anode.yaml"))
    assert loaded.recipe is not None
    engineer, quality = Callers.person(Role.ENGINEER), Callers.person(Role.QUALITY)
    with session_scope(engine) as s:
        row, _ = recipes.import_recipe(s, loaded.recipe, by=engineer)
        recipes.approve(s, "capped-si-anode@1", by=engineer, reason="trials passed")
        recipes.release(s, "capped-si-anode@1", by=quality, password=PASSWORD, reason="PPAP passed")
        units = {}
        for name, cls in (("sputter-1", EquipmentClass.SPUTTER), ("coater-1", EquipmentClass.COATER),
                          ("winder-1", EquipmentClass.WINDER)):  # fmt: skip
            unit = EquipmentUnit(
                name=name, equipment_class=cls, endpoint="opc.tcp://127.0.0.1:4840", profile="p"
            )
            s.add(unit)
            s.flush()
            units[name] = unit
        sputter, coater = units["sputter-1"], units["coater-1"]
        sputter.last_state, sputter.last_seen_at = "Execute", utcnow() - timedelta(minutes=1)
        s.add(sputter)
        order = WorkOrder(number="WO-260413-A1B2C3", recipe_id=pk(row), lots_requested=1, created_by=engineer)
        s.add(order)
        s.flush()
        [lot] = expand_order(s, order)
        step = s.exec(select(StepRun).where(StepRun.lot_id == lot.id).order_by(col(StepRun.id))).first()
        assert step is not None
        step.equipment_unit_id, step.state, step.started_at = pk(sputter), StepRunState.RUNNING, utcnow()
        s.add(step)
        s.add_all([UnitLease(unit_id=pk(sputter), token=1, step_run_id=pk(step), holder="worker"),
                   UnitLease(unit_id=pk(coater))])  # fmt: skip
        mark_unit(s, pk(coater), False, FAULT)
        raise_alarm(
            s, f"unit:{pk(coater)}:unhealthy", f"coater-1 out of service: {FAULT}", unit_id=pk(coater)
        )
        return Line(job_id=step.job_id, lot=lot.number)


def test_list_shows_state_job_health_and_last_value(client: TestClient, callers: Callers, line: Line) -> None:
    response = client.get(UNITS, headers=callers.bearer(Role.OPERATOR))
    assert response.status_code == 200
    units = {u["name"]: u for u in response.json()["items"]}
    assert [u["name"] for u in response.json()["items"]] == ["winder-1", "coater-1", "sputter-1"]
    sputter = units["sputter-1"]
    assert sputter["state"] == "Execute"
    assert sputter["current_step"]["job_id"] == line.job_id
    assert sputter["current_step"]["lot"] == line.lot
    assert sputter["current_step"]["state"] == "running"
    assert sputter["healthy"] is True
    assert sputter["last_value_at"] is not None
    assert 55 <= sputter["last_value_age_s"] < 600
    coater = units["coater-1"]
    assert (coater["healthy"], coater["health_reason"], coater["current_step"]) == (False, FAULT, None)
    winder = units["winder-1"]
    assert (winder["state"], winder["last_value_at"]) == (None, None)


def test_list_filters_and_pages(client: TestClient, callers: Callers, line: Line) -> None:
    bearer = callers.bearer(Role.QUALITY)
    unhealthy = client.get(UNITS, params={"healthy": "false"}, headers=bearer).json()["items"]
    assert [u["name"] for u in unhealthy] == ["coater-1"]
    sputters = client.get(UNITS, params={"equipment_class": "sputter"}, headers=bearer).json()["items"]
    assert [u["name"] for u in sputters] == ["sputter-1"]
    first = client.get(UNITS, params={"limit": 2}, headers=bearer)
    assert len(first.json()["items"]) == 2
    rest = client.get(UNITS, params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=bearer)
    assert [u["name"] for u in rest.json()["items"]] == ["sputter-1"]
    assert rest.json()["next_cursor"] is None
    assert client.get(UNITS, params={"equipment_class": "oven"}, headers=bearer).status_code == 422
    assert client.get(UNITS).status_code == 401


def test_show_one_unit_or_404(client: TestClient, callers: Callers, line: Line) -> None:
    shown = client.get(f"{UNITS}/sputter-1", headers=callers.bearer(Role.OPERATOR))
    assert shown.status_code == 200
    assert shown.json()["current_step"]["job_id"] == line.job_id
    missing = client.get(f"{UNITS}/oven-9", headers=callers.bearer(Role.OPERATOR))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert "no unit oven-9" in missing.json()["detail"]
    not_a_name = client.get(f"{UNITS}/oven%009", headers=callers.bearer(Role.OPERATOR))
    assert not_a_name.status_code == 422
    assert not_a_name.headers["content-type"] == PROBLEM


def test_set_healthy_gives_the_unit_back_and_clears_its_alarm(
    client: TestClient, callers: Callers, engine: Engine, line: Line
) -> None:
    url = f"{UNITS}/coater-1:set-healthy"
    for role in (Role.OPERATOR, Role.QUALITY):
        refused = client.post(url, json={"reason": "cable fixed"}, headers=callers.bearer(role))
        assert refused.status_code == 403
        assert refused.headers["content-type"] == PROBLEM
    assert client.post(url, json={"reason": "cable fixed"}).status_code == 401
    blank = client.post(url, json={"reason": ""}, headers=callers.bearer(Role.ENGINEER))
    assert blank.status_code == 422
    assert blank.json()["errors"][0]["loc"] == ["body", "reason"]

    done = client.post(url, json={"reason": "cable fixed"}, headers=callers.bearer(Role.ENGINEER))
    assert done.status_code == 200, done.text
    assert (done.json()["healthy"], done.json()["health_reason"]) == (True, None)
    assert client.get(f"{UNITS}/coater-1", headers=callers.bearer(Role.OPERATOR)).json()["healthy"] is True
    with session_scope(engine) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "unit.set_healthy")).one()
        assert (event.actor, event.entity_id, event.reason) == ("engineer-token", "coater-1", "cable fixed")
        assert event.before == {"healthy": False, "reason": FAULT}
        alarm = s.exec(select(Alarm).where(Alarm.condition.startswith("unit:"))).one()
        assert alarm.state == AlarmState.CLEARED_UNACK  # cleared; it waits to be acknowledged (ISA-18.2)

    missing = client.post(
        f"{UNITS}/oven-9:set-healthy", json={"reason": "x"}, headers=callers.bearer(Role.ENGINEER)
    )
    assert missing.status_code == 404
