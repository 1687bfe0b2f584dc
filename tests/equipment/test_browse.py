"""``mes equipment browse``: a draft profile from a running machine that, completed, drives it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mes.equipment.commission import check_unit
from mes.equipment.driver import UnitDriver
from mes.equipment.errors import ProfileError
from mes.equipment.profile import UnitConfig, load_profile
from tests.equipment.conftest import PROFILES
from tests.services import free_port

MES = str(Path(sys.executable).with_name("mes"))
ENV = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}


@pytest.fixture(scope="module")
def vendor_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A machine of vendor B (browse paths, PackTags commands) served by a real ``mes sim`` process."""
    path = tmp_path_factory.mktemp("browse") / "line.yaml"
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    path.write_text(f"line: browse\nunits:\n  - {{name: sputter-b, equipment_class: sputter, endpoint: '{endpoint}', "
                    f"profile: {PROFILES / 'vendor-b-sputter.yaml'}}}\n")  # fmt: skip
    proc = subprocess.Popen([MES, "sim", "--line", str(path), "--time-scale", "500"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=ENV)  # fmt: skip
    assert proc.stdout is not None
    for text in proc.stdout:
        if "simulators running" in text:
            break
    yield endpoint
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)


def _browse(endpoint: str) -> str:
    done = subprocess.run([MES, "equipment", "browse", endpoint], capture_output=True, text=True, env=ENV,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_draft_refuses_to_load_until_its_todos_are_done(vendor_b: str, tmp_path: Path) -> None:
    draft = _browse(vendor_b)
    assert "namespace: urn:vendor-b:webcoater" in draft
    assert "state: {path: Line/Coater/PackTags/Status/StateCurrent, data_type: UInt32}" in draft
    assert "style: packtags" in draft
    assert "#   Line/Coater/Gauge/LastScan: Double[] (read)" in draft  # array-ness and access level
    assert "#   Line/Coater/Recipe/CathodePowerW: Double (read/write)" in draft
    assert "HistoryScans" in draft  # the methods
    path = tmp_path / "draft.yaml"
    path.write_text(draft)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    lines = draft.splitlines()
    problems = str(info.value).splitlines()[1:]
    todo_lines = {i + 1 for i, line in enumerate(lines) if '"TODO:' in line}
    assert {int(p.split(":")[1]) for p in problems} >= todo_lines - {1}  # each TODO refused at its line


def test_a_completed_draft_loads_and_drives_the_machine(vendor_b: str, tmp_path: Path) -> None:
    draft = yaml.safe_load(_browse(vendor_b))
    # what only the commissioning engineer knows: names, class, limits, state numbering, which is the gauge
    original = yaml.safe_load((PROFILES / "vendor-b-sputter.yaml").read_text())
    by_path = {v["path"]: k for k, v in original["setpoints"].items()}
    draft.update(id="vendor-b-browsed", vendor="Vendor B", equipment_class="sputter",
                 state_numbers=original["state_numbers"])  # fmt: skip
    draft["setpoints"] = {
        by_path[path]: {"path": path, "data_type": original["setpoints"][by_path[path]]["data_type"],
                        "min": original["setpoints"][by_path[path]]["min"],
                        "max": original["setpoints"][by_path[path]]["max"]}
        for path in by_path
    }  # fmt: skip
    draft["process_values"] = {"position_m": {"path": "Line/Coater/Actual/LengthDone", "data_type": "Double"}}
    draft["gauges"] = {"xrf": {"kind": "variable", "characteristic": "thickness", "unit": "nm", "lanes": 8,
                               "pitch_m": 0.01, "first_lane": 3, "position": "position_m",
                               "value": {"path": "Line/Coater/Gauge/LastScan", "data_type": "Double"}}}  # fmt: skip
    path = tmp_path / "vendor-b-browsed.yaml"
    path.write_text(yaml.safe_dump(draft, sort_keys=False))
    profile = load_profile(path)
    assert profile.job.length_m.path == "Line/Coater/PackTags/Command/Parameter/RollLength"
    unit = UnitConfig(name="sputter-b", equipment_class="sputter", endpoint=vendor_b, profile=path)

    async def check() -> None:
        driver = UnitDriver(unit, profile, timeout_s=2.0, retry_s=5.0)
        await driver.connect()
        try:
            report = await check_unit(driver)
        finally:
            await driver.disconnect()
        assert report.ok, [e for e in report.entries if not e.ok]
        assert len(report.entries) >= 15

    asyncio.run(check())


def test_browse_of_an_absent_machine_is_one_line(tmp_path: Path) -> None:
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    done = subprocess.run([MES, "equipment", "browse", endpoint], capture_output=True,
                          text=True, env=ENV, timeout=60, check=False)  # fmt: skip
    assert done.returncode != 0
    assert f"{endpoint}: cannot connect:" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
