"""The recipes we ship, and the JSON Schema beside them."""

from __future__ import annotations

import json

import pytest

from mes.recipes.load import load_recipe_file
from mes.recipes.schema import recipe_json_schema
from mes.recipes.service import canonical_json, content_hash
from tests.recipes.helpers import RECIPES_DIR, SHIPPED


def test_there_is_a_recipe_per_family_and_process() -> None:
    names = {p.stem for p in SHIPPED}
    assert {
        "alloy-film-anode",
        "capped-si-anode",
        "thin-composite-anode-oxide",
        "thin-composite-anode-carbon",
        "cathode-lco",
        "jelly-roll-alloy-film",
    } <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_recipe_is_valid(path: object) -> None:
    result = load_recipe_file(path)  # type: ignore[arg-type]
    assert result.issues == []
    assert result.recipe is not None


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_recipe_names_its_schema(path: object) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]  # type: ignore[attr-defined]
    assert first == "# yaml-language-server: $schema=schema/recipe.schema.json"


def test_committed_json_schema_is_current() -> None:
    committed = json.loads((RECIPES_DIR / "schema" / "recipe.schema.json").read_text(encoding="utf-8"))
    assert committed == recipe_json_schema(), (
        "regenerate with: mes recipe schema > recipes/schema/recipe.schema.json"
    )


# The content hashes of the shipped recipes as stored before fields were added to the schema
# with a default (coverage per characteristic, on_lot_hold per step). A database that holds
# these versions must still load them: `stored_recipe` refuses a recipe whose hash changed.
HASHES_BEFORE_ADDED_FIELDS = {
    "alloy-film-anode.yaml": "84dfa0d8fa8334fc39d28fdfce7255bfbfd32a978d60fe042fab2276c0ac55f9",
    "capped-si-anode.yaml": "a297bb68f60f9957d2f3af760b2f26b226a7a50206c90f3d2799b111e6925634",
    "cathode-lco.yaml": "c9785cd0ecb490446e0e8d4598705608fa65777e36b97503525a221c92670f2b",
    "jelly-roll-alloy-film.yaml": "8d67882002221d812a41efb25dd0b48b9b7d3aa88c1572462b857fcd61300730",
    "thin-composite-anode-carbon.yaml": "1f8f234f236ff24ea6ce97aa2610359252af9136dd8c0cbc9ba6d6f0004e1831",
    "thin-composite-anode-oxide.yaml": "f60f1818f758068ffb608d0786316bb82beb295acc6d888e1f3dc40c1026909f",
}


@pytest.mark.parametrize("name", sorted(HASHES_BEFORE_ADDED_FIELDS))
def test_fields_added_with_a_default_keep_stored_hashes(name: str) -> None:
    result = load_recipe_file(RECIPES_DIR / name)
    assert result.recipe is not None
    assert content_hash(result.recipe) == HASHES_BEFORE_ADDED_FIELDS[name]


def test_a_field_set_away_from_its_default_changes_the_hash() -> None:
    result = load_recipe_file(RECIPES_DIR / "cathode-lco.yaml")
    assert result.recipe is not None
    step = result.recipe.steps[0]
    changed = result.recipe.model_copy(update={"steps": [step.model_copy(update={"on_lot_hold": "hold"})]})
    assert content_hash(changed) != content_hash(result.recipe)
    assert '"on_lot_hold":"hold"' in canonical_json(changed)
