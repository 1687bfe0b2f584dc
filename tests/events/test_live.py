"""Live values: the collector's message on Redis, and the newest scans read from the database."""

from __future__ import annotations

import math
import secrets
import time

import pytest
import redis
from sqlalchemy.engine import Engine
from sqlmodel import select

from mes.base import pk, utcnow
from mes.collector.live import LiveValues
from mes.db import session_scope
from mes.equipment.driver import ScanRecord
from mes.events.live import LIVE_PATTERN, latest_values, live_value, newest_scan_id, parse_message
from mes.events.schemas import LiveMessage
from mes.execution.scheduler import StepPlan
from mes.lots.models import Characteristic, GaugeScan, Layer, StepRun, StepRunState
from tests.events.plant import UNIT, build
from tests.services import ServiceUrls

pytestmark = pytest.mark.timeout(60)


def test_the_collector_publishes_the_newest_scan_of_each_gauge(services: ServiceUrls) -> None:
    unit = f"test-unit-{secrets.token_hex(3)}"  # Redis channels are shared by everyone on the server
    plan = StepPlan(step_run_id=1, lot_id=1, lot_number="WO-1-L01", job_id="WO-1-L01-S0-1", unit=unit, unit_id=1,
                    state=StepRunState.RUNNING, chain_token="c", lease_token=1, setpoints={}, product="Si",
                    length_m=2.0, time_limit_s=600.0, layer_id=1, gauges={"xrf-1": 1, "cw-1": 2},
                    gauge_seq_start=None, gauge_seq_end=None, started_at_unix=None, is_last_step=False)  # fmt: skip
    listener = redis.Redis.from_url(services.redis_url)
    pubsub = listener.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    pubsub.psubscribe(LIVE_PATTERN)
    live = LiveValues(services.redis_url, "MES_LIVE_URL")
    measured = time.time()
    live.publish(plan, {})  # nothing read in this poll: nothing published
    live.publish(plan, {"xrf-1": ScanRecord(7, 0.07, measured, [4000.0, math.nan, 4010.0]),
                        "cw-1": ScanRecord(3, 0.05, measured, [math.nan, math.nan])})  # fmt: skip
    deadline, got = time.monotonic() + 10, None
    while got is None and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message is not None and message["channel"] == f"mes:live:{unit}".encode():
            got = parse_message(message["data"])
    pubsub.close()
    listener.close()
    live.redis.close()
    assert got is not None
    assert (got.unit, got.lot, got.job) == (unit, "WO-1-L01", "WO-1-L01-S0-1")
    cw, xrf = got.values
    assert (xrf.gauge, xrf.seq, xrf.position_m, xrf.min, xrf.mean, xrf.max) == (
        "xrf-1",
        7,
        0.07,
        4000.0,
        4005.0,
        4010.0,
    )
    assert (cw.gauge, cw.min, cw.mean, cw.max) == ("cw-1", None, None, None)  # no lane is a number
    assert abs(xrf.measured_at.timestamp() - measured) < 1e-3
    assert xrf.published_at == got.published_at


def test_the_newest_scans_in_the_database_are_the_live_values_without_redis(engine: Engine) -> None:
    line = build(engine)
    with session_scope(engine) as s:
        step = s.get(StepRun, line.step_id)
        assert step is not None
        step.equipment_unit_id = line.unit_id
        s.add(step)
        layer = s.exec(select(Layer).where(Layer.step_run_id == line.step_id)).one()
        chars = s.exec(select(Characteristic).where(Characteristic.layer_id == layer.id)).all()
        assert chars
        start = newest_scan_id(s)
        for char in chars:
            for seq in (1, 2, 3):
                s.add(GaugeScan(lot_id=line.lot_id, layer_id=pk(layer), characteristic_id=pk(char), seq=seq,
                                position_m=seq * 0.01, measured_at=utcnow(), lane_values=[1.0 * seq] * char.lanes,
                                min_value=seq, mean_value=seq + 0.5, max_value=seq + 1))  # fmt: skip
    with session_scope(engine) as s:
        values, after = latest_values(s, start)
        assert after == newest_scan_id(s)
        assert sorted(v.gauge for v in values) == sorted(c.gauge for c in chars)
        assert {(v.unit, v.lot, v.job, v.seq, v.min, v.mean, v.max) for v in values} == {
            (UNIT, line.lot, line.job, 3, 3.0, 3.5, 4.0)}  # fmt: skip
        assert latest_values(s, after) == ([], after)


def test_process_values_are_sent_to_the_clients_that_asked_for_them() -> None:
    """``event: process`` goes to a client of ``kinds=process`` (or of every kind), not to one of
    ``kinds=value``, and is filtered by unit like a live value."""
    from mes.api.event_feed import Outgoing, StreamRequest, _Client
    from mes.events.schemas import ProcessValues, ReplayPlan

    now = utcnow()
    value = live_value(unit="sputter-1", lot="L1", job="J1", gauge="xrf", seq=1, position_m=0.01,
                       measured_at_unix=now.timestamp(), lanes=[1.0], published_at=now)  # fmt: skip
    process = ProcessValues(unit="sputter-1", lot="L1", job="J1", read_at=now, values={"power_w": 1499.5},
                            units={"power_w": "W"}, published_at=now)  # fmt: skip
    batch = [Outgoing.value(value), Outgoing.process(process)]

    def sent(kinds: set[str], unit: str | None = None) -> list[str]:
        want = StreamRequest(kinds=frozenset(kinds), unit=unit, order=None, order_lots=frozenset(),
                             plan=ReplayPlan(start_after=0, gap=None))  # fmt: skip
        return [e.event or "" for e in _Client(want).values(batch)]

    assert sent({"value"}) == ["value"]
    assert sent({"process"}) == ["process"]
    assert sent({"value", "process", "order"}) == ["value", "process"]
    assert sent({"value", "process"}, unit="coater-1") == []
    message = LiveMessage(
        unit="sputter-1", lot="L1", job="J1", published_at=now, values=[value], process=process
    )
    assert parse_message(message.model_dump_json()).process == process
