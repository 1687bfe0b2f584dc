"""Profiles and line files: data, validated with positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from mes.equipment.errors import ProfileError
from mes.equipment.profile import load_line, load_profile
from tests.equipment.conftest import PROFILES, ROOT


@pytest.mark.parametrize("path", sorted(PROFILES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_profiles_load(path: Path) -> None:
    profile = load_profile(path)
    assert profile.setpoints
    assert profile.gauges


def test_shipped_line_loads_with_its_profiles() -> None:
    line = load_line(ROOT / "deploy" / "line.yaml")
    assert set(line.units) == {"sputter-1", "sputter-2", "coater-1", "winder-1"}
    assert line.profiles["coater-1"].id == "packml-coater"


def _broken(tmp_path: Path, old: str, new: str, name: str = "packml-sputter.yaml") -> Path:
    text = (PROFILES / name).read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("min: 10, max: 6000}", "min: 10, max: 12000}", "never widen them"),
        ("  bias_v:", "  voltage_v:", "sputter has no setpoint 'voltage_v'"),
        ("  power_w: {node: s=Sputter.Setpoints.Power, data_type: Float, unit: W, min: 10, max: 6000}\n", "",
         "missing setpoints of a sputter: power_w"),
        ("data_type: UInt16", "data_type: String", "a setpoint is numeric"),
        ("{node: s=Sputter.Status.StateCurrent,", "{node: Sputter.Status.StateCurrent,", "String should match"),
        ("commands: {style: method}", "commands: {style: telepathy}", "does not match any of the expected tags"),
    ],
)  # fmt: skip
def test_broken_profiles_say_where(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(ProfileError, match=message) as info:
        load_profile(path)
    assert f"{path}:" in str(info.value)


def test_state_numbers_must_be_distinct(tmp_path: Path) -> None:
    path = _broken(tmp_path, "  Starting: 2\n", "  Starting: 1\n", "vendor-b-sputter.yaml")
    with pytest.raises(ProfileError, match="distinct number"):
        load_profile(path)


def test_line_file_problems(tmp_path: Path) -> None:
    text = (ROOT / "deploy" / "line.yaml").read_text().replace("../recipes", str(ROOT / "recipes"))
    twice = tmp_path / "twice.yaml"
    twice.write_text(text.replace("127.0.0.1:48402", "127.0.0.1:48401"))
    with pytest.raises(ProfileError, match="endpoint opc.tcp://127.0.0.1:48401 is used twice"):
        load_line(twice)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(text.replace("packml-winder.yaml", "packml-coater.yaml"))
    with pytest.raises(ProfileError, match="winder-1 is a winder but profile"):
        load_line(wrong)
    insecure = tmp_path / "insecure.yaml"
    insecure.write_text(text.replace("    profile: " + str(ROOT / "recipes/profiles/packml-winder.yaml"),
                                     "    profile: x.yaml\n    security: {policy: Basic256Sha256, mode: None}"))  # fmt: skip
    with pytest.raises(ProfileError, match="policy None goes with mode None"):
        load_line(insecure)
    with pytest.raises(ProfileError, match="cannot read line file"):
        load_line(tmp_path / "absent.yaml")


def test_secure_example_line_passes_the_production_check() -> None:
    from mes.config import load_settings

    line = ROOT / "deploy" / "line-secure.yaml"
    assert all(u.security.mode == "SignAndEncrypt" for u in load_line(line).units.values())
    settings = load_settings(environment="production", secret_key="a-real-secret-value", line_config=line,
                             database_url="postgresql://mes@db/mes")  # fmt: skip
    assert settings.is_production
