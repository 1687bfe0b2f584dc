"""No input makes the recipe loader raise or hang: arbitrary text, bytes and mutated recipes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mes.recipes.load import LoadResult, load_recipe_text
from tests.recipes.helpers import SHIPPED
from tests.yaml_mutations import COMMON, mutate

SHIPPED_TEXTS = [p.read_text(encoding="utf-8") for p in SHIPPED]
FUZZ = settings(max_examples=300, deadline=2_000, suppress_health_check=[HealthCheck.too_slow])


def _well_formed(result: LoadResult, text: str | bytes) -> None:
    assert (result.recipe is None) == bool(result.issues)
    lines = (text.count("\n") if isinstance(text, str) else text.count(b"\n")) + 1
    for issue in result.issues:
        assert 1 <= issue.line <= lines + 1, issue
        assert issue.column >= 1
        assert issue.message
        assert str(issue).startswith(f"{issue.path}:{issue.line}:{issue.column}: ")


@FUZZ
@given(st.text(max_size=2_000))
def test_arbitrary_text(text: str) -> None:
    _well_formed(load_recipe_text(text, "fuzz.yaml"), text)


@FUZZ
@given(st.binary(max_size=2_000))
def test_arbitrary_bytes(raw: bytes) -> None:
    _well_formed(load_recipe_text(raw, "fuzz.yaml"), raw)


@st.composite
def mutated_recipe(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SHIPPED_TEXTS)).splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from([*COMMON, "indent", "truncate"]))
        if action in COMMON:
            mutate(draw, lines, i, action)
        elif action == "indent":
            lines[i] = draw(st.sampled_from(["", " ", "  ", "    "])) + lines[i].lstrip(" ")
        else:
            lines = lines[:i]
    return "".join(lines)


@FUZZ
@given(mutated_recipe())
def test_mutated_shipped_recipes(text: str) -> None:
    _well_formed(load_recipe_text(text, "mutated.yaml"), text)


@settings(max_examples=8, deadline=None)
@given(st.binary(max_size=300) | mutated_recipe().map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_cli_never_shows_a_traceback(tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "r.yaml"
    path.write_bytes(raw)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("mes")), "recipe", "validate", str(path)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
