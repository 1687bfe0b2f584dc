"""Load-time checks of a profile's entries beyond their shape: setpoint limits, absent setpoints, scaling,
data type ranges, variable gauges and two entries on one node. Each finding is ``(field path, message)``;
:func:`mes.yamldoc.validate_document` places it at ``PATH:LINE:COL``, all at once. The checks of one
entry also run, through :func:`part_issues`, on the entries that are valid on their own when the
profile as a whole is not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from mes.equipment.models import EquipmentClass
from mes.equipment.profile import (
    DATA_TYPE_RANGE,
    MAX_NUMERIC_NODE_ID,
    NUMERIC,
    NodeRef,
    Profile,
    SetpointEntry,
    Variable,
    VariableGauge,
    to_machine,
)
from mes.vocabulary import SETPOINT_MODELS, setpoint_limits, with_unit
from mes.yamldoc import Loc

Finding = tuple[Loc, str]
# What needs the whole profile, named where a structural error keeps it from running.
WHOLE_PROFILE_CHECKS = (
    "missing and absent setpoints, state numbers, the data types of state, job, counters and gauges, "
    "gauges' process values, two entries on one node"
)


def setpoint_checks(cls: EquipmentClass, name: str, entry: SetpointEntry) -> list[Finding]:
    """A setpoint the class has, limits in order and within the class's, a numeric data type."""
    loc: Loc = ("setpoints", name)
    known = SETPOINT_MODELS[cls].model_fields
    limits = setpoint_limits(cls, name)
    if name not in known or limits is None:
        return [(loc, f"{cls} has no setpoint {name!r}; it has {', '.join(sorted(known))}")]
    found: list[Finding] = []
    low, high, unit = limits
    if entry.min >= entry.max:
        found.append(((*loc, "min"), f"min {entry.min:g} must be below max {entry.max:g}"))
    if entry.min < low or entry.max > high:
        found.append(
            (
                (*loc, "min" if entry.min < low else "max"),
                f"a profile may narrow the {cls} class limits {with_unit(f'{low:g}–{high:g}', unit)}, "
                "never widen them",
            )
        )
    if entry.data_type not in NUMERIC:
        found.append(((*loc, "data_type"), f"a setpoint is numeric, not {entry.data_type}"))
    return found


def part_issues(data: Any) -> Iterator[Finding]:
    """The checks of one entry, on every setpoint and process value of a structurally invalid profile
    that is valid on its own (``data`` is the document as read, unknown keys set aside)."""
    if not isinstance(data, dict):
        return
    raw_cls = str(data.get("equipment_class"))
    cls = EquipmentClass(raw_cls) if raw_cls in set(EquipmentClass) else None
    for group, model in (("setpoints", SetpointEntry), ("process_values", Variable)):
        entries = data.get(group)
        for name, raw in entries.items() if isinstance(entries, dict) else ():
            try:
                entry = model.model_validate(raw)
            except ValidationError:
                continue
            loc: Loc = (group, name)
            if isinstance(entry, SetpointEntry):
                if cls is not None:
                    yield from setpoint_checks(cls, str(name), entry)
                yield from _range(loc, entry, entry.min, entry.max)
            yield from _scaling(loc, entry)
            yield from _node_id(loc, entry)


def entry_checks(profile: Profile) -> list[Finding]:
    found: list[Finding] = []
    found += _absent(profile)
    for loc, entry in _variables(profile):
        found += _scaling(loc, entry)
        if entry.scaled and _read_as_is(loc):
            found.append(
                (
                    (*loc, "scale"),
                    "only setpoints, process values, the roll length and gauge "
                    "values are scaled; this entry is read as the machine gives it",
                )
            )
    for name, sp in profile.setpoints.items():
        found += _range(("setpoints", name), sp, sp.min, sp.max)
    for gauge_id, gauge in profile.variable_gauges().items():
        found += _variable_gauge(profile, gauge_id, gauge)
    found += _same_node(profile)
    found += _node_ids(profile)
    return found


def _node_ids(profile: Profile) -> list[Finding]:
    refs: list[tuple[Loc, NodeRef]] = [(("object",), profile.object), *_variables(profile)]
    return [finding for loc, ref in refs for finding in _node_id(loc, ref)]


def _node_id(loc: Loc, ref: NodeRef) -> list[Finding]:
    if ref.node is not None and ref.node.startswith("i=") and int(ref.node[2:]) > MAX_NUMERIC_NODE_ID:
        return [((*loc, "node"), f"numeric node id {ref.node[2:]} is above {MAX_NUMERIC_NODE_ID} (UInt32)")]
    return []


