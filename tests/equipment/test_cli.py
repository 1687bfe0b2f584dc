"""``mes sim``, ``mes equipment check|run-job`` and ``mes certs init`` as an integrator runs them."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.equipment.conftest import ROOT
from tests.services import free_port
from tests.test_cli import run_mes

MES = str(Path(sys.executable).with_name("mes"))


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A two-unit line on free ports, simulated by a real ``mes sim`` process."""
    directory = tmp_path_factory.mktemp("line")
    path = directory / "line.yaml"
    profiles = ROOT / "recipes" / "profiles"
    path.write_text(
        "line: cli-test\nunits:\n"
        f"  - {{name: sputter-1, equipment_class: sputter, endpoint: 'opc.tcp://127.0.0.1:{free_port()}',"
        f" profile: {profiles / 'packml-sputter.yaml'}}}\n"
        f"  - {{name: coater-1, equipment_class: coater, endpoint: 'opc.tcp://127.0.0.1:{free_port()}',"
        f" profile: {profiles / 'packml-coater.yaml'}}}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    proc = subprocess.Popen([MES, "sim", "--line", str(path), "--time-scale", "2000"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    seen = []
    for text in proc.stdout:
        seen.append(text)
        if "simulators running" in text:
            break
    else:
        raise AssertionError("".join(seen))
    yield path
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    assert "simulators stopped" in rest
    assert "Traceback" not in rest


def test_check_lists_every_entry(line: Path) -> None:
    result = run_mes("equipment", "check", "coater-1", "--line", str(line))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ReadBetaScans" in result.stdout
    assert "coater-1: all" in result.stdout


@pytest.mark.parametrize("width", [100, 60])
def test_check_never_cuts_an_entry_or_a_node(line: Path, width: int) -> None:
    result = run_mes("equipment", "check", "coater-1", "--line", str(line), env={"COLUMNS": str(width)})
    assert result.returncode == 0, result.stdout + result.stderr
    # Expected: every entry and node id whole (a plain table cut them at 60 columns: "s=Coater.Status.…").
    assert "…" not in result.stdout
    for whole in ("s=Coater.Status.StateCurrent", "s=Coater.Diagnostics.StartCounts", "sp.web_speed_m_min"):
        assert whole in result.stdout.split(), (whole, result.stdout)


def test_check_reports_a_profile_that_does_not_match(line: Path, tmp_path: Path) -> None:
    text = (ROOT / "recipes/profiles/packml-coater.yaml").read_text()
    broken = tmp_path / "coater.yaml"
    broken.write_text(text.replace("s=Coater.Setpoints.Gap, data_type: Float", "s=Coater.Setpoints.Gapp, data_type: Float")
                      .replace("s=Coater.PV.Tension, data_type: Float", "s=Coater.PV.Tension, data_type: Double"))  # fmt: skip
    other = tmp_path / "line.yaml"
    other.write_text(line.read_text().replace(str(ROOT / "recipes/profiles/packml-coater.yaml"), str(broken)))
    result = run_mes("equipment", "check", "coater-1", "--line", str(other))
    assert result.returncode == 1
    assert "missing" in result.stdout
    assert "wrong data type" in result.stdout
    assert "server has Float, profile says Double" in result.stdout
    assert "coater-1: 2 profile entries wrong" in result.stderr


def test_run_job_to_complete(line: Path) -> None:
    job = ["--job-id", f"CLI-{os.getpid()}", "--product", "LiCoO2", "--length-m", "20"]
    sets = ["--set", "gap_um=180", "--set", "web_speed_m_min=10", "--set", "pump_rate_ml_min=540",
            "--set", "dryer_temp_c=120", "--set", "tension_n=80"]  # fmt: skip
    result = run_mes("equipment", "run-job", "coater-1", "--line", str(line), *job, *sets)
    assert result.returncode == 0, result.stderr
    for state in ("Idle", "Starting", "Execute", "Completing", "Complete"):
        assert f"coater-1: {state}" in result.stdout
    assert "position_m = 20" in result.stdout
    again = run_mes("equipment", "run-job", "coater-1", "--line", str(line), *job, *sets)
    assert again.returncode == 1
    assert "has run on this unit already" in again.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        # refused by the unit's profile: exit 1
        (["--set", "gap_um=5000"], 1, "gap_um: 5000 um is outside 20–500 um"),
        (["--set", "colour=3"], 1, "has no such setpoint"),
        # no unit could take these: exit 2, as a usage error (they were exit 1)
        (["--set", "gap_um"], 2, "expected NAME=NUMBER"),
        (["--set", "gap_um=wide"], 2, "expected NAME=NUMBER"),
        (["--set", "gap_um=180", "--set", "gap_um=190"], 2, "gap_um is given twice"),
        # whatever the last job left in a setpoint not given would run: refused, nothing written
        (["--set", "gap_um=180"], 2, "a job sets every setpoint of a coater; missing --set web_speed_m_min"),
    ],
)
def test_run_job_refuses_bad_setpoints_before_connecting(
    line: Path, args: list[str], code: int, message: str
) -> None:
    result = run_mes("equipment", "run-job", "coater-1", "--line", str(line), "--job-id", "X", *args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_run_job_names_a_count_outside_its_limits_without_a_unit(line: Path) -> None:
    result = run_mes("equipment", "run-job", "sputter-1", "--line", str(line), "--job-id", "X",
                     "--set", "passes=99")  # fmt: skip
    assert result.returncode == 1, result
    # Expected: "passes: 99 is outside 1–20" (it said "99 1 is outside 1–20 1": the unit of a count is 1).
    assert "sputter-1:passes: 99 is outside 1–20" in result.stderr, result.stderr
    assert " 1 is outside" not in result.stderr and "1–20 1" not in result.stderr


def test_unreachable_unit_and_unknown_unit(tmp_path: Path) -> None:
    path = tmp_path / "line.yaml"
    path.write_text(f"line: x\nunits:\n  - {{name: sputter-9, equipment_class: sputter, endpoint: "
                    f"'opc.tcp://127.0.0.1:{free_port()}', profile: {ROOT / 'recipes/profiles/packml-sputter.yaml'}}}\n")  # fmt: skip
    result = run_mes("equipment", "check", "sputter-9", "--line", str(path))
    assert result.returncode == 1
    assert "sputter-9: cannot connect to opc.tcp://127.0.0.1" in result.stderr
    unknown = run_mes("equipment", "check", "nope", "--line", str(path))
    assert unknown.returncode == 1
    assert "no unit 'nope'; the line has sputter-9" in unknown.stderr


def test_sim_refuses_bad_faults_and_bad_lines(tmp_path: Path) -> None:
    line = ROOT / "deploy" / "line.yaml"
    result = run_mes("sim", "--line", str(line), "--faults", "sputter-1:melt")
    assert result.returncode == 2  # a --faults value no simulator can use: a usage error (it was 1)
    assert "unknown fault 'melt'" in result.stderr
    bad = tmp_path / "line.yaml"
    bad.write_text("line: x\nunits: []\n")
    result = run_mes("sim", "--line", str(bad))
    assert result.returncode == 1
    assert f"{bad}:2:8: units: List should have at least 1 item" in result.stderr


def test_certs_init_keeps_the_units_keys_apart(tmp_path: Path) -> None:
    # Expected: own/ holds the MES client's pair only; each unit's pair is in units/ (keys 0600),
    # with the instruction to copy it to the machine and delete the folder, and each unit's
    # SHA-256 to pin. (own/ used to hold every unit's private key, on the MES host.)
    pki = tmp_path / "pki"
    result = run_mes("certs", "init", "--dir", str(pki), "--line", str(ROOT / "deploy" / "line.yaml"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (pki / "own").iterdir()) == ["mes-client.der", "mes-client.pem"]
    units = ["coater-1", "sputter-1", "sputter-2", "winder-1"]
    assert sorted(p.name for p in (pki / "units").iterdir()) == sorted(
        f"{u}.{x}" for u in units for x in ("der", "pem")
    )
    assert sorted(p.name for p in (pki / "trusted").iterdir()) == sorted(
        f"{u}.der" for u in [*units, "mes-client"]
    )
    assert {oct(p.stat().st_mode & 0o777) for p in [*pki.glob("*/*.pem")]} == {"0o600"}
    assert f"then delete {pki / 'units'} from the MES host" in result.stdout
    sha = hashlib.sha256((pki / "trusted" / "winder-1.der").read_bytes()).hexdigest().upper()
    assert f"  winder-1   {':'.join(sha[i : i + 2] for i in range(0, 64, 2))}" in result.stdout


def test_certs_init_moves_unit_keys_an_earlier_version_left_in_own(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    (pki / "own").mkdir(parents=True)
    (pki / "trusted").mkdir()
    for name in ("mes-client", "winder-1"):  # the earlier layout: every pair in own/
        (pki / "own" / f"{name}.der").write_bytes(b"old " + name.encode())
        (pki / "own" / f"{name}.pem").write_bytes(b"old key")
    result = run_mes("certs", "init", "--dir", str(pki), "--line", str(ROOT / "deploy" / "line.yaml"))
    assert result.returncode == 0, result.stderr
    assert (
        "winder-1: certificate and key from an earlier `mes certs init` moved from own/ to units/"
        in result.stdout
    )
    assert (pki / "units" / "winder-1.der").read_bytes() == b"old winder-1"  # kept, not replaced
    assert sorted(p.name for p in (pki / "own").iterdir()) == ["mes-client.der", "mes-client.pem"]


def test_sim_refuses_a_taken_port_before_starting_any_unit(tmp_path: Path) -> None:
    profiles = ROOT / "recipes" / "profiles"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = tmp_path / "line.yaml"
        line.write_text(
            "line: ports\nunits:\n"
            f"  - {{name: sputter-1, equipment_class: sputter, endpoint: 'opc.tcp://127.0.0.1:{free_port()}',"
            f" profile: {profiles / 'packml-sputter.yaml'}}}\n"
            f"  - {{name: coater-1, equipment_class: coater, endpoint: 'opc.tcp://127.0.0.1:{port}',"
            f" profile: {profiles / 'packml-coater.yaml'}}}\n"
        )
        result = run_mes("sim", "--line", str(line))
    # Expected: exit 1, one line naming the unit, the port and what to do, no traceback, and no
    # simulator started (sputter-1 used to come up and be announced before coater-1 failed).
    assert result.returncode == 1, result
    assert "Traceback" not in result.stdout + result.stderr
    [message] = result.stderr.strip().splitlines()
    assert f"coater-1: port {port} on 127.0.0.1 is already in use" in message
    assert "--line" in message
    assert "simulator at" not in result.stdout
