"""Live values for the HMI: the collector publishes the newest scans of each collected step on
Redis (channel ``mes:live:UNIT``, a :class:`~mes.events.schemas.LiveMessage`), best effort, with
the unit's process values (web speed, power, pressure, tension: the profile's ``process_values``)
read in the same poll while the step runs — the actual values an operator holds against the
setpoints sent. The database keeps neither: the scans are stored apart, process values not at all.

The database has the record; live values only feed screens. So a Redis that
does not answer is reported once (and once when it is back), and publishing is
skipped meanwhile rather than waiting for a timeout on every message.
"""

from __future__ import annotations

import asyncio
import logging

from mes.base import utcnow
from mes.config import masked_url
from mes.equipment.driver import ScanRecord, UnitDriver
from mes.equipment.errors import ConnectionLost, EquipmentError
from mes.events.live import live_channel, live_value
from mes.events.schemas import LiveMessage, ProcessValues
from mes.execution.scheduler import StepPlan
from mes.logs import StateLog

log = logging.getLogger(__name__)
LIVE_CHECK_S = 2.0  # how often the live values' Redis is asked whether it answers


class LiveValues:
    def __init__(self, url: str, setting: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        # Where live values go, for the one line that says it is away: the URL without its password.
        self.where = f"{masked_url(url)} ({setting})"
        self.state = StateLog(log)

    def publish(
        self, current: StepPlan, newest: dict[str, ScanRecord], process: ProcessValues | None = None
    ) -> None:
        """The newest scan of each gauge (``newest``: gauge → scan) of the step on its unit, and the
        unit's process values read in the same poll (None: not read)."""
        if not self.state.ok or not (newest or process):
            return  # away: watch() says when it answers again
        now = utcnow()
        message = LiveMessage(
            unit=current.unit,
            lot=current.lot_number,
            job=current.job_id,
            published_at=now,
            process=process.model_copy(update={"published_at": now}) if process is not None else None,
            values=[
                live_value(
                    unit=current.unit,
                    lot=current.lot_number,
                    job=current.job_id,
                    gauge=gauge,
                    seq=scan.seq,
                    position_m=scan.position_m,
                    measured_at_unix=scan.measured_at,
                    lanes=scan.values,
                    published_at=now,
                )  # fmt: skip
                for gauge, scan in sorted(newest.items())
            ],
        )
        try:
            self.redis.publish(live_channel(current.unit), message.model_dump_json())
        except Exception as exc:  # live values are best effort; the database has the record
            self._lost(exc)

    async def watch(self, stop: asyncio.Event) -> None:
        """Ask Redis every few seconds whether it answers: lost and back, one line each."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.redis.ping)
                self.state.back(f"collector: live values: Redis at {self.where} answers again")
            except Exception as exc:  # noqa: BLE001 - any failure means no live values for the HMI
                self._lost(exc)
            try:
                await asyncio.wait_for(stop.wait(), LIVE_CHECK_S)
            except TimeoutError:
                pass

    def _lost(self, exc: Exception) -> None:
        self.state.lost(
            "live",
            f"collector: live values: cannot reach Redis at {self.where}: {str(exc).rstrip('.')}; "
            "the HMI shows no live values until it answers (scans still go to the database)",
        )


async def read_process(driver: UnitDriver, current: StepPlan, failing: StateLog) -> ProcessValues | None:
    """The unit's process values for the step running on it, in one read; None when the profile has
    none or a node did not answer a number (said once in ``failing``). A lost link is raised: the
    unit loop reconnects for the scans anyway."""
    entries = driver.profile.process_values
    if not entries:
        return None
    try:
        values = await driver.read_values()
    except ConnectionLost:
        raise
    except EquipmentError as exc:  # a Bad node must not stop the scans: live values are extra
        failing.lost(type(exc).__name__, f"collector: {current.unit}: process values not read: {exc}")
        return None
    failing.back(f"collector: {current.unit}: process values read again")
    return ProcessValues(
        unit=current.unit,
        lot=current.lot_number,
        job=current.job_id,
        read_at=utcnow(),
        values=values,
        units={name: entries[name].unit for name in values},
    )
