"""GET /api/v1/events through a real uvicorn server: state events from the log in commit order, replay
by Last-Event-ID, the gap past the window, live values (Redis on PostgreSQL, the database on SQLite)."""

from __future__ import annotations

import json
import logging
import queue
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import httpx
import pytest
import redis
from sqlalchemy.engine import Engine
from sqlmodel import select

from mes.api import event_feed
from mes.api.app import create_app
from mes.auth.models import Role
from mes.base import pk, utcnow
from mes.config import Settings
from mes.db import session_scope
from mes.equipment.models import EquipmentClass, EquipmentUnit
from mes.events.live import live_channel, live_value
from mes.events.models import EventKind
from mes.events.schemas import Gap, LiveMessage, LiveValue, StateEvent
from mes.lots.models import (
    Characteristic,
    GaugeScan,
    Layer,
    Lot,
    LotStatus,
    StepRun,
    WorkOrder,
    WorkOrderState,
)
from tests.api.conftest import Callers
from tests.api.server import serve
from tests.api.sse import SseClient
from tests.events.plant import ORDER, UNIT, Line, build
from tests.services import ServiceUrls

pytestmark = pytest.mark.timeout(90)
REPLAY_MAX = 8


@dataclass(frozen=True)
class Served:
    url: str
    engine: Engine
    line: Line
    auth: dict[str, str]
    backend: str

    def events(self, query: str = "", headers: dict[str, str] | None = None) -> SseClient:
        """A client of the stream; state events only unless ``query`` names kinds (the test Redis is
        shared: other runs' collectors publish live values there too)."""
        if "kinds=" not in query:
            query += ("&" if query else "?") + "kinds=" + ",".join(k.value for k in EventKind)
        return SseClient(f"{self.url}/api/v1/events{query}", headers={**self.auth, **(headers or {})})


@pytest.fixture
def served(
    backend: str, db_url: str, engine: Engine, callers: Callers, services: ServiceUrls
) -> Iterator[Served]:
    # PostgreSQL with Redis (production's shape); SQLite with the embedded broker and no Redis (the demo's).
    redis_url = services.redis_url.rsplit("/", 1)[0] + "/14"
    broker = redis_url if backend == "postgresql" else "filesystem://"
    settings = Settings(database_url=db_url, broker_url=broker, live_url="", events_replay_max=REPLAY_MAX,
                        events_poll_s=0.2)  # fmt: skip
    line = build(engine)
    with serve(create_app(settings, engine=engine)) as url:
        yield Served(url, engine, line, callers.bearer(Role.OPERATOR), backend)


def set_order(engine: Engine, order_id: int, state: WorkOrderState) -> None:
    with session_scope(engine) as s:
        order = s.get(WorkOrder, order_id)
        assert order is not None
        order.state = state
        s.add(order)


def set_lot(engine: Engine, lot_id: int, status: LotStatus) -> None:
    with session_scope(engine) as s:
        lot = s.get(Lot, lot_id)
        assert lot is not None
        lot.status = status
        s.add(lot)


def state(event_data: object) -> StateEvent:
    return StateEvent.model_validate(event_data)


