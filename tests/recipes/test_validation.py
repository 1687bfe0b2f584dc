"""Bad recipes are reported as PATH:LINE:COL: field: message, every problem at once."""

from __future__ import annotations

import pytest

from mes.equipment.models import EquipmentClass
from mes.recipes.load import load_recipe_text, parse_document
from mes.vocabulary import SETPOINT_MODELS
from tests.recipes.helpers import SHIPPED, issues_at, line_of, load, set_value, text_of


def _setpoint_cases() -> list[tuple[str, int, str]]:
    cases = []
    for path in SHIPPED:
        data, _ = parse_document(path.read_text(encoding="utf-8"))
        for i, step in enumerate(data["steps"]):
            for name in step["setpoints"]:
                cases.append((path.name, i, name))
    return cases


@pytest.mark.parametrize(("recipe", "step", "setpoint"), _setpoint_cases())
def test_every_setpoint_beyond_its_class_limit_is_reported_on_its_line(
    recipe: str, step: int, setpoint: str
) -> None:
    text = text_of(recipe)
    data, _ = parse_document(text)
    cls = EquipmentClass(data["steps"][step]["equipment_class"])
    field = SETPOINT_MODELS[cls].model_fields[setpoint]
    high = next(m.le for m in field.metadata if hasattr(m, "le"))
    line = line_of(text, ("steps", step, "setpoints", setpoint))
    result = load(set_value(text, line, setpoint, str(high * 2 + 1)))
    [note, issue] = result.issues
    assert note.field == "(file)" and "claim rules" in note.message  # they need a valid recipe
    assert issue.line == line
    assert issue.field == f"steps[{step}].setpoints.{setpoint}"
    assert f"outside the {cls} class limits" in issue.message


def _limit_cases() -> list[tuple[str, tuple[str | int, ...]]]:
    cases = []
    for path in SHIPPED:
        data, _ = parse_document(path.read_text(encoding="utf-8"))
        for i, step in enumerate(data["steps"]):
            holder = ("layer", "characteristics") if "layer" in step else ("inspection",)
            chars = step["layer"]["characteristics"] if "layer" in step else step.get("inspection", [])
            for j in range(len(chars)):
                cases.append((path.name, ("steps", i, *holder, j)))
    return cases


@pytest.mark.parametrize(("recipe", "loc"), _limit_cases())
def test_every_characteristic_with_crossed_limits_is_reported_on_its_line(
    recipe: str, loc: tuple[str | int, ...]
) -> None:
    text = text_of(recipe)
    line = line_of(text, (*loc, "lsl"))
    result = load(set_value(text, line, "lsl", "1e9"))
    assert any("must be below USL" in i.message for i in issues_at(result, line)), result.issues


@pytest.mark.parametrize(("recipe", "loc"), _limit_cases())
def test_every_target_outside_its_limits_is_reported_on_its_line(
    recipe: str, loc: tuple[str | int, ...]
) -> None:
    text = text_of(recipe)
    line = line_of(text, (*loc, "target"))
    result = load(set_value(text, line, "target", "-1e9"))
    assert any("outside its limits" in i.message for i in issues_at(result, line)), result.issues


# (recipe, field path into the document, new value, rule or message expected on that line)
CLAIM_MUTATIONS = [
    ("capped-si-anode.yaml", ("steps", 1, "layer", "characteristics", 0, "usl"), "1200", "cap-thickness-50-1000-nm"),
    ("capped-si-anode.yaml", ("steps", 1, "layer", "characteristics", 0, "lsl"), "40", "cap-thickness-50-1000-nm"),
    ("capped-si-anode.yaml", ("steps", 1, "layer", "composition", 0, "formula"), "Ag", "cu-ni-cap-layer"),
    ("capped-si-anode.yaml", ("steps", 0, "layer", "composition", 0, "formula"), "Sn", "si-ge-active-layer"),
    ("capped-si-anode.yaml", ("inputs", "substrate", "composition", 0, "formula"), "Al", "collector-metal"),
    ("alloy-film-anode.yaml", ("steps", 1, "layer", "composition", 0, "formula"), "Pt", "li-alloying-thin-film"),
    ("alloy-film-anode.yaml", ("inputs", "substrate", "resin"), "oxygen_containing", "polymer-substrate"),
    ("alloy-film-anode.yaml", ("inputs", "substrate", "true_specific_gravity_g_cc"), "2.2", "polymer-substrate"),
    ("alloy-film-anode.yaml", ("inputs", "substrate", "true_specific_gravity_g_cc"), "0.85", "polymer-substrate"),
    ("cathode-lco.yaml", ("steps", 0, "layer", "composition", 0, "formula"), "LiFePO4", "lithium-metal-oxide-cathode"),
    ("cathode-lco.yaml", ("steps", 0, "layer", "composition", 0, "formula"), "LiCuO2", "lithium-metal-oxide-cathode"),
    ("jelly-roll-alloy-film.yaml", ("steps", 0, "winding", "direction"), "crosswise", "wound-lengthwise"),
    ("thin-composite-anode-oxide.yaml", ("steps", 0, "layer", "characteristics", 0, "usl"), "31",
     "composite-layer-1-30-um"),
    ("thin-composite-anode-oxide.yaml", ("steps", 0, "layer", "characteristics", 0, "lsl"), "0.8",
     "composite-layer-1-30-um"),
    ("thin-composite-anode-oxide.yaml", ("steps", 0, "layer", "composition", 0, "formula"), "Fe2O3",
     "composite-layer-1-30-um"),
    ("thin-composite-anode-carbon.yaml", ("steps", 0, "layer", "characteristics", 0, "usl"), "1000",
     "carbon-layer-below-1-um"),
]  # fmt: skip


