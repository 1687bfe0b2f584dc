"""Process physics of the simulated machines: good enough to show real behaviour.

- Sputter: deposition thickness ``d = BASE × rate(material) × P/(1 + P/P_derate)
  × (p0/p)^0.4 × passes / v`` — proportional to power (derated at high power),
  falling with pressure, relative rates Cu > Ni > Ge > Si, inversely proportional
  to web speed; a ±2 % centre-high cross-web profile; target erosion lowers the
  rate by 0.5 % per 1,000 m.
- Coater: wet film = pump rate / (web width × speed) (or half the gap without a
  pump), coat weight from the slurry's dry solids per wet volume, dry thickness
  from its dry density; heavy edges (+0.8 %).
- Winder: edge position wanders (mean-reverting), tension noise, turns counted
  from the wound length, the mandrel and the stack thickness.

Noise is normal and clipped, so a healthy machine running a shipped recipe
stays inside its specification; faults (see ``faults.py``) push it out.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from mes.equipment.models import EquipmentClass
from mes.sim.faults import Fault

WEB_WIDTH_M = 0.3  # the line's web width
BASE_NM = 0.13125  # nm per (W × pass) at 1 m/min, 0.5 Pa, for Cu
P_DERATE_W = 8_000.0
P_REF_PA = 0.5
EROSION_PER_1000_M = 0.005
STACK_THICKNESS_MM = 0.35  # anode + cathode + 2 separators, one turn

# Sputter yield × sticking, relative to Cu (Cu > Ag? no: Ag > Cu > Sn > Ni > Ge > Si > C).
SPUTTER_RATE = {
    "Ag": 1.3,
    "Cu": 1.0,
    "Sn": 0.9,
    "Ni": 0.8,
    "Al": 0.55,
    "Ge": 0.55,
    "Ti": 0.4,
    "Si": 0.35,
    "C": 0.12,
}
# Slurry: dry solids per wet volume [g/cm³], dry layer density [g/cm³].
SLURRY = {"LiCoO2": (1.111, 3.08), "SnO2": (0.632, 2.0), "C": (0.45, 1.5)}


def sputter_thickness_nm(
    material: str,
    power_w: float,
    pressure_pa: float,
    passes: float,
    web_speed_m_min: float,
    erosion: float = 0.0,
) -> float:
    """Nominal deposited thickness [nm] for one pass of the web at the given setpoints."""
    rate = SPUTTER_RATE.get(material, 0.5)
    derated = power_w / (1 + power_w / P_DERATE_W)
    pressure: float = (P_REF_PA / max(pressure_pa, 1e-3)) ** 0.4
    return BASE_NM * rate * derated * pressure * passes / max(web_speed_m_min, 1e-6) * (1 - erosion)


def coat_weight_mg_cm2(
    product: str, web_speed_m_min: float, gap_um: float, pump_rate_ml_min: float | None
) -> float:
    """Nominal dry coat weight [mg/cm²] of a slot-die / comma-bar coating."""
    solids, _ = SLURRY.get(product, (0.8, 2.0))
    if pump_rate_ml_min is not None:
        wet_um = pump_rate_ml_min / (WEB_WIDTH_M * max(web_speed_m_min, 1e-6))
    else:
        wet_um = 0.5 * gap_um
    return wet_um * solids * 0.1


def dry_thickness_um(product: str, coat_weight: float) -> float:
    _, density = SLURRY.get(product, (0.8, 2.0))
    return 10 * coat_weight / density


@dataclass
class Process:
    """One job's process on one unit: nominal values, noise, faults."""

    equipment_class: EquipmentClass
    product: str
    setpoints: dict[str, float]
    rng: random.Random
    erosion: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    _edge: list[float] = field(default_factory=lambda: [0.0, 0.0])
    noise_sigma: float = 0.005
    noise_clip: float = 0.01

    @property
    def speed_m_min(self) -> float:
        key = "winding_speed_m_min" if self.equipment_class == EquipmentClass.WINDER else "web_speed_m_min"
        return float(self.setpoints.get(key, 1.0))

    def _fault_factor(self, position_m: float) -> float:
        factor = 1.0
        for f in self.faults:
            if f.kind == "drift" and position_m >= f["start_m"]:
                factor *= 1 + f["pct_per_100m"] / 100 * (position_m - f["start_m"]) / 100
            elif f.kind == "step" and position_m >= f["at_m"]:
                factor *= 1 + f["pct"] / 100
            elif f.kind == "arc" and f.spans(position_m):
                factor *= 1 - f["depth_pct"] / 100
        return factor

    def _noise(self, position_m: float) -> float:
        scale = 1.0
        for f in self.faults:
            if f.kind == "noise" and position_m >= f["start_m"]:
                scale *= f["factor"]
        value = self.rng.gauss(0.0, self.noise_sigma * scale)
        return max(-self.noise_clip * scale, min(self.noise_clip * scale, value))

    def nominal(self, characteristic: str) -> float:
        sp = self.setpoints
        if self.equipment_class == EquipmentClass.SPUTTER:
            return sputter_thickness_nm(
                self.product,
                sp["power_w"],
                sp["pressure_pa"],
                sp["passes"],
                sp["web_speed_m_min"],
                self.erosion,
            )
        if self.equipment_class == EquipmentClass.COATER:
            weight = coat_weight_mg_cm2(
                self.product, sp["web_speed_m_min"], sp["gap_um"], sp.get("pump_rate_ml_min")
            )
            return weight if characteristic == "coat_weight" else dry_thickness_um(self.product, weight)
        return 0.0

    def scan(self, characteristic: str, lanes: int, position_m: float) -> list[float]:
        """One cross-web scan at ``position_m``: a value per lane."""
        if self.equipment_class == EquipmentClass.WINDER:
            return self._nan_lanes(self._edge_scan(lanes, position_m), position_m)
        nominal = self.nominal(characteristic) * self._fault_factor(position_m)
        values = []
        for lane in range(lanes):
            x = -1.0 + 2.0 * lane / (lanes - 1) if lanes > 1 else 0.0
            if self.equipment_class == EquipmentClass.SPUTTER:
                profile = 1 + 0.02 * math.cos(math.pi * x / 2) - 0.01  # centre +1 %, edges −1 %
            else:
                profile = 1.008 if lane in (0, lanes - 1) else 1.0  # heavy edges
            values.append(nominal * (profile + self._noise(position_m)))
        return self._nan_lanes(values, position_m)

    def _nan_lanes(self, values: list[float], position_m: float) -> list[float]:
        """The ``nan`` fault: its first ``lanes`` lanes (0: all) read NaN over its stretch."""
        for f in self.faults:
            if f.kind == "nan" and f.spans(position_m):
                count = int(f["lanes"]) or len(values)
                values = [math.nan if lane < count else v for lane, v in enumerate(values)]
        return values

    def gauge_dead(self, position_m: float) -> bool:
        """The ``dead_gauge`` fault: from ``at_m`` on, no more scans."""
        return any(f.kind == "dead_gauge" and position_m >= f["at_m"] for f in self.faults)

    def _edge_scan(self, lanes: int, position_m: float) -> list[float]:
        if len(self._edge) < lanes:
            self._edge.extend([0.0] * (lanes - len(self._edge)))
        jump = sum(
            0.6 * f["pct"] / 60 for f in self.faults if f.kind == "tension_spike" and f.spans(position_m)
        )
        drift = sum(
            0.5 * f["pct_per_100m"] / 100 * (position_m - f["start_m"]) / 100
            for f in self.faults
            if f.kind == "drift" and position_m >= f["start_m"]
        )
        out = []
        for lane in range(lanes):
            # Ornstein-Uhlenbeck walk: pulled back to the guide, clipped at ±0.3 mm.
            self._edge[lane] += -0.2 * self._edge[lane] + self.rng.gauss(0.0, 0.03)
            self._edge[lane] = max(-0.3, min(0.3, self._edge[lane]))
            out.append(self._edge[lane] + jump + drift + 0.5 * self._noise(position_m))
        return out

    def process_values(self, position_m: float) -> dict[str, float]:
        sp = self.setpoints
        jitter = 1 + self.rng.gauss(0.0, 0.002)
        values: dict[str, float] = {"position_m": position_m}
        spike = any(f.kind == "tension_spike" and f.spans(position_m) for f in self.faults)
        tension_factor = 1 + (0.6 if spike else 0.0) + self.rng.gauss(0.0, 0.01)
        for name, value in sp.items():
            if name.startswith("tension"):
                values[name] = value * tension_factor
            else:
                values[name] = value * jitter
        if self.equipment_class == EquipmentClass.WINDER:
            mandrel = sp.get("mandrel_diameter_mm", 4.0)
            # Archimedean spiral: length = π × turns × (mandrel + turns × stack)
            a, b = math.pi * STACK_THICKNESS_MM, math.pi * mandrel
            length_mm = position_m * 1000
            values["turns"] = (-b + math.sqrt(b * b + 4 * a * length_mm)) / (2 * a)
        return values
