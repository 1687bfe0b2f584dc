"""Build a simulator's address space from its profile: exactly what the profile says.

Entries given as ``node: s=A.B.C`` become variable ``C`` in objects ``A`` → ``B``
with that string node id; entries given as ``path: A/B/C`` are created at that
browse path below Objects with server-assigned ids. Both live in the profile's
namespace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from asyncua import Node, Server, ua

from mes.equipment.encoding import INTEGER_RANGES
from mes.equipment.profile import NodeRef, Profile, Variable, VariableGauge, to_machine

MethodCallback = Callable[..., Awaitable[Any]]


def variant_type(data_type: str) -> ua.VariantType:
    vt: ua.VariantType = getattr(ua.VariantType, data_type)
    return vt


def _initial(value: float, data_type: str) -> float | int:
    """A setpoint's first value: its minimum, brought into the node's type (a UInt16 holds no −10)."""
    if data_type in INTEGER_RANGES:
        low, high = INTEGER_RANGES[data_type]
        return min(max(round(value), low), high)
    return value


def node_id(ref: NodeRef, ns: int) -> ua.NodeId | None:
    if ref.node is None:
        return None
    kind, _, ident = ref.node.partition("=")
    return ua.NodeId(int(ident), ns) if kind == "i" else ua.NodeId(ident, ns)


@dataclass
class AddressSpace:
    server: Server
    ns: int
    parents: dict[str, Node] = field(default_factory=dict)
    variables: dict[str, ua.NodeId] = field(default_factory=dict)  # logical key → node id

    async def _parent(self, parts: list[str], *, by_path: bool) -> Node:
        node = self.server.nodes.objects
        key = "path:" if by_path else "node:"
        for i, part in enumerate(parts):
            key = f"{key}/{part}"
            if key not in self.parents:
                if by_path:
                    self.parents[key] = await node.add_object(self.ns, part)
                else:
                    nid = ua.NodeId(".".join(parts[: i + 1]), self.ns)
                    self.parents[key] = await node.add_object(nid, ua.QualifiedName(part, self.ns))
            node = self.parents[key]
        return node

    async def object_node(self, ref: NodeRef) -> Node:
        if ref.node is not None:
            nid = node_id(ref, self.ns)
            assert nid is not None  # noqa: S101 - ref.node is set
            if isinstance(nid.Identifier, str):
                return await self._parent(nid.Identifier.split("."), by_path=False)
            return await self.server.nodes.objects.add_object(
                nid, ua.QualifiedName(f"Unit{nid.Identifier}", self.ns)
            )
        assert ref.path is not None  # noqa: S101 - the model requires one of the two
        return await self._parent(ref.path.split("/"), by_path=True)

    async def variable(
        self, key: str, spec: Variable, initial: Any, *, writable: bool, array: bool = False
    ) -> Node:
        vt = variant_type(spec.data_type)
        value = ua.Variant(initial, vt, is_array=array) if array else ua.Variant(initial, vt)
        if spec.node is not None:
            nid = node_id(spec, self.ns)
            assert nid is not None  # noqa: S101
            parts = nid.Identifier.split(".") if isinstance(nid.Identifier, str) else [f"V{nid.Identifier}"]
            parent = (
                await self._parent(parts[:-1], by_path=False) if len(parts) > 1 else self.server.nodes.objects
            )
            node = await parent.add_variable(nid, ua.QualifiedName(parts[-1], self.ns), value, varianttype=vt)
        else:
            assert spec.path is not None  # noqa: S101
            parts = spec.path.split("/")
            parent = (
                await self._parent(parts[:-1], by_path=True) if len(parts) > 1 else self.server.nodes.objects
            )
            node = await parent.add_variable(self.ns, parts[-1], value, varianttype=vt)
        if array:
            await node.write_value_rank(1)
        if writable:
            await node.set_writable()
        self.variables[key] = node.nodeid
        return node

    async def method(
        self,
        parent: Node,
        name: str,
        callback: MethodCallback,
        inputs: list[ua.VariantType],
        outputs: list[ua.VariantType],
    ) -> None:
        await parent.add_method(self.ns, name, callback, inputs, outputs)


async def build(
    server: Server,
    profile: Profile,
    methods: dict[str, tuple[MethodCallback, list[Any], list[Any]]],
    initial_state: int,
) -> AddressSpace:
    """Create every node of ``profile`` on ``server``; ``methods`` by browse name on the unit object."""
    ns = await server.register_namespace(profile.namespace)
    space = AddressSpace(server, ns)
    unit = await space.object_node(profile.object)
    await space.variable("state", profile.state, initial_state, writable=False)
    await space.variable("job.id", profile.job.id, "", writable=True)
    if profile.job.product is not None:
        await space.variable("job.product", profile.job.product, "", writable=True)
    await space.variable("job.length_m", profile.job.length_m, 0.0, writable=True)
    if profile.start_counts is not None:
        await space.variable("start_counts", profile.start_counts, "{}", writable=False)
    cmds = profile.commands
    counters = {"cmd.start_counter": cmds.start_counter, "cmd.refused_counter": cmds.refused_counter}
    for key, counter in counters.items():
        if counter is not None:
            await space.variable(key, counter, 0, writable=False)
    if profile.commands.style == "packtags":
        await space.variable("cmd.cntrl_cmd", profile.commands.cntrl_cmd, 0, writable=True)
        await space.variable("cmd.change_request", profile.commands.change_request, False, writable=True)
    for name, entry in profile.setpoints.items():
        await space.variable(
            f"sp.{name}", entry, _initial(to_machine(entry, entry.min), entry.data_type), writable=True
        )
    for name, pv in profile.process_values.items():
        await space.variable(
            f"pv.{name}", pv, 0.0 if pv.data_type in ("Float", "Double") else 0, writable=False
        )
    for gauge_id, gauge in profile.ring_buffer_gauges().items():
        await space.variable(f"gauge.{gauge_id}.last_seq", gauge.last_seq, 0, writable=False)
        await space.variable(f"gauge.{gauge_id}.latest", gauge.latest, [], writable=False, array=True)
    for gauge_id, vgauge in profile.variable_gauges().items():  # a live variable, no history
        scalar = vgauge.lanes == 1 and vgauge.first_lane == 0
        await space.variable(f"gauge.{gauge_id}.value", vgauge.value, 0.0 if scalar else [], writable=False,
                             array=not scalar)  # fmt: skip
    for name, (callback, inputs, outputs) in methods.items():
        await space.method(unit, name, callback, inputs, outputs)
    return space


def variable_gauge_value(
    gauge: VariableGauge, scan: tuple[int, float, float, list[float]]
) -> tuple[Any, bool]:
    """What a gauge without history shows for its newest scan: the lanes in the machine's unit, after a
    header (seq, position, time) when the profile says lane 1 is further on; (value, is an array)."""
    seq, pos, t, values = scan
    lanes = [to_machine(gauge.value, v) for v in values]
    if gauge.lanes == 1 and gauge.first_lane == 0:
        return lanes[0], False
    head = [float(seq), pos, t][: gauge.first_lane]
    return head + [0.0] * (gauge.first_lane - len(head)) + lanes, True
