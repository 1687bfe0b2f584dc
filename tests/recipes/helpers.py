"""Shipped recipes and ways to bend them."""

from __future__ import annotations

import re
from pathlib import Path

from mes.recipes.errors import Issue
from mes.recipes.load import LoadResult, load_recipe_text, parse_document

RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"
SHIPPED = sorted(RECIPES_DIR.glob("*.yaml"))


def text_of(name: str) -> str:
    return (RECIPES_DIR / name).read_text(encoding="utf-8")


def set_value(text: str, line: int, key: str, value: str) -> str:
    """Replace the value of ``key`` on 1-based ``line`` (block or flow style)."""
    lines = text.splitlines(keepends=True)
    new, n = re.subn(
        rf"(\b{re.escape(key)}:\s*)([^,}}#\n]+?)(\s*[,}}#\n]|$)",
        rf"\g<1>{value}\g<3>",
        lines[line - 1],
        count=1,
    )
    assert n == 1, f"{key} not on line {line}: {lines[line - 1]!r}"
    lines[line - 1] = new
    return "".join(lines)


def line_of(text: str, loc: tuple[str | int, ...]) -> int:
    _, source = parse_document(text)
    assert loc in source.values, loc
    return source.values[loc][0]


def issues_at(result: LoadResult, line: int) -> list[Issue]:
    return [i for i in result.issues if i.line == line]


def load(text: str, name: str = "mutated.yaml") -> LoadResult:
    return load_recipe_text(text, name)
