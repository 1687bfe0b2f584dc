"""The collector against peers that go away and come back: units, Redis, the database.

Real simulators, a real redis-server and real databases; a peer that is "away" is a
closed port, or a listener that takes the connection and closes it at once (so the
test can count the collector's attempts).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from sqlalchemy.engine import Engine
from sqlmodel import select

from mes.collector.service import Collector
from mes.db import make_engine, session_scope
from mes.equipment.profile import load_line
from mes.migrate import upgrade
from mes.quality.models import Alarm, AlarmState
from mes.sim.unit import SimUnit
from tests.lots.harness import LineUnderTest, write_line
from tests.services import ServiceUrls, allow_connections, free_port

COLLECTOR_LOG = "mes.collector"
SI = "capped-si-anode@1"


async def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(0.05)


class Refuser:
    """A TCP listener that counts connections and closes each at once: a peer that is there but broken."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        async def close(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self.server = await asyncio.start_server(close, "127.0.0.1", port)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@contextmanager
def redis_server(port: int, directory: Path) -> Iterator[None]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: this test starts one (apt-get install redis-server)")
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", "",
           "--appendonly", "no", "--daemonize", "no"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'mes.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _lines(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(COLLECTOR_LOG) and r.levelno >= logging.WARNING and needle in r.getMessage()
    ]


async def test_a_unit_or_redis_away_is_one_line_when_lost_and_one_when_back(
    tmp_path: Path, sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    unit_port, redis_port = free_port(), free_port()
    endpoint = f"opc.tcp://127.0.0.1:{unit_port}"
    line = load_line(write_line(tmp_path / "line.yaml", ["sputter-1"],
                                external={"sputter-1": (endpoint, "packml-sputter")}))  # fmt: skip
    unit_peer, redis_peer = Refuser(), Refuser()
    await unit_peer.start(unit_port)
    await redis_peer.start(redis_port)
    live_url = f"redis://127.0.0.1:{redis_port}/0"
    collector = Collector(
        sqlite_engine, line, spool_path=tmp_path / "spool.sqlite", spool_max_mb=1, live_url=live_url
    )
    stop = asyncio.Event()
    run = asyncio.create_task(collector.run(stop))
    sim: SimUnit | None = None
    try:
        # Several retries against each peer.
        await _wait(lambda: unit_peer.connections >= 4 and redis_peer.connections >= 3, 90, "retries")
        # Expected: one line per peer, not one per retry; the unit named once in its line (it
        # used to be "collector: sputter-1: sputter-1: cannot connect …", and Redis was never
        # reported at all).
        [unit_lost] = _lines(caplog, "sputter-1")
        assert unit_lost.count("sputter-1") == 1, unit_lost
        assert endpoint in unit_lost
        [redis_lost] = _lines(caplog, f"127.0.0.1:{redis_port}")
        assert "MES_LIVE_URL" in redis_lost

        await unit_peer.stop()
        await redis_peer.stop()
        sim = SimUnit("sputter-1", line.profiles["sputter-1"], endpoint, time_scale=100, seed=3)
        await sim.start()
        with redis_server(redis_port, tmp_path):
            await _wait(lambda: len(_lines(caplog, "sputter-1")) == 2, 60, "the unit back")
            await _wait(lambda: len(_lines(caplog, f"127.0.0.1:{redis_port}")) == 2, 60, "Redis back")
            assert redis.Redis(port=redis_port).ping()
            # Expected: exactly one more line each, saying it is back.
            assert "again" in _lines(caplog, "sputter-1")[1]
            assert "again" in _lines(caplog, f"127.0.0.1:{redis_port}")[1]
            stop.set()
            await run
    finally:
        stop.set()
        await asyncio.gather(run, return_exceptions=True)
        if sim is not None:
            await sim.stop()


async def test_a_full_spool_stops_pulling_raises_an_alarm_and_resumes_when_written(
    tmp_path: Path, pg_url: str, broker: str, services: ServiceUrls, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    line = LineUnderTest(tmp_path, pg_url, broker, ["sputter-1"], time_scale=600, stale_after_s=5)
    try:
        await line.start(collector=False)
        await line.runner.start_collector(pg_url, spool_max_mb=0.01)  # about a hundred scans
        collector = line.runner.collector
        assert collector is not None
        feed = collector.feeds["sputter-1"]
        line.order(SI, 1, lot_size=40)
        await _wait(lambda: feed.stored > 0, 90, "scans stored live")

        allow_connections(services.pg_admin_url, pg_url, False)
        try:
            # Expected: the collector goes on pulling the running step's scans into the spool
            # until it holds MES_COLLECTOR_SPOOL_MAX_MB, then stops pulling (it used to stop at
            # once, and a spool that filled was never checked).
            await _wait(lambda: collector.spool_full_since is not None, 60, "the spool to fill")
            assert collector.spool.bytes >= collector.spool.max_bytes
            cursor, spooled = dict(feed.cursor), collector.spool.rows
            sim = line.runner.sims["sputter-1"]
            gauges = {gauge for _, gauge in cursor}
            # The machine makes 300 more scans of each gauge; none of them is read meanwhile.
            await _wait(lambda: all(sim.rings[g][-1][0] >= cursor[k] + 300 for k in cursor for g in gauges
                                    if k[1] == g), 60, "the machine to go on")  # fmt: skip
            assert feed.cursor == cursor
            assert collector.spool.rows == spooled
        finally:
            allow_connections(services.pg_admin_url, pg_url, True)

        await line.wait_for(line.orders_done, 150, "the lot to complete with the database back")
        await _wait(lambda: collector.spool_full_since is None, 30, "the spool written out")
        assert collector.spool.rows == 0
        for step in line.steps():
            line.assert_scans_complete(step)  # none dropped: they waited in the ring buffer
        with session_scope(line.engine) as session:
            alarms = [a for a in session.exec(select(Alarm)).all() if a.condition == "collector:spool-full"]
        # Expected: one alarm, raised once the database was back and cleared with the spool written
        # out, waiting for an operator's acknowledgement; the message says what happened.
        [alarm] = alarms
        assert alarm.state == AlarmState.CLEARED_UNACK
        assert "MES_COLLECTOR_SPOOL_MAX_MB" in alarm.message
        # Expected: one line each — database lost, spool full, database back, pulling again.
        [lost] = _lines(caplog, "refused")
        assert "MES_DATABASE_URL" in lost
        [full] = _lines(caplog, "full")
        assert "MES_COLLECTOR_SPOOL_MAX_MB" in full and "collector:spool-full" in full
        assert len(_lines(caplog, "database answers again")) == 1
        assert len(_lines(caplog, "pulling scans from the units again")) == 1
    finally:
        await line.stop()
