"""``mes equipment run-job`` against a machine that refuses or answers Bad statuses: one line, exit 1."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.equipment.conftest import ROOT
from tests.equipment.test_cli import MES
from tests.services import free_port
from tests.test_cli import assert_one_line_error, run_mes

COATER = ROOT / "recipes" / "profiles" / "packml-coater.yaml"
SETS = ["--set", "gap_um=180", "--set", "web_speed_m_min=10", "--set", "pump_rate_ml_min=540",
        "--set", "dryer_temp_c=120", "--set", "tension_n=80"]  # fmt: skip


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One coater, simulated by a real ``mes sim`` process that refuses every Start."""
    directory = tmp_path_factory.mktemp("faulty")
    path = directory / "line.yaml"
    path.write_text(
        "line: faulty\nunits:\n"
        f"  - {{name: coater-1, equipment_class: coater, endpoint: 'opc.tcp://127.0.0.1:{free_port()}',"
        f" profile: {COATER}}}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    proc = subprocess.Popen([MES, "sim", "--line", str(path), "--time-scale", "2000",
                             "--faults", "coater-1:refuse,command=Start,times=0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    for text in proc.stdout:
        if "simulators running" in text:
            break
    yield path
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)


def test_a_refused_start_is_one_line(line: Path) -> None:
    result = run_mes("equipment", "run-job", "coater-1", "--line", str(line), "--job-id", "RJ-1", *SETS)
    assert_one_line_error(result, "mes: error: coater-1: Start not confirmed within 5 s", "seen: state Idle")
    assert "coater-1: Idle" in result.stdout
    assert "Starting" not in result.stdout


def test_a_missing_node_is_one_line(line: Path, tmp_path: Path) -> None:
    broken = tmp_path / "coater.yaml"
    broken.write_text(COATER.read_text().replace("s=Coater.Setpoints.Gap,", "s=Coater.Setpoints.Gapp,"))
    other = tmp_path / "line.yaml"
    other.write_text(line.read_text().replace(str(COATER), str(broken)))
    result = run_mes("equipment", "run-job", "coater-1", "--line", str(other), "--job-id", "RJ-2", *SETS)
    assert_one_line_error(result, "coater-1:", "sp.gap_um (ns=2;s=Coater.Setpoints.Gapp)", "BadNodeIdUnknown")
