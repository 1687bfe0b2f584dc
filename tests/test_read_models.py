"""Every list and show command's ``--json`` is exactly its read model; units by name; why a lot is held.

Run in this process against :mod:`tests.read_model_plant` on both backends (read-only: the
plant is built once per backend).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from mes.audit.schemas import AuditEventPublic
from mes.auth.schemas import UserPublic
from mes.base import beyond_limit
from mes.cli import main
from mes.config import get_settings
from mes.demo import ENGINEER, QUALITY
from mes.execution.units import UnitStatus
from mes.lots.order_models import OrderDetail, OrderPublic
from mes.lots.schemas import ForwardTrace, HoldSource, LotDetail, LotSummary, StepRunDetail, StepRunPublic
from mes.lots.trace_models import BackwardNode
from mes.quality.schemas import (
    AlarmPublic,
    CapabilityPublic,
    ChartPublic,
    ControlLimitPublic,
    LotReport,
)
from mes.recipes.schemas import RecipeDetail, RecipeSummary
from tests.read_model_plant import HELD_BY_FAULT, HELD_BY_SIGNATURE, LINK_LOST, ORDER, RECIPE, Plant

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def plant(read_model_plant: tuple[str, Plant], monkeypatch: pytest.MonkeyPatch) -> Plant:
    url, built = read_model_plant
    monkeypatch.setenv("MES_DATABASE_URL", url)
    get_settings.cache_clear()  # settings are read once per process
    return built


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    code: object = 0
    try:
        main(list(argv))
    except SystemExit as exc:
        code = exc.code
    finally:
        get_settings.cache_clear()
    captured = capsys.readouterr()
    assert code in (0, None), captured.err
    return captured.out


def values_csv(tmp_path: Path) -> Path:
    path = tmp_path / "values.csv"
    path.write_text("thickness_nm\n" + "\n".join(f"{500 + (i * 7) % 11 / 3:.3f}" for i in range(40)))
    return path


def commands(plant: Plant, tmp_path: Path) -> list[tuple[list[str], Any]]:
    """Every list and show command with ``--json``, and the model its output must be."""
    values = str(values_csv(tmp_path))
    return [
        (["lot", "list"], list[LotSummary]),
        (["lot", "show", HELD_BY_SIGNATURE], LotDetail),
        (["lot", "report", HELD_BY_SIGNATURE], LotReport),
        (["lot", "trace", HELD_BY_SIGNATURE, "--backward"], BackwardNode),
        (["lot", "trace", HELD_BY_SIGNATURE, "--forward"], ForwardTrace),
        (["recipe", "list"], list[RecipeSummary]),
        (["recipe", "show", RECIPE], RecipeDetail),
        (["alarm", "list", "--all"], list[AlarmPublic]),
        (["audit", "list"], list[AuditEventPublic]),
        (["step", "list"], list[StepRunPublic]),
        (["step", "show", plant.jobs[1]], StepRunDetail),
        (["spc", "limits", "list"], list[ControlLimitPublic]),
        (["spc", "chart", "--type", "imr", "--input", values], ChartPublic),
        (["spc", "capability", "--input", values, "--lsl", "495", "--usl", "505"], CapabilityPublic),
        (["user", "list"], list[UserPublic]),
        (["order", "list"], list[OrderPublic]),
        (["order", "show", ORDER], OrderDetail),
        (["unit", "list"], list[UnitStatus]),
        (["unit", "show", "sputter-1"], UnitStatus),
    ]


# The row ids a user is shown, each because a command takes it (README, "Output: tables and JSON");
# everything else is named by its business key: lot, order and job numbers, recipe ID@VERSION, unit name.
HANDLES = {
    ("AlarmPublic", "id"),  # mes alarm ack|shelve|unshelve ID
    ("AlarmDetail", "id"),
    ("IntervalPublic", "id"),  # mes lot hold|release|scrap LOT --interval ID
    ("HoldReason", "interval_id"),
    ("HoldReason", "alarm_ids"),
    ("StepRunPublic", "id"),  # mes step show|resume|abort STEP (the job id works too)
    ("StepRunDetail", "id"),
    ("AuditEventPublic", "id"),  # mes audit verify names the first event that breaks the chain
}


def row_ids(model: Any) -> set[tuple[str, str]]:
    """(model, field) of every field of ``model``, nested models included, that holds a row id: an
    integer named ``id``, ``…_id`` or ``…_ids`` (a recipe's ``id`` is its name, a step's ``job_id`` its
    job number: text)."""
    schema = TypeAdapter(model).json_schema(mode="serialization")
    found = set()
    for definition in [schema, *schema.get("$defs", {}).values()]:
        for name, field in definition.get("properties", {}).items():
            if (name == "id" or name.endswith(("_id", "_ids"))) and '"integer"' in json.dumps(field):
                found.add((definition.get("title", "?"), name))
    return found


def test_no_read_model_shows_a_row_id_but_the_handles_commands_take(plant: Plant, tmp_path: Path) -> None:
    shown = {field for _, model in commands(plant, tmp_path) for field in row_ids(model)}
    # Expected: none but HANDLES (order list/show had the order's row id, the lot report's genealogy
    # each lot's row id and each link's, the unit list each current step's).
    assert shown - HANDLES == set()


def test_every_list_and_show_prints_its_model(
    plant: Plant, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for argv, model in commands(plant, tmp_path):
        argv = [*argv, "--json"] if argv[:2] != ["lot", "report"] else argv
        text = run(capsys, *argv)
        adapter: TypeAdapter[Any] = TypeAdapter(model)
        parsed = adapter.validate_json(text)  # the output is the model: no key missing, none extra
        assert parsed, argv
        # … and exactly the model: printing what was parsed gives the same JSON back.
        assert adapter.dump_python(parsed, mode="json") == json.loads(text), argv
        assert '"unit_id"' not in text and "password" not in text, argv


def test_lot_show_names_units_and_why_it_is_held(plant: Plant, capsys: pytest.CaptureFixture[str]) -> None:
    signed = LotDetail.model_validate_json(run(capsys, "lot", "show", HELD_BY_SIGNATURE, "--json"))
    assert [s.unit for s in signed.steps] == ["sputter-1"]
    assert [layer.unit for layer in signed.layers] == ["sputter-1"]
    by_source = {h.source: h for h in signed.holds}
    assert set(by_source) == {HoldSource.SIGNED, HoldSource.INTERVAL}
    hold = by_source[HoldSource.SIGNED]
    assert (hold.what, hold.by, hold.signed) == ("suspect target", QUALITY, True)
    assert by_source[HoldSource.INTERVAL].interval_id == plant.interval
    assert by_source[HoldSource.INTERVAL].alarm_ids == [plant.oos_alarm]  # the out-of-spec alarm

    fault = LotDetail.model_validate_json(run(capsys, "lot", "show", HELD_BY_FAULT, "--json"))
    [step_hold] = fault.holds
    assert (step_hold.source, step_hold.unit, step_hold.job_id) == (
        HoldSource.STEP,
        "sputter-1",
        plant.jobs[1],
    )
    assert LINK_LOST in step_hold.what and step_hold.alarm_ids == [plant.step_alarm]

    text = run(capsys, "lot", "show", HELD_BY_FAULT)
    assert "on hold because:" in text
    assert f"step on sputter-1: step 0 (carbon-film) held: {LINK_LOST} (system, " in text
    assert f"[alarm {plant.step_alarm}]" in text
    assert f"step 0 carbon-film (job {plant.jobs[1]}) on sputter-1: held" in text
    text = run(capsys, "lot", "show", HELD_BY_SIGNATURE)
    assert f"signed hold: suspect target ({QUALITY}, " in text and ", signed)" in text
    assert f"held interval {plant.interval}: carbon-film.thickness 1.00–1.09 m worst " in text
    assert "layer carbon-film (C, dc_magnetron_sputtering) on sputter-1: out_of_spec" in text
    # Expected: the held interval's worst value printed one way in its hold line and its interval line,
    # as a value past a limit is everywhere (it was 'worst 607.35' and 'worst 607.4').
    [interval] = signed.intervals
    assert interval.worst is not None and interval.limit is not None
    shown = f"worst {beyond_limit(interval.worst, interval.limit)} nm beyond USL {interval.limit:g} nm"
    assert re.findall(r"worst \S+ nm beyond USL [\d.]+ nm", text) == [shown, shown], text


def test_alarms_and_steps_name_their_unit_and_lot(plant: Plant, capsys: pytest.CaptureFixture[str]) -> None:
    listed = TypeAdapter(list[AlarmPublic]).validate_json(run(capsys, "alarm", "list", "--json"))
    by_id = {a.id: a for a in listed}
    assert (by_id[plant.step_alarm].unit, by_id[plant.step_alarm].lot) == ("sputter-1", HELD_BY_FAULT)
    assert by_id[plant.oos_alarm].characteristic == "carbon-film.thickness"
    steps = TypeAdapter(list[StepRunPublic]).validate_json(run(capsys, "step", "list", "--json"))
    assert {(s.lot, s.unit) for s in steps} == {
        (HELD_BY_SIGNATURE, "sputter-1"),
        (HELD_BY_FAULT, "sputter-1"),
    }
    report = LotReport.model_validate_json(run(capsys, "lot", "report", HELD_BY_SIGNATURE))
    assert report.layers[0].unit == "sputter-1"
    assert [a.unit for a in report.alarms] == ["sputter-1"]
    assert report.layers[0].characteristics[0].control_limits is not None
    assert report.layers[0].characteristics[0].control_limits.unit == "sputter-1"


def test_alarm_list_csv_opens_in_a_spreadsheet(plant: Plant, capsys: pytest.CaptureFixture[str]) -> None:
    rows = list(csv.DictReader(io.StringIO(run(capsys, "alarm", "list", "--all", "--csv"))))
    assert sorted(int(r["id"]) for r in rows) == sorted([plant.step_alarm, plant.oos_alarm])
    by_id = {int(r["id"]): r for r in rows}
    step = by_id[plant.step_alarm]
    assert (step["unit"], step["lot"], step["priority"], step["state"]) == (
        "sputter-1",
        HELD_BY_FAULT,
        "urgent",
        "active_unack",
    )
    assert ISO_UTC.match(step["raised_at"]) and step["cleared_at"] == ""
    assert by_id[plant.oos_alarm]["position_m"] == "1.00"


def test_audit_list_filters_newest_first(plant: Plant, capsys: pytest.CaptureFixture[str]) -> None:
    def events(*argv: str) -> list[AuditEventPublic]:
        return TypeAdapter(list[AuditEventPublic]).validate_json(
            run(capsys, "audit", "list", *argv, "--json")
        )

    everything = events()
    assert [e.id for e in everything] == sorted((e.id for e in everything), reverse=True)
    # The signed hold and, just before it, its signature record.
    assert [e.action for e in events("--entity", HELD_BY_SIGNATURE)] == ["lot.hold", "e-signature"]
    assert {e.actor for e in events("--user", ENGINEER)} == {ENGINEER}
    assert {e.action for e in events("--user", ENGINEER)} >= {"recipe.import", "recipe.approve"}
    assert events("--since", "2999-01-01") == []
    assert events("--since", "1h") == everything
    text = run(capsys, "audit", "list", "--entity", RECIPE)
    assert "recipe.release" in text and "recipe.import" in text and QUALITY in text


def test_audit_list_refuses_a_bad_since(plant: Plant, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["audit", "list", "--since", "yesterday"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in err  # a value that cannot be used (it was 1)
    [line] = err.strip().splitlines()
    assert line.startswith("mes: error: --since 'yesterday': give an ISO 8601 date")


def sections(text: str) -> dict[str, list[list[str]]]:
    """``# name`` line, header row, rows; sections separated by one blank line."""
    found: dict[str, list[list[str]]] = {}
    for block in text.rstrip("\n").split("\n\n"):
        title, *lines = block.split("\n")
        assert title.startswith("# "), block
        rows = list(csv.reader(io.StringIO("\n".join(lines))))
        assert rows and all(len(r) == len(rows[0]) for r in rows), block  # a header, every row as wide
        found[title[2:]] = rows
    return found


