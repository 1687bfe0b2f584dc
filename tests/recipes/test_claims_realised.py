"""Which claim rules a recipe realises: the rules of its product family and lot kind that apply to it
(a polymer substrate's only on a polymer film, of seed 002's two alternatives the one it takes), each
realised when the recipe violates none, and each violation named under its rule."""

from __future__ import annotations

import pytest

from mes.recipes.load import load_recipe_text
from mes.recipes.queries import claim_checks
from mes.recipes.schema import Recipe
from mes.yamldoc import parse_document
from tests.recipes.helpers import set_value, text_of

REALISED = {
    "alloy-film-anode.yaml": [("li-alloying-thin-film", "1-2"), ("second-metal-or-carbon", "1"),
                              ("polymer-substrate", "7-8")],
    "capped-si-anode.yaml": [("collector-metal", "1, 9"), ("si-ge-active-layer", "1, 7"),
                             ("cu-ni-cap-layer", "1, 8, 10"), ("cap-thickness-50-1000-nm", "11")],
    "cathode-lco.yaml": [("lithium-metal-oxide-cathode", "9")],
    "jelly-roll-alloy-film.yaml": [("band-electrodes-wound-lengthwise", "10")],
    "thin-composite-anode-carbon.yaml": [("carbon-layer-below-1-um", "4-5")],
    "thin-composite-anode-oxide.yaml": [("composite-layer-1-30-um", "1-3")],
}  # fmt: skip


def recipe(text: str) -> Recipe:
    loaded = load_recipe_text(text, "test.yaml")
    assert loaded.recipe is not None, loaded.issues
    return loaded.recipe


@pytest.mark.parametrize("name", sorted(REALISED))
def test_each_shipped_recipe_realises_the_rules_that_apply_to_it(name: str) -> None:
    checks = claim_checks(recipe(text_of(name)))
    assert [(c.rule, c.claims) for c in checks] == REALISED[name]
    assert all(c.realised and not c.problems for c in checks)


def test_a_violated_rule_is_named_with_where_and_why() -> None:
    """The jelly roll wound crosswise is refused at import; its content does not realise claim 10."""
    text = text_of("jelly-roll-alloy-film.yaml")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.strip().startswith("direction:"))
    text = set_value(text, line, "direction", "crosswise")
    assert any("claim 10" in i.message for i in load_recipe_text(text, "crosswise.yaml").issues)
    # A version stored before a rule was tightened is such a recipe: valid in structure, checked now.
    [check] = claim_checks(Recipe.model_validate(parse_document(text)[0]))
    assert check.rule == "band-electrodes-wound-lengthwise"
    assert not check.realised
    assert check.problems == [
        "steps[0].winding.direction: claim rule alloy-film-anode/band-electrodes-wound-lengthwise "
        "(000_7bf5625862584864.txt claim 10): the band-shaped cathode and anode are coiled along their "
        "length (direction: lengthwise)"
    ]
