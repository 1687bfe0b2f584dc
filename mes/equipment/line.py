"""Line files: the units of a line, each with its endpoint, profile and security.

Paths in a line file are resolved against the file; every unit's profile is
loaded (and must be of the unit's class) when the line is. A process loads its line
with :func:`load_line_for`, which refuses in production what :func:`production_problems`
finds, whichever file it was given.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mes.config import Settings
from mes.equipment.errors import ProfileError
from mes.equipment.models import EquipmentClass
from mes.errors import ConfigError
from mes.recipes.schema import Identifier
from mes.yamldoc import Issue, Loc, validate_document

if TYPE_CHECKING:
    from mes.equipment.profile import Profile


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ServerPin(Strict):
    """The certificate a unit must present, by its file or by its SHA-256 thumbprint (one of the two).

    Trust lists trust a certificate for every endpoint; the pin ties one certificate to one
    unit, so that another trusted machine answering at this unit's address is refused before
    the MES sends it anything.
    """

    certificate: Path | None = Field(None, description="the unit's certificate file (DER or PEM)")
    sha256: str | None = Field(None, description="SHA-256 thumbprint of the unit's certificate, hex")

    @field_validator("sha256")
    @classmethod
    def _thumbprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = re.sub(r"[\s:]", "", value).upper()
        if not re.fullmatch(r"[0-9A-F]{64}", digits):
            raise ValueError("a SHA-256 thumbprint is 64 hex digits (colons and spaces allowed)")
        return ":".join(digits[i : i + 2] for i in range(0, 64, 2))

    @model_validator(mode="after")
    def _one(self) -> ServerPin:
        if (self.certificate is None) == (self.sha256 is None):
            raise ValueError("server_pin takes one of certificate or sha256")
        return self


class Security(Strict):
    policy: Literal["None", "Basic256Sha256"] = "None"
    mode: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    certificate: Path | None = Field(None, description="the MES's certificate (DER or PEM)")
    private_key: Path | None = None
    trust_dir: Path | None = Field(None, description="certificates of the servers the MES trusts")
    server_certificate: Path | None = Field(None, description="the unit's certificate (simulators serve it)")
    server_private_key: Path | None = None
    server_pin: ServerPin | None = Field(None, description="the certificate this unit must present")
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
        if self.server_pin is not None and self.policy == "None":
            raise ValueError("server_pin needs a secured link (policy Basic256Sha256)")
        return self

    @property
    def pinned(self) -> bool:
        """Whether the unit names the server certificate it must present (``server_pin``).

        Optional while commissioning; a SignAndEncrypt unit in production needs it
        (``docs/decisions/005-opcua-security.md``).
        """
        return self.server_pin is not None


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


class Line:
    """A loaded line file: its units, each with its profile; paths resolved against the file."""

    def __init__(self, path: Path, config: LineConfig) -> None:
        self.path = path
        self.config = config
        base = path.parent
        self.units = {u.name: _resolved(u, base) for u in config.units}
        from mes.equipment.profile import load_profile  # profiles import this module

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
    paths = ("certificate", "private_key", "trust_dir", "server_certificate", "server_private_key")
    update: dict[str, object] = {k: fix(getattr(sec, k)) for k in paths}
    pin = sec.server_pin
    if pin is not None and pin.certificate is not None:
        update["server_pin"] = pin.model_copy(update={"certificate": fix(pin.certificate)})
    security = sec.model_copy(update=update)
    return unit.model_copy(update={"profile": fix(unit.profile), "security": security})


def load_line(path: Path) -> Line:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(
            f"{path}: cannot read line file: {exc.strerror} (set MES_LINE_CONFIG or --line)"
        ) from exc
    config, issues = validate_document(
        raw, str(path), LineConfig, semantic=_line_checks, whole_checks="unit names and endpoints used twice"
    )
    if config is None:
        raise _raise(issues, f"line file {path}")
    return Line(path, config)


# What production requires of every unit's link: (what is wrong when it is not met, the test).
# A line is refused naming, for each requirement, every unit that fails it.
PRODUCTION_LINK_REQUIREMENTS: tuple[tuple[str, Callable[[Security], bool]], ...] = (
    (
        "not Basic256Sha256 SignAndEncrypt (production refuses unencrypted equipment links)",
        lambda s: s.policy == "Basic256Sha256" and s.mode == "SignAndEncrypt",
    ),
    (
        "no server_pin (production refuses a unit that any trusted certificate could stand in for: "
        "pin its certificate file or SHA-256)",
        lambda s: s.mode != "SignAndEncrypt" or s.pinned,  # an unencrypted unit is named above
    ),
)


def production_problems(line: Line) -> list[str]:
    """What production refuses in ``line``, one sentence per requirement naming its units (empty: none)."""
    problems: list[str] = []
    for wrong, met in PRODUCTION_LINK_REQUIREMENTS:
        failing = [name for name, unit in line.units.items() if not met(unit.security)]
        if failing:
            problems.append(f"unit{'s' if len(failing) > 1 else ''} {', '.join(failing)}: {wrong}")
    return problems


def load_line_for(settings: Settings, path: Path | None = None) -> Line:
    """The line a process works with: ``path`` (a ``--line`` option) or ``MES_LINE_CONFIG``.

    In production it is refused (:class:`ConfigError`, one line naming the option or variable,
    the file and every unit at fault) unless :func:`production_problems` finds nothing, so a
    line never runs unencrypted whichever way it was named. Every command and process that
    talks to the line loads it here, never with :func:`load_line` alone.
    """
    source = "--line" if path is not None else "MES_LINE_CONFIG"
    line = load_line(path if path is not None else settings.line_config)
    problems = production_problems(line) if settings.is_production else []
    if problems:
        raise ConfigError(f"{source} {line.path}: {'; '.join(problems)}")
    return line
