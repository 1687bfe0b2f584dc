"""Identifiers are printed whole at any terminal width: lot, order, job, recipe ID@VERSION, unit, alarm tag,
user; and no word of another column is split in the middle (a status, a state, a hash, a header).

Run as a user runs them (a separate process told its width by COLUMNS) against
:mod:`tests.read_model_plant`, whose lot numbers and recipe are the longest real ones.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from mes.demo import ENGINEER, QUALITY
from tests.read_model_plant import HELD_BY_FAULT, HELD_BY_SIGNATURE, ORDER, RECIPE, Plant
from tests.test_cli import run_mes

RECORD_LINE = re.compile(r"^[a-zA-Z][\w ()/]*: ")  # "header: value", printed whole, may run past the edge
WIDTHS = [120, 100, 80, 60]


def assert_whole(argv: list[str], text: str, width: int, identifiers: list[str], words: list[str]) -> None:
    """Each identifier and each word appears whole; nothing is cut (no "…"); no line is wider than
    the terminal, except a record's ``header: value`` line, which the terminal wraps."""
    for identifier in identifiers:
        assert identifier in text, (argv, width, identifier, text)
    # Words between white space and box rules; a record's header ends with ":".
    tokens = {t.removesuffix(":") for t in re.findall(r"[^\s│┃┏┓┗┛┡┩└┘━─┳┻╇╈┼┬┴]+", text)}
    for word in words:
        assert word in tokens, (argv, width, word, text)
    assert "…" not in text, (argv, width, text)
    for line in text.splitlines():
        assert len(line) <= width or RECORD_LINE.match(line), (argv, width, line)


# (command, identifiers printed whole, words of other columns never split in the middle); the
# identifiers "ALARM_TAGS", "RECIPES", "HASHES" and "FAMILIES" are read from the command's own --json.
CASES = {
    "lot list": (["lot", "list"], [HELD_BY_SIGNATURE, HELD_BY_FAULT, RECIPE], ["on_hold", "anode", "intervals", "(held)"]),
    # Expected: the characteristic of each alarm is listed (it was only in --json and --csv).
    "alarm list": (["alarm", "list"], ["ALARM_TAGS", HELD_BY_SIGNATURE, HELD_BY_FAULT, "sputter-1", "carbon-film.thickness"],
                   ["active_unack", "urgent", "characteristic"]),
    "step list": (["step", "list"], ["JOBS", HELD_BY_SIGNATURE, HELD_BY_FAULT, "sputter-1"], ["completed", "held"]),
    # The sha256 column was folded mid-hash, the status to "release"/"d" (at 80 columns).
    "recipe list": (["recipe", "list"], ["RECIPES"], ["released", "HASHES", "FAMILIES"]),
    "spc limits list": (["spc", "limits", "list"], [RECIPE, "sputter-1", ENGINEER], ["carbon-film", "thickness"]),
    "audit list": (["audit", "list", "--entity", HELD_BY_SIGNATURE], [HELD_BY_SIGNATURE, QUALITY], ["lot.hold"]),
    "user list": (["user", "list"], [QUALITY, ENGINEER], ["quality", "engineer"]),
    # Expected: order numbers, recipes and users whole (the order list cut them: "WO-2…", "jelly…").
    "order list": (["order", "list"], [ORDER, RECIPE, ENGINEER], ["priority", "2/2"]),
    # Expected: unit names whole (the unit list cut them: "coate…", "sputt…").
    "unit list": (["unit", "list"], ["sputter-1", "coater-1"], ["sputter", "coater", "seen", "healthy"]),
}  # fmt: skip


@pytest.mark.parametrize("read_model_plant", ["sqlite"], indirect=True)
@pytest.mark.parametrize("case", list(CASES))
def test_identifiers_are_never_cut(read_model_plant: tuple[str, Plant], case: str, tmp_path: Path) -> None:
    url, plant = read_model_plant
    env = {"MES_DATABASE_URL": url}
    alarms = json.loads(run_mes("alarm", "list", "--json", env=env, cwd=tmp_path).stdout)
    recipes = json.loads(run_mes("recipe", "list", "--json", env=env, cwd=tmp_path).stdout)
    assert len(alarms) == 2
    found = {
        "ALARM_TAGS": [a["condition"] for a in alarms],
        "JOBS": list(plant.jobs),
        "RECIPES": [r["ref"] for r in recipes],
        "HASHES": [r["content_hash"][:12] for r in recipes],
        "FAMILIES": sorted({r["product_family"] for r in recipes}),
    }
    argv, identifiers, words = CASES[case]
    identifiers = [v for i in identifiers for v in found.get(i, [i])]
    words = [v for w in words for v in found.get(w, [w])]
    for width in WIDTHS:
        result = run_mes(*argv, env={**env, "COLUMNS": str(width)}, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert_whole(argv, result.stdout, width, identifiers, words)


def test_control_chart_violations_are_never_cut(tmp_path: Path) -> None:
    values = tmp_path / "v.csv"  # named relative to the working directory: its line stays short
    values.write_text("thickness_nm\n" + "\n".join(["500"] * 3 + ["501", "499"] * 6 + ["560"]) + "\n")
    argv = ["spc", "chart", "--type", "imr", "--input", values.name]
    for width in WIDTHS:
        result = run_mes(*argv, env={"COLUMNS": str(width)}, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "violation(s)" in result.stdout
        # Expected: the rule names whole (a plain table cut them at 60 columns).
        assert_whole(argv, result.stdout, width, ["nelson-1"], ["index", "points"])


def test_the_demo_summary_never_cuts_a_lot_or_a_recipe() -> None:
    from datetime import UTC, datetime

    from mes.cli.lots import print_made
    from mes.lots.models import LotKind, LotStatus
    from mes.lots.schemas import LotSummary

    rows = [
        LotSummary(
            lot=f"WO-261130-6CA9EF-L0{i}", kind=LotKind.ANODE, status=LotStatus.RELEASED,
            recipe="thin-composite-anode-carbon@1", length_m=40.0, material="C on Cu", supplier_lot=None,
            layers=1, layers_out_of_spec=i - 1, layers_not_judged=0, intervals=i - 1, intervals_unmeasured=0,
            intervals_held=i - 1, created_at=datetime(2026, 11, 30, tzinfo=UTC),
        )
        for i in (1, 2)
    ]  # fmt: skip
    for width in WIDTHS:
        console = Console(width=width, record=True, file=io.StringIO())
        print_made(rows, console)
        text = console.export_text()
        # Expected: lot numbers and recipes whole, statuses unsplit; the demo built a plain rich table.
        assert_whole(["demo"], text, width, [r.lot for r in rows] + ["thin-composite-anode-carbon@1"],
                     ["released", "anode"])  # fmt: skip
