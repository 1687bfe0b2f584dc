"""``mes equipment browse``: a draft profile from a server's address space, for commissioning.

Browsing tells the namespaces, browse paths, data types (and whether a value is
an array), access levels and methods; it cannot tell which variable is the
PackML state, what the machine calls a setpoint, its limits, units or state
numbering. The draft says what it found as profile YAML and marks every such
gap with a ``TODO`` that the loader refuses at its line, so a draft never loads
by accident before an engineer has completed it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass

from asyncua import Client, Node, ua

from mes.equipment import status
from mes.equipment.errors import ConnectionLost
from mes.equipment.link import secure
from mes.equipment.profile import DataType, Security
from mes.equipment.refusal_logs import quiet_refusals

MAX_NODES = 5_000
MAX_DEPTH = 12
TYPES = {t.value for t in DataType}
NUMERIC_TYPES = TYPES - {"Boolean", "String"}


@dataclass(frozen=True)
class FoundVariable:
    path: str  # browse names below Objects, "/"-joined
    ns: int  # namespace index of the browse names (a profile path lives in one namespace)
    node_id: str
    data_type: str
    array: bool
    readable: bool
    writable: bool

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class FoundMethod:
    parent: str
    ns: int
    name: str


@dataclass
class AddressSpace:
    endpoint: str
    namespaces: list[str]
    variables: list[FoundVariable]
    methods: list[FoundMethod]
    truncated: bool = False


async def browse(client: Client, endpoint: str) -> AddressSpace:
    """Walk the Objects folder of a connected client (Server object excluded), breadth first."""
    namespaces = list(await client.get_namespace_array())
    space = AddressSpace(endpoint, namespaces, [], [])
    queue: list[tuple[Node, str, set[int], int]] = [(client.nodes.objects, "", set(), 0)]
    seen: set[str] = set()
    while queue:
        node, path, ns_seen, depth = queue.pop(0)
        for child in await node.get_children():
            key = child.nodeid.to_string()
            if key in seen or child.nodeid == ua.NodeId(ua.ObjectIds.Server):
                continue
            seen.add(key)
            if len(seen) > MAX_NODES:
                space.truncated = True
                return space
            name = await child.read_browse_name()
            child_path = f"{path}/{name.Name}" if path else name.Name
            spaces = ns_seen | {name.NamespaceIndex}
            ns = name.NamespaceIndex if len(spaces) == 1 else -1  # -1: no single-namespace path
            node_class = await child.read_node_class()
            if node_class == ua.NodeClass.Variable:
                space.variables.append(await _variable(child, child_path, ns))
            elif node_class == ua.NodeClass.Method:
                space.methods.append(FoundMethod(path, name.NamespaceIndex, name.Name))
            elif node_class == ua.NodeClass.Object and depth < MAX_DEPTH:
                queue.append((child, child_path, spaces, depth + 1))
    return space


async def _variable(node: Node, path: str, ns: int) -> FoundVariable:
    try:
        vt = (await node.read_data_type_as_variant_type()).name
    except (ua.UaError, ValueError, KeyError):
        vt = "unknown"
    try:
        rank = await node.read_value_rank()
    except ua.UaError:
        rank = -1
    try:
        access = await node.get_user_access_level()
    except ua.UaError:
        access = set()
    return FoundVariable(
        path=path,
        ns=ns,
        node_id=node.nodeid.to_string(),
        data_type=vt,
        array=rank >= 1,
        readable=ua.AccessLevel.CurrentRead in access,
        writable=ua.AccessLevel.CurrentWrite in access,
    )


def _guess(variables: list[FoundVariable], names: tuple[str, ...], types: set[str]) -> FoundVariable | None:
    for wanted in names:
        for v in variables:
            if v.name.lower() == wanted.lower() and v.data_type in types and not v.array:
                return v
    return None


def _entry(v: FoundVariable | None, todo: str, unit: str = "") -> str:
    if v is None:
        return json.dumps(f"TODO: {todo}")
    return f"{{path: {v.path}, data_type: {v.data_type}{f', unit: {unit}' if unit else ''}}}"


def _access(v: FoundVariable) -> str:
    return "read/write" if v.writable else ("read" if v.readable else "no access")


def draft_profile(space: AddressSpace) -> str:
    """The draft profile's YAML text: found entries as entries, unknowns as refused ``TODO`` values."""
    counts = Counter(v.ns for v in space.variables if v.ns > 0)
    ns = counts.most_common(1)[0][0] if counts else 0
    uri = space.namespaces[ns] if ns < len(space.namespaces) else ""
    mine = [v for v in space.variables if v.ns == ns]
    methods = [m for m in space.methods if m.ns == ns]
    parents = Counter(m.parent for m in methods)
    obj = parents.most_common(1)[0][0] if parents else ""
    ints = {"Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64"}
    state = _guess(mine, ("StateCurrent", "CurrentState", "State"), ints)
    job_id = _guess(mine, ("BatchId", "JobId", "JobID", "Id"), {"String"})
    product = _guess(mine, ("ProductId", "Product", "Recipe"), {"String"})
    length = _guess(mine, ("RollLength", "Length", "JobLength"), NUMERIC_TYPES)
    cntrl = _guess(mine, ("CntrlCmd",), ints)
    change = _guess(mine, ("CmdChangeRequest",), {"Boolean"})
    method_names = {m.name for m in methods}
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        f"# Draft profile browsed from {space.endpoint} on {now} by `mes equipment browse`.",
        "# Browsing cannot know what the machine means: every TODO is refused by the loader at its line.",
        "# Complete them, then `mes equipment check UNIT` against the machine.",
        'id: "TODO: a short name for this kind of machine"',
        'vendor: "TODO: the vendor"',
        'equipment_class: "TODO: sputter | coater | winder"',
        f"namespace: {uri}",
    ]
    others = [u for i, u in enumerate(space.namespaces) if i not in (0, ns)]
    if others:
        out.append(f"# other namespaces on the server: {', '.join(others)}")
    out.append(
        f"object: {{path: {obj}}}  # holds the methods" if obj else 'object: "TODO: the unit\'s object"'
    )
    out.append(f"state: {_entry(state, 'which variable is the PackML state (an integer)?')}"
               + ("  # guessed from its name: check" if state else ""))  # fmt: skip
    out += [
        "# TODO: state_numbers, unless the machine numbers its states as OPC 30050 (Stopped 0 … 16)",
        "job:",
        f"  id: {_entry(job_id, 'the String variable that takes the job id')}",
    ]
    if product is not None:
        out.append(f"  product: {_entry(product, '')}  # optional: delete if the machine has no product id")
    out.append(f"  length_m: {_entry(length, 'the variable that takes the roll length [m]', 'm')}"
               + ("  # TODO? in metres? else scale and machine_unit" if length else ""))  # fmt: skip
    if cntrl is not None and change is not None:
        out += [
            "commands:",
            "  style: packtags",
            f"  cntrl_cmd: {_entry(cntrl, '')}",
            f"  change_request: {_entry(change, '')}",
        ]
    elif {"Start", "Reset"} <= method_names:
        out.append("commands: {style: method}")
    else:
        out.append('commands: "TODO: {style: method} or {style: packtags, cntrl_cmd: …, change_request: …}"')
    out += [
        "# TODO: name each setpoint with the class's logical name, its unit, min and max; a class setpoint",
        "# the machine does not have goes in absent_setpoints. Writable numeric variables found:",
        "setpoints: {}",
    ]
    out += [f"#   X: {{path: {v.path}, data_type: {v.data_type}, min: _, max: _}}" for v in mine if v.writable
            and v.data_type in NUMERIC_TYPES and not v.array and v not in (state, length, cntrl)]  # fmt: skip
    out += ["# TODO: process values (one of them the web position, m). Read-only numeric variables found:"]
    out.append("process_values: {}")
    readable = [v for v in mine if not v.writable and v.data_type in NUMERIC_TYPES and not v.array]
    out += [f"#   x: {{path: {v.path}, data_type: {v.data_type}}}" for v in readable if v is not state]
    out += ["# TODO: gauges. Arrays found (a gauge without a ring buffer is `kind: variable`):"]
    out.append("gauges: {}")
    out += [f"#   {v.path}: {v.data_type}[] ({_access(v)})" for v in mine if v.array]
    rest = sorted(
        method_names - {"Start", "Reset", "Stop", "Hold", "Unhold", "Suspend", "Unsuspend", "Abort", "Clear"}
    )
    if rest:
        out.append(
            f"# other methods on {obj}: {', '.join(rest)} (a ring buffer's ReadScans? fault injection?)"
        )
    out.append("# every variable in the namespace: path, type, access")
    out += [f"#   {v.path}: {v.data_type}{'[]' if v.array else ''} ({_access(v)})" for v in mine]
    if space.truncated:
        out.append(f"# TODO: browsing stopped after {MAX_NODES} nodes; the address space is larger")
    return "\n".join(out) + "\n"


