"""Shared vocabulary of the domains: equipment classes with their setpoints and limits, and
the out-of-spec dispositions a recipe can name.

The lowest domain module: recipes, equipment, lots and quality all speak these terms,
and it imports none of them.

Equipment classes: the setpoints each class accepts, with its engineering limits.

A recipe step is bound to a class, not to a machine, and carries one of these
models as its setpoints; a value outside the class's limits makes the recipe
invalid before it can reach a unit. Unit profiles may narrow the limits further,
never widen them.

The limits are those of the roll-to-roll equipment the line is specified with
(300 mm web): sputter cathodes up to 10 kW, process pressure 0.05–5 Pa, web speeds
0.05–20 m/min; slot-die coaters with 10–1,000 µm gaps and dryers up to 200 °C;
cylindrical winders with 1–30 mm mandrels.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EquipmentClass(enum.StrEnum):
    """The ISA-88 equipment classes of the line; a recipe step is bound to one."""

    SPUTTER = "sputter"
    COATER = "coater"
    WINDER = "winder"


class Disposition(enum.StrEnum):
    """What the recipe says to do when a layer is out of spec."""

    HOLD_LOT = "hold_lot"
    HOLD_INTERVAL = "hold_interval"
    FLAG_ONLY = "flag_only"
    SCRAP = "scrap"


def setpoint(unit: str, ge: float, le: float, description: str, default: Any = ...) -> Any:
    """A setpoint field: engineering unit and inclusive limits, kept in the JSON Schema."""
    return Field(
        default, ge=ge, le=le, description=f"{description} [{unit}]", json_schema_extra={"unit": unit}
    )


class Setpoints(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SputterSetpoints(Setpoints):
    power_w: float = setpoint("W", 10, 10_000, "cathode power, DC or RF")
    pressure_pa: float = setpoint("Pa", 0.05, 5.0, "process gas pressure")
    ar_flow_sccm: float = setpoint("sccm", 0, 500, "argon flow")
    substrate_temp_c: float = setpoint("°C", -20, 400, "chill-drum / substrate temperature")
    web_speed_m_min: float = setpoint("m/min", 0.05, 20, "web speed past the cathode")
    passes: int = setpoint("1", 1, 50, "passes under the cathode")
    tension_n: float = setpoint("N", 5, 500, "web tension")
    bias_v: float | None = setpoint("V", -300, 0, "substrate bias", default=None)


class CoaterSetpoints(Setpoints):
    gap_um: float = setpoint("µm", 10, 1_000, "slot-die / comma-bar gap")
    web_speed_m_min: float = setpoint("m/min", 0.5, 100, "coating speed")
    pump_rate_ml_min: float | None = setpoint("mL/min", 0, 5_000, "slurry pump rate", default=None)
    dryer_temp_c: float = setpoint("°C", 20, 200, "dryer zone temperature")
    tension_n: float = setpoint("N", 10, 500, "web tension")


class WinderSetpoints(Setpoints):
    winding_speed_m_min: float = setpoint("m/min", 0.5, 120, "winding speed")
    tension_anode_n: float = setpoint("N", 0.5, 100, "anode web tension")
    tension_cathode_n: float = setpoint("N", 0.5, 100, "cathode web tension")
    tension_separator_n: float = setpoint("N", 0.2, 50, "separator web tension")
    mandrel_diameter_mm: float = setpoint("mm", 1, 30, "mandrel diameter")


SETPOINT_MODELS: dict[EquipmentClass, type[Setpoints]] = {
    EquipmentClass.SPUTTER: SputterSetpoints,
    EquipmentClass.COATER: CoaterSetpoints,
    EquipmentClass.WINDER: WinderSetpoints,
}


COUNT = "1"  # the unit of a count (passes, turns): SI's unit of a quantity of dimension one


def with_unit(number: str, unit: str) -> str:
    """``number`` and its unit as a person writes them: ``"1500 W"``, and a count alone (``"3"``, not
    ``"3 1"``)."""
    return number if unit in (COUNT, "") else f"{number} {unit}"


def setpoint_limits(equipment_class: EquipmentClass, name: str) -> tuple[float, float, str] | None:
    """(min, max, unit) of a setpoint of a class, or None when the class has no such setpoint."""
    field = SETPOINT_MODELS[equipment_class].model_fields.get(name)
    if field is None:
        return None
    ge = le = None
    for meta in field.metadata:
        ge = getattr(meta, "ge", ge)
        le = getattr(meta, "le", le)
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if ge is None or le is None:  # pragma: no cover - every setpoint() has both
        return None
    return float(ge), float(le), str(extra.get("unit", ""))