def _variables(profile: Profile) -> Iterator[tuple[Loc, Variable]]:
    """Every variable entry with its field path."""
    yield ("state",), profile.state
    for key in ("id", "product", "length_m"):
        entry = getattr(profile.job, key)
        if entry is not None:
            yield ("job", key), entry
    if profile.start_counts is not None:
        yield ("start_counts",), profile.start_counts
    commands = profile.commands
    if commands.style == "packtags":
        yield ("commands", "cntrl_cmd"), commands.cntrl_cmd
        yield ("commands", "change_request"), commands.change_request
    for key in ("start_counter", "refused_counter"):
        counter = getattr(commands, key)
        if counter is not None:
            yield ("commands", key), counter
    for name, sp in profile.setpoints.items():
        yield ("setpoints", name), sp
    for name, pv in profile.process_values.items():
        yield ("process_values", name), pv
    for gauge_id, gauge in profile.gauges.items():
        if isinstance(gauge, VariableGauge):
            yield ("gauges", gauge_id, "value"), gauge.value
        else:
            yield ("gauges", gauge_id, "last_seq"), gauge.last_seq
            yield ("gauges", gauge_id, "latest"), gauge.latest


def _absent(profile: Profile) -> list[Finding]:
    known = SETPOINT_MODELS[profile.equipment_class].model_fields
    found: list[Finding] = []
    for i, name in enumerate(profile.absent_setpoints):
        if name not in known:
            found.append((("absent_setpoints", i), f"{profile.equipment_class} has no setpoint {name!r}"))
        elif name in profile.setpoints:
            found.append((("absent_setpoints", i), f"{name} is both a setpoint and absent"))
        elif profile.absent_setpoints.index(name) != i:
            found.append((("absent_setpoints", i), f"{name} is listed twice"))
    return found


def _read_as_is(loc: Loc) -> bool:
    """States, counters, commands, job ids and sequence numbers: numbers the driver never scales."""
    return (
        loc[0] in ("state", "start_counts", "commands")
        or loc[-1] == "last_seq"
        or loc[:2]
        in (
            ("job", "id"),
            ("job", "product"),
        )
    )


def _scaling(loc: Loc, entry: Variable) -> list[Finding]:
    if entry.scaled and entry.data_type not in DATA_TYPE_RANGE:
        return [((*loc, "scale"), f"a {entry.data_type} is not scaled")]
    if entry.scaled and not entry.machine_unit:
        return [((*loc, "machine_unit"), "a scaled entry names the machine's unit (machine_unit)")]
    return []


def _range(loc: Loc, entry: Variable, low: float, high: float) -> list[Finding]:
    """Limits (MES units) that the machine's data type cannot hold once converted."""
    bounds = DATA_TYPE_RANGE.get(entry.data_type)
    if bounds is None:
        return []
    found: list[Finding] = []
    for key, value in (("min", low), ("max", high)):
        machine = to_machine(entry, value)
        if not bounds[0] <= machine <= bounds[1]:
            shown = with_unit(f"{value:g}", entry.unit)
            if entry.scaled:
                shown += f" (machine {machine:g} {entry.machine_unit})"
            found.append(
                (
                    (*loc, key),
                    f"{key} {shown} is outside the {entry.data_type} range {bounds[0]:g}–{bounds[1]:g}",
                )
            )
    return found


def _variable_gauge(profile: Profile, gauge_id: str, gauge: VariableGauge) -> list[Finding]:
    loc: Loc = ("gauges", gauge_id)
    found: list[Finding] = []
    if gauge.value.data_type not in ("Double", "Float"):
        found.append(((*loc, "value", "data_type"), "a gauge value is Double or Float (scalar or array)"))
    for key in ("position", "speed"):
        name = getattr(gauge, key)
        if name is not None and name not in profile.process_values:
            have = ", ".join(sorted(profile.process_values)) or "none"
            found.append(((*loc, key), f"no process value {name!r} (the profile has {have})"))
    return found


def _same_node(profile: Profile) -> list[Finding]:
    """Two entries on one node: a copy-paste slip that would read or write the wrong thing."""
    seen: dict[str, Loc] = {}
    found: list[Finding] = []
    for loc, entry in _variables(profile):
        key = f"node {entry.node}" if entry.node is not None else f"path {entry.path}"
        if key in seen:
            first = ".".join(str(p) for p in seen[key])
            found.append((loc, f"{key} is already used by {first}"))
        else:
            seen[key] = loc
    return found
