"""``mes spc chart`` and ``mes spc capability``, run through ``mes.cli.app`` as the console script does."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mes.cli import main
from mes.cli.spc import read_values
from mes.quality import capability as cap
from mes.quality import spc
from mes.quality.errors import SpcError
from tests.quality.test_spc import NIST_DATA, NIST_EWMA, PISTON_RINGS


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``mes ARGS``."""
    code: int | str | None = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    assert isinstance(code, int | None)
    return code or 0, captured.out, captured.err


def write(tmp_path: Path, lines: list[str], name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def json_of(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, stdout, stderr = run(capsys, *args)
    assert code == 0, stderr
    data: dict[str, Any] = json.loads(stdout)  # nothing but the JSON on stdout
    return data


def assert_one_line_error(result: tuple[int, str, str], *needles: str, exit_code: int = 1) -> None:
    """Exit 1 (what the data cannot give) or ``exit_code`` 2 (parameters no chart can have)."""
    code, stdout, stderr = result
    assert code == exit_code, result
    assert stdout == ""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("mes: error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture
def rings(tmp_path: Path) -> Path:
    return write(tmp_path, ["diameter_mm"] + [f"{v:.3f}" for row in PISTON_RINGS for v in row], "rings.csv")


def test_imr_json_matches_the_engine(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    values = [10.0, 12.0, 11.0, 13.0, 12.0] * 3 + [30.0, 11.0]
    path = write(tmp_path, ["thickness_um", "", *[str(v) for v in values], ""])
    data = json_of(capsys, "spc", "chart", "--type", "imr", "--input", str(path), "--json")
    assert data == spc.imr(values).to_dict()
    assert data["chart"] == "imr" and data["n"] == 17 and data["rules"] == "nelson"
    assert {"center", "ucl", "lcl", "sigma", "violations", "mr"} <= set(data)
    assert set(data["mr"]) >= {"center", "ucl", "lcl"}
    # The outlier's two moving ranges widen the limits so much that the 15 points before it all
    # lie within 1σ (Nelson 7); the outlier itself is beyond 3σ, and so are both its moving ranges.
    assert [(v["index"], v["rule"]) for v in data["violations"]] == [(14, "nelson-7"), (15, "nelson-1")]
    assert [v["index"] for v in data["mr"]["violations"]] == [15, 16]


def test_xbar_r_and_xbar_s_json(capsys: pytest.CaptureFixture[str], rings: Path) -> None:
    r = json_of(
        capsys, "spc", "chart", "--type", "xbar-r", "--input", str(rings), "--subgroup-size", "5", "--json"
    )
    assert r == spc.xbar_r(PISTON_RINGS).to_dict()
    assert r["n"] == 25 and round(r["center"], 3) == 74.001
    assert set(r["range"]) >= {"center", "ucl", "lcl"}
    s = json_of(
        capsys, "spc", "chart", "--type", "xbar-s", "--input", str(rings), "--subgroup-size", "5", "--json"
    )
    assert round(s["s"]["center"], 4) == 0.0094
    assert "range" not in s


def test_ewma_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, [str(v) for v in NIST_DATA])
    args = ["--lambda", "0.3", "--target", "50", "--sigma", "2.0539", "--json"]
    data = json_of(capsys, "spc", "chart", "--type", "ewma", "--input", str(path), *args)
    assert [round(z, 2) for z in data["ewma"]] == NIST_EWMA
    assert data["ucl"] == pytest.approx(52.5884, abs=1e-3)
    assert data["violations"] == [] and data["lambda"] == 0.3 and data["L"] == 3.0
    assert len(data["ucl_points"]) == 20


def test_rule_choice_and_run_length(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, ["-1", "1", "-1", "1", "-1"] + ["0.5"] * 8 + ["-0.5"])
    base = ["spc", "chart", "--type", "imr", "--input", str(path), "--json"]
    assert json_of(capsys, *base)["violations"] == []  # Nelson 2 needs 9
    eight = json_of(capsys, *base, "--run-length", "8")["violations"]
    assert [(v["index"], v["rule"]) for v in eight] == [(12, "nelson-2")]
    we = json_of(capsys, *base, "--rules", "western-electric")
    assert [(v["index"], v["rule"]) for v in we["violations"]] == [(12, "western-electric-4")]
    assert json_of(capsys, *base, "--rules", "none")["violations"] == []


def test_human_output(capsys: pytest.CaptureFixture[str], rings: Path) -> None:
    code, stdout, _ = run(
        capsys, "spc", "chart", "--type", "xbar-r", "--input", str(rings), "--subgroup-size", "5"
    )
    assert code == 0
    assert "xbar-r chart of" in stdout and "25 subgroups of 5" in stdout and "UCL 74.0146" in stdout
    assert "range chart" in stdout
    code, stdout, _ = run(capsys, "spc", "chart", "--type", "ewma", "--input", str(rings))
    assert code == 0 and "steady-state UCL" in stdout
    code, stdout, _ = run(
        capsys, "spc", "capability", "--input", str(rings), "--lsl", "73.95", "--usl", "74.05"
    )
    assert code == 0 and "Cpk" in stdout and "warning" not in stdout


def test_capability_json(capsys: pytest.CaptureFixture[str], rings: Path, tmp_path: Path) -> None:
    args = ["spc", "capability", "--input", str(rings), "--lsl", "73.95", "--usl", "74.05"]
    data = json_of(capsys, *args, "--subgroup-size", "5", "--json")
    flat = [v for row in PISTON_RINGS for v in row]
    engine = cap.capability(flat, lsl=73.95, usl=74.05, subgroup_size=5)
    # the read model always has the warning and within_note keys
    assert data == {"warning": None, "within_note": None, **engine.to_dict()}
    assert {"n", "mean", "sigma_within", "sigma_overall", "cp", "cpk", "pp", "ppk"} <= set(data)
    assert data["n"] == 125 and data["warning"] is None
    few = write(tmp_path, ["1.0", "1.2", "0.9", "1.1"])
    one_sided = json_of(capsys, "spc", "capability", "--input", str(few), "--usl", "2", "--json")
    assert one_sided["cp"] is None and one_sided["pp"] is None and one_sided["cpk"] > 0
    assert "4 values" in one_sided["warning"]


@pytest.mark.parametrize(
    ("lines", "args", "needles"),
    [
        ([], [], ["no values"]),
        (["value"], [], ["no values"]),
        (["value", "1.0", "2.0", "abc", "3.0"], [], ["line 4", "'abc' is not a number"]),
        (["1.0", "value", "3.0"], [], ["line 2", "'value' is not a number"]),
        (["value", "1.0", "nan", "3.0"], [], ["line 3", "not a finite number"]),
        (["value", "1.0", "inf"], [], ["line 3", "not a finite number"]),
        (["t,value", "1,1.0", "2,2.0"], [], ["line 1", "2 columns", "one column"]),
        (["value", "1,5", "2,5"], [], ["line 2", "2 columns"]),
        (["value", "1.0"], [], ["I-MR chart needs at least 2 values, got 1"]),
        (["4.0", "4.0", "4.0"], [], ["do not vary"]),
        (["1", "2", "3", "4", "5"], ["--type", "xbar-r", "--subgroup-size", "2"], ["1 left over"]),
        (
            ["1", "2", "3", "4"],
            ["--type", "xbar-r", "--subgroup-size", "4"],
            ["at least 2 subgroups are needed, got 1"],
        ),
    ],
)
def test_bad_chart_input_names_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lines: list[str], args: list[str], needles: list[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    chart_args = args or ["--type", "imr"]
    result = run(capsys, "spc", "chart", *chart_args, "--input", str(path), "--json")
    assert_one_line_error(result, str(path), *needles)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--type", "xbar-s", "--subgroup-size", "1"], "subgroup size must be 2–25"),
        (["--type", "ewma", "--lambda", "1.5"], "lambda must be in (0, 1]"),
        (["--type", "imr", "--run-length", "1"], "at least 2 points"),
    ],
)
def test_a_parameter_no_chart_can_have_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], needle: str
) -> None:
    path = write(tmp_path, ["1", "2", "3", "4"])
    result = run(capsys, "spc", "chart", *args, "--input", str(path), "--json")
    # Expected: exit 2, a usage error (it was 1, as if the data had been refused).
    assert_one_line_error(result, str(path), needle, exit_code=2)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--type", "xbar-r"], "--type xbar-r needs --subgroup-size"),
        (["--type", "imr", "--subgroup-size", "2"], "drop --subgroup-size"),
        (["--type", "imr", "--lambda", "0.3", "--sigma", "1"], "--lambda, --sigma: for --type ewma only"),
        (["--type", "ewma", "--rules", "nelson"], "drop --rules"),
        (["--type", "ewma", "--subgroup-size", "3"], "drop --subgroup-size"),
        (["--type", "imr", "--rules", "none", "--run-length", "8"], "needs a rule set"),
    ],
)
def test_conflicting_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], needle: str
) -> None:
    path = write(tmp_path, ["1", "2", "3", "4"])
    # Options that exclude each other: a usage error, exit 2 (it was 1).
    assert_one_line_error(run(capsys, "spc", "chart", *args, "--input", str(path)), needle, exit_code=2)


