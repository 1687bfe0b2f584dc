"""A usage error, or a value no command could use, exits 2 with a message saying what to give instead;
exit 1 stays for what is refused or fails given what is stored (README, "Exit codes").

Run in this process against :mod:`tests.read_model_plant` (its SQLite copy of this module).
"""

from __future__ import annotations

import io

import pytest

from mes.cli import main
from mes.config import get_settings
from mes.demo import ENGINEER, QUALITY
from tests.read_model_plant import HELD_BY_SIGNATURE, ORDER, RECIPE, ROOT, Plant

LOT = HELD_BY_SIGNATURE

# (argv, what the one line on stderr says): each exited 1 before, as if something had been refused.
USAGE = [
    (["lot", "trace", LOT], "give exactly one of --forward or --backward"),
    (["lot", "trace", LOT, "--forward", "--backward"], "give exactly one of --forward or --backward"),
    (["lot", "trace", LOT, "--forward", "--start-m", "5"], "give both the start and the end metre"),
    (["lot", "trace", LOT, "--forward", "--start-m", "3", "--end-m", "2"], "is empty"),
    (["lot", "trace", LOT, "--backward", "--start-m", "1", "--end-m", "2"], "use them with --forward"),
    (["lot", "show", ""], "the lot number is empty"),
    (["lot", "report", " "], "the lot number is empty"),
    (["lot", "receive", "--kind", "cell", "--material", "x", "--length-m", "5", "--supplier", "s",
      "--supplier-lot", "S-1", "--by", ENGINEER], "cell lots are made on the line, not received"),
    (["lot", "receive", "--kind", "separator", "--material", "x", "--length-m", "5", "--supplier", " ",
      "--supplier-lot", "S-1", "--by", ENGINEER], "names its supplier"),
    (["order", "show", ""], "the work order number is empty"),
    (["order", "cancel", ORDER, "--by", ENGINEER, "--reason", " "], "--reason: say why"),
    (["order", "list", "--recipe", "x@abc"], "is not a recipe reference"),
    (["order", "create", "--recipe", RECIPE, "--lot-size", "-1", "--by", ENGINEER], "--lot-size -1"),
    (["order", "create", "--recipe", RECIPE, "--idempotency-key", " ", "--by", ENGINEER], "idempotency key"),
    (["order", "create", "--recipe", "x@abc", "--by", ENGINEER], "is not a recipe reference"),
    (["recipe", "show", "x@abc"], "'x@abc' is not a recipe reference"),
    (["recipe", "show", ""], "is not a recipe reference"),
    (["recipe", "approve", RECIPE, "--by", ENGINEER, "--reason", " "], "a reason is required"),
    (["step", "show", ""], "the step is empty"),
    (["step", "abort", "JOBS_1", "--by", ENGINEER, "--reason", " "], "--reason: say why"),
    (["unit", "show", ""], "the unit name is empty"),
    (["unit", "set-healthy", "sputter-1", "--by", ENGINEER, "--reason", ""], "--reason: say why"),
    # Expected: the minutes as written (it said "not 36000 s").
    (["alarm", "shelve", "ALARM", "--minutes", "600", "--by", QUALITY, "--reason", "r"], "not 600 minutes"),
    (["alarm", "shelve", "ALARM", "--minutes", "5", "--by", QUALITY, "--reason", " "], "a reason is required"),
    (["alarm", "list", "--json", "--csv"], "give --json or --csv, not both"),
    (["audit", "list", "--since", "yesterday"], "--since 'yesterday': give an ISO 8601 date"),
    (["spc", "limits", "compute", "--recipe", RECIPE, "--unit", "sputter-1", "--layer", "carbon-film",
      "--characteristic", "thickness", "--lots", LOT, "--segment-m", "0", "--by", ENGINEER, "--reason", "r"],
     "segment length must be more than 0"),
    (["spc", "limits", "compute", "--recipe", RECIPE, "--unit", "sputter-1", "--layer", "carbon-film",
      "--characteristic", "thickness", "--lots", LOT, "--rules", "nelson:9", "--by", ENGINEER, "--reason", "r"],
     "nelson has rules 1–8"),
    (["lot", "hold", LOT, "--by", QUALITY, "--reason", " ", "--password-stdin"], "a reason is required"),
    (["recipe", "release", RECIPE, "--by", QUALITY, "--reason", "r", "--password-stdin"],
     "--password-stdin given but standard input is empty"),
]  # fmt: skip


@pytest.fixture
def plant(read_model_plant: tuple[str, Plant], monkeypatch: pytest.MonkeyPatch) -> Plant:
    url, built = read_model_plant
    monkeypatch.setenv("MES_DATABASE_URL", url)
    monkeypatch.setenv("MES_LINE_CONFIG", str(ROOT / "deploy" / "line.yaml"))
    get_settings.cache_clear()  # settings are read once per process
    return built


def run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = ""
) -> tuple[int, str]:
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = 0
    try:
        main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        get_settings.cache_clear()
    return code, capsys.readouterr().err


@pytest.mark.parametrize("read_model_plant", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("argv", "needle"), USAGE, ids=[" ".join(a[:3]) + f" ({n[:30]})" for a, n in USAGE])
def test_a_value_no_command_can_use_exits_2(
    plant: Plant,
    argv: list[str],
    needle: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handles = {"JOBS_1": plant.jobs[1], "ALARM": str(plant.oos_alarm)}
    signs = "--password-stdin" in argv and "standard input is empty" not in needle
    code, err = run(
        capsys, monkeypatch, *(handles.get(a, a) for a in argv), stdin=plant.password if signs else ""
    )
    # Expected: exit 2 and one line saying what was wrong (each exited 1, as a refusal does).
    assert code == 2, err
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("mes: error: ") and needle in line, line


@pytest.mark.parametrize("read_model_plant", ["sqlite"], indirect=True)
def test_what_is_refused_given_what_is_stored_still_exits_1(
    plant: Plant, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for argv, needle in [
        (["lot", "show", "NOPE"], "no lot NOPE"),
        (["recipe", "show", "nope@1"], "no recipe nope@1"),
        (["lot", "trace", LOT, "--forward", "--start-m", "1", "--end-m", "2000"], "not inside lot"),
        (["order", "create", "--recipe", RECIPE, "--lot-size", "5000", "--by", ENGINEER], "lot size 5000"),
        (["alarm", "ack", "999", "--by", QUALITY], "no alarm 999"),
    ]:
        code, err = run(capsys, monkeypatch, *argv)
        assert (code, needle in err) == (1, True), (argv, err)


@pytest.mark.parametrize("read_model_plant", ["sqlite"], indirect=True)
def test_typer_checks_the_lot_count(
    plant: Plant, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, err = run(
        capsys, monkeypatch, "order", "create", "--recipe", RECIPE, "--lots", "0", "--by", ENGINEER
    )
    # Expected: a usage error naming --lots (it was exit 1, "an order makes 1 to 1000 lots").
    assert code == 2 and "--lots" in err and "Traceback" not in err, err
