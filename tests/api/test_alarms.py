"""Alarms through the API: the active list and the history, one alarm, ack, shelve, unshelve, CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from mes.audit.models import AuditEvent
from mes.auth.models import Role
from mes.base import pk, utcnow
from mes.db import session_scope
from mes.equipment.models import EquipmentUnit
from mes.lots.models import Characteristic, Lot
from mes.quality import alarms
from mes.quality.alarm_views import active_alarms
from mes.quality.models import AlarmPriority
from mes.vocabulary import EquipmentClass
from tests.api.conftest import Callers, TestClient, log_in
from tests.quality.test_disposition import build as build_plant

API = "/api/v1"
PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Alarms:
    oos: int  # open, high, about A-1's si.thickness
    step: int  # open, urgent, about A-1
    closed: int  # cleared and acknowledged: history only


@pytest.fixture
def raised(engine: Engine) -> Alarms:
    build_plant(engine)
    with session_scope(engine) as s:
        lot = s.exec(select(Lot).where(Lot.number == "A-1")).one()
        char = s.exec(select(Characteristic)).one()
        closed = alarms.raise_alarm(
            s, "unit:coater-1:down", "coater-1 unreachable", priority=AlarmPriority.LOW
        )
        alarms.clear_alarm(s, closed)
        alarms.acknowledge(s, pk(closed), by="op", comment="back")
        oos = alarms.raise_alarm(s, f"char:{pk(char)}:oos", "A-1 si.thickness 4300 nm above USL 4200",
                                 lot_id=pk(lot), characteristic_id=pk(char), position_m=10.5)  # fmt: skip
        step = alarms.raise_alarm(s, "step:7:held", "A-1 step held: lost the link", priority=AlarmPriority.URGENT,
                                  lot_id=pk(lot))  # fmt: skip
        return Alarms(oos=pk(oos), step=pk(step), closed=pk(closed))


def test_alarms_need_a_caller(client: TestClient, raised: Alarms) -> None:
    for response in (
        client.get(f"{API}/alarms"),
        client.get(f"{API}/alarms.csv"),
        client.get(f"{API}/alarms/{raised.oos}"),
        client.post(f"{API}/alarms/{raised.oos}:ack"),
    ):
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM


def test_the_active_list_and_the_history(client: TestClient, callers: Callers, raised: Alarms) -> None:
    token = callers.bearer(Role.OPERATOR)
    active = client.get(f"{API}/alarms", headers=token)
    assert active.status_code == 200
    items = active.json()["items"]
    assert [a["id"] for a in items] == [raised.step, raised.oos]  # newest first
    oos = items[1]
    assert (oos["lot"], oos["characteristic"], oos["priority"], oos["state"]) == (
        "A-1",
        "si.thickness",
        "high",
        "active_unack",
    )
    history = client.get(f"{API}/alarms?history=true", headers=token).json()["items"]
    assert [a["id"] for a in history] == [raised.step, raised.oos, raised.closed]
    assert history[2]["state"] == "normal" and history[2]["acknowledged_by"] == "op"

    def ids(query: str) -> list[int]:
        response = client.get(f"{API}/alarms?{query}", headers=token)
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()["items"]]

    assert ids("priority=urgent&priority=low") == [raised.step]
    assert ids("priority=low&history=true") == [raised.closed]
    assert ids("condition=char:") == [raised.oos]
    assert ids("state=normal&history=true") == [raised.closed]
    assert ids("lot=A-1&history=true") == [raised.step, raised.oos]
    assert ids(f"since={(utcnow() + timedelta(minutes=5)).isoformat()}".replace("+", "%2B")) == []
    assert ids("until=2000-01-01T00:00:00") == []

    first = client.get(f"{API}/alarms?history=true&limit=2", headers=token)
    cursor = first.json()["next_cursor"]
    assert cursor and 'rel="next"' in first.headers["link"]
    assert ids(f"history=true&limit=2&cursor={cursor}") == [raised.closed]

    for query, where in (
        ("priority=loud", ["query", "priority", "0"]),
        ("state=gone", ["query", "state", "0"]),
    ):
        bad = client.get(f"{API}/alarms?{query}", headers=token)
        assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == where


def test_one_alarm_with_its_journal(client: TestClient, callers: Callers, raised: Alarms) -> None:
    token = callers.bearer(Role.ENGINEER)
    closed = client.get(f"{API}/alarms/{raised.closed}", headers=token)
    assert closed.status_code == 200
    assert [(j["transition"], j["by"]) for j in closed.json()["journal"]] == [
        ("raise", "system"),
        ("clear", "system"),
        ("acknowledge", "op"),
    ]
    for missing in (99999, 0, 2**40):
        response = client.get(f"{API}/alarms/{missing}", headers=token)
        assert response.status_code == 404, missing
        assert response.headers["content-type"] == PROBLEM
    assert client.get(f"{API}/alarms/abc", headers=token).status_code == 422


def test_acknowledge_records_who_and_refuses_twice(
    client: TestClient, callers: Callers, raised: Alarms
) -> None:
    token = callers.bearer(Role.OPERATOR)
    acked = client.post(f"{API}/alarms/{raised.oos}:ack", headers=token, json={"comment": " seen, checking "})
    assert acked.status_code == 200
    body = acked.json()
    assert (body["state"], body["acknowledged_by"], body["comment"]) == (
        "active_ack",
        "operator-token",
        "seen, checking",
    )
    assert body["journal"][-1] == {**body["journal"][-1], "transition": "acknowledge", "by": "operator-token"}
    again = client.post(f"{API}/alarms/{raised.oos}:ack", headers=token)
    assert again.status_code == 409
    assert again.headers["content-type"] == PROBLEM
    assert "nothing to acknowledge" in again.json()["detail"]
    no_body = client.post(f"{API}/alarms/{raised.step}:ack", headers=token)
    assert no_body.status_code == 200 and no_body.json()["comment"] is None
    assert client.post(f"{API}/alarms/99999:ack", headers=token).status_code == 404
    bad = client.post(f"{API}/alarms/{raised.oos}:ack", headers=token, json={"comment": "x", "by": "someone"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "by"]


def test_shelve_and_unshelve(client: TestClient, callers: Callers, raised: Alarms, engine: Engine) -> None:
    csrf = log_in(client, Role.OPERATOR)
    shelved = client.post(f"{API}/alarms/{raised.step}:shelve", headers=csrf,
                          json={"minutes": 30, "reason": "maintenance on sputter-1"})  # fmt: skip
    assert shelved.status_code == 200, shelved.text
    body = shelved.json()
    assert body["shelved_by"] == "operator-person" and body["shelved_until"] is not None
    assert body["journal"][-1]["transition"] == "shelve"
    listed = {a["id"]: a for a in client.get(f"{API}/alarms").json()["items"]}
    assert listed[raised.step]["shelved_until"] == body["shelved_until"]
    with session_scope(engine) as s:
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "alarm.shelve")).one()
        assert (audit.actor, audit.reason) == ("operator-person", "maintenance on sputter-1")

    unshelved = client.post(f"{API}/alarms/{raised.step}:unshelve", headers=csrf, json={"comment": "done"})
    assert unshelved.status_code == 200 and unshelved.json()["shelved_until"] is None
    assert client.post(f"{API}/alarms/{raised.step}:unshelve", headers=csrf).status_code == 409
    closed = client.post(
        f"{API}/alarms/{raised.closed}:shelve", headers=csrf, json={"minutes": 5, "reason": "x"}
    )
    assert closed.status_code == 409 and "closed" in closed.json()["detail"]

    for body_in, where in (
        ({"minutes": 0, "reason": "x"}, ["body", "minutes"]),
        ({"minutes": 0.001, "reason": "x"}, ["body", "minutes"]),  # a minute at least (was taken)
        ({"minutes": 481, "reason": "x"}, ["body", "minutes"]),
        ({"minutes": 10}, ["body", "reason"]),
        ({"minutes": 10, "reason": " "}, ["body", "reason"]),
    ):
        refused = client.post(f"{API}/alarms/{raised.oos}:shelve", headers=csrf, json=body_in)
        assert refused.status_code == 422, body_in
        assert refused.json()["errors"][0]["loc"] == where
    assert (
        client.post(f"{API}/alarms/{raised.oos}:shelve", json={"minutes": 5, "reason": "x"}).status_code
        == 403
    )


def test_the_list_as_csv(client: TestClient, callers: Callers, raised: Alarms) -> None:
    token = callers.bearer(Role.QUALITY)
    response = client.get(f"{API}/alarms.csv?history=true", headers=token)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["id"]) for r in rows] == [raised.step, raised.oos, raised.closed]
    assert rows[1]["position_m"] == "10.50" and rows[1]["raised_at"].endswith("Z")
    assert rows[1]["characteristic"] == "si.thickness"
    part = client.get(f"{API}/alarms.csv?history=true&limit=1&priority=high&priority=urgent", headers=token)
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(part.text))] == [raised.step]
    assert 'rel="next"' in part.headers["link"]
    assert client.get(f"{API}/alarms.csv?limit=0", headers=token).status_code == 422


def test_the_list_by_unit_who_acknowledged_and_shelving(
    client: TestClient, callers: Callers, raised: Alarms, engine: Engine
) -> None:
    with session_scope(engine) as s:
        unit = EquipmentUnit(name="sputter-1", equipment_class=EquipmentClass.SPUTTER, endpoint="opc.tcp://x",
                             profile="p")  # fmt: skip
        s.add(unit)
        s.flush()
        arc = alarms.raise_alarm(s, "unit:sputter-1:arc", "arc count high", unit_id=pk(unit))
        alarms.acknowledge(s, pk(arc), by="op")
        alarms.clear_alarm(s, arc)  # acknowledged and cleared: closed; the condition returns as a new alarm
        again = alarms.raise_alarm(s, "unit:sputter-1:arc", "arc count high", unit_id=pk(unit))
        alarms.acknowledge(s, pk(again), by="eng", comment="new target")
        alarms.shelve(s, raised.step, by="op", duration_s=600, reason="maintenance")
        arc_id, again_id = pk(arc), pk(again)
    token = callers.bearer(Role.OPERATOR)

    def ids(query: str, path: str = "/alarms") -> list[int]:
        response = client.get(f"{API}{path}?{query}", headers=token)
        assert response.status_code == 200, response.text
        if path.endswith(".csv"):
            return [int(r["id"]) for r in csv.DictReader(io.StringIO(response.text))]
        return [a["id"] for a in response.json()["items"]]

    assert ids("unit=sputter-1&history=true") == [again_id, arc_id]
    assert ids("unit=sputter-1") == [again_id]
    assert ids("unit=coater-9&history=true") == []
    assert ids("acknowledged_by=op&history=true") == [arc_id, raised.closed]
    assert ids("acknowledged_by=eng&history=true") == [again_id]
    assert ids("acknowledged_by= eng &history=true") == [again_id]  # names are compared in normal form
    assert ids("acknowledged_by=qa&history=true") == []
    assert ids("shelved=true") == [raised.step]
    assert ids("shelved=false") == [again_id, raised.oos]
    assert ids("acknowledged_by=op&unit=sputter-1&history=true", "/alarms.csv") == [arc_id]
    bad = client.get(f"{API}/alarms?shelved=maybe", headers=token)
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "shelved"]


def test_the_active_list_is_most_urgent_first(engine: Engine, raised: Alarms) -> None:
    with session_scope(engine) as s:
        low = alarms.raise_alarm(s, "x:low", "low one", priority=AlarmPriority.LOW)
        medium = alarms.raise_alarm(s, "x:medium", "medium one", priority=AlarmPriority.MEDIUM)
        later_urgent = alarms.raise_alarm(s, "x:urgent", "urgent one", priority=AlarmPriority.URGENT)
        alarms.shelve(s, pk(medium), by="op", duration_s=60, reason="known")
        found = [a.id for a in active_alarms(s)]
        assert found == [pk(later_urgent), raised.step, raised.oos, pk(low)]
        assert [a.id for a in active_alarms(s, shelved=True)] == [pk(medium)]
        assert [a.id for a in active_alarms(s, priorities=[AlarmPriority.LOW, AlarmPriority.HIGH])] == [
            raised.oos, pk(low)]  # fmt: skip
        # Once the shelving has run out the alarm is back on the list, even before anything expires it.
        back = active_alarms(s, now=utcnow() + timedelta(minutes=2))
        assert pk(medium) in [a.id for a in back]
