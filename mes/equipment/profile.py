"""Equipment profiles and line files: data that maps the MES's words to a machine's nodes.

A profile says, for one kind of machine, where its state, job, setpoints,
process values, commands and gauges are (node id or browse path in the
profile's namespace), their OPC UA data types, units and limits, and how its
states are numbered. Driving another vendor's machine means writing a profile.
A line file lists the units of a line with their endpoint, profile and security.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from mes.equipment.errors import ProfileError
from mes.equipment.models import EquipmentClass
from mes.recipes.schema import CharacteristicName, Identifier
from mes.vocabulary import SETPOINT_MODELS
from mes.yamldoc import Issue, Loc, validate_document


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PackMLState(enum.StrEnum):
    STOPPED = "Stopped"
    RESETTING = "Resetting"
    IDLE = "Idle"
    STARTING = "Starting"
    EXECUTE = "Execute"
    COMPLETING = "Completing"
    COMPLETE = "Complete"
    ABORTING = "Aborting"
    ABORTED = "Aborted"
    STOPPING = "Stopping"
    CLEARING = "Clearing"
    SUSPENDING = "Suspending"
    SUSPENDED = "Suspended"
    UNSUSPENDING = "Unsuspending"
    HOLDING = "Holding"
    HELD = "Held"
    UNHOLDING = "Unholding"


# OPC 30050 (PackML) state numbers.
OPC30050_STATES: dict[PackMLState, int] = {s: i for i, s in enumerate(PackMLState)}


class Command(enum.StrEnum):
    RESET = "Reset"
    START = "Start"
    STOP = "Stop"
    HOLD = "Hold"
    UNHOLD = "Unhold"
    SUSPEND = "Suspend"
    UNSUSPEND = "Unsuspend"
    ABORT = "Abort"
    CLEAR = "Clear"


# PackTags Command.CntrlCmd values (ISA-TR88.00.02).
PACKTAGS_COMMANDS: dict[Command, int] = {c: i + 1 for i, c in enumerate(Command)}


class DataType(enum.StrEnum):
    BOOLEAN = "Boolean"
    INT16 = "Int16"
    UINT16 = "UInt16"
    INT32 = "Int32"
    UINT32 = "UInt32"
    INT64 = "Int64"
    UINT64 = "UInt64"
    FLOAT = "Float"
    DOUBLE = "Double"
    STRING = "String"


NUMERIC = frozenset(DataType) - {DataType.BOOLEAN, DataType.STRING}
INTEGERS = NUMERIC - {DataType.FLOAT, DataType.DOUBLE}
MAX_NUMERIC_NODE_ID = 4_294_967_295  # OPC UA numeric identifiers are UInt32


class NodeRef(Strict):
    """Where a node is: ``node`` (identifier in the profile namespace, ``s=…`` or ``i=…``)
    or ``path`` (browse names below Objects, ``Sputter/Setpoints/Power``)."""

    node: str | None = Field(None, pattern=r"^(s=.+|i=\d+)$")
    path: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_of(self) -> NodeRef:
        if (self.node is None) == (self.path is None):
            raise ValueError("give exactly one of node (s=… / i=…) or path (A/B/C)")
        return self

    def describe(self) -> str:
        return self.node or f"path {self.path}"


class Variable(NodeRef):
    """A variable node. ``unit`` is the MES's unit; a machine that counts in another unit names it in
    ``machine_unit`` and gives ``scale``/``offset``: MES value = machine value × scale + offset."""

    data_type: DataType
    unit: str = ""
    scale: float = 1.0
    offset: float = 0.0
    machine_unit: str = ""

    @field_validator("scale")
    @classmethod
    def _nonzero(cls, scale: float) -> float:
        if scale == 0:
            raise ValueError("scale 0 would map every machine value to the offset")
        return scale

    @property
    def scaled(self) -> bool:
        return self.scale != 1.0 or self.offset != 0.0


def to_mes(entry: Variable, machine_value: float) -> float:
    """A value read from the machine, in the MES's unit (``entry.unit``): machine × scale + offset."""
    if not entry.scaled:
        return float(machine_value)
    return float(machine_value) * entry.scale + entry.offset


