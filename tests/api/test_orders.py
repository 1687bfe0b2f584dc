"""The orders resource through the app's routes (in process, both backends), with the suite's Redis as
the broker the routes send through, or a broker that is away."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mes.api.app import create_app
from mes.audit.models import AuditEvent
from mes.auth.models import Role
from mes.base import utcnow
from mes.config import Settings
from mes.db import session_scope
from mes.demo import prepare
from mes.equipment.profile import load_line
from mes.execution.scheduler import schedule, sync_units
from mes.lots.models import StepRun, StepRunState, WorkOrder
from mes.lots.orders import IDEMPOTENCY_KEY_TTL, expand_order
from tests.api.broker import celery_broker, sending_broker
from tests.api.conftest import Callers, TestClient, log_in
from tests.services import ServiceUrls

ROOT = Path(__file__).resolve().parents[2]
LINE = ROOT / "deploy" / "line.yaml"
AWAY = "redis://127.0.0.1:1/0"  # nothing listens there
SI = "capped-si-anode@1"
ORDERS = "/api/v1/orders"
PROBLEM = "application/problem+json"


@pytest.fixture
def broker(services: ServiceUrls) -> Iterator[redis.Redis]:
    """The suite's Redis database as the broker; the test reads what was sent from it."""
    with sending_broker(services) as client:
        yield client


@pytest.fixture
def api(db_url: str, engine: Engine, callers: Callers, broker: redis.Redis) -> Iterator[TestClient]:
    """The app on a plant with released recipes; whatever it sends goes to the suite's Redis database."""
    prepare(engine, ROOT / "recipes")
    with session_scope(engine) as session:
        sync_units(session, load_line(LINE))
    app = create_app(Settings(database_url=db_url, line_config=LINE), engine=engine)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def _place(api: TestClient, callers: Callers, key: str, **body: Any) -> Any:
    body = {"recipe": SI, "lots": 1, **body}
    return api.post(ORDERS, json=body, headers={**callers.bearer(Role.OPERATOR), "Idempotency-Key": key})


def _act(api: TestClient, callers: Callers, number: str, action: str, reason: str = "test") -> Any:
    return api.post(
        f"{ORDERS}/{number}:{action}", json={"reason": reason}, headers=callers.bearer(Role.ENGINEER)
    )


def _problem(response: Any, status: int, *needles: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    for needle in needles:
        assert needle in body["detail"], body
    return body


def test_an_idempotency_key_makes_one_order_and_is_required(
    api: TestClient, callers: Callers, broker: redis.Redis
) -> None:
    made = _place(api, callers, "erp-4711", lot_size=5, priority=7)
    assert made.status_code == 201, made.text
    body = made.json()
    order = body["order"]
    assert (body["created"], body["sent"]) == (True, True)
    assert (order["state"], order["job_order_state"], order["lot_size"], order["priority"]) == (
        "ready", "AllowedToStart", 5.0, 7)  # fmt: skip
    assert made.headers["location"] == f"{ORDERS}/{order['number']}"
    assert broker.llen("dispatch") == 1  # sent after the commit, once
    # Expected: the same key and body → 200 with the first order, nothing made, nothing sent.
    again = _place(api, callers, "erp-4711", lot_size=5, priority=7)
    assert again.status_code == 200, again.text
    assert (again.json()["order"]["number"], again.json()["created"], again.json()["sent"]) == (
        order["number"], False, None)  # fmt: skip
    assert broker.llen("dispatch") == 1
    # Expected: the key with another body → 422 naming the order the key made.
    other = _place(api, callers, "erp-4711", lot_size=6, priority=7)
    _problem(other, 422, "erp-4711", order["number"], "lot size 6.0 (it has 5.0)")
    # Expected: no key → 422 naming the header; no credentials → 401.
    missing = api.post(ORDERS, json={"recipe": SI, "lots": 1}, headers=callers.bearer(Role.OPERATOR))
    assert _problem(missing, 422)["errors"] == [
        {"loc": ["header", "Idempotency-Key"], "msg": "Field required"}
    ]
    _problem(api.post(ORDERS, json={"recipe": SI, "lots": 1}, headers={"Idempotency-Key": "k"}), 401)
    with session_scope(api.app.state.engine) as session:  # type: ignore[attr-defined]
        assert len(session.exec(select(WorkOrder)).all()) == 1
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "order.create")).all()
    assert event.actor == "operator-token"


