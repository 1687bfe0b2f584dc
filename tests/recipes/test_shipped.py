"""The recipes we ship, and the JSON Schema beside them."""

from __future__ import annotations

import json

import pytest

from mes.recipes.load import load_recipe_file
from mes.recipes.schema import recipe_json_schema
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