def test_unreadable_inputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    assert_one_line_error(
        run(capsys, "spc", "chart", "--type", "imr", "--input", str(missing)), str(missing), "no such file"
    )
    assert_one_line_error(
        run(capsys, "spc", "chart", "--type", "imr", "--input", str(tmp_path)), "is a directory"
    )
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01\x80")
    assert_one_line_error(
        run(capsys, "spc", "capability", "--input", str(binary), "--usl", "1"), str(binary), "not a text file"
    )


@pytest.mark.parametrize(
    ("args", "code", "needles"),
    [
        # limits and options no study can have: exit 2 (they were 1)
        ([], 2, ["at least one spec limit"]),
        (["--lsl", "5", "--usl", "1"], 2, ["must be below USL"]),
        (["--usl", "9", "--within", "s"], 2, ["needs subgroups"]),
        # what the data cannot give: exit 1
        (["--usl", "9", "--subgroup-size", "2"], 1, ["3 values do not make whole subgroups of 2"]),
    ],
)
def test_bad_capability_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], code: int, needles: list[str]
) -> None:
    path = write(tmp_path, ["1.0", "2.0", "1.5"])
    result = run(capsys, "spc", "capability", "--input", str(path), *args)
    assert_one_line_error(result, str(path), *needles, exit_code=code)


def test_the_console_script(tmp_path: Path) -> None:
    """The installed ``mes`` script, in a separate process: JSON on stdout, one error line on stderr."""
    mes = str(Path(sys.executable).with_name("mes"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    good = write(tmp_path, ["value", "1.0", "2.0", "1.5", "2.5"], "good.csv")
    ok = subprocess.run(
        [mes, "spc", "chart", "--type", "imr", "--input", str(good), "--json"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["n"] == 4
    bad = write(tmp_path, ["value", "1.0", "x"], "bad.csv")
    failed = subprocess.run(
        [mes, "spc", "chart", "--type", "imr", "--input", str(bad), "--json"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert failed.stderr.strip() == f"mes: error: {bad}, line 3: 'x' is not a number"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_any_file_content_reads_or_is_refused_clearly(tmp_path: Path, content: bytes) -> None:
    """Whatever bytes the file holds: values come back, or an SpcError naming the file; nothing else."""
    path = tmp_path / "fuzz.csv"
    path.write_bytes(content)
    values: list[float] = []
    message = ""
    try:
        values = read_values(path)
    except SpcError as exc:
        message = str(exc)
    if message:
        assert message.startswith(str(path)) and not values
    else:
        assert values and all(math.isfinite(v) for v in values)
