"""Every problem at once: a structural error hides no check that can still run, and says which did not."""

from __future__ import annotations

from mes.recipes.load import load_recipe_text
from tests.recipes.helpers import line_of, load, set_value, text_of

NOT_RUN = (
    "later checks did not run because the file's structure is invalid: unique step and layer names, "
    "what the recipe produces, the claim rules of its product family"
)
NOT_READ = "later checks did not run because the file could not be read as a YAML document"
CU_CAP_LSL = ("steps", 1, "layer", "characteristics", 0, "lsl")


def _crossed_cu_cap_limits() -> tuple[str, int]:
    """capped-si-anode with the Cu cap's LSL (150 nm) raised above its USL (250 nm)."""
    text = text_of("capped-si-anode.yaml")
    line = line_of(text, CU_CAP_LSL)
    return set_value(text, line, "lsl", "300"), line


def _found(text: str) -> list[tuple[int, str, str]]:
    return [(i.line, i.field, i.message) for i in load(text).issues]


def test_a_setpoint_beyond_its_limit_does_not_hide_crossed_limits() -> None:
    text, lsl_line = _crossed_cu_cap_limits()
    power_line = line_of(text, ("steps", 0, "setpoints", "power_w"))
    text = set_value(text, power_line, "power_w", "99999")
    # before: only the setpoint was reported; the crossed limits came after fixing it
    assert _found(text) == [
        (1, "(file)", NOT_RUN),
        (power_line, "steps[0].setpoints.power_w", "99999 W is outside the sputter class limits 10–10000 W"),
        (lsl_line, "steps[1].layer.characteristics[0].lsl", "LSL 300 must be below USL 250"),
    ]


def test_a_key_typo_does_not_hide_crossed_limits() -> None:
    text, lsl_line = _crossed_cu_cap_limits()
    text = text.replace("  - name: cu-cap\n", "  - name: cu-cap\n    colour: blue\n")
    colour_line = text.splitlines().index("    colour: blue") + 1
    # the unknown key is set aside, so the whole recipe is checked: nothing is left out
    assert _found(text) == [
        (colour_line, "steps[1].colour", "unknown key 'colour'"),
        (lsl_line + 1, "steps[1].layer.characteristics[0].lsl", "LSL 300 must be below USL 250"),
    ]


def test_a_typo_in_the_same_characteristic_does_not_hide_its_crossed_limits() -> None:
    text, lsl_line = _crossed_cu_cap_limits()
    gauge_line = lsl_line + 2
    lines = text.splitlines(keepends=True)
    assert lines[gauge_line - 1].strip() == "gauge: xrf"
    lines[gauge_line - 1] = lines[gauge_line - 1].replace("gauge:", "gage:")
    found = _found("".join(lines))
    assert (gauge_line, "steps[1].layer.characteristics[0].gage", "unknown key 'gage'") in found
    assert (lsl_line, "steps[1].layer.characteristics[0].lsl", "LSL 300 must be below USL 250") in found
    assert (1, "(file)", NOT_RUN) in found


def test_a_method_the_class_cannot_do_is_found_beside_a_structural_error() -> None:
    text = text_of("capped-si-anode.yaml")
    method_line = line_of(text, ("steps", 1, "layer", "method"))
    text = set_value(text, method_line, "method", "slot_die_coating")
    text = set_value(text, line_of(text, ("version",)), "version", "zero")
    found = _found(text)
    assert (method_line, "steps[1].layer.method", "a sputter cannot do slot_die_coating; it does "
            "dc_magnetron_sputtering, e_beam_evaporation, ion_plating, rf_magnetron_sputtering, "
            "vacuum_evaporation") in found  # fmt: skip
    assert (1, "(file)", NOT_RUN) in found


def test_winding_geometry_and_inspection_are_checked_beside_a_structural_error() -> None:
    text = text_of("jelly-roll-alloy-film.yaml")
    width_line = line_of(text, ("steps", 0, "winding", "consumes", 2, "width_mm"))
    text = set_value(text, width_line, "width_mm", "58.5")
    speed_line = line_of(text, ("steps", 0, "setpoints", "winding_speed_m_min"))
    text = set_value(text, speed_line, "winding_speed_m_min", "500")
    found = _found(text)
    assert any(f[0] == width_line and "separator 58.5 mm is narrower" in f[2] for f in found), found
    assert any(f[0] == speed_line and "outside the winder class limits" in f[2] for f in found), found
    assert (1, "(file)", NOT_RUN) in found


def test_a_file_that_does_not_parse_says_nothing_else_was_checked() -> None:
    result = load_recipe_text("id: [1, 2\n", "bad.yaml")
    assert result.recipe is None
    rendered = [str(i) for i in result.issues]
    assert f"bad.yaml:1:1: (file): {NOT_READ}" in rendered
    assert len(rendered) == 2 and any("not valid YAML" in r for r in rendered)


def test_a_valid_recipe_has_no_note() -> None:
    assert load(text_of("capped-si-anode.yaml")).issues == []
