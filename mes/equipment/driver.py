"""Async OPC UA facade for one unit, built from its profile.

::

    UnitDriver ── connect() ─ security, auto-reconnect, node resolution (node id or browse path)
       ├─ read_state() / read_job_id() / read_values() / read_start_counts()
       ├─ check_setpoints() → write_setpoints()      (nothing is written unless every value passes)
       ├─ write_job() / command()                     (method call or PackTags CntrlCmd + CmdChangeRequest)
       └─ last_seq() / read_scans()                   (gauge ring buffer, for backfill)

Reads and writes are retried while the client reconnects (a request issued during
a reconnect raises); commands are not: the caller reconciles with the unit's
state and job id instead, so a Start is never sent twice.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from asyncua import Client, ua
from asyncua.crypto import security_policies
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions

from mes.equipment.errors import (
    BadState,
    CommandRefused,
    ConnectionLost,
    LimitViolation,
    NodeMismatch,
    SecurityRefused,
)
from mes.equipment.profile import (
    Command,
    GaugeSpec,
    NodeRef,
    PackMLState,
    Profile,
    UnitConfig,
    to_machine,
    to_mes,
)
from mes.equipment.sim.security import CLIENT_URI, trust_store

T = TypeVar("T")
SECURITY_CODES = {
    "BadUserAccessDenied",
    "BadIdentityTokenInvalid",
    "BadIdentityTokenRejected",
    "BadCertificateUntrusted",
    "BadSecurityChecksFailed",
    "BadCertificateInvalid",
    "BadCertificateUriInvalid",
    "BadSecurityPolicyRejected",
}


# Status codes that mean "the link, not the request, failed": worth retrying.
LINK_CODES = {
    "BadConnectionClosed",
    "BadSessionClosed",
    "BadSessionIdInvalid",
    "BadSecureChannelClosed",
    "BadServerNotConnected",
    "BadCommunicationError",
    "BadNotConnected",
    "BadTimeout",
}


@dataclass(frozen=True)
class ScanRecord:
    seq: int
    position_m: float
    measured_at: float  # unix seconds, from the gauge
    values: list[float]


def _status_name(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return ua.StatusCode(code).name if code is not None else type(exc).__name__


class UnitDriver:
    """One connection to one unit. Create it, ``await connect()``, use, ``await disconnect()``."""

    def __init__(
        self,
        unit: UnitConfig,
        profile: Profile,
        *,
        timeout_s: float = 4.0,
        retry_s: float = 20.0,
        password: str | None = None,
    ) -> None:
        self.unit, self.profile = unit, profile
        self.name = unit.name
        self.timeout_s, self.retry_s = timeout_s, retry_s
        self.password = password
        self.client: Client | None = None
        self.ns = 0
        self.nodes: dict[str, ua.NodeId] = {}
        self.refs: dict[str, NodeRef] = {}
        self.unresolved: dict[str, str] = {}  # logical key → why its browse path did not resolve
        self._object: ua.NodeId | None = None

    # --- connection ------------------------------------------------------------------------------

    async def connect(self) -> None:
        client = Client(
            self.unit.endpoint,
            timeout=self.timeout_s,
            watchdog_intervall=1.0,
            auto_reconnect=True,
            reconnect_max_delay=2.0,
            reconnect_request_timeout=self.retry_s,
        )
        await self._secure(client)
        try:
            await client.connect()
        except ua.UaStatusCodeError as exc:
            name = _status_name(exc)
            if name in SECURITY_CODES:
                raise SecurityRefused(
                    f"{self.name}: {self.unit.endpoint} refused the session: {name}"
                ) from exc
            raise ConnectionLost(f"{self.name}: {self.unit.endpoint} answered {name}") from exc
        except (OSError, TimeoutError, ua.UaError) as exc:
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, ua.UaError) and "certificate" in reason.lower():
                raise SecurityRefused(f"{self.name}: {reason}") from exc
            raise ConnectionLost(f"{self.name}: cannot connect to {self.unit.endpoint}: {reason}") from exc
        self.client = client
        try:
            await self._resolve()
        except BaseException:
            await self.disconnect()
            raise

    async def _secure(self, client: Client) -> None:
        sec = self.unit.security
        client.application_uri = CLIENT_URI
        if sec.user is not None:
            password = self.password if self.password is not None else os.environ.get(sec.password_env or "")
            if password is None:
                raise SecurityRefused(
                    f"{self.name}: user {sec.user} needs its password in ${sec.password_env}"
                )
            client.set_user(sec.user)
            client.set_password(password)
        if sec.policy == "None":
            return
        if not (
            sec.certificate and sec.private_key and sec.trust_dir
        ):  # pragma: no cover - Security validates
            raise SecurityRefused(f"{self.name}: a secured link needs certificate, private_key and trust_dir")
        mode = getattr(ua.MessageSecurityMode, sec.mode)
        try:
            await client.set_security(
                security_policies.SecurityPolicyBasic256Sha256,
                str(sec.certificate),
                str(sec.private_key),
                mode=mode,
            )
        except (OSError, TimeoutError) as exc:
            raise ConnectionLost(f"{self.name}: cannot reach {self.unit.endpoint}: {exc}") from exc
        except (ValueError, ua.UaError) as exc:
            raise SecurityRefused(f"{self.name}: security setup failed: {exc}") from exc
        options = CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_SERVER
        client.certificate_validator = CertificateValidator(options, await trust_store(sec.trust_dir))

    async def disconnect(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.disconnect(), timeout=self.timeout_s)
            except (OSError, TimeoutError, ua.UaError, asyncio.CancelledError):
                pass  # the link is gone either way

    async def _resolve(self) -> None:
        client = self._client()
        try:
            self.ns = await client.get_namespace_index(self.profile.namespace)
        except ValueError as exc:
            raise NodeMismatch(f"{self.name}: the server has no namespace {self.profile.namespace}") from exc
        p = self.profile
        refs: dict[str, NodeRef] = {
            "state": p.state,
            "job.id": p.job.id,
            "job.length_m": p.job.length_m,
        }
        if p.start_counts is not None:
            refs["start_counts"] = p.start_counts
        if p.commands.style == "packtags":
            refs["cmd.cntrl_cmd"], refs["cmd.change_request"] = (
                p.commands.cntrl_cmd,
                p.commands.change_request,
            )
        refs.update({f"sp.{k}": v for k, v in p.setpoints.items()})
        refs.update({f"pv.{k}": v for k, v in p.process_values.items()})
        refs.update(self._optional_refs())
        self.refs = refs
        try:
            self._object = await self.resolve(p.object)
        except NodeMismatch as exc:
            self.unresolved["object"] = str(exc)
        for key, ref in refs.items():
            try:
                self.nodes[key] = await self.resolve(ref)
            except NodeMismatch as exc:
                self.unresolved[key] = str(exc)

    def _optional_refs(self) -> dict[str, NodeRef]:
        """Entries a profile may leave out (job product), and each gauge's nodes by its kind."""
        p = self.profile
        refs: dict[str, NodeRef] = {}
        if p.job.product is not None:
            refs["job.product"] = p.job.product
        for gid, gauge in p.gauges.items():
            if isinstance(gauge, GaugeSpec):
                refs[f"gauge.{gid}.last_seq"], refs[f"gauge.{gid}.latest"] = gauge.last_seq, gauge.latest
            else:
                refs[f"gauge.{gid}.value"] = gauge.value
        return refs

    async def resolve(self, ref: NodeRef) -> ua.NodeId:
        """The node id of a profile entry; :class:`NodeMismatch` when the server has no such node."""
        client = self._client()
        if ref.node is not None:
            kind, _, ident = ref.node.partition("=")
            return ua.NodeId(int(ident), self.ns) if kind == "i" else ua.NodeId(ident, self.ns)
        assert ref.path is not None  # noqa: S101
        try:
            node = await client.nodes.objects.get_child([f"{self.ns}:{part}" for part in ref.path.split("/")])
        except ua.UaStatusCodeError as exc:
            raise NodeMismatch(
                f"{self.name}: no node at browse path {ref.path} ({_status_name(exc)})"
            ) from exc
        return node.nodeid

    def _client(self) -> Client:
        if self.client is None:
            raise ConnectionLost(f"{self.name}: not connected")
        return self.client

    async def _retry(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run an idempotent request, again while the link is being re-established."""
        deadline = asyncio.get_running_loop().time() + self.retry_s
        delay = 0.1
        while True:
            try:
                return await call()
            except (ConnectionError, OSError, TimeoutError, ua.UaError) as exc:
                if isinstance(exc, ua.UaStatusCodeError) and _status_name(exc) not in LINK_CODES:
                    raise
                if asyncio.get_running_loop().time() + delay > deadline:
                    raise ConnectionLost(
                        f"{self.name}: {what} failed: link lost for {self.retry_s:g} s"
                    ) from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    # --- reads -----------------------------------------------------------------------------------

    async def _read(self, key: str) -> Any:
        nid = self._nid(key)
        return await self._retry(f"read {key}", lambda: self._client().get_node(nid).read_value())

    async def read_state(self) -> PackMLState:
        number = int(await self._read("state"))
        state = self.profile.state_name(number)
        if state is None:
            raise BadState(f"{self.name}: state number {number} is not in profile {self.profile.id}")
        return state

    async def read_job_id(self) -> str:
        return str(await self._read("job.id") or "")

    async def read_start_counts(self) -> dict[str, int]:
        import json

        raw = await self._read("start_counts") if "start_counts" in self.refs else "{}"
        counts: dict[str, int] = json.loads(raw or "{}")
        return counts

    async def read_values(self, names: list[str] | None = None) -> dict[str, float]:
        """Process values by logical name (all of the profile's when ``names`` is None)."""
        names = names if names is not None else list(self.profile.process_values)
        nodes = [self._client().get_node(self._nid(f"pv.{n}")) for n in names]
        values = await self._retry("read process values", lambda: self._client().read_values(nodes))
        pvs = self.profile.process_values
        return {n: to_mes(pvs[n], v) for n, v in zip(names, values, strict=True)}

    async def read_setpoints(self) -> dict[str, float]:
        names = list(self.profile.setpoints)
        nodes = [self._client().get_node(self._nid(f"sp.{n}")) for n in names]
        values = await self._retry("read setpoints", lambda: self._client().read_values(nodes))
        sps = self.profile.setpoints
        return {n: to_mes(sps[n], v) for n, v in zip(names, values, strict=True)}

    async def last_seq(self, gauge: str) -> int:
        """The gauge's last sequence number; 0 for a variable gauge (the MES numbers its samples from 1)."""
        if gauge not in self.profile.ring_buffer_gauges():
            return 0
        return int(await self._read(f"gauge.{gauge}.last_seq"))

    async def read_scans(self, gauge: str, from_seq: int, max_count: int = 5_000) -> list[ScanRecord]:
        """Scans with ``seq >= from_seq`` still in the unit's ring buffer, oldest first."""
        spec = self._ring_buffer(gauge)
        obj = self._client().get_node(self._obj())
        method = f"{self.ns}:{spec.read_method}"
        args = (ua.Variant(from_seq, ua.VariantType.UInt64), ua.Variant(max_count, ua.VariantType.UInt32))
        flat = await self._retry(f"read {gauge} scans", lambda: obj.call_method(method, *args)) or []
        width = 3 + spec.lanes
        return [
            ScanRecord(int(flat[i]), flat[i + 1], flat[i + 2], list(flat[i + 3 : i + width]))
            for i in range(0, len(flat) - width + 1, width)
        ]

    def _ring_buffer(self, gauge: str) -> GaugeSpec:
        spec = self.profile.ring_buffer_gauges().get(gauge)
        if spec is None:
            raise NodeMismatch(f"{self.name}: gauge {gauge} of profile {self.profile.id} has no ring buffer")
        return spec

    def _obj(self) -> ua.NodeId:
        if "object" in self.unresolved:
            raise NodeMismatch(self.unresolved["object"])
        if self._object is None:
            raise ConnectionLost(f"{self.name}: not connected")
        return self._object

    def _nid(self, key: str) -> ua.NodeId:
        if key in self.unresolved:
            raise NodeMismatch(self.unresolved[key])
        if key not in self.nodes:
            raise NodeMismatch(f"{self.name}: profile {self.profile.id} has no {key}")
        return self.nodes[key]

    # --- writes ----------------------------------------------------------------------------------

    def check_setpoints(self, values: Mapping[str, float], recipe: Mapping[str, float] | None = None) -> None:
        """Raise :class:`LimitViolation` naming every value that is not allowed; writes nothing."""
        problems = []
        for name, value in values.items():
            entry = self.profile.setpoints.get(name)
            where = f"{self.name}:{name}"
            if entry is None:
                problems.append(f"{where}: profile {self.profile.id} has no such setpoint")
                continue
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                problems.append(f"{where}: {value!r} is not a finite number")
                continue
            if not entry.min <= value <= entry.max:
                problems.append(
                    f"{where}: {value:g} {entry.unit} is outside {entry.min:g}–{entry.max:g} {entry.unit}"
                )
            if entry.data_type not in ("Float", "Double") and to_machine(entry, value) != int(
                to_machine(entry, value)
            ):
                problems.append(f"{where}: {value:g} is not a whole number ({entry.data_type})")
            if recipe is not None:
                expected = recipe.get(name)
                if expected is None or not math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12):
                    problems.append(f"{where}: {value:g} differs from the recipe's {expected}")
        if problems:
            raise LimitViolation("setpoints refused, nothing written:\n" + "\n".join(problems))

    def _datavalue(self, data_type: str, value: Any) -> ua.DataValue:
        vt = getattr(ua.VariantType, data_type)
        cast = (
            float(value)
            if data_type in ("Float", "Double")
            else (str(value) if data_type == "String" else value)
        )
        if data_type not in ("Float", "Double", "String", "Boolean"):
            cast = int(value)
        return ua.DataValue(ua.Variant(cast, vt))

    async def write_setpoints(
        self, values: Mapping[str, float], recipe: Mapping[str, float] | None = None
    ) -> None:
        """Check every value, then write them all in one request with the profile's exact types."""
        self.check_setpoints(values, recipe)
        client = self._client()
        nodes = [client.get_node(self._nid(f"sp.{n}")) for n in values]
        dvs = [self._setpoint_datavalue(n, v) for n, v in values.items()]
        await self._retry("write setpoints", lambda: client.write_values(nodes, dvs))

    def _setpoint_datavalue(self, name: str, value: float) -> ua.DataValue:
        """A setpoint checked in the MES's unit, converted to the machine's (profile scale/offset)."""
        entry = self.profile.setpoints[name]
        return self._datavalue(entry.data_type, to_machine(entry, value))

    async def write_job(self, job_id: str, product: str, length_m: float) -> None:
        job = self.profile.job
        client = self._client()
        keys = ["job.id", "job.length_m"]
        dvs = [
            self._datavalue(job.id.data_type, job_id),
            self._datavalue(job.length_m.data_type, to_machine(job.length_m, length_m)),
        ]
        if job.product is not None:  # a machine without a product id is not told one
            keys.append("job.product")
            dvs.append(self._datavalue(job.product.data_type, product))
        nodes = [client.get_node(self._nid(k)) for k in keys]
        await self._retry("write job", lambda: client.write_values(nodes, dvs))

    async def command(self, command: Command) -> None:
        """Send one PackML command, once. A refused command raises :class:`CommandRefused`."""
        client = self._client()
        commands = self.profile.commands
        try:
            if commands.style == "method":
                obj = client.get_node(self._obj())
                await obj.call_method(f"{self.ns}:{commands.names[command]}")
            else:
                number = self._datavalue(commands.cntrl_cmd.data_type, commands.numbers[command])
                flag = self._datavalue(commands.change_request.data_type, True)
                await client.write_values([client.get_node(self._nid("cmd.cntrl_cmd"))], [number])
                await client.write_values([client.get_node(self._nid("cmd.change_request"))], [flag])
        except ua.UaStatusCodeError as exc:
            name = _status_name(exc)
            if name in ("BadInvalidState", "BadInvalidArgument", "BadNotExecutable", "BadUserAccessDenied"):
                raise CommandRefused(f"{self.name}: {command} refused ({name})") from exc
            raise ConnectionLost(f"{self.name}: {command} not confirmed: {name}") from exc
        except (ConnectionError, OSError, TimeoutError, ua.UaError) as exc:
            raise ConnectionLost(
                f"{self.name}: {command} not confirmed: {exc or type(exc).__name__}"
            ) from exc

    async def inject_fault(self, spec: str) -> None:
        if not self.profile.inject_fault:
            raise CommandRefused(f"{self.name}: profile {self.profile.id} has no fault injection")
        obj = self._client().get_node(self._obj())
        await obj.call_method(
            f"{self.ns}:{self.profile.inject_fault}", ua.Variant(spec, ua.VariantType.String)
        )

    async def wait_for_state(
        self,
        targets: set[PackMLState],
        timeout_s: float,
        on_state: Callable[[PackMLState], None] | None = None,
        poll_s: float = 0.02,
    ) -> PackMLState:
        """Poll the state until it is one of ``targets``; report every change to ``on_state``."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        last: PackMLState | None = None
        while True:
            state = await self.read_state()
            if state != last and on_state is not None:
                on_state(state)
            last = state
            if state in targets:
                return state
            if asyncio.get_running_loop().time() > deadline:
                wanted = " or ".join(sorted(targets))
                raise BadState(f"{self.name}: still {state} after {timeout_s:g} s (waiting for {wanted})")
            await asyncio.sleep(poll_s)
