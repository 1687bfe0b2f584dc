"""``mes collector``: a long-lived asyncio service subscribed to every unit of the line.

For the step running on each unit it pulls gauge scans by sequence number from
the unit's ring buffer (so a missed notification or a reconnect loses nothing),
stores them in batches, folds excursions into out-of-spec intervals as they
arrive, and publishes live values on Redis for the HMI. When the database is
away, rows go to a bounded on-disk spool and are written when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from mes.base import dumps_json
from mes.collector.spool import Spool
from mes.db import session_scope
from mes.equipment.driver import ScanRecord, UnitDriver
from mes.equipment.errors import EquipmentError
from mes.equipment.models import EquipmentUnit
from mes.equipment.profile import Line
from mes.lots.execution import StepPlan, plan
from mes.lots.models import StepRun, StepRunState
from mes.lots.steps import ingest

log = logging.getLogger(__name__)
BATCH = 5_000


@dataclass
class UnitFeed:
    unit: str
    cursor: dict[tuple[int, str], int] = field(default_factory=dict)  # (step, gauge) → last seq stored
    stored: int = 0


class Collector:
    def __init__(self, engine: Engine, line: Line, *, spool_path: Path, poll_s: float = 0.2,
                 live_url: str = "") -> None:  # fmt: skip
        self.engine, self.line, self.poll_s = engine, line, poll_s
        self.spool = Spool(spool_path)
        self.db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collector-db")
        self.feeds = {u: UnitFeed(u) for u in line.units}
        self.live = None
        if live_url:
            import redis

            self.live = redis.Redis.from_url(live_url, socket_timeout=2, socket_connect_timeout=2)
        self.db_ok = True

    @property
    def stored(self) -> int:
        return sum(f.stored for f in self.feeds.values())

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._unit(u, stop), name=f"collect-{u}") for u in self.line.units]
        try:
            await stop.wait()
        finally:
            stop.set()
            # Let each unit loop leave on its own and close its link; a client left
            # connected keeps reconnecting after the servers are gone.
            _, pending = await asyncio.wait(tasks, timeout=10)
            for t in pending:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._db(self._drain_spool)
            self.db_thread.shutdown(wait=True)
            self.spool.close()

    async def _db(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.db_thread, fn, *args)

    async def _unit(self, unit: str, stop: asyncio.Event) -> None:
        feed = self.feeds[unit]
        driver: UnitDriver | None = None
        try:
            while not stop.is_set():
                try:
                    if driver is None or driver.client is None:
                        driver = UnitDriver(self.line.unit(unit), self.line.profiles[unit], retry_s=5.0)
                        await driver.connect()
                    await self._poll(driver, feed)
                except EquipmentError as exc:
                    log.warning("collector: %s: %s", unit, exc)
                    if driver is not None:
                        await driver.disconnect()
                    driver = None
                    await asyncio.sleep(1.0)
                except OperationalError as exc:
                    log.warning("collector: database: %s", exc.orig)
                    await asyncio.sleep(1.0)
                except Exception:
                    # A bug or bad data must not silence this unit for the rest of the run: the
                    # scans stay in the ring buffer, and the step's completion stores them anyway.
                    log.exception("collector: %s: unexpected error; retrying", unit)
                    await asyncio.sleep(5.0)
                await asyncio.sleep(self.poll_s)
        finally:
            if driver is not None:
                await driver.disconnect()

    def _running(self, unit: str) -> list[StepPlan]:
        with session_scope(self.engine) as session:
            ids = session.exec(
                select(StepRun.id)
                .join(EquipmentUnit, col(EquipmentUnit.id) == col(StepRun.equipment_unit_id))
                .where(EquipmentUnit.name == unit, StepRun.state == StepRunState.RUNNING)
                .where(col(StepRun.gauge_seq_start).is_not(None))
            ).all()
            plans = [plan(session, i, lock=False) for i in ids if i is not None]
        return [p for p in plans if p is not None]

    async def _poll(self, driver: UnitDriver, feed: UnitFeed) -> None:
        if not await self._db(self._drain_spool):
            return  # the database is still away: leave the scans in the unit's ring buffer
        running = await self._db(self._running, feed.unit)
        for current in running:
            start = current.gauge_seq_start or {}
            for gauge in current.gauges:
                key = (current.step_run_id, gauge)
                after = feed.cursor.get(key, start.get(gauge, 0))
                scans = await driver.read_scans(gauge, after + 1, BATCH)
                if not scans:
                    continue
                feed.cursor[key] = scans[-1].seq
                if await self._db(self._store, current, gauge, scans):
                    feed.stored += len(scans)
            self._publish(current)

    def _store(self, current: StepPlan, gauge: str, scans: list[ScanRecord]) -> bool:
        try:
            with session_scope(self.engine) as session:
                ingest(session, current, {gauge: scans}, low=current.gauge_seq_start)
            self.db_ok = True
            return True
        except OperationalError:
            self.db_ok = False
            self.spool.push((current, gauge), [s.__dict__ for s in scans])
            return False

    def _drain_spool(self) -> bool:
        """Write spooled batches in order; False while the database refuses."""
        while (item := self.spool.peek()) is not None:
            batch_id, (current, gauge), rows = item
            try:
                with session_scope(self.engine) as session:
                    ingest(
                        session,
                        current,
                        {gauge: [ScanRecord(**r) for r in rows]},
                        low=current.gauge_seq_start,
                    )
            except OperationalError:
                self.db_ok = False
                return False
            self.spool.pop(batch_id)
        self.db_ok = True
        return True

    def _publish(self, current: StepPlan) -> None:
        if self.live is None:
            return
        message = {"unit": current.unit, "lot": current.lot_number, "job": current.job_id, "t": time.time()}
        try:
            self.live.publish(f"mes:live:{current.unit}", dumps_json(message))
        except Exception:  # live values are best effort; the database has the record
            log.debug("live publish failed", exc_info=True)
