"""Identifiers are printed whole at any terminal width: lot, job, recipe ID@VERSION, unit, alarm tag.

Run as a user runs them (a separate process told its width by COLUMNS) against
:mod:`tests.read_model_plant`, whose lot numbers and recipe are the longest real ones.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mes.demo import QUALITY
from tests.read_model_plant import HELD_BY_FAULT, HELD_BY_SIGNATURE, RECIPE, Plant
from tests.test_cli import run_mes

RECORD_LINE = re.compile(r"^[a-zA-Z][\w ()]*: ")  # "header: value", printed whole, may run past the edge


@pytest.mark.parametrize("read_model_plant", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", [80, 60])
def test_identifiers_are_never_cut(read_model_plant: tuple[str, Plant], width: int, tmp_path: Path) -> None:
    url, plant = read_model_plant
    env = {"MES_DATABASE_URL": url}
    tags = [
        a["condition"] for a in json.loads(run_mes("alarm", "list", "--json", env=env, cwd=tmp_path).stdout)
    ]
    assert len(tags) == 2
    lots = [HELD_BY_SIGNATURE, HELD_BY_FAULT]
    recipes = [
        "alloy-film-anode@1", "capped-si-anode@1", "cathode-lco@1", "jelly-roll-alloy-film@1", RECIPE,
        "thin-composite-anode-oxide@1",
    ]  # fmt: skip
    cases = [
        (["lot", "list"], [*lots, RECIPE]),
        (["alarm", "list"], [*tags, *lots, "sputter-1"]),
        (["step", "list"], [*plant.jobs, *lots, "sputter-1"]),
        (["recipe", "list"], recipes),
        (["spc", "limits", "list"], [RECIPE, "sputter-1"]),
        (["audit", "list", "--entity", HELD_BY_SIGNATURE], [HELD_BY_SIGNATURE, QUALITY]),
        (["user", "list"], [QUALITY]),
    ]
    for argv, identifiers in cases:
        result = run_mes(*argv, env={**env, "COLUMNS": str(width)}, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        text = result.stdout
        for identifier in identifiers:
            assert identifier in text, (argv, identifier, text)
        assert "…" not in text, (argv, text)
        for line in text.splitlines():
            assert len(line) <= width or RECORD_LINE.match(line), (argv, line)
