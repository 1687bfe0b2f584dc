"""Gauges without a ring buffer: a plain variable (scalar or lane array) sampled by subscription.

::

    GaugeSampler(driver) ── start() ─ one subscription: each variable gauge, its position or speed
       │                              process value and the job id, queue size from the profile
       ├─ datachange_notification()   a gauge change → Sample(job id, position/speed seen, lanes)
       └─ drain()                     the samples since the last drain, oldest first

The machine keeps no history, so what the MES did not see is gone: a sample is
never made up, interpolated or repeated. The first notification of a gauge after
(re)subscribing is the value the gauge already had — seen before, or measured
while nobody listened, at a position we no longer know — so it is dropped; so is
a notification identical to the previous one (value and source timestamp: a
re-sent value after a reconnect). Samples lost to a full buffer or a broken
subscription leave a gap in the stored positions, which is how the layer's
coverage sees them. The MES numbers samples itself (see the collector).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from asyncua import Node, ua
from asyncua.common.subscription import DataChangeNotif, Subscription

from mes.equipment.driver import UnitDriver
from mes.equipment.encoding import finite
from mes.equipment.errors import UnknownState
from mes.equipment.profile import PackMLState, VariableGauge, to_mes
from mes.equipment.states import WAITING

log = logging.getLogger(__name__)
MAX_BUFFERED = 100_000
# Position samples kept per process value, and how far past the latest one it is carried forward.
TRACK_LENGTH = 16
MAX_CARRY_S = 0.25


@dataclass(frozen=True)
class Sample:
    """One gauge reading as it arrived: lanes in the MES's unit, with what the machine showed then."""

    gauge: str
    job_id: str
    values: list[float]
    measured_at: float  # unix s: the server's source timestamp, else the time of arrival
    position_m: float | None  # the web-position process value last seen, if the gauge has one
    speed_m_min: float | None  # the speed process value last seen, if the gauge is positioned by speed
    # The unit showed a waiting state (Idle, Stopped, …) when it arrived: no roll is being made,
    # and a position then is still the last roll's (the new job id may already be written).
    waiting: bool = False


def lanes_of(gauge: VariableGauge, raw: Any) -> list[float] | None:
    """The gauge's lanes from a variable's value (scaled), or None when the value has too few."""
    items = list(raw) if isinstance(raw, list | tuple) else [raw]
    lanes = items[gauge.first_lane : gauge.first_lane + gauge.lanes]
    if len(lanes) != gauge.lanes:
        return None
    out = []
    for v in lanes:
        try:
            out.append(to_mes(gauge.value, float(v)))
        except (TypeError, ValueError):
            out.append(math.nan)  # a lane that is not a number is a missing measurement
    return out


def position_at(track: Iterable[tuple[float, float]], at: float) -> float | None:
    """The web position [m] at unix time ``at`` from position samples ``(source time [unix s], m)``.

    A server samples the position variable on its own clock (node-opcua about every 50 ms) and may
    send a gauge's change before or after the position's in one notification: the position last
    *received* can be a sampling interval old, which at 0.16 m/s misplaces a scan by most of a
    0.01 m pitch and reads as missed scans. So the latest sample at or before ``at`` is taken by
    its timestamp and carried forward at the speed of the two latest (for at most ``MAX_CARRY_S``,
    never backwards). None when no sample is that old.
    """
    before = sorted((t, p) for t, p in track if t <= at)
    if not before:
        return None
    t1, p1 = before[-1]
    if len(before) >= 2:
        t0, p0 = before[-2]
        if t1 > t0 and p1 >= p0 and at - t1 <= MAX_CARRY_S:
            return p1 + (p1 - p0) / (t1 - t0) * (at - t1)
    return p1


def position_by_speed(speed_m_min: float, started_at_unix: float, measured_at: float) -> float:
    """Where the web is when a machine has no position variable: speed × time since the job began [m]."""
    return max(0.0, speed_m_min / 60.0 * (measured_at - started_at_unix))


