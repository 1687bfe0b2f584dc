"""Async OPC UA facade for one unit, built from its profile.

::

    UnitDriver(Link) ── connect()                       (mes.equipment.link: session, retries, node info)
       ├─ read_state() / read_job_id() / read_values() / read_start_counts()
       ├─ check_setpoints() → write_setpoints()      (nothing is written unless every value passes)
       ├─ write_job()                                 (every node checked before the first write)
       ├─ command()                                   (sent once, then confirmed: mes.equipment.commands)
       └─ last_seq() / read_scans()                   (gauge ring buffer, for backfill)

Reads and writes are retried while the client reconnects (a request issued during
a reconnect raises); commands are not: the caller reconciles with the unit's
state and job id instead, so a Start is never sent twice. Every failure leaves as
one of the layer's errors (:mod:`mes.equipment.errors`), never as an asyncua one.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from asyncua import ua

from mes.equipment import commands
from mes.equipment.encoding import encode, encoding_problem, finite, whole
from mes.equipment.errors import (
    BadState,
    CommandRefused,
    EncodingRefused,
    LimitViolation,
    NodeMismatch,
    UnknownState,
)
from mes.equipment.link import Link
from mes.equipment.profile import Command, GaugeSpec, PackMLState, to_machine, to_mes
from mes.vocabulary import with_unit

__all__ = ["ScanRecord", "UnitDriver"]


@dataclass(frozen=True)
class ScanRecord:
    seq: int
    position_m: float
    measured_at: float  # unix seconds, from the gauge
    values: list[float]


class UnitDriver(Link):
    """One connection to one unit. Create it, ``await connect()``, use, ``await disconnect()``."""

    # --- reads -----------------------------------------------------------------------------------

    async def _read(self, key: str) -> Any:
        return (await self._read_many([key], f"read {key}"))[0]

    def state_of(self, raw: Any) -> PackMLState:
        """The PackML state a raw state value stands for; :class:`UnknownState` for a number
        the profile does not map, or for anything that is not a whole finite number."""
        number = whole(raw)
        state = self.profile.state_name(number) if number is not None else None
        if state is None:
            raise UnknownState(
                f"{self.name}: state {self.where('state')} shows {raw!r}, "
                f"which profile {self.profile.id} does not map to a PackML state"
            )
        return state

    async def read_state(self) -> PackMLState:
        """The unit's PackML state. :class:`UnknownState` (unmapped number, NaN, not a number),
        :class:`BadStatus` (the node answered a Bad status), :class:`ConnectionLost`."""
        return self.state_of(await self._read("state"))

    async def read_job_id(self) -> str:
        return str(await self._read("job.id") or "")

    async def read_start_counts(self) -> dict[str, int]:
        """Accepted Starts per job id, from the simulators' JSON ``start_counts`` (empty when the
        profile has none). Entries that are not whole numbers are left out (missing)."""
        raw = await self._read("start_counts") if "start_counts" in self.refs else "{}"
        try:
            counts = json.loads(raw or "{}")
        except (TypeError, ValueError):
            return {}
        if not isinstance(counts, dict):
            return {}
        return {str(k): n for k, v in counts.items() if (n := whole(v)) is not None}

    async def read_counter(self, key: str) -> int | None:
        """``cmd.start_counter`` / ``cmd.refused_counter`` as an integer; None when the profile has
        no such counter or the value is not a whole finite number."""
        if key not in self.refs:
            return None
        return whole(await self._read(key))

    async def read_values(self, names: list[str] | None = None) -> dict[str, float]:
        """Process values by logical name, in the profile's units (all of the profile's when
        ``names`` is None). A value that is NaN, ±Inf or not a number is missing: it is left out
        of the answer, never returned as a float."""
        names = names if names is not None else list(self.profile.process_values)
        raw = await self._read_many([f"pv.{n}" for n in names], "read process values")
        pvs = self.profile.process_values
        return {n: to_mes(pvs[n], v) for n, r in zip(names, raw, strict=True) if (v := finite(r)) is not None}

    async def read_setpoints(self) -> dict[str, float]:
        """The setpoints as the unit holds them; non-finite values are left out (see read_values)."""
        names = list(self.profile.setpoints)
        raw = await self._read_many([f"sp.{n}" for n in names], "read setpoints")
        sps = self.profile.setpoints
        return {n: to_mes(sps[n], v) for n, r in zip(names, raw, strict=True) if (v := finite(r)) is not None}

    async def last_seq(self, gauge: str) -> int:
        """The gauge's last sequence number; 0 for a variable gauge (the MES numbers its samples from 1)."""
        if gauge not in self.profile.ring_buffer_gauges():
            return 0
        key = f"gauge.{gauge}.last_seq"
        raw = await self._read(key)
        seq = whole(raw)
        if seq is None:
            raise NodeMismatch(f"{self.name}: {self.where(key)} shows {raw!r}, not a sequence number")
        return seq

    async def read_scans(self, gauge: str, from_seq: int, max_count: int = 5_000) -> list[ScanRecord]:
        """Scans with ``seq >= from_seq`` still in the unit's ring buffer, oldest first. Lane
        values are passed on as read (NaN included: the quality layer counts them unmeasured);
        a scan whose position is not finite cannot be placed on the band and is left out."""
        spec = self._ring_buffer(gauge)
        obj = self._client().get_node(self._obj())
        method = f"{self.ns}:{spec.read_method}"
        args = (ua.Variant(from_seq, ua.VariantType.UInt64), ua.Variant(max_count, ua.VariantType.UInt32))
        flat = (
            await self._retry(
                f"read {gauge} scans", lambda: obj.call_method(method, *args), node=f"method {method}"
            )
            or []
        )
        width, latest = 3 + spec.lanes, spec.latest
        # Lanes in the MES's unit (the ring buffer holds what ``latest`` shows, in the machine's);
        # a scan whose position or time is not a number cannot be placed and is left out.
        return [
            ScanRecord(
                int(flat[i]),
                flat[i + 1],
                flat[i + 2],
                [to_mes(latest, v) for v in flat[i + 3 : i + width]],
            )
            for i in range(0, len(flat) - width + 1, width)
            if math.isfinite(flat[i + 1]) and math.isfinite(flat[i + 2])
        ]

    def _ring_buffer(self, gauge: str) -> GaugeSpec:
        spec = self.profile.ring_buffer_gauges().get(gauge)
        if spec is None:
            raise NodeMismatch(f"{self.name}: gauge {gauge} of profile {self.profile.id} has no ring buffer")
        return spec

    # --- writes ----------------------------------------------------------------------------------

    def check_setpoints(self, values: Mapping[str, float], recipe: Mapping[str, float] | None = None) -> None:
        """Raise naming every value that is not allowed; writes nothing. :class:`EncodingRefused`
        when any value does not fit its node's data type (−10 into a UInt16, 2.5 into an Int32,
        NaN), else :class:`LimitViolation` for values outside the profile's limits (in the
        profile's units) or differing from the recipe's."""
        problems, encoding = [], False
        for name, value in values.items():
            entry = self.profile.setpoints.get(name)
            where = f"{self.name}:{name}"
            if entry is None:
                problems.append(f"{where}: profile {self.profile.id} has no such setpoint")
                continue
            problem = encoding_problem(value, "Double")  # a finite number at all?
            if problem is None:
                # The node holds the machine's unit: check the converted value against its type.
                machine = to_machine(entry, value)
                problem = encoding_problem(machine, entry.data_type)
                if problem is not None and entry.scaled:
                    problem = (
                        f"{with_unit(f'{value:g}', entry.unit)} is "
                        f"{with_unit(f'{machine:g}', entry.machine_unit)}: {problem}"
                    )
            if problem is not None:
                encoding = True
                problems.append(f"{where}: {problem}")
                continue
            if not entry.min <= value <= entry.max:
                shown, limits = with_unit(f"{value:g}", entry.unit), f"{entry.min:g}–{entry.max:g}"
                problems.append(f"{where}: {shown} is outside {with_unit(limits, entry.unit)}")
            if recipe is not None:
                expected = recipe.get(name)
                if expected is None or not math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12):
                    problems.append(f"{where}: {value:g} differs from the recipe's {expected}")
        if problems:
            error = EncodingRefused if encoding else LimitViolation
            raise error("; ".join(problems) + " (setpoints refused, nothing written)")

    async def check_writable(self, entries: Mapping[str, str]) -> None:
        """Every ``key → profile data type`` is resolved, writable (CurrentWrite) and of that data
        type on the server, else :class:`NodeMismatch` naming every one that is not. The
        server's answer is read once per connection."""
        missing = [self.unresolved[k] for k in entries if k in self.unresolved]
        if missing:
            raise NodeMismatch("; ".join(missing) + " (nothing written)")
        info = await self.node_info(list(entries))
        problems = []
        for key, expected in entries.items():
            if info[key].data_type != expected:
                problems.append(
                    f"{self.name}: {self.where(key)} is {info[key].data_type} on the server, "
                    f"the profile says {expected}"
                )
            elif not info[key].writable:
                problems.append(f"{self.name}: {self.where(key)} is not writable")
        if problems:
            raise NodeMismatch("; ".join(problems) + " (nothing written)")

    async def write_setpoints(
        self, values: Mapping[str, float], recipe: Mapping[str, float] | None = None
    ) -> None:
        """Check every value (limits, recipe, data type range) and every node (resolved, writable,
        the profile's type), then write them all in one request with the profile's exact types.
        Errors: :class:`EncodingRefused` / :class:`LimitViolation` / :class:`NodeMismatch` before
        anything is written; :class:`BadStatus` when a node refuses the write (others of the
        request may be written); :class:`ConnectionLost` when the link budget runs out."""
        self.check_setpoints(values, recipe)
        entries = {f"sp.{n}": str(self.profile.setpoints[n].data_type) for n in values}
        await self.check_writable(entries)
        dvs = [self._setpoint_datavalue(n, v) for n, v in values.items()]
        await self._write_many(list(entries), dvs, "write setpoints")

    def _setpoint_datavalue(self, name: str, value: float) -> ua.DataValue:
        """A setpoint checked in the MES's unit, converted to the machine's (profile scale/offset)."""
        entry = self.profile.setpoints[name]
        return encode(to_machine(entry, value), entry.data_type, where=f"{self.name}:{name}")

    def job_values(self, job_id: str, product: str, length_m: float) -> dict[str, tuple[str, Any]]:
        """The job's entries as ``key → (data type, machine value)``, each value checked against its
        node's data type first: :class:`EncodingRefused` (nothing written) for one that does not
        fit, or an empty job id. Call it before the unit is reset or any setpoint written."""
        job = self.profile.job
        if not job_id.strip():
            raise EncodingRefused(f"{self.name}: a job needs a job id (nothing written)")
        values: dict[str, tuple[str, Any]] = {
            "job.id": (str(job.id.data_type), job_id),
            "job.length_m": (str(job.length_m.data_type), to_machine(job.length_m, length_m)),
        }
        if job.product is not None:  # a machine without a product id is not told one
            values["job.product"] = (str(job.product.data_type), product)
        problems = [
            f"{self.name}:{key}: {problem}"
            for key, (data_type, value) in values.items()
            if (problem := encoding_problem(value, data_type)) is not None
        ]
        if problems:
            raise EncodingRefused("; ".join(problems) + " (nothing written)")
        return values

    async def write_job(self, job_id: str, product: str, length_m: float) -> None:
        """Write the job's id, product and roll length [m]. Every node is checked (resolved,
        writable, the profile's data type) and every value encoded before anything is written:
        :class:`NodeMismatch` / :class:`EncodingRefused` then mean nothing was written. A write
        that fails part-way raises (:class:`BadStatus`, :class:`ConnectionLost`) — the caller
        must then not Start: the unit may hold a mix of this job and the last one."""
        values = self.job_values(job_id, product, length_m)
        await self.check_writable({k: data_type for k, (data_type, _) in values.items()})
        dvs = [encode(v, data_type, where=f"{self.name}:{k}") for k, (data_type, v) in values.items()]
        await self._write_many(list(values), dvs, "write job")

    # --- commands --------------------------------------------------------------------------------

    async def command(self, command: Command, *, job_id: str | None = None) -> PackMLState:
        """Send one PackML command, once, and confirm it took; returns the state that showed it.

        Start is confirmed when the state leaves Idle with ``job_id`` (default: the job id on
        the unit) or the start counter rises; the others by their acting/target state (see
        :data:`mes.equipment.commands.TOOK`). Errors: :class:`CommandRefused` (the unit answered
        a refusal status), :class:`CommandNotConfirmed` (no sign within the profile's
        ``commands.confirm_timeout_s``, or the refusal counter rose), :class:`ConnectionLost`
        (the answer or the confirmation was lost: reconcile, do not resend blindly),
        :class:`BadStatus`, :class:`NodeMismatch`."""
        return await commands.confirmed(self, command, job_id=job_id)

    async def inject_fault(self, spec: str) -> None:
        if not self.profile.inject_fault:
            raise CommandRefused(f"{self.name}: profile {self.profile.id} has no fault injection")
        obj = self._client().get_node(self._obj())
        method = f"{self.ns}:{self.profile.inject_fault}"
        arg = ua.Variant(spec, ua.VariantType.String)
        await self._retry("inject fault", lambda: obj.call_method(method, arg), node=f"method {method}")

    async def wait_for_state(
        self,
        targets: set[PackMLState],
        timeout_s: float,
        on_state: Callable[[PackMLState], None] | None = None,
        poll_s: float = 0.02,
        *,
        unknown_grace_s: float | None = None,
        job_id: str | None = None,
    ) -> PackMLState:
        """Poll the state until it is one of ``targets``; report every change to ``on_state``.
        :class:`BadState` when it is not reached within ``timeout_s``. An unknown state number
        is tolerated for ``unknown_grace_s`` in a row (default: until the deadline) — a
        transient one is not a fault — then raised. With ``job_id``, a unit that shows another
        job (a power-cycled machine that lost it) raises :class:`BadState` at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last: PackMLState | None = None
        unknown_since: float | None = None
        while True:
            try:
                state: PackMLState | None = await self.read_state()
                unknown_since = None
            except UnknownState:
                now = loop.time()
                unknown_since = now if unknown_since is None else unknown_since
                grace_over = unknown_grace_s is not None and now - unknown_since >= unknown_grace_s
                if now > deadline or grace_over:
                    raise
                state = None
            if job_id is not None and state is not None and (shown := await self.read_job_id()) != job_id:
                raise BadState(
                    f"{self.name}: is {state} with job {shown!r}, no longer {job_id}: the job was lost"
                )
            if state is not None and state != last and on_state is not None:
                on_state(state)
            last = state if state is not None else last
            if state in targets:
                assert state is not None  # noqa: S101 - targets holds states only
                return state
            if asyncio.get_running_loop().time() > deadline:
                wanted = " or ".join(sorted(targets))
                raise BadState(f"{self.name}: still {state} after {timeout_s:g} s (waiting for {wanted})")
            await asyncio.sleep(poll_s)