def test_a_key_older_than_a_day_makes_a_new_order(
    api: TestClient, callers: Callers, broker: redis.Redis
) -> None:
    first = _place(api, callers, "erp-1").json()["order"]["number"]
    with session_scope(api.app.state.engine) as session:  # type: ignore[attr-defined]
        row = session.exec(select(WorkOrder).where(WorkOrder.number == first)).one()
        row.created_at = utcnow() - IDEMPOTENCY_KEY_TTL - timedelta(seconds=1)
        session.add(row)
    # Another body, even: the key no longer names the old order.
    later = _place(api, callers, "erp-1", lots=2)
    assert later.status_code == 201, later.text
    assert later.json()["order"]["number"] != first
    assert (
        api.get(f"{ORDERS}/{first}", headers=callers.bearer(Role.QUALITY)).json()["idempotency_key"] is None
    )


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"recipe": SI, "lots": 1, "colour": "red"}, ["body", "colour"]),
        ({"recipe": SI, "lots": 0}, ["body", "lots"]),
        ({"recipe": SI, "lots": 1001}, ["body", "lots"]),
        ({"recipe": SI, "lots": None}, ["body", "lots"]),
        ({"recipe": SI, "lots": 1, "lot_size": 0}, ["body", "lot_size"]),
        ({"recipe": SI, "lots": 1, "priority": 2**31}, ["body", "priority"]),
        ({"recipe": SI, "lots": 1, "start": "later"}, ["body", "start"]),
    ],
)
def test_an_order_body_is_checked_field_by_field(
    api: TestClient, callers: Callers, body: dict[str, Any], where: list[str]
) -> None:
    response = _place(api, callers, "k", **body)
    assert [e["loc"] for e in _problem(response, 422)["errors"]] == [where]


def test_a_lot_size_must_be_finite_and_the_recipe_released(api: TestClient, callers: Callers) -> None:
    headers = {**callers.bearer(Role.OPERATOR), "Idempotency-Key": "k", "content-type": "application/json"}
    infinite = api.post(ORDERS, content=b'{"recipe": "capped-si-anode@1", "lots": 1, "lot_size": 1e999}',
                        headers=headers)  # fmt: skip
    assert [e["loc"] for e in _problem(infinite, 422)["errors"]] == [["body", "lot_size"]]
    _problem(_place(api, callers, "k", recipe="NOT A REF"), 422, "NOT A REF")
    _problem(_place(api, callers, "k", recipe="capped-si-anode@9"), 409, "capped-si-anode@9")
    _problem(_place(api, callers, "k", lot_size=5000), 409, "lot size 5000 is outside")


def test_an_order_the_broker_does_not_take_is_saved_and_accepted(api: TestClient, callers: Callers) -> None:
    with celery_broker(AWAY):
        response = _place(api, callers, "erp-9")
        stored = _place(api, callers, "erp-10", start=False).json()["order"]["number"]
        started = _act(api, callers, stored, "start", "material arrived")
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["created"], body["sent"], body["order"]["state"]) == (True, False, "ready")
    assert "reconciler" in body["detail"] and "Do not send this request again" in body["detail"]
    assert "127.0.0.1:1" not in body["detail"]  # the broker's address stays in the server's log
    assert response.headers["location"].endswith(body["order"]["number"])
    assert started.status_code == 202, started.text
    assert (started.json()["sent"], started.json()["order"]["state"]) == (False, "ready")


