"""``mes equipment check UNIT`` also says which released recipes the unit can run, and why not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mes.db import make_engine
from mes.demo import prepare
from mes.migrate import upgrade
from tests.equipment.conftest import ROOT
from tests.services import free_port
from tests.test_cli import run_mes

MES = str(Path(sys.executable).with_name("mes"))


@pytest.fixture
def coater_without_pump(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A coater whose profile has no pump-rate setpoint, simulated by ``mes sim``; a database with
    the shipped recipes released."""
    text = (ROOT / "recipes/profiles/packml-coater.yaml").read_text()
    pump = "  pump_rate_ml_min: {node: s=Coater.Setpoints.PumpRate, data_type: Float, unit: mL/min, min: 0, max: 3000}\n"
    assert pump in text
    profile = tmp_path / "coater.yaml"
    profile.write_text(
        text.replace(pump, "").replace("setpoints:\n", "absent_setpoints: [pump_rate_ml_min]\nsetpoints:\n")
    )
    line = tmp_path / "line.yaml"
    line.write_text(f"line: check\nunits:\n  - {{name: coater-1, equipment_class: coater, "
                    f"endpoint: 'opc.tcp://127.0.0.1:{free_port()}', profile: {profile}}}\n")  # fmt: skip
    url = f"sqlite:///{tmp_path / 'mes.db'}"
    engine = make_engine(url)
    upgrade(engine)
    prepare(engine, ROOT / "recipes")
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    proc = subprocess.Popen([MES, "sim", "--line", str(line)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    for text in proc.stdout:
        if "simulators running" in text:
            break
    yield line, url
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)


def test_check_names_the_released_recipes_and_why_not(coater_without_pump: tuple[Path, str]) -> None:
    line, url = coater_without_pump
    result = run_mes("equipment", "check", "coater-1", "--line", str(line), env={"MES_DATABASE_URL": url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "coater-1: cathode-lco@1 step 0 (lco-coat): cannot run: coater-1 has no setpoint pump_rate_ml_min "
        "(absent in profile packml-coater); the step sets 540"
    ) in result.stdout
    assert "coater-1: all" in result.stdout  # the profile itself matches the machine


def test_check_without_a_database_still_checks_the_profile(
    coater_without_pump: tuple[Path, str], tmp_path: Path
) -> None:
    line, _ = coater_without_pump
    missing = f"sqlite:///{tmp_path / 'none' / 'mes.db'}"
    result = run_mes("equipment", "check", "coater-1", "--line", str(line), env={"MES_DATABASE_URL": missing})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "coater-1: released recipes not checked:" in result.stdout
