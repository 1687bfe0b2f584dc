"""One simulated unit: an asyncua server that behaves like the machine its profile describes.

The machine (state, job, position, gauge history, accepted Starts) can be kept in
a SQLite state file: killing the simulator process then kills only its OPC UA
server, as a gateway restart would, and the machine carries on from its last
tick when it comes back — no sequence number is reused or skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from pathlib import Path
from typing import Any

from asyncua import Server, ua

from mes.equipment.profile import Command, PackMLState, Profile, Security, to_machine, to_mes
from mes.logs import StateLog
from mes.sim import nodes
from mes.sim.errors import FaultSpecError, Refused
from mes.sim.faults import Fault, parse_fault
from mes.sim.packml import PackMLMachine
from mes.sim.physics import EROSION_PER_1000_M, Process
from mes.sim.publish import NodePublisher, Scan
from mes.sim.security import configure_server_security
from mes.sim.store import StateStore

log = logging.getLogger(__name__)
TICK_S = 0.02
ACTING_TIME_S = 2.0  # process seconds an acting state (Starting, Completing, …) takes


class SimUnit(NodePublisher):
    def __init__(
        self,
        name: str,
        profile: Profile,
        endpoint: str,
        *,
        time_scale: float = 1.0,
        security: Security | None = None,
        password: str | None = None,
        state_file: Path | None = None,
        seed: int | None = None,
        ring_size: int = 100_000,
        faults: list[Fault] | None = None,
    ) -> None:
        self.name, self.profile, self.endpoint = name, profile, endpoint
        self.time_scale = time_scale
        self.security = security or Security()
        self.password = password
        self.rng = random.Random(seed if seed is not None else hash(name) & 0xFFFF)  # noqa: S311 - simulation noise
        self.machine = PackMLMachine(acting_time_s=ACTING_TIME_S, min_ticks=5)
        self.rings: dict[str, deque[Scan]] = {g: deque(maxlen=ring_size) for g in profile.gauges}
        self.next_seq: dict[str, int] = dict.fromkeys(profile.gauges, 1)
        self.next_scan_m: dict[str, float] = dict.fromkeys(profile.gauges, 0.0)
        self.start_counts: dict[str, int] = {}
        self.job: dict[str, Any] = {}
        self.position_m = 0.0
        self.processed_m = 0.0  # target erosion / wear
        self.process: Process | None = None
        self.armed: list[Fault] = list(faults or [])
        self.job_faults: dict[str, list[Fault]] = {}
        self.store = StateStore(state_file, ring_size) if state_file else None
        self.server: Server | None = None
        self.space: nodes.AddressSpace | None = None
        self._task: asyncio.Task[None] | None = None
        self._frozen_until = 0.0
        self.refused_count = 0  # PackTags refusals, published when the profile has a refused counter
        self._bad_nodes: dict[str, ua.DataValue] = {}  # bad_status faults: key → its value before

    # --- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.store is not None:
            self.store.restore(self)
        await self._start_server()
        self._task = asyncio.create_task(self._run(), name=f"sim-{self.name}")

    async def _start_server(self) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"Simulated {self.profile.equipment_class} {self.name}")
        await configure_server_security(server, self.name, self.security, self.password)
        methods: dict[str, tuple[nodes.MethodCallback, list[Any], list[Any]]] = {}
        if self.profile.commands.style == "method":
            for command, browse_name in self.profile.commands.names.items():
                methods[browse_name] = (self._method_for(command), [], [])
        for gauge_id, gauge in self.profile.ring_buffer_gauges().items():
            methods[gauge.read_method] = (
                self._reader_for(gauge_id),
                [ua.VariantType.UInt64, ua.VariantType.UInt32],
                [ua.VariantType.Double],
            )
        if self.profile.inject_fault:
            methods[self.profile.inject_fault] = (
                self._inject,
                [ua.VariantType.String],
                [ua.VariantType.Boolean],
            )
        self.space = await nodes.build(server, self.profile, methods, self._state_number())
        await server.start()
        self.server = server
        await self._restore_nodes()
        await self._publish_all()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._stop_server()
        if self.store is not None:
            self.store.close()

    async def _stop_server(self) -> None:
        if self.server is not None:
            server, self.server = self.server, None
            # Stop listening before dropping the clients: asyncua closes the
            # transports first, and a client that reconnects in between keeps
            # wait_closed() from ever returning.
            listener = getattr(server.bserver, "_server", None)
            if listener is not None:
                listener.close()
            for transport in list(server.iserver.asyncio_transports):
                transport.close()
            await asyncio.wait_for(server.stop(), timeout=10)

    async def restart_server(self, down_s: float = 0.0) -> None:
        """Take the OPC UA server down (the machine keeps running) and bring it back."""
        await self._stop_server()
        await asyncio.sleep(down_s)
        await self._start_server()

    # --- OPC UA methods --------------------------------------------------------------------------

    def _method_for(self, command: Command) -> nodes.MethodCallback:
        async def call(_parent: ua.NodeId) -> list[ua.Variant] | ua.StatusCode:
            if self._refusing(command):
                return []  # a refused method answers Good and does nothing: only the state tells
            try:
                await self.command(command)
            except Refused as exc:
                log.info("%s: %s refused: %s", self.name, command, exc)
                return ua.StatusCode(ua.StatusCodes.BadInvalidState)
            return []

        return call

    def _reader_for(self, gauge_id: str) -> nodes.MethodCallback:
        async def read(_parent: ua.NodeId, from_seq: Any, max_count: Any) -> list[ua.Variant]:
            scans = self.read_scans(gauge_id, int(_value(from_seq)), int(_value(max_count)))
            latest = self.profile.ring_buffer_gauges()[gauge_id].latest  # lanes in the machine's unit
            flat = [
                float(x)
                for seq, pos, t, values in scans
                for x in (seq, pos, t, *(to_machine(latest, v) for v in values))
            ]
            return [ua.Variant(flat, ua.VariantType.Double, is_array=True)]

        return read

    async def _inject(self, _parent: ua.NodeId, spec: Any) -> list[ua.Variant] | ua.StatusCode:
        try:
            self.inject(parse_fault(str(_value(spec))))
        except (ValueError, FaultSpecError):  # a bad spec is the caller's error, not the server's
            return ua.StatusCode(ua.StatusCodes.BadInvalidArgument)
        return [ua.Variant(True, ua.VariantType.Boolean)]

    # --- behaviour -------------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        if fault.job is not None:
            self.job_faults.setdefault(fault.job, []).append(fault)
            return
        if fault.kind == "stuck":
            self.machine.stuck_in = _next_acting(self.machine.state)
        else:
            self.armed.append(fault)
            if self.process is not None:
                self.process.faults.append(fault)

    async def command(self, command: Command) -> None:
        if command == Command.START:
            job_id = str(self._read("job.id") or "")
            if not job_id:
                raise Refused("no job id written")
            if self.start_counts.get(job_id):
                raise Refused(f"job {job_id} was started already")
            self.machine.command(command)
            self.start_counts[job_id] = 1
            self._begin_job(job_id)
        else:
            self.machine.command(command)
        await self._publish_all()

    def _begin_job(self, job_id: str) -> None:
        # The machine counts in its own units (a kW display): its physics works in the MES's.
        setpoints = {
            name: to_mes(sp, self._read(f"sp.{name}")) for name, sp in self.profile.setpoints.items()
        }
        self.job = {
            "id": job_id,
            "product": str(self._read("job.product") or "") if self.profile.job.product is not None else "",
            "length_m": to_mes(self.profile.job.length_m, self._read("job.length_m") or 0.0),
            "setpoints": setpoints,
        }
        self.position_m = 0.0
        self.next_scan_m = dict.fromkeys(self.profile.gauges, 0.0)
        self.process = self._process()

    def _process(self) -> Process:
        faults = list(self.armed) + self.job_faults.get(str(self.job.get("id")), [])
        return Process(
            self.profile.equipment_class,
            self.job["product"],
            self.job["setpoints"],
            self.rng,
            erosion=min(0.2, EROSION_PER_1000_M * self.processed_m / 1000),
            faults=faults,
        )

    def read_scans(self, gauge_id: str, from_seq: int, max_count: int) -> list[Scan]:
        ring = self.rings[gauge_id]
        if not ring:
            return []
        start = max(0, from_seq - ring[0][0])
        return [ring[i] for i in range(start, min(len(ring), start + max(0, min(max_count, 10_000))))]

    async def _run(self) -> None:
        last = time.monotonic()
        ticks = StateLog(log)  # a tick every 20 ms: a failing one is reported once, not 50 times a second
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            dt = (now - last) * self.time_scale
            last = now
            try:
                await self._tick(dt)
                ticks.back(f"{self.name}: ticking again")
            except Exception as exc:  # a simulator bug must not kill the machine silently
                ticks.lost(
                    type(exc).__name__, f"{self.name}: tick failed", exc_info=True, level=logging.ERROR
                )

    async def _tick(self, dt_s: float) -> None:
        if self.server is None:
            return
        await self._packtags()
        self.machine.advance(dt_s)
        new_scans: dict[str, list[Scan]] = {g: [] for g in self.profile.gauges}
        if self.machine.executing and self.process is not None:
            length = float(self.job.get("length_m", 0.0))
            step = self.process.speed_m_min / 60 * dt_s
            target = min(length, self.position_m + step)
            for gauge_id, gauge in self.profile.gauges.items():
                while self.next_scan_m[gauge_id] <= target + 1e-9 and self.next_scan_m[gauge_id] <= length:
                    pos = self.next_scan_m[gauge_id]
                    if self.process.gauge_dead(pos):
                        break  # a dead gauge: no scan and no sequence number from here on
                    values = self.process.scan(gauge.characteristic, gauge.lanes, pos)
                    scan = (self.next_seq[gauge_id], pos, time.time(), values)
                    self.rings[gauge_id].append(scan)
                    new_scans[gauge_id].append(scan)
                    self.next_seq[gauge_id] += 1
                    self.next_scan_m[gauge_id] = round(pos + gauge.pitch_m, 9)
            self.processed_m += target - self.position_m
            self.position_m = target
            await self._one_shot_faults()
            if self.position_m >= length - 1e-9:
                self.machine.job_done()
        if self.machine.state == PackMLState.COMPLETE and self.job:
            self._expire_faults()
        if self.store is not None:
            self.store.save(self, new_scans)
        await self._publish_all(new_scans)
        await self._node_faults()

    async def _one_shot_faults(self) -> None:
        assert self.process is not None  # noqa: S101 - only called while executing
        for fault in self.process.faults:
            if (
                fault.fired
                or fault.kind not in ("web_break", "drop", "freeze")
                or self.position_m < fault["at_m"]
            ):
                continue
            fault.fired = True
            if fault.kind == "web_break":
                self.machine.abort()
                self._expire_faults()
            elif fault.kind == "drop" and self.server is not None:
                for transport in list(self.server.iserver.asyncio_transports):
                    transport.close()
            elif fault.kind == "freeze" and self.server is not None:
                asyncio.get_running_loop().create_task(self._freeze(fault["seconds"]))

    async def _freeze(self, seconds: float) -> None:
        assert self.server is not None  # noqa: S101
        transports = list(self.server.iserver.asyncio_transports)
        for transport in transports:
            transport.pause_reading()
        await asyncio.sleep(seconds)
        for transport in transports:
            if not transport.is_closing():
                transport.resume_reading()

    def _expire_faults(self) -> None:
        self.armed = [f for f in self.armed if f.repeat]
        for f in self.armed:
            f.fired, f.count, f.until = False, 0, None
        self.job = {} if self.machine.state != PackMLState.COMPLETE else self.job

    async def _packtags(self) -> None:
        commands = self.profile.commands
        if commands.style != "packtags" or not self._read("cmd.change_request"):
            return
        number = int(self._read("cmd.cntrl_cmd") or 0)
        await self._write("cmd.change_request", False)
        command = next((c for c, n in commands.numbers.items() if n == number), None)
        if command is None:
            log.info("%s: unknown CntrlCmd %s ignored", self.name, number)
            return
        if self._refusing(command):
            self.refused_count += 1
            return
        try:
            await self.command(command)
        except Refused:  # PackTags has no reply: the state (and the refusal counter) show it
            self.refused_count += 1


def _value(arg: Any) -> Any:
    """Method arguments arrive as Variants."""
    return arg.Value if isinstance(arg, ua.Variant) else arg


def _next_acting(state: PackMLState) -> PackMLState:
    """The acting state a ``stuck`` fault freezes: the one the next usual command enters."""
    return {
        PackMLState.IDLE: PackMLState.STARTING,
        PackMLState.EXECUTE: PackMLState.COMPLETING,
        PackMLState.COMPLETE: PackMLState.RESETTING,
        PackMLState.STOPPED: PackMLState.RESETTING,
        PackMLState.ABORTED: PackMLState.CLEARING,
    }.get(state, PackMLState.STARTING)