def table(rows: list[list[str]]) -> list[dict[str, str]]:
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_report_csv_is_tables_rounded_to_the_gauge(plant: Plant, capsys: pytest.CaptureFixture[str]) -> None:
    text = run(capsys, "lot", "report", HELD_BY_SIGNATURE, "--format", "csv")
    found = sections(text)
    assert list(found) == [
        "lot", "holds", "steps", "layers", "characteristics", "intervals", "segments", "lanes", "alarms",
        "alarm_journal", "dispositions", "inputs", "made_from",
    ]  # fmt: skip
    [layer] = table(found["layers"])
    assert (layer["layer"], layer["unit"]) == ("carbon-film", "sputter-1")
    [char] = table(found["characteristics"])
    # Thickness in nm: readings to 0.1 nm, statistics to 0.01 nm, capability to 0.01.
    assert (char["lsl"], char["usl"], char["unit"]) == ("400.0", "600.0", "nm")
    assert re.fullmatch(r"\d{3}\.\d", char["min"]) and re.fullmatch(r"\d{3}\.\d", char["max"])
    assert re.fullmatch(r"\d{3}\.\d\d", char["mean"]) and re.fullmatch(r"\d+\.\d\d", char["stddev"])
    assert re.fullmatch(r"\d+\.\d\d", char["cpk"]) and char["center"] == "501.23"
    assert (char["measured_m"], char["coverage_pct"], char["scans"]) == ("3.00", "0.3", "300")
    [interval] = table(found["intervals"])
    assert (interval["start_m"], interval["end_m"], interval["status"]) == ("1.00", "1.09", "held")
    assert re.fullmatch(r"6\d\d\.\d", interval["worst"]) and interval["limit"] == "600.0"
    # The down-web profile: 3 m of scans in the limits' 0.5 m segments, one row each, to chart.
    segments = table(found["segments"])
    assert [s["start_m"] for s in segments] == ["0.00", "0.50", "1.00", "1.50", "2.00", "2.50"]
    assert all(s["scans"] == "50" and re.fullmatch(r"\d{3}\.\d\d", s["mean"]) for s in segments)
    assert len(table(found["lanes"])) == 8
    [signed] = [h for h in table(found["holds"]) if h["source"] == "signed"]
    assert (signed["by"], signed["signed"], signed["what"]) == (QUALITY, "yes", "suspect target")
    assert ISO_UTC.match(signed["at"])
    assert not re.search(r"\d\.\d{5,}", text)  # no float printed with every digit it has