async def browse_endpoint(endpoint: str, security: Security, password: str | None = None) -> str:
    """Connect to ``endpoint`` (security as in a line file), browse it, return the draft profile text.

    Raises :class:`ConnectionLost` when the server cannot be reached or drops the
    link, :class:`SecurityRefused` when it refuses the session.
    """
    try:
        client = Client(endpoint, timeout=4)
    except ValueError as exc:  # "opc.tcp://[::1" and the like
        raise ConnectionLost(f"{endpoint}: not an OPC UA endpoint URL: {exc}") from exc
    quiet_refusals()
    try:
        await secure(client, endpoint, endpoint, security, password)
        await client.connect()
    except ValueError as exc:  # an endpoint that is no URL, or a certificate or key that cannot be read
        raise ConnectionLost(f"{endpoint}: cannot connect: {exc}") from exc
    except (OSError, TimeoutError, ConnectionError, ua.UaError) as exc:
        raise status.translate(exc, unit=endpoint, what="cannot connect", connecting=True) from exc
    try:
        return draft_profile(await browse(client, endpoint))
    except (OSError, TimeoutError, ConnectionError, ua.UaError) as exc:
        raise status.translate(exc, unit=endpoint, what="browse") from exc
    finally:
        try:
            await client.disconnect()
        except (OSError, TimeoutError, ConnectionError, ua.UaError):
            pass  # the draft is made; the link is gone either way
