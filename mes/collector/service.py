"""``mes collector``: a long-lived asyncio service subscribed to every unit of the line.

For the step on each unit it pulls gauge scans by sequence number from the
unit's ring buffer (so a missed notification or a reconnect loses nothing), or,
for a gauge without one, takes the samples of a subscription
(:mod:`mes.equipment.gauges`) and numbers them itself; it stores them in
batches, folds excursions into out-of-spec intervals as they arrive, and
publishes the newest scan of each gauge on Redis for the HMI (``mes:live:UNIT``, see
:mod:`mes.events.live`).

When the database is away, the steps it last named are collected on (while
their machine shows their job) into an on-disk spool, written in order when it
is back. At ``MES_COLLECTOR_SPOOL_MAX_MB`` pulling stops — the scans wait in the
units' ring buffers, none is dropped here — and resumes once the spool is
written out; the alarm for it is raised as soon as the database takes it (until
then the log says so, once) and cleared with the spool.

A step is collected for as long as its machine runs the job, whatever the
step's state: a step held by the MES (an unknown state number, a lost answer)
while the machine goes on to finish the roll still gets the roll's scans (the
unit's latest held step, for as long as the unit shows its job id).

Samples of a variable gauge get sequence numbers after the highest stored for
the characteristic, so a restarted collector never repeats one; a sample is
stored only beyond the last stored position of the layer (never before it,
never past the roll's end + one pitch), so what the collector did not see stays
a gap in the positions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from mes.base import utcnow
from mes.collector.live import LiveValues, read_process
from mes.collector.spool import Spool
from mes.db import session_scope
from mes.equipment.driver import ScanRecord, UnitDriver
from mes.equipment.errors import BadStatus, EquipmentError, UnknownState
from mes.equipment.gauges import GaugeSampler, Sample, position_by_speed
from mes.equipment.models import EquipmentUnit
from mes.equipment.profile import Line
from mes.events.schemas import ProcessValues
from mes.execution.scheduler import StepPlan, plan
from mes.execution.steps import ingest
from mes.execution.units import HEARTBEAT_S, beat
from mes.logs import StateLog
from mes.lots.models import GaugeScan, StepRun, StepRunState
from mes.quality.alarms import clear_conditions, raise_alarm
from mes.quality.models import AlarmPriority

log = logging.getLogger(__name__)
BATCH = 5_000
SPOOL_FULL = "collector:spool-full"  # the alarm's condition
STATE_EVERY_S = 2.0  # how often each unit's state is read for `mes unit` (one round trip)


@dataclass
class UnitFeed:
    unit: str
    cursor: dict[tuple[int, str], int] = field(default_factory=dict)  # (step, gauge) → last seq stored
    # variable gauges: (step, gauge) → (last MES seq, last position stored)
    numbered: dict[tuple[int, str], tuple[int, float]] = field(default_factory=dict)
    sampler: GaugeSampler | None = None
    stored: int = 0
    link: StateLog = field(default_factory=lambda: StateLog(log))
    # The unit's steps as the database last told them: collected on while the database is away.
    collected: list[StepPlan] = field(default_factory=list)
    state_read: float = -1e9  # monotonic time of the last state read
    process_read: StateLog = field(default_factory=lambda: StateLog(log))  # process values for the HMI


class Collector:
    def __init__(
        self,
        engine: Engine,
        line: Line,
        *,
        spool_path: Path,
        spool_max_mb: float,
        poll_s: float = 0.2,
        live_url: str = "",
        live_setting: str = "MES_LIVE_URL",
    ) -> None:
        self.engine, self.line, self.poll_s = engine, line, poll_s
        self.started_at = utcnow()
        # unit → (PackML state last read, when): written with the heartbeat for `mes unit` and `mes status`
        self.seen: dict[str, tuple[str, datetime]] = {}
        self.state_changed = asyncio.Event()  # a unit showed a new state: write it now, not at the next beat
        self.spool = Spool(spool_path, max_bytes=int(spool_max_mb * 1_000_000))
        # Set (on the database thread) from the spool's filling up until it is written out again:
        # meanwhile nothing is read from the units.
        self.spool_full_since: datetime | None = None
        self.spool_alarm_raised = False
        self.db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collector-db")
        self.feeds = {u: UnitFeed(u) for u in line.units}
        self.live = LiveValues(live_url, live_setting) if live_url else None
        self.db_ok = True
        self.database = StateLog(log)

    @property
    def stored(self) -> int:
        return sum(f.stored for f in self.feeds.values())

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._unit(u, stop), name=f"collect-{u}") for u in self.line.units]
        if self.live is not None:
            tasks.append(asyncio.create_task(self.live.watch(stop), name="collect-live"))
        tasks.append(asyncio.create_task(self._heartbeat(stop), name="collector-heartbeat"))
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
            if not await self._db(self._drain_spool):
                log.warning(
                    "collector: %d scans left in the disk spool %s; they are written when the collector "
                    "next runs with the database",
                    self.spool.rows,
                    self.spool.path,
                )
            self.db_thread.shutdown(wait=True)
            self.spool.close()

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        """Say every few seconds that the collector is alive, with what it last read of each unit."""
        failing = StateLog(log)
        while not stop.is_set():
            try:
                await self._db(self._beat, dict(self.seen))  # copied here, where the unit loops write it
                failing.back("collector: heartbeat written again")
            except DBAPIError as exc:  # the database is away (said once by the loops): the beat waits
                log.debug("collector: heartbeat: %s", exc.orig)
            except Exception as exc:
                failing.lost(type(exc).__name__, "collector: heartbeat failed; retrying", exc_info=True)
            # A unit's new state is written at once (the pages' tiles follow it by the event log), the
            # rest every HEARTBEAT_S.
            self.state_changed.clear()
            stopping = asyncio.create_task(stop.wait())
            changed = asyncio.create_task(self.state_changed.wait())
            await asyncio.wait({stopping, changed}, timeout=HEARTBEAT_S, return_when=asyncio.FIRST_COMPLETED)
            for task in (stopping, changed):
                task.cancel()
        with contextlib.suppress(Exception):  # a last word on the units' states, if the database takes it
            await self._db(self._beat, dict(self.seen))

    def _beat(self, seen: dict[str, tuple[str, datetime]]) -> None:
        with session_scope(self.engine) as session:
            beat(session, "collector", host=socket.gethostname(), pid=os.getpid(), started_at=self.started_at,
                 seen=seen)  # fmt: skip

    async def _read_state(self, driver: UnitDriver, feed: UnitFeed) -> None:
        """Every STATE_EVERY_S, the unit's PackML state for `mes unit` (a state the profile does not map,
        or a Bad status on its node, is shown as such; the step task is the one that acts on it)."""
        now = time.monotonic()
        if now - feed.state_read < STATE_EVERY_S:
            return
        feed.state_read = now
        try:
            state = str(await driver.read_state())
        except (UnknownState, BadStatus) as exc:
            state = "unknown" if isinstance(exc, UnknownState) else f"Bad: {exc.status}"
        before = self.seen.get(feed.unit)
        self.seen[feed.unit] = (state, utcnow())
        if before is None or before[0] != state:
            self.state_changed.set()

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
                    if feed.sampler is None and driver.profile.variable_gauges():
                        feed.sampler = GaugeSampler(driver)
                        await feed.sampler.start()
                    await self._read_state(driver, feed)
                    await self._poll(driver, feed)
                    feed.link.back(f"collector: {unit} answers again; collecting")
                except EquipmentError as exc:
                    # The message names the unit already. One line while it stays away, not one per retry.
                    feed.link.lost(
                        type(exc).__name__,
                        f"collector: {exc}; retrying until it answers (is the unit on, and its endpoint "
                        "right in the line file, MES_LINE_CONFIG?)",
                    )
                    if driver is not None:
                        await driver.disconnect()
                    driver, feed.sampler = None, None
                    await asyncio.sleep(1.0)
                except DBAPIError as exc:
                    self._database_lost(exc)
                    await asyncio.sleep(1.0)
                except Exception as exc:
                    # A bug or bad data must not silence this unit for the rest of the run: ring-buffer
                    # scans stay on the machine for the step's completion, and variable-gauge samples
                    # were put back above.
                    feed.link.lost(
                        f"bug:{type(exc).__name__}",
                        f"collector: {unit}: unexpected error; retrying",
                        exc_info=True,
                    )
                    await asyncio.sleep(5.0)
                await asyncio.sleep(self.poll_s)
        finally:
            if driver is not None:
                await driver.disconnect()

    def _collected(self, unit: str) -> list[StepPlan]:
        """Steps whose machine may be measuring for them: running, just dispatched, and the unit's
        latest held step (its machine may still be making the roll; whether it still runs that job
        is checked on the machine, however long ago the step was held)."""
        with session_scope(self.engine) as session:
            on_unit = (
                select(StepRun.id)
                .join(EquipmentUnit, col(EquipmentUnit.id) == col(StepRun.equipment_unit_id))
                .where(EquipmentUnit.name == unit, col(StepRun.gauge_seq_start).is_not(None))
            )
            ids = list(
                session.exec(
                    on_unit.where(col(StepRun.state).in_((StepRunState.RUNNING, StepRunState.DISPATCHED)))
                ).all()
            )
            ids += session.exec(
                on_unit.where(StepRun.state == StepRunState.HELD)
                .order_by(col(StepRun.ended_at).desc())
                .limit(1)
            ).all()
            plans = [plan(session, i, lock=False, active_only=False) for i in ids if i is not None]
        return [p for p in plans if p is not None]

    async def _poll(self, driver: UnitDriver, feed: UnitFeed) -> None:
        if await self._db(self._drain_spool):
            try:
                feed.collected = await self._db(self._collected, feed.unit)
                self._database_back()
            except DBAPIError as exc:
                self._database_lost(exc)
        if await self._db(self._spool_is_full):
            return  # pulling stopped: the scans wait in the unit's ring buffer
        # The database away, the steps it last knew are collected on (into the spool), as long as
        # their machine still shows their job.
        collected, away = feed.collected, not self.db_ok
        if feed.sampler is not None and not away:  # a variable gauge's samples are numbered from the database
            samples = feed.sampler.drain()
            try:
                await self._store_samples(feed, collected, samples)
            except Exception:
                # A variable gauge has no history to read again: put the samples back for the next
                # poll (numbered afresh from what is stored) rather than lose them.
                feed.sampler.samples.extendleft(reversed(samples))
                feed.numbered.clear()
                raise
        held = [c for c in collected if c.state == StepRunState.HELD]
        job = await driver.read_job_id() if held or away else ""
        ring = driver.profile.ring_buffer_gauges()
        process = await self._process(driver, feed, collected)
        for current in collected:
            if current.state == StepRunState.DISPATCHED:
                continue  # its machine may still be on the previous job: the ring buffer waits
            if (current.state == StepRunState.HELD or away) and job != current.job_id:
                continue  # the machine has moved on: nothing more of this job will come
            start = current.gauge_seq_start or {}
            newest: dict[str, ScanRecord] = {}
            for gauge in (g for g in current.gauges if g in ring):
                key = (current.step_run_id, gauge)
                after = feed.cursor.get(key, start.get(gauge, 0))
                scans = await driver.read_scans(gauge, after + 1, BATCH)
                if not scans:
                    continue
                feed.cursor[key] = scans[-1].seq
                newest[gauge] = scans[-1]
                if await self._db(self._store, current, gauge, scans):
                    feed.stored += len(scans)
            self._publish(current, newest, process if process and process.job == current.job_id else None)

    async def _store_samples(self, feed: UnitFeed, collected: list[StepPlan], samples: list[Sample]) -> None:
        """Number and position a variable gauge's samples and store them with their step."""
        by_job = {c.job_id: c for c in collected}
        batches: dict[tuple[int, str], list[ScanRecord]] = {}
        for sample in samples:
            current = by_job.get(sample.job_id)
            if current is None or sample.gauge not in current.gauges or sample.waiting:
                # Not a job of ours, or taken while the unit made no band (our job id written
                # before the Start, its position still the last roll's): no measurement of a layer.
                continue
            key = (current.step_run_id, sample.gauge)
            if key not in feed.numbered:
                feed.numbered[key] = await self._db(self._last_stored, current.gauges[sample.gauge])
            seq, last_m = feed.numbered[key]
            position = self._position(feed.unit, current, sample)
            pitch = self.line.profiles[feed.unit].gauges[sample.gauge].pitch_m
            if position is None or position <= last_m or position > current.length_m + pitch:
                continue
            feed.numbered[key] = (seq + 1, position)
            batches.setdefault(key, []).append(
                ScanRecord(seq + 1, position, sample.measured_at, sample.values)
            )
        for (step_id, gauge), scans in batches.items():
            current = next(c for c in collected if c.step_run_id == step_id)
            if await self._db(self._store, current, gauge, scans):
                feed.stored += len(scans)
            self._publish(current, {gauge: scans[-1]})

    def _position(self, unit: str, current: StepPlan, sample: Sample) -> float | None:
        if sample.position_m is not None:
            return sample.position_m
        if sample.speed_m_min is None or current.started_at_unix is None:
            return None  # no way to say where it was measured: not stored
        return position_by_speed(sample.speed_m_min, current.started_at_unix, sample.measured_at)

    def _last_stored(self, characteristic_id: int) -> tuple[int, float]:
        """The highest seq and position stored for a characteristic (0, -1 when none): numbering
        goes on from there, so a restarted collector repeats neither a seq nor a position."""
        with session_scope(self.engine) as session:
            seq, position = session.exec(
                select(sa.func.max(GaugeScan.seq), sa.func.max(GaugeScan.position_m)).where(
                    GaugeScan.characteristic_id == characteristic_id
                )
            ).one()
        return int(seq or 0), float(position) if position is not None else -1.0

    def _store(self, current: StepPlan, gauge: str, scans: list[ScanRecord]) -> bool:
        if self.spool.rows:  # behind what waits in the spool, in order (and no connection attempt per batch)
            self.spool.push((current, gauge), [s.__dict__ for s in scans])
            return False
        try:
            with session_scope(self.engine) as session:
                ingest(session, current, {gauge: scans}, low=current.gauge_seq_start)
            self._database_back()
            return True
        except DBAPIError as exc:  # the database is away or refused the connection: spool, lose nothing
            self._database_lost(exc)
            self.spool.push((current, gauge), [s.__dict__ for s in scans])
            return False

    def _drain_spool(self) -> bool:
        """Write spooled batches in order; False while the database refuses.

        A full spool's alarm is raised first (it could not be while the database was
        away) and cleared once the spool is written out, when pulling resumes.
        """
        if self.spool_full_since is not None and not self.spool_alarm_raised:
            if not self._in_database(self._raise_spool_alarm):
                return False
            self.spool_alarm_raised = True
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
            except DBAPIError as exc:
                self._database_lost(exc)
                return False
            self.spool.pop(batch_id)
            self._database_back()
        if self.spool_full_since is not None:
            if not self._in_database(lambda session: clear_conditions(session, [SPOOL_FULL])):
                return False
            self.spool_full_since, self.spool_alarm_raised = None, False
            log.warning("collector: disk spool written to the database; pulling scans from the units again")
        return True

    def _spool_is_full(self) -> bool:
        """Whether pulling is stopped: from the spool reaching its size until it is written out."""
        if self.spool_full_since is None and self.spool.full:
            self.spool_full_since = utcnow()
            log.error(
                "collector: disk spool %s full (%.3g MB, MES_COLLECTOR_SPOOL_MAX_MB=%g): pulling scans from "
                "the units stopped, they wait in the units' ring buffers; alarm %s is raised when the "
                "database is back, and pulling resumes once the spool is written to it",
                self.spool.path,
                self.spool.bytes / 1e6,
                self.spool.max_bytes / 1e6,
                SPOOL_FULL,
            )
        return self.spool_full_since is not None

    def _raise_spool_alarm(self, session: Session) -> None:
        assert self.spool_full_since is not None  # noqa: S101 - raised only while full
        raise_alarm(
            session,
            SPOOL_FULL,
            f"collector disk spool full since {self.spool_full_since:%Y-%m-%d %H:%M:%S} UTC "
            f"(MES_COLLECTOR_SPOOL_MAX_MB={self.spool.max_bytes / 1e6:g}) while the database was away: "
            "scans were left in the units' ring buffers; a unit whose buffer wrapped meanwhile lost its "
            "oldest (unmeasured intervals show where)",
            priority=AlarmPriority.HIGH,
        )

    def _in_database(self, work: Callable[[Session], object]) -> bool:
        try:
            with session_scope(self.engine) as session:
                work(session)
        except DBAPIError as exc:
            self._database_lost(exc)
            return False
        self._database_back()
        return True

    def _database_lost(self, exc: DBAPIError) -> None:
        self.db_ok = False
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        where = self.engine.url.render_as_string(hide_password=True)
        self.database.lost(
            "database",
            f"collector: database {where} (MES_DATABASE_URL) refused: {reason}; scans read from here on "
            "wait in the disk spool, and scans not yet read in the units' ring buffers, until it is back",
        )

    def _database_back(self) -> None:
        self.db_ok = True
        self.database.back("collector: database answers again; writing what waited")

    async def _process(
        self, driver: UnitDriver, feed: UnitFeed, collected: list[StepPlan]
    ) -> ProcessValues | None:
        """The unit's process values for the HMI, read each poll while a step of ours runs on it
        (one read request; only when live values are published)."""
        running = next((c for c in collected if c.state == StepRunState.RUNNING), None)
        if self.live is None or running is None:
            return None
        return await read_process(driver, running, feed.process_read)

    def _publish(
        self, current: StepPlan, newest: dict[str, ScanRecord], process: ProcessValues | None = None
    ) -> None:
        if self.live is not None:
            self.live.publish(current, newest, process)
