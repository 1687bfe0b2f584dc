"""The OPC UA link to one unit: session, security, node resolution, retried requests.

::

    Link ── connect() ─ security, auto-reconnect, node resolution (node id or browse path)
      ├─ _retry(what, call)          idempotent requests, again while the link comes back
      ├─ _read_many(keys)            one request, every node's status checked
      ├─ _write_many(keys, values)   one request, every node's status checked
      └─ node_info(keys)             data type + writable, read once per connection

Every asyncua exception leaves through :mod:`mes.equipment.status`; callers see only
the layer's errors.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from asyncua import Client, ua
from asyncua.crypto import security_policies
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions

from mes.equipment import status
from mes.equipment.errors import ConnectionLost, EquipmentError, NodeMismatch, SecurityRefused
from mes.equipment.profile import NodeRef, Profile, Security, UnitConfig
from mes.equipment.refusal_logs import quiet_refusals
from mes.equipment.security import (
    CLIENT_URI,
    describe,
    pin_problem,
    pinned_certificate,
    trust_problem,
    trust_store,
)

T = TypeVar("T")

# asyncua probes the server every watchdog interval and gives the probe that same time to
# answer (min(session timeout / 2, interval)); a miss drops and re-creates the session.
# With 1 s, a 1.3–3 s pause of a loaded host's server process dropped every link of a
# 20-unit line at once. 5 s rides out such pauses; a link that died silently is still
# noticed within about 10 s, and a closed socket at once.
WATCHDOG_S = 5.0


@dataclass(frozen=True)
class NodeInfo:
    data_type: str  # the server's variant type name, e.g. "UInt16"
    writable: bool  # UserAccessLevel has CurrentWrite


class Link:
    """One connection to one unit. Create it, ``await connect()``, use, ``await disconnect()``."""

    def __init__(
        self,
        unit: UnitConfig,
        profile: Profile,
        *,
        timeout_s: float = 4.0,
        retry_s: float = 20.0,
        password: str | None = None,
        watchdog_s: float = WATCHDOG_S,
    ) -> None:
        self.unit, self.profile = unit, profile
        self.name = unit.name
        self.timeout_s, self.retry_s, self.watchdog_s = timeout_s, retry_s, watchdog_s
        self.password = password
        self.client: Client | None = None
        self.ns = 0
        self.nodes: dict[str, ua.NodeId] = {}
        self.refs: dict[str, NodeRef] = {}
        self.unresolved: dict[str, str] = {}  # logical key → why its browse path did not resolve
        self._object: ua.NodeId | None = None
        self._info: dict[str, NodeInfo] = {}

    # --- connection ------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the session and resolve every profile entry. :class:`SecurityRefused` for a
        refused certificate or user, :class:`ConnectionLost` when the endpoint is unreachable,
        :class:`NodeMismatch` when the server lacks the profile's namespace."""
        client = Client(
            self.unit.endpoint,
            timeout=self.timeout_s,
            watchdog_intervall=self.watchdog_s,
            auto_reconnect=True,
            reconnect_max_delay=2.0,
            reconnect_request_timeout=self.retry_s,
        )
        quiet_refusals()
        password = self.password
        if password is None and self.unit.security.password_env:
            password = os.environ.get(self.unit.security.password_env)
        await secure(client, self.name, self.unit.endpoint, self.unit.security, password)
        try:
            await client.connect()
        except (OSError, TimeoutError, ua.UaError) as exc:
            raise status.translate(
                exc, unit=self.name, what=f"cannot connect to {self.unit.endpoint}", connecting=True
            ) from exc
        self.client = client
        self._info = {}
        try:
            await self._resolve()
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.disconnect(), timeout=self.timeout_s)
            except (OSError, TimeoutError, ua.UaError, asyncio.CancelledError):
                pass  # the link is gone either way

    def _entries(self) -> dict[str, NodeRef]:
        p = self.profile
        refs: dict[str, NodeRef] = {
            "state": p.state,
            "job.id": p.job.id,
            "job.length_m": p.job.length_m,
        }
        if p.job.product is not None:  # a machine without a product id is not told one
            refs["job.product"] = p.job.product
        if p.start_counts is not None:
            refs["start_counts"] = p.start_counts
        if p.commands.start_counter is not None:
            refs["cmd.start_counter"] = p.commands.start_counter
        if p.commands.refused_counter is not None:
            refs["cmd.refused_counter"] = p.commands.refused_counter
        if p.commands.style == "packtags":
            refs["cmd.cntrl_cmd"], refs["cmd.change_request"] = (
                p.commands.cntrl_cmd,
                p.commands.change_request,
            )
        refs.update({f"sp.{k}": v for k, v in p.setpoints.items()})
        refs.update({f"pv.{k}": v for k, v in p.process_values.items()})
        for gid, ring in p.ring_buffer_gauges().items():
            refs[f"gauge.{gid}.last_seq"], refs[f"gauge.{gid}.latest"] = ring.last_seq, ring.latest
        for gid, live in p.variable_gauges().items():
            refs[f"gauge.{gid}.value"] = live.value
        return refs

    async def _resolve(self) -> None:
        client = self._client()
        try:
            self.ns = await client.get_namespace_index(self.profile.namespace)
        except ValueError as exc:
            raise NodeMismatch(f"{self.name}: the server has no namespace {self.profile.namespace}") from exc
        except (OSError, TimeoutError, ua.UaError) as exc:
            raise status.translate(exc, unit=self.name, what="read the namespace array") from exc
        self.refs = self._entries()
        try:
            self._object = await self.resolve(self.profile.object)
        except NodeMismatch as exc:
            self.unresolved["object"] = str(exc)
        for key, ref in self.refs.items():
            try:
                self.nodes[key] = await self.resolve(ref)
            except NodeMismatch as exc:
                self.unresolved[key] = str(exc)

    async def resolve(self, ref: NodeRef) -> ua.NodeId:
        """The node id of a profile entry; :class:`NodeMismatch` when the server has no such node."""
        client = self._client()
        if ref.node is not None:
            kind, _, ident = ref.node.partition("=")
            return ua.NodeId(int(ident), self.ns) if kind == "i" else ua.NodeId(ident, self.ns)
        assert ref.path is not None  # noqa: S101
        path = [f"{self.ns}:{part}" for part in ref.path.split("/")]
        try:
            node = await self._retry(
                f"browse {ref.path}", lambda: client.nodes.objects.get_child(path), node=f"path {ref.path}"
            )
        except EquipmentError as exc:
            if isinstance(exc, ConnectionLost | SecurityRefused):
                raise
            raise NodeMismatch(f"{self.name}: no node at browse path {ref.path} ({exc})") from exc
        return node.nodeid

    def _client(self) -> Client:
        if self.client is None:
            raise ConnectionLost(f"{self.name}: not connected")
        return self.client

    def where(self, key: str) -> str:
        """``state (ns=2;s=Sputter.State)``: the profile entry and the node it is at."""
        nid = self.nodes.get(key)
        return f"{key} ({nid.to_string()})" if nid is not None else key

    async def _retry(self, what: str, call: Callable[[], Awaitable[T]], node: str = "") -> T:
        """Run an idempotent request, again while the link is re-established (link states,
        including the access and session errors a reconnecting session answers); when the
        link budget ``retry_s`` runs out → :class:`ConnectionLost`; any other status →
        :class:`BadStatus` naming ``node``. Never lets an asyncua exception out."""
        deadline = asyncio.get_running_loop().time() + self.retry_s
        delay = 0.1
        while True:
            try:
                return await call()
            except EquipmentError:
                raise
            except (ConnectionError, OSError, TimeoutError, ua.UaError) as exc:
                if not status.is_link(exc):
                    raise status.translate(exc, unit=self.name, what=what, node=node) from exc
                if asyncio.get_running_loop().time() + delay > deadline:
                    raise ConnectionLost(
                        f"{self.name}: {what} failed: link lost for {self.retry_s:g} s "
                        f"({status.status_name(exc)})"
                    ) from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _nid(self, key: str) -> ua.NodeId:
        if key in self.unresolved:
            raise NodeMismatch(self.unresolved[key])
        if key not in self.nodes:
            raise NodeMismatch(f"{self.name}: profile {self.profile.id} has no {key}")
        return self.nodes[key]

    def _obj(self) -> ua.NodeId:
        if "object" in self.unresolved:
            raise NodeMismatch(self.unresolved["object"])
        if self._object is None:
            raise ConnectionLost(f"{self.name}: not connected")
        return self._object

    def _checked(self, code: ua.StatusCode, key: str, what: str) -> None:
        """A Bad status in a batch answer: raise it raw when it is a link state (so that
        ``_retry`` tries again), else as :class:`BadStatus` naming the node."""
        if code.is_good():
            return
        if status.classify(code.name) is status.Kind.LINK:
            raise ua.UaStatusCodeError(code.value)
        status.check(code, unit=self.name, what=what, node=self.where(key))

    async def _read_many(self, keys: Sequence[str], what: str) -> list[Any]:
        """The values of ``keys`` in one request; a node answering a Bad status raises."""
        nids = [self._nid(k) for k in keys]

        async def read() -> list[Any]:
            answers = await self._client().uaclient.read_attributes(nids, ua.AttributeIds.Value)
            for key, dv in zip(keys, answers, strict=True):
                self._checked(dv.StatusCode or ua.StatusCode(), key, what)
            return [dv.Value.Value if dv.Value is not None else None for dv in answers]

        return await self._retry(what, read, node=", ".join(self.where(k) for k in keys))

    async def _write_many(self, keys: Sequence[str], values: Sequence[ua.DataValue], what: str) -> None:
        """Write ``values`` to ``keys`` in one request; any node refusing raises (the others of
        the same request may have been written: callers treat that as a partial write)."""
        nids = [self._nid(k) for k in keys]

        async def write() -> None:
            codes = await self._client().uaclient.write_attributes(nids, list(values), ua.AttributeIds.Value)
            for key, code in zip(keys, codes, strict=True):
                self._checked(code, key, what)

        await self._retry(what, write, node=", ".join(self.where(k) for k in keys))

    async def node_info(self, keys: Sequence[str]) -> dict[str, NodeInfo]:
        """Data type and writability of ``keys`` as the server has them; read once per connection."""
        todo = [k for k in keys if k not in self._info]
        if todo:
            nids = [self._nid(k) for k in todo]
            client = self._client()

            async def read() -> tuple[list[ua.DataValue], list[ua.DataValue]]:
                types = await client.uaclient.read_attributes(nids, ua.AttributeIds.DataType)
                access = await client.uaclient.read_attributes(nids, ua.AttributeIds.UserAccessLevel)
                for key, a, b in zip(todo, types, access, strict=True):
                    self._checked(a.StatusCode or ua.StatusCode(), key, "read data type")
                    self._checked(b.StatusCode or ua.StatusCode(), key, "read access level")
                return types, access

            types, access = await self._retry("read data types", read)
            for key, nid, t, a in zip(todo, nids, types, access, strict=True):
                self._info[key] = NodeInfo(
                    await self._type_name(nid, t), _writable(a.Value.Value if a.Value else 0)
                )
        return {k: self._info[k] for k in keys}

    async def _type_name(self, nid: ua.NodeId, answer: ua.DataValue) -> str:
        dtype = answer.Value.Value if answer.Value is not None else None
        if isinstance(dtype, ua.NodeId) and dtype.NamespaceIndex == 0 and isinstance(dtype.Identifier, int):
            try:
                return str(ua.VariantType(dtype.Identifier).name)  # built-in types: id = variant type
            except ValueError:
                pass
        node = self._client().get_node(nid)
        vt = await self._retry("read data type", node.read_data_type_as_variant_type)
        return str(vt.name)