def test_a_stored_order_is_started_or_cancelled(
    api: TestClient, callers: Callers, broker: redis.Redis
) -> None:
    stored = _place(api, callers, "erp-20", start=False)
    assert stored.status_code == 201, stored.text
    body = stored.json()
    number = body["order"]["number"]
    assert (body["sent"], body["order"]["state"], body["order"]["job_order_state"]) == (
        None, "waiting", "NotAllowedToStart")  # fmt: skip
    assert broker.llen("dispatch") == 0  # stored: nothing sent
    no_reason = api.post(f"{ORDERS}/{number}:start", json={}, headers=callers.bearer(Role.OPERATOR))
    assert [e["loc"] for e in _problem(no_reason, 422)["errors"]] == [["body", "reason"]]
    blank = _act(api, callers, number, "start", "  ")
    assert [e["loc"] for e in _problem(blank, 422)["errors"]] == [["body", "reason"]]
    started = _act(api, callers, number, "start", "material arrived")
    assert started.status_code == 200, started.text
    assert (started.json()["sent"], started.json()["order"]["job_order_state"]) == (True, "AllowedToStart")
    assert broker.llen("dispatch") == 1
    _problem(_act(api, callers, number, "start"), 409, "is ready (AllowedToStart)")
    _problem(_act(api, callers, number, "resume"), 409, "is ready (AllowedToStart)", "only a paused order")
    _problem(_act(api, callers, number, "pause"), 409, "is ready (AllowedToStart)", "only a running order")
    cancelled = _act(api, callers, number, "cancel", "planning changed")
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["already"], cancelled.json()["order"]["job_order_state"]) == (False, "Aborted")
    again = _act(api, callers, number, "cancel", "again")
    assert again.json()["already"] is True and again.json()["cancellation"]["reason"] == "planning changed"
    _problem(_act(api, callers, number, "abort"), 409, "is aborted (Aborted)")
    for action in ("start", "pause", "resume", "abort", "cancel"):
        _problem(_act(api, callers, "WO-NOPE", action), 404, "no work order WO-NOPE")
    _problem(api.get(f"{ORDERS}/WO-NOPE", headers=callers.bearer(Role.OPERATOR)), 404)
    _problem(api.post(f"{ORDERS}/{number}:start", json={"reason": "x"}), 401)
    with session_scope(api.app.state.engine) as session:  # type: ignore[attr-defined]
        events = session.exec(
            select(AuditEvent).where(col(AuditEvent.action).in_(("order.start", "order.cancel")))
        ).all()
    assert [(e.action, e.actor, e.reason) for e in events] == [
        ("order.start", "engineer-token", "material arrived"), ("order.cancel", "engineer-token", "planning changed")]  # fmt: skip


def test_a_browser_session_needs_its_csrf_token(
    api: TestClient, callers: Callers, broker: redis.Redis
) -> None:
    csrf = log_in(api, Role.OPERATOR)
    refused = api.post(ORDERS, json={"recipe": SI, "lots": 1}, headers={"Idempotency-Key": "web-1"})
    _problem(refused, 403, "X-CSRF-Token")
    made = api.post(ORDERS, json={"recipe": SI, "lots": 1}, headers={"Idempotency-Key": "web-1", **csrf})
    assert made.status_code == 201, made.text
    assert made.json()["order"]["created_by"] == "operator-person"


def test_orders_are_listed_filtered_and_paged(api: TestClient, callers: Callers, broker: redis.Redis) -> None:
    numbers = [_place(api, callers, f"k-{i}", start=i != 1).json()["order"]["number"] for i in range(3)]
    cathode = _place(api, callers, "k-c", recipe="cathode-lco@1").json()["order"]["number"]
    auth = callers.bearer(Role.QUALITY)
    listed = api.get(ORDERS, headers=auth)
    assert [o["number"] for o in listed.json()["items"]] == [cathode, *numbers[::-1]]
    assert listed.json()["items"][0]["job_order_state"] == "AllowedToStart"
    first = api.get(ORDERS, params={"limit": 2}, headers=auth)
    assert [o["number"] for o in first.json()["items"]] == [cathode, numbers[2]]
    assert 'rel="next"' in first.headers["link"]
    rest = api.get(ORDERS, params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=auth)
    assert [o["number"] for o in rest.json()["items"]] == [numbers[1], numbers[0]]
    assert rest.json().get("next_cursor") is None
    states = api.get(ORDERS, params=[("state", "waiting"), ("state", "aborted")], headers=auth)
    assert [o["number"] for o in states.json()["items"]] == [numbers[1]]
    by_recipe = api.get(ORDERS, params={"recipe": "cathode-lco"}, headers=auth)
    assert [o["number"] for o in by_recipe.json()["items"]] == [cathode]
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert api.get(ORDERS, params={"since": soon}, headers=auth).json()["items"] == []
    assert len(api.get(ORDERS, params={"until": soon}, headers=auth).json()["items"]) == 4
    # A time without an offset is UTC, as on every list of the API; one outside the calendar is a 422.
    naive = api.get(ORDERS, params={"since": "2000-01-01T00:00:00"}, headers=auth)
    assert len(naive.json()["items"]) == 4
    edge = api.get(ORDERS, params={"since": "0001-01-01T00:00:00+14:00"}, headers=auth)
    assert [e["loc"] for e in _problem(edge, 422)["errors"]] == [["query", "since"]]
    _problem(api.get(ORDERS, params={"state": "lost"}, headers=auth), 422)
    _problem(api.get(ORDERS, params={"cursor": "nonsense"}, headers=auth), 422, "cursor")
    _problem(api.get(ORDERS), 401)


