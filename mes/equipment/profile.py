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
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mes.equipment.classes import SETPOINT_MODELS, setpoint_limits
from mes.equipment.errors import ProfileError
from mes.equipment.models import EquipmentClass
from mes.recipes.schema import CharacteristicName, Identifier
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
    data_type: DataType
    unit: str = ""


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
    """An inline gauge: latest scan, last sequence number, and a ring buffer read by method."""

    characteristic: CharacteristicName
    unit: str
    lanes: int = Field(ge=1, le=64)
    pitch_m: float = Field(gt=0, le=10)
    last_seq: Variable
    latest: Variable
    read_method: str = Field(min_length=1, description="browse name of ReadScans(fromSeq, maxCount)")


class Job(Strict):
    id: Variable
    product: Variable
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
    process_values: dict[str, Variable] = Field(default_factory=dict)
    gauges: dict[str, GaugeSpec] = Field(default_factory=dict)

    def state_name(self, number: int) -> PackMLState | None:
        for state, value in self.state_numbers.items():
            if value == number:
                return state
        return None


def _profile_checks(profile: Profile) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    cls = profile.equipment_class
    known = SETPOINT_MODELS[cls].model_fields
    for name, entry in profile.setpoints.items():
        loc: Loc = ("setpoints", name)
        limits = setpoint_limits(cls, name)
        if name not in known or limits is None:
            found.append((loc, f"{cls} has no setpoint {name!r}; it has {', '.join(sorted(known))}"))
            continue
        low, high, unit = limits
        if entry.min >= entry.max:
            found.append(((*loc, "min"), f"min {entry.min:g} must be below max {entry.max:g}"))
        if entry.min < low or entry.max > high:
            found.append(
                (
                    (*loc, "min" if entry.min < low else "max"),
                    f"a profile may narrow the {cls} class limits {low:g}–{high:g} {unit}, never widen them",
                )
            )
        if entry.data_type not in NUMERIC:
            found.append(((*loc, "data_type"), f"a setpoint is numeric, not {entry.data_type}"))
    missing = [n for n, f in known.items() if f.is_required() and n not in profile.setpoints]
    if missing:
        found.append((("setpoints",), f"missing setpoints of a {cls}: {', '.join(missing)}"))
    numbers = list(profile.state_numbers.values())
    if len(set(numbers)) != len(numbers) or set(profile.state_numbers) != set(PackMLState):
        found.append((("state_numbers",), "give every PackML state a distinct number"))
    if profile.state.data_type not in NUMERIC:
        found.append((("state", "data_type"), "the state variable is an integer"))
    for key in ("id", "product"):
        if getattr(profile.job, key).data_type != DataType.STRING:
            found.append((("job", key, "data_type"), "job id and product are String"))
    for key in ("start_counter", "refused_counter"):
        counter = getattr(profile.commands, key)
        if counter is not None and counter.data_type not in INTEGERS:
            found.append((("commands", key, "data_type"), "a counter is an integer type"))
    for gauge_id, gauge in profile.gauges.items():
        if gauge.latest.data_type != DataType.DOUBLE or gauge.last_seq.data_type not in NUMERIC:
            found.append((("gauges", gauge_id), "latest is Double[] and last_seq an integer"))
    return found


class Security(Strict):
    policy: Literal["None", "Basic256Sha256"] = "None"
    mode: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    certificate: Path | None = Field(None, description="the MES's certificate (DER or PEM)")
    private_key: Path | None = None
    trust_dir: Path | None = Field(None, description="certificates of the servers the MES trusts")
    server_certificate: Path | None = Field(None, description="the unit's certificate (simulators serve it)")
    server_private_key: Path | None = None
    user: str | None = None
    password_env: str | None = Field(
        None, pattern=r"^[A-Z_][A-Z0-9_]*$", description="variable holding the password"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Security:
        if (self.policy == "None") != (self.mode == "None"):
            raise ValueError("policy None goes with mode None; Basic256Sha256 with Sign or SignAndEncrypt")
        if self.policy != "None" and not (self.certificate and self.private_key and self.trust_dir):
            raise ValueError("a secured link needs certificate, private_key and trust_dir")
        if (self.user is None) != (self.password_env is None):
            raise ValueError("user and password_env go together")
        return self


class UnitConfig(Strict):
    name: Identifier
    equipment_class: EquipmentClass
    endpoint: str = Field(pattern=r"^opc\.tcp://[^/\s]+:\d+(/\S*)?$")
    profile: Path
    security: Security = Field(default_factory=Security)


class LineConfig(Strict):
    line: Identifier
    units: list[UnitConfig] = Field(min_length=1)


def _line_checks(line: LineConfig) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    seen: dict[str, int] = {}
    for i, unit in enumerate(line.units):
        for key, value in (("name", unit.name), ("endpoint", unit.endpoint)):
            if f"{key}:{value}" in seen:
                found.append((("units", i, key), f"{key} {value} is used twice"))
            seen[f"{key}:{value}"] = i
    return found


def _raise(issues: list[Issue], what: str) -> ProfileError:
    return ProfileError(f"{what} is invalid:\n" + "\n".join(str(i) for i in issues))


def load_profile(path: Path) -> Profile:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc.strerror}") from exc
    profile, issues = validate_document(raw, str(path), Profile, semantic=_profile_checks)
    if profile is None:
        raise _raise(issues, f"profile {path}")
    return profile


class Line:
    """A loaded line file: its units, each with its profile; paths resolved against the file."""

    def __init__(self, path: Path, config: LineConfig) -> None:
        self.path = path
        self.config = config
        base = path.parent
        self.units = {u.name: _resolved(u, base) for u in config.units}
        self.profiles: dict[str, Profile] = {}
        for name, unit in self.units.items():
            profile = load_profile(unit.profile)
            if profile.equipment_class != unit.equipment_class:
                raise ProfileError(
                    f"{path}: unit {name} is a {unit.equipment_class} but profile {unit.profile} "
                    f"is for a {profile.equipment_class}"
                )
            self.profiles[name] = profile

    def unit(self, name: str) -> UnitConfig:
        if name not in self.units:
            raise ProfileError(f"{self.path}: no unit {name!r}; the line has {', '.join(self.units)}")
        return self.units[name]


def _resolved(unit: UnitConfig, base: Path) -> UnitConfig:
    def fix(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else base / p)

    sec = unit.security
    security = sec.model_copy(
        update={
            k: fix(getattr(sec, k))
            for k in ("certificate", "private_key", "trust_dir", "server_certificate", "server_private_key")
        }
    )
    return unit.model_copy(update={"profile": fix(unit.profile), "security": security})


def load_line(path: Path) -> Line:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(
            f"{path}: cannot read line file: {exc.strerror} (set MES_LINE_CONFIG or --line)"
        ) from exc
    config, issues = validate_document(raw, str(path), LineConfig, semantic=_line_checks)
    if config is None:
        raise _raise(issues, f"line file {path}")
    return Line(path, config)