def to_machine(entry: Variable, mes_value: float) -> float:
    """A value in the MES's unit converted for writing to the machine (``entry.machine_unit``).

    For an integer data type a result within rounding error of a whole number is
    made whole (0.1-unit counts: 123.4 → 1234, not 1233.9999…); anything else is
    returned as is, so the driver's whole-number check still refuses it.
    """
    if not entry.scaled:
        return float(mes_value)
    value = (float(mes_value) - entry.offset) / entry.scale
    if entry.data_type in INTEGERS and abs(value - round(value)) <= 1e-9 * max(1.0, abs(value)):
        return float(round(value))
    return value


# Range of each numeric data type in machine units (Float: its largest finite value).
DATA_TYPE_RANGE: dict[DataType, tuple[float, float]] = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
    DataType.UINT64: (0, 2**64 - 1),
    DataType.FLOAT: (-3.4028234663852886e38, 3.4028234663852886e38),
    DataType.DOUBLE: (-1.7976931348623157e308, 1.7976931348623157e308),
}


class SetpointEntry(Variable):
    min: float
    max: float


class CommandsBase(Strict):
    """How commands are sent, and how the MES sees that one took (every command is confirmed)."""

    confirm_timeout_s: float = Field(
        5.0,
        gt=0,
        le=600,
        description="seconds a unit has to show a command took (state, counter) before it counts as refused",
    )
    start_counter: Variable | None = Field(
        None, description="accepted Starts, any integer type; absent: Start is confirmed by state and job id"
    )
    refused_counter: Variable | None = Field(
        None, description="commands the unit refused, any integer type; a rise ends the wait at once"
    )


class MethodCommands(CommandsBase):
    style: Literal["method"]
    names: dict[Command, str] = Field(default_factory=lambda: {c: c.value for c in Command})


class PackTagsCommands(CommandsBase):
    style: Literal["packtags"]
    cntrl_cmd: Variable
    change_request: Variable
    numbers: dict[Command, int] = Field(default_factory=lambda: dict(PACKTAGS_COMMANDS))


class GaugeSpec(Strict):
    """An inline gauge with a ring buffer: latest scan, last sequence number, and a
    ``ReadScans(fromSeq, maxCount)`` method for lossless backfill (the better way, where a machine has it)."""

    kind: Literal["ring_buffer"] = "ring_buffer"
    characteristic: CharacteristicName
    unit: str
    lanes: int = Field(ge=1, le=64)
    pitch_m: float = Field(gt=0, le=10)
    last_seq: Variable
    latest: Variable
    read_method: str = Field(min_length=1, description="browse name of ReadScans(fromSeq, maxCount)")


class VariableGauge(Strict):
    """A gauge that is a plain variable (a scalar or an array of lanes), sampled by subscription.

    The MES numbers the samples itself and positions each one by the process
    value ``position`` (web position, m) or, when the machine has none, by
    ``speed`` (m/min) × time since the job started. A sample the MES did not see
    (queue overflow, link loss, collector restart) is a gap in the stored
    positions, never a made-up value.
    """

    kind: Literal["variable"]
    characteristic: CharacteristicName
    unit: str
    lanes: int = Field(ge=1, le=64)
    pitch_m: float = Field(gt=0, le=10, description="web length one sample stands for [m]")
    value: Variable = Field(
        description="Double/Float, scalar (one lane) or array; scale applies to each lane"
    )
    first_lane: int = Field(0, ge=0, le=1024, description="array index of lane 1 (a header may come first)")
    position: str | None = Field(None, description="process value giving the web position [m]")
    speed: str | None = Field(None, description="process value giving the web speed [m/min]")
    sampling_ms: float = Field(100, ge=1, le=60_000, description="subscription sampling interval [ms]")
    queue_size: int = Field(100, ge=1, le=100_000, description="server-side queue per sampling interval")

    @model_validator(mode="after")
    def _positioned(self) -> VariableGauge:
        if (self.position is None) == (self.speed is None):
            raise ValueError("give exactly one of position (a process value in m) or speed (m/min)")
        return self


def _gauge_kind(raw: Any) -> str:
    kind = raw.get("kind", "ring_buffer") if isinstance(raw, dict) else getattr(raw, "kind", "ring_buffer")
    return kind if kind in ("ring_buffer", "variable") else "ring_buffer"


Gauge = Annotated[
    Annotated[GaugeSpec, Tag("ring_buffer")] | Annotated[VariableGauge, Tag("variable")],
    Discriminator(_gauge_kind),
]


class Job(Strict):
    id: Variable
    product: Variable | None = Field(None, description="absent: the machine has no product id; not written")
    length_m: Variable