class GaugeSampler:
    """Subscribes to a unit's variable gauges on a connected driver and buffers their samples."""

    def __init__(self, driver: UnitDriver, *, max_buffered: int = MAX_BUFFERED) -> None:
        self.driver = driver
        self.gauges = driver.profile.variable_gauges()
        self.samples: deque[Sample] = deque()
        self.max_buffered = max_buffered
        self.lost = 0  # samples dropped for a full buffer, or notifications lost with the subscription
        self.subscription: Subscription | None = None
        self._items: dict[Any, str] = {}  # node id → "gauge:ID" | "pv:NAME" | "job"
        self._seen: set[str] = set()  # gauges whose first (already known) value has arrived
        self._last: dict[str, tuple[Any, Any]] = {}
        self.pv: dict[str, float] = {}
        self._track: dict[str, deque[tuple[float, float]]] = {}  # pv → recent (source time, value)
        self.job_id = ""
        self.state: PackMLState | None = None
        self._recreates = 0

    async def start(self) -> None:
        """Create the subscription; :class:`mes.equipment.errors.NodeMismatch` for a missing node."""
        client = self.driver._client()
        watched: dict[str, str] = {"job": "job.id", "state": "state"}
        for gid, gauge in self.gauges.items():
            watched[f"gauge:{gid}"] = f"gauge.{gid}.value"
            for name in (gauge.position, gauge.speed):
                if name is not None:
                    watched[f"pv:{name}"] = f"pv.{name}"
        nodes: list[Node] = []
        for what, key in watched.items():
            nid = self.driver._nid(key)
            self._items[nid] = what
            nodes.append(client.get_node(nid))
        period = min((g.sampling_ms for g in self.gauges.values()), default=100.0)
        queue = max((g.queue_size for g in self.gauges.values()), default=100)
        self.subscription = await client.create_subscription(period, self)
        await self.subscription.subscribe_data_change(nodes, queuesize=queue, sampling_interval=period)

    # --- asyncua handler -------------------------------------------------------------------------

    def datachange_notification(self, node: Node, val: Any, data: DataChangeNotif) -> None:
        # asyncua re-creates a subscription after a reconnect (a private counter says so): its first
        # values are then the gauges' current values again, not new samples.
        recreated = getattr(self.subscription, "_recreate_count", 0)
        if recreated != self._recreates:
            self._recreates = recreated
            self._seen.clear()
            self.lost += 1
        what = self._items.get(node.nodeid)
        if what is None:
            return
        if what == "job":
            self.job_id = str(val or "")
            return
        if what == "state":
            try:
                self.state = self.driver.state_of(val)
            except UnknownState:
                self.state = None  # unknown is not "waiting": a glitch must not open a gap
            return
        if what.startswith("pv:"):
            name, number = what[3:], finite(val)
            if number is None:
                self.pv.pop(name, None)  # NaN or not a number: no position rather than a wrong one
                self._track.pop(name, None)
                return
            self.pv[name] = to_mes(self.driver.profile.process_values[name], number)
            # Only the server's own timestamps are compared (the client's clock may differ from it).
            pv_stamp = data.monitored_item.Value.SourceTimestamp if data.monitored_item.Value else None
            if pv_stamp is not None:
                track = self._track.setdefault(name, deque(maxlen=TRACK_LENGTH))
                track.append((pv_stamp.timestamp(), self.pv[name]))
            return
        gid = what.removeprefix("gauge:")
        dv = data.monitored_item.Value
        stamp = dv.SourceTimestamp if dv is not None else None
        previous = self._last.get(gid)
        self._last[gid] = (val, stamp)
        if gid not in self._seen:
            self._seen.add(gid)  # the value the gauge had before we listened
            return
        if previous == (val, stamp):
            return  # the same value sent again (a re-created subscription)
        gauge = self.gauges[gid]
        lanes = lanes_of(gauge, val)
        if lanes is None:
            self.lost += 1
            return
        if len(self.samples) >= self.max_buffered:
            self.lost += 1  # the collector is behind: a gap, never a made-up value
            return
        measured_at = stamp.timestamp() if stamp is not None else time.time()
        position = None
        if gauge.position:
            if stamp is not None:
                position = position_at(self._track.get(gauge.position, ()), measured_at)
            if position is None:
                position = self.pv.get(gauge.position)
        self.samples.append(
            Sample(
                gauge=gid,
                job_id=self.job_id,
                values=lanes,
                measured_at=measured_at,
                position_m=position,
                speed_m_min=self.pv.get(gauge.speed) if gauge.speed else None,
                waiting=self.state in WAITING,
            )
        )

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        log.warning("%s: gauge subscription status %s", self.driver.name, status.Status)
        self.lost += 1
        self._seen.clear()  # whatever comes first after this is an old value again

    # --- consumer --------------------------------------------------------------------------------

    def drain(self) -> list[Sample]:
        out = list(self.samples)
        self.samples.clear()
        return out

    async def stop(self) -> None:
        sub, self.subscription = self.subscription, None
        if sub is not None:
            try:
                await sub.delete()
            except (OSError, TimeoutError, ConnectionError, ua.UaError):
                pass  # the link is gone, and the subscription with it