def test_a_stream_needs_a_caller_and_filters_it_can_use(served: Served) -> None:
    url = f"{served.url}/api/v1/events"
    nobody = httpx.get(url, timeout=10)
    assert nobody.status_code == 401
    assert nobody.headers["content-type"] == "application/problem+json"
    for query, status, words in (
        ("?kinds=order,weather", 422, "'weather'"),
        ("?unit=nowhere-9", 404, "no unit nowhere-9"),
        ("?order=WO-000000-NOPE", 404, "WO-000000-NOPE"),
        ("?last_event_id=abc", 422, "Last-Event-ID"),
    ):
        refused = httpx.get(url + query, headers=served.auth, timeout=10)
        assert refused.status_code == status, (query, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert words in refused.json()["detail"]
    refused = httpx.get(url, headers={**served.auth, "Last-Event-ID": "-3"}, timeout=10)
    assert refused.status_code == 422


def test_changes_arrive_in_commit_order_and_a_returning_client_gets_exactly_what_it_missed(
    served: Served,
) -> None:
    line, engine = served.line, served.engine
    with served.events() as first:
        assert first.status == 200 and first.content_type.startswith("text/event-stream")
        ready = first.until("ready")
        start = int(ready.json()["last_event_id"])
        assert ready.id == str(start)
        set_order(engine, line.order_id, WorkOrderState.HELD)
        set_lot(engine, line.lot_id, LotStatus.ON_HOLD)
        held, on_hold = first.next(), first.next()
        assert (held.event, on_hold.event) == ("order", "lot")
        assert state(held.json()).model_dump(include={"entity", "from_state", "state"}) == {
            "entity": ORDER, "from_state": "running", "state": "held"}  # fmt: skip
        assert state(on_hold.json()).lot == line.lot and state(on_hold.json()).order == ORDER
        assert start < int(held.id or 0) < int(on_hold.id or 0)
        last = on_hold.id
    # Away: three changes it does not see.
    set_order(engine, line.order_id, WorkOrderState.RUNNING)
    set_lot(engine, line.lot_id, LotStatus.IN_PROCESS)
    set_order(engine, line.order_id, WorkOrderState.SUSPENDED)
    with served.events(headers={"Last-Event-ID": str(last)}) as back:
        assert back.next().event == "ready"
        missed = [back.next() for _ in range(3)]
        assert [(e.event, state(e.json()).state) for e in missed] == [
            ("order", "running"), ("lot", "in_process"), ("order", "suspended")]  # fmt: skip
        ids = [int(e.id or 0) for e in missed]
        assert ids == sorted(ids) and ids[0] > int(last or 0)
        # …then what happens next, once.
        set_lot(engine, line.lot_id, LotStatus.ON_HOLD)
        live = back.next()
        assert live.event == "lot" and int(live.id or 0) > ids[-1]
        with pytest.raises(queue.Empty):
            back.next(timeout_s=1.0)
    # A client that cannot send the header gives the id in the query; the header, if any, wins
    # (a browser reconnects to the same URL with a newer header).
    for how in (
        {"query": f"?last_event_id={ids[-1]}"},
        {"query": "?last_event_id=1", "headers": {"Last-Event-ID": str(ids[-1])}},
    ):
        with served.events(**how) as back:
            assert back.next().event == "ready"
            assert back.next().id == live.id
            with pytest.raises(queue.Empty):
                back.next(timeout_s=1.0)


def test_a_client_that_missed_more_than_the_window_is_told_a_gap(served: Served) -> None:
    line, engine = served.line, served.engine
    first_id = 1
    for i in range(REPLAY_MAX + 2):
        set_lot(engine, line.lot_id, LotStatus.ON_HOLD if i % 2 == 0 else LotStatus.IN_PROCESS)
    with served.events(headers={"Last-Event-ID": str(first_id)}) as back:
        gap = back.next()
        assert gap.event == "gap"
        body = Gap.model_validate(gap.json())
        assert body.reason == "window" and body.exact and body.missed is not None and body.missed > REPLAY_MAX
        assert "read the resources again" in body.message
        assert gap.id == str(body.resume_after)
        assert back.next().event == "ready"
        set_order(engine, line.order_id, WorkOrderState.HELD)
        after = back.next()  # nothing of the missed ones: the stream goes on from the newest
        assert after.event == "order" and int(after.id or 0) > body.resume_after


def test_filters_send_only_what_concerns_the_unit_or_the_order(served: Served) -> None:
    line, engine = served.line, served.engine
    other = build(engine, order="WO-261201-D2D2D2")
    with (
        served.events(f"?kinds=step,unit&unit={UNIT}") as by_unit,
        served.events("?order=WO-261201-D2D2D2") as other_order,
        served.events(f"?order={ORDER}&kinds=lot") as by_order,
    ):
        for client in (by_unit, other_order, by_order):
            assert client.next().event == "ready"
        set_order(engine, line.order_id, WorkOrderState.HELD)
        set_lot(engine, line.lot_id, LotStatus.ON_HOLD)
        set_order(engine, other.order_id, WorkOrderState.HELD)
        set_lot(engine, other.lot_id, LotStatus.ON_HOLD)
        with session_scope(engine) as s:
            unit = s.get(EquipmentUnit, line.unit_id)
            assert unit is not None
            unit.last_state = "Execute"
            s.add(unit)
        got = [other_order.next(), other_order.next()]
        assert [(e.event, state(e.json()).entity) for e in got] == [
            ("order", other.lot[:-4]),
            ("lot", other.lot),
        ]
        mine = by_order.next()
        assert mine.event == "lot" and state(mine.json()).lot == line.lot
        unit_event = by_unit.next()
        assert unit_event.event == "unit" and state(unit_event.json()).state == "Execute"
        for client in (by_unit, other_order, by_order):
            with pytest.raises(queue.Empty):  # nothing else for it
                client.next(timeout_s=1.0)


def _step_on_unit(engine: Engine, line: Line) -> tuple[int, int, int]:
    with session_scope(engine) as s:
        step = s.get(StepRun, line.step_id)
        assert step is not None
        step.equipment_unit_id = line.unit_id
        s.add(step)
        layer = s.exec(select(Layer).where(Layer.step_run_id == line.step_id)).one()
        char = s.exec(select(Characteristic).where(Characteristic.layer_id == layer.id)).first()
        assert char is not None
        return pk(layer), pk(char), char.lanes


def test_live_values_reach_the_clients_that_want_them(served: Served, services: ServiceUrls) -> None:
    line, engine = served.line, served.engine
    # A unit name of its own: Redis channels are shared by every run on the server.
    unit = f"coater-{secrets.token_hex(4)}"
    with session_scope(engine) as s:
        s.add(EquipmentUnit(name=unit, equipment_class=EquipmentClass.COATER, endpoint="opc.tcp://x:4840",
                            profile="packml-coater"))  # fmt: skip
        s.flush()
        unit_id = pk(s.exec(select(EquipmentUnit).where(EquipmentUnit.name == unit)).one())
    line = replace(line, unit_id=unit_id)
    layer_id, char_id, lanes = _step_on_unit(engine, line)
    with served.events(f"?kinds=value&unit={unit}") as values, served.events("?kinds=order") as no_values:
        assert values.next().event == "ready" and no_values.next().event == "ready"
        position = values.last_id
        if served.backend == "postgresql":
            # The collector's message on Redis, relayed by the process's one subscription (sent again
            # until it arrives: the relay subscribes once the first client wants values).
            published = utcnow()
            value = live_value(unit=unit, lot=line.lot, job=line.job, gauge="cw-1", seq=41, position_m=2.05,
                               measured_at_unix=published.timestamp(), lanes=[21.5, float("nan"), 22.5],
                               published_at=published)  # fmt: skip
            message = LiveMessage(
                unit=unit, lot=line.lot, job=line.job, published_at=published, values=[value]
            )
            client = redis.Redis.from_url(services.redis_url)
            deadline = time.monotonic() + 20
            got = None
            while got is None and time.monotonic() < deadline:
                client.publish(live_channel(unit), message.model_dump_json())
                try:
                    got = values.next(timeout_s=0.3)
                except queue.Empty:  # not subscribed yet
                    continue
            client.close()
            assert got is not None
            received = LiveValue.model_validate(got.json())
            assert (received.min, received.mean, received.max) == (21.5, 22.0, 22.5)
            assert received.published_at is not None
        else:
            # No Redis: the newest scans in the database (stored on, as a collector stores them, until
            # one arrives: the reader starts after the newest scan once a client wants values).
            deadline, seq, got = time.monotonic() + 20, 0, None
            while got is None and time.monotonic() < deadline:
                seq += 1
                with session_scope(engine) as s:
                    s.add(GaugeScan(lot_id=line.lot_id, layer_id=layer_id, characteristic_id=char_id, seq=seq,
                                    position_m=seq * 0.01, measured_at=utcnow(), lane_values=[20.0 + seq] * lanes,
                                    min_value=20.0 + seq, mean_value=20.0 + seq, max_value=20.0 + seq))  # fmt: skip
                try:
                    got = values.next(timeout_s=0.3)
                except queue.Empty:
                    continue
            assert got is not None
            received = LiveValue.model_validate(got.json())
            assert (
                received.seq <= seq and received.mean == 20.0 + received.seq and received.published_at is None
            )
        assert got.event == "value"
        assert (received.unit, received.lot, received.job) == (unit, line.lot, line.job)
        # A value's id is the client's position in the log: reconnecting with it replays state events.
        assert got.id == position
        with pytest.raises(queue.Empty):  # a client that did not ask gets none
            no_values.next(timeout_s=1.0)


def test_many_clients_follow_one_process(served: Served) -> None:
    """More clients than the database pool has connections: a stream holds none while it waits."""
    clients = [served.events("?kinds=order") for _ in range(24)]
    try:
        for client in clients:
            assert client.next().event == "ready"
        set_order(served.engine, served.line.order_id, WorkOrderState.HELD)
        got = [client.next() for client in clients]
        assert {(e.event, state(e.json()).state) for e in got} == {("order", "held")}
        assert len({e.id for e in got}) == 1
    finally:
        for client in clients:
            client.close()


def test_a_client_that_hangs_up_mid_stream_is_no_error(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """A browser tab closed while events are being sent is the normal end of a stream."""
    line, engine = served.line, served.engine
    for _ in range(3):
        with served.events() as client:
            assert client.next().event == "ready"
            with session_scope(engine) as s:  # a burst: one transaction, many changes
                order = s.get(WorkOrder, line.order_id)
                assert order is not None
                for i in range(150):
                    order.state = WorkOrderState.HELD if i % 2 == 0 else WorkOrderState.RUNNING
                    s.add(order)
                    s.flush()
            assert client.next().event == "order"
        time.sleep(0.5)  # hung up with events still to send
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def test_a_quiet_stream_is_kept_alive_with_comments(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxies close a connection that carries nothing: a `: ping` comes after PING_S without an event
    for this client, also while others' events (filtered out for it) go by."""
    monkeypatch.setattr(event_feed, "PING_S", 0.5)
    with served.events("?kinds=alarm") as client:
        assert client.next().event == "ready"
        for i in range(8):
            set_lot(
                served.engine, served.line.lot_id, LotStatus.ON_HOLD if i % 2 == 0 else LotStatus.IN_PROCESS
            )
            time.sleep(0.2)
        assert client.comments >= 2
        with pytest.raises(queue.Empty):
            client.next(timeout_s=0.5)


def test_a_stream_ends_when_its_token_is_revoked(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """A revoked token (or an ended session) is not followed for long: the stream says `end` and closes."""
    from mes.auth.tokens import revoke_token
    from mes.db import session_scope

    monkeypatch.setattr(event_feed, "CREDENTIAL_CHECK_S", 0.3)
    with served.events() as client:
        assert client.next().event == "ready"
        with session_scope(served.engine) as s:
            revoke_token(s, "operator-token", by=Callers.person(Role.ADMIN))
        end = client.next(timeout_s=10)
        assert end.event == "end"
        assert "revoked" in json.loads(end.data)["reason"]