class Profile(Strict):
    id: Identifier
    vendor: str = Field(min_length=1, max_length=100)
    equipment_class: EquipmentClass
    namespace: str = Field(min_length=1, description="namespace URI the node ids and browse names live in")
    object: NodeRef = Field(description="the unit's object: methods are called on it")
    state: Variable
    state_numbers: dict[PackMLState, int] = Field(default_factory=lambda: dict(OPC30050_STATES))
    job: Job
    start_counts: Variable | None = Field(None, description="simulators: accepted Starts per job id (JSON)")
    inject_fault: str | None = Field(None, description="simulators: browse name of InjectFault(spec)")
    commands: Annotated[MethodCommands | PackTagsCommands, Field(discriminator="style")]
    setpoints: dict[str, SetpointEntry]
    absent_setpoints: list[str] = Field(
        default_factory=list, description="class setpoints this machine does not have: never scheduled"
    )
    process_values: dict[str, Variable] = Field(default_factory=dict)
    gauges: dict[str, Gauge] = Field(default_factory=dict)

    @field_validator("vendor")
    @classmethod
    def _not_a_draft(cls, vendor: str) -> str:
        if vendor.startswith("TODO"):
            raise ValueError("a draft's TODO: name the vendor")
        return vendor

    def ring_buffer_gauges(self) -> dict[str, GaugeSpec]:
        return {k: g for k, g in self.gauges.items() if isinstance(g, GaugeSpec)}

    def variable_gauges(self) -> dict[str, VariableGauge]:
        return {k: g for k, g in self.gauges.items() if isinstance(g, VariableGauge)}

    def state_name(self, number: int) -> PackMLState | None:
        for state, value in self.state_numbers.items():
            if value == number:
                return state
        return None


def _profile_checks(profile: Profile) -> list[tuple[Loc, str]]:
    from mes.equipment.profile_checks import entry_checks, setpoint_checks  # they read this module's models

    found: list[tuple[Loc, str]] = []
    cls = profile.equipment_class
    known = SETPOINT_MODELS[cls].model_fields
    for name, entry in profile.setpoints.items():
        found.extend(setpoint_checks(cls, name, entry))
    absent = set(profile.absent_setpoints)
    missing = [
        n for n, f in known.items() if f.is_required() and n not in profile.setpoints and n not in absent
    ]
    if missing:
        found.append((("setpoints",), f"missing setpoints of a {cls}: {', '.join(missing)}"))
    numbers = list(profile.state_numbers.values())
    if len(set(numbers)) != len(numbers) or set(profile.state_numbers) != set(PackMLState):
        found.append((("state_numbers",), "give every PackML state a distinct number"))
    if profile.state.data_type not in NUMERIC:
        found.append((("state", "data_type"), "the state variable is an integer"))
    for key in ("id", "product"):
        job_entry = getattr(profile.job, key)
        if job_entry is not None and job_entry.data_type != DataType.STRING:
            found.append((("job", key, "data_type"), "job id and product are String"))
    for key in ("start_counter", "refused_counter"):
        counter = getattr(profile.commands, key)
        if counter is not None and counter.data_type not in INTEGERS:
            found.append((("commands", key, "data_type"), "a counter is an integer type"))
    for gauge_id, gauge in profile.ring_buffer_gauges().items():
        if gauge.latest.data_type != DataType.DOUBLE or gauge.last_seq.data_type not in NUMERIC:
            found.append((("gauges", gauge_id), "latest is Double[] and last_seq an integer"))
    found.extend(entry_checks(profile))
    return found


def _raise(issues: list[Issue], what: str) -> ProfileError:
    return ProfileError(f"{what} is invalid:\n" + "\n".join(str(i) for i in issues))


def load_profile(path: Path) -> Profile:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc.strerror}") from exc
    from mes.equipment.profile_checks import WHOLE_PROFILE_CHECKS, part_issues

    profile, issues = validate_document(
        raw,
        str(path),
        Profile,
        semantic=_profile_checks,
        parts=part_issues,
        whole_checks=WHOLE_PROFILE_CHECKS,
    )
    if profile is None:
        raise _raise(issues, f"profile {path}")
    return profile


# Line files live in mes.equipment.line; their names stay importable from here.
from mes.equipment.line import Line as Line  # noqa: E402
from mes.equipment.line import LineConfig as LineConfig  # noqa: E402
from mes.equipment.line import Security as Security  # noqa: E402
from mes.equipment.line import UnitConfig as UnitConfig  # noqa: E402
from mes.equipment.line import load_line as load_line  # noqa: E402
