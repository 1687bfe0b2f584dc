"""Simulator physics and fault specifications."""

from __future__ import annotations

import random

import pytest

from mes.equipment.models import EquipmentClass
from mes.recipes.load import load_recipe_file
from mes.recipes.schema import CoaterStep, SputterStep
from mes.sim.errors import FaultSpecError
from mes.sim.faults import parse_fault, parse_line_faults
from mes.sim.physics import Process, coat_weight_mg_cm2, sputter_thickness_nm
from tests.recipes.helpers import SHIPPED


def _layer_steps() -> list[tuple[str, int]]:
    cases = []
    for path in SHIPPED:
        recipe = load_recipe_file(path).recipe
        assert recipe is not None
        cases += [
            (path.name, i) for i, s in enumerate(recipe.steps) if isinstance(s, SputterStep | CoaterStep)
        ]
    return cases


def _process(recipe_name: str, step_index: int, seed: int = 1) -> tuple[Process, SputterStep | CoaterStep]:
    recipe = load_recipe_file(next(p for p in SHIPPED if p.name == recipe_name)).recipe
    assert recipe is not None
    step = recipe.steps[step_index]
    assert isinstance(step, SputterStep | CoaterStep)
    setpoints = {k: float(v) for k, v in step.setpoints.model_dump().items() if v is not None}
    proc = Process(EquipmentClass(step.equipment_class), step.layer.composition[0].formula, setpoints,
                   random.Random(seed))  # fmt: skip
    return proc, step


@pytest.mark.parametrize(("recipe", "step"), _layer_steps())
def test_shipped_setpoints_hit_their_targets(recipe: str, step: int) -> None:
    proc, spec = _process(recipe, step)
    for char in spec.layer.characteristics:
        assert proc.nominal(char.name) == pytest.approx(char.target, rel=0.015), char.name


@pytest.mark.parametrize(("recipe", "step"), _layer_steps())
def test_a_healthy_machine_stays_in_spec(recipe: str, step: int) -> None:
    proc, spec = _process(recipe, step)
    for char in spec.layer.characteristics:
        for i in range(2_000):
            values = proc.scan(char.name, char.lanes, i * char.pitch_m)
            assert char.lsl < min(values) and max(values) < char.usl


def test_sputter_physics_directions() -> None:
    base = sputter_thickness_nm("Si", 1500, 0.6, 10, 0.135)
    assert sputter_thickness_nm("Si", 3000, 0.6, 10, 0.135) > base  # more power
    assert sputter_thickness_nm("Si", 3000, 0.6, 10, 0.135) < 2 * base  # derated
    assert sputter_thickness_nm("Si", 1500, 1.2, 10, 0.135) < base  # higher pressure
    assert sputter_thickness_nm("Si", 1500, 0.6, 10, 0.27) == pytest.approx(base / 2)  # d ∝ 1/v
    rates = [sputter_thickness_nm(m, 1000, 0.5, 1, 1) for m in ("Cu", "Ni", "Ge", "Si")]
    assert rates == sorted(rates, reverse=True)
    assert sputter_thickness_nm("Si", 1500, 0.6, 10, 0.135, erosion=0.01) < base


def test_coat_weight_follows_pump_rate_and_speed() -> None:
    assert coat_weight_mg_cm2("LiCoO2", 10, 180, 540) == pytest.approx(20.0, rel=1e-3)
    assert coat_weight_mg_cm2("LiCoO2", 20, 180, 540) == pytest.approx(10.0, rel=1e-3)


def test_drift_pushes_a_layer_out_of_spec() -> None:
    proc, spec = _process("capped-si-anode.yaml", 0)
    proc.faults.append(parse_fault("drift,pct_per_100m=10,start_m=0"))
    char = spec.layer.characteristics[0]
    assert max(proc.scan(char.name, char.lanes, 0.0)) < char.usl
    assert min(proc.scan(char.name, char.lanes, 100.0)) > char.usl


def test_edge_wander_stays_inside_tolerance_until_a_tension_spike() -> None:
    proc = Process(EquipmentClass.WINDER, "", {"winding_speed_m_min": 15.0}, random.Random(3))
    assert all(abs(v) < 0.5 for i in range(2_000) for v in proc.scan("edge_deviation", 2, i * 0.05))
    proc.faults.append(parse_fault("tension_spike,at_m=200,length_m=1"))
    assert max(proc.scan("edge_deviation", 2, 200.5)) > 0.5


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("", "empty fault"),
        ("melt", "unknown fault 'melt'"),
        ("drift,rate=3", "unknown key 'rate'"),
        ("drift,pct_per_100m", "expected key=value"),
        ("step,pct=lots", "is not a number"),
    ],
)
def test_bad_fault_specs(spec: str, error: str) -> None:
    with pytest.raises(FaultSpecError, match=error):
        parse_fault(spec)


def test_line_fault_specs() -> None:
    faults = parse_line_faults(
        "sputter-1:drift,pct_per_100m=3;coater-1:step,pct=-4,repeat=1", {"sputter-1", "coater-1"}
    )
    assert faults["sputter-1"][0].params["pct_per_100m"] == 3
    assert faults["coater-1"][0].repeat
    with pytest.raises(FaultSpecError, match="no unit 'winder-9'"):
        parse_line_faults("winder-9:stuck", {"sputter-1"})
    with pytest.raises(FaultSpecError, match="expected UNIT:KIND"):
        parse_line_faults("stuck", {"sputter-1"})