def _running(api: TestClient, number: str) -> None:
    """Expand the order and give its steps to units, as the dispatcher would; the first one runs."""
    engine = api.app.state.engine  # type: ignore[attr-defined]
    with session_scope(engine) as session:
        order = session.exec(select(WorkOrder).where(WorkOrder.number == number)).one()
        expand_order(session, order)
        [first, *_] = schedule(session, load_line(LINE))
        step = session.get(StepRun, first.step_run_id)
        assert step is not None
        step.state, step.started_at, step.seen_running_at = StepRunState.RUNNING, utcnow(), utcnow()
        session.add(step)


def test_a_running_order_is_paused_resumed_and_aborted(
    api: TestClient, callers: Callers, broker: redis.Redis
) -> None:
    number = _place(api, callers, "erp-30", lots=3, lot_size=5).json()["order"]["number"]
    _running(api, number)
    detail = api.get(f"{ORDERS}/{number}", headers=callers.bearer(Role.OPERATOR)).json()
    assert (detail["state"], detail["job_order_state"], detail["eta"]) == ("running", "Running", None)
    steps = [s for lot in detail["lots"] for s in lot["steps"]]
    assert [(s["state"], s["unit"]) for s in steps[:4]] == [
        ("running", "sputter-1"), ("pending", None), ("dispatched", "sputter-2"), ("pending", None)]  # fmt: skip
    assert {s["progress_m"] for s in steps} == {None}  # nothing measured yet: unknown, not 0
    paused = _act(api, callers, number, "pause", "slitter jam downstream")
    assert paused.status_code == 200, paused.text
    order = paused.json()["order"]
    assert (order["state"], order["job_order_state"]) == ("suspended", "Interrupted")
    assert [s["pause_requested_at"] is not None for s in order["lots"][0]["steps"]] == [True, False]
    _problem(_act(api, callers, number, "pause"), 409, "is suspended (Interrupted)")
    _problem(_act(api, callers, number, "cancel"), 409, "production has started")
    resumed = _act(api, callers, number, "resume", "jam cleared")
    assert resumed.status_code == 200, resumed.text
    assert (resumed.json()["order"]["state"], resumed.json()["sent"]) == ("running", None)  # nothing to send
    aborted = _act(api, callers, number, "abort", "customer withdrew the order")
    assert aborted.status_code == 200, aborted.text
    order = aborted.json()["order"]
    assert (order["state"], order["job_order_state"]) == ("aborted", "Aborted")
    assert [lot["status"] for lot in order["lots"]] == ["on_hold", "on_hold", "cancelled"]
    _problem(_act(api, callers, number, "abort"), 409, "is aborted (Aborted)", "has ended")
    _problem(_act(api, callers, number, "resume"), 409, "is aborted (Aborted)")
    with session_scope(api.app.state.engine) as session:  # type: ignore[attr-defined]
        events = session.exec(
            select(AuditEvent).where(AuditEvent.entity_id == number, col(AuditEvent.action).like("order.%"))
        ).all()
    assert [(e.action, e.reason) for e in events] == [
        ("order.create", ""), ("order.pause", "slitter jam downstream"), ("order.resume", "jam cleared"),
        ("order.abort", "customer withdrew the order")]  # fmt: skip


def test_the_routes_are_in_the_openapi_document(api: TestClient) -> None:
    paths = api.get("/api/v1/openapi.json").json()["paths"]
    assert {p for p in paths if p.startswith(ORDERS)} == {
        ORDERS, f"{ORDERS}/{{number}}", *(f"{ORDERS}/{{number}}:{a}" for a in
                                          ("start", "pause", "resume", "abort", "cancel"))}  # fmt: skip
    header = [p for p in paths[ORDERS]["post"]["parameters"] if p["in"] == "header"]
    assert [(p["name"], p["required"]) for p in header] == [("Idempotency-Key", True)]