def _writable(mask: Any) -> bool:
    return bool(int(mask or 0) & (1 << ua.AccessLevel.CurrentWrite.value))


async def secure(client: Client, name: str, endpoint: str, sec: Security, password: str | None) -> None:
    """Set up ``client`` for the link the line file describes, before it connects.

    A secured link asks the endpoint for its certificate (asyncua's discovery over a
    SecurityPolicy None channel, as OPC UA has it) and checks it against the unit's
    ``server_pin`` and the trust list before any session, so nothing — the user's password
    least of all — is sent to a server that is not this unit. The channel is then opened
    to that certificate's key, which only its holder can answer; asyncua keeps it for the
    client's life (a reconnect to another certificate fails) and its validator checks it
    again, with URI and key usage, at every CreateSession. :class:`SecurityRefused` names
    the unit, the certificate presented and the one expected; :class:`ConnectionLost` when
    the endpoint is unreachable.
    """
    client.application_uri = CLIENT_URI
    if sec.user is not None:
        if password is None:
            raise SecurityRefused(f"{name}: user {sec.user} needs its password in ${sec.password_env}")
        client.set_user(sec.user)
        client.set_password(password)
    if sec.policy == "None":
        return
    if not (sec.certificate and sec.private_key and sec.trust_dir):  # pragma: no cover - Security validates
        raise SecurityRefused(f"{name}: a secured link needs certificate, private_key and trust_dir")
    store = await trust_store(sec.trust_dir)
    try:
        pinned = await pinned_certificate(sec.server_pin) if sec.server_pin is not None else None
    except SecurityRefused as exc:
        raise SecurityRefused(f"{name}: {exc}") from exc
    try:
        await client.set_security(
            security_policies.SecurityPolicyBasic256Sha256,
            str(sec.certificate),
            str(sec.private_key),
            mode=getattr(ua.MessageSecurityMode, sec.mode),
        )
    except (OSError, TimeoutError) as exc:
        raise ConnectionLost(f"{name}: cannot reach {endpoint}: {exc}") from exc
    except ValueError as exc:  # a certificate or key file that cannot be read
        raise SecurityRefused(f"{name}: security setup failed: {exc}") from exc
    except ua.UaError as exc:
        raise status.translate(exc, unit=name, what="security setup failed", securing=True) from exc
    presented = bytes(client.security_policy.peer_certificate or b"")
    where = name if name == endpoint else f"{name}: {endpoint}"
    problem = pin_problem(presented, sec.server_pin, pinned) if sec.server_pin is not None else None
    problem = problem or trust_problem(presented, store)
    if problem is not None:
        raise SecurityRefused(f"{where} presented the server certificate {describe(presented)}; {problem}")
    options = CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_SERVER
    client.certificate_validator = CertificateValidator(options, store)