@pytest.mark.parametrize(("recipe", "loc", "value", "rule"), CLAIM_MUTATIONS)
def test_claim_violations_name_rule_seed_and_claim_on_the_right_line(
    recipe: str, loc: tuple[str | int, ...], value: str, rule: str
) -> None:
    text = text_of(recipe)
    line = line_of(text, loc)
    result = load(set_value(text, line, str(loc[-1]), value))
    hits = [i for i in issues_at(result, line) if rule in i.message]
    assert hits, result.issues
    assert ".txt claim " in hits[0].message


def test_boron_free_carbon_breaks_the_composite_claim() -> None:
    text = text_of("thin-composite-anode-oxide.yaml").replace("dopants: [B], ", "")
    result = load(text)
    assert any("boron-added carbon" in i.message and "002_" in i.message for i in result.issues)


def test_all_problems_are_reported_at_once() -> None:
    text = text_of("capped-si-anode.yaml")
    text = set_value(text, line_of(text, ("steps", 0, "setpoints", "power_w")), "power_w", "99999")
    text = set_value(text, line_of(text, ("steps", 1, "setpoints", "pressure_pa")), "pressure_pa", "50")
    text = set_value(text, line_of(text, ("version",)), "version", "zero")
    text = text.replace("  - name: cu-cap\n", "  - name: cu-cap\n    colour: blue\n")
    result = load(text)
    fields = {i.field for i in result.issues}
    assert {
        "steps[0].setpoints.power_w",
        "steps[1].setpoints.pressure_pa",
        "version",
        "steps[1].colour",
    } <= fields
    assert result.issues == sorted(result.issues)


def test_semantic_problems_are_reported_together() -> None:
    text = text_of("capped-si-anode.yaml")
    text = set_value(text, line_of(text, ("steps", 0, "layer", "characteristics", 0, "unit")), "unit", "g_m2")
    text = set_value(text, line_of(text, ("steps", 1, "layer", "characteristics", 0, "usl")), "usl", "1500")
    text = set_value(text, line_of(text, ("steps", 1, "layer", "method")), "method", "slot_die_coating")
    messages = " | ".join(i.message for i in load(text).issues)
    assert "thickness is not measured in g_m2" in messages
    assert "cap-thickness-50-1000-nm" in messages
    assert "a sputter cannot do slot_die_coating" in messages


def test_issue_format_is_path_line_col_field_message() -> None:
    result = load_recipe_text("id: x\nversion: 1\nbogus: 2\n", "recipes/x.yaml")
    rendered = [str(i) for i in result.issues]
    assert "recipes/x.yaml:3:1: bogus: unknown key 'bogus'" in rendered
    assert any(r.startswith("recipes/x.yaml:1:1: steps: required field is missing") for r in rendered)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (b"\xff\xfe\x00", "not UTF-8"),
        ("", "the file is empty"),
        ("id: [1, 2", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping"),
        ("a: &x [1]\nb: *x\n", "anchors and aliases are not allowed"),
        ("a: !!python/object/apply:os.system ['true']\n", "is not allowed here"),
        ("a: !!python/name:os.system x\n", "cannot read this value"),
        ("[" * 10_000, "nested deeper"),
        ("id: a\n---\nid: b\n", "one YAML document"),
        ("id: a\nid: b\n", "duplicate key 'id'"),
        ("{[1]: 2}", "mapping keys must be plain words"),
    ],
)
def test_malformed_files_end_in_one_clear_issue(text: str | bytes, needle: str) -> None:
    result = load_recipe_text(text, "bad.yaml")
    assert result.recipe is None
    assert any(needle in i.message for i in result.issues), result.issues


def test_unit_mismatch_names_the_allowed_units() -> None:
    text = text_of("cathode-lco.yaml")
    line = line_of(text, ("steps", 0, "layer", "characteristics", 0, "unit"))
    [issue] = load(set_value(text, line, "unit", "nm")).issues
    assert issue.line == line
    assert issue.message == "coat_weight is not measured in nm; use g_m2, mg_cm2"


def test_winding_geometry_is_checked() -> None:
    text = text_of("jelly-roll-alloy-film.yaml")
    line = line_of(text, ("steps", 0, "winding", "consumes", 2, "width_mm"))
    [issue] = load(set_value(text, line, "width_mm", "58.5")).issues
    assert issue.line == line
    assert "separator 58.5 mm is narrower than anode + 2 × overhang = 60 mm" in issue.message
