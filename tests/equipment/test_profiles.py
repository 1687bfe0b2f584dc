"""Profiles and line files: data, validated with positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from mes.equipment.errors import ProfileError
from mes.equipment.profile import load_line, load_profile
from tests.equipment.conftest import PROFILES, ROOT

WHOLE = (
    "missing and absent setpoints, state numbers, the data types of state, job, counters and gauges, "
    "gauges' process values, two entries on one node"
)


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
    from mes.equipment.line import load_line_for
    from tests.test_config import GOOD_PRODUCTION

    line = ROOT / "deploy" / "line-secure.yaml"
    assert all(u.security.mode == "SignAndEncrypt" for u in load_line(line).units.values())
    assert load_line_for(load_settings(**GOOD_PRODUCTION, line_config=line)).path == line
    # each unit names the certificate it must present: no other trusted machine can stand in for it
    assert all(u.security.pinned for u in load_line(line).units.values())


def _problems(path: Path) -> list[str]:
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    return str(info.value).splitlines()[1:]


def test_every_entry_problem_at_once_with_its_position(tmp_path: Path) -> None:
    text = (PROFILES / "packml-sputter.yaml").read_text()
    lines = text.splitlines()
    # three mistakes: a UInt16 setpoint whose min is below 0, a numeric node id above UInt32 and two
    # entries on one node; each is reported at its own line, in one go
    passes = next(i for i, line in enumerate(lines) if line.startswith("  passes:"))
    lines[passes] = lines[passes].replace("min: 1,", "min: -5,").replace("max: 50", "max: 20")
    state = next(i for i, line in enumerate(lines) if line.startswith("state:"))
    lines[state] = "state: {node: i=4294967296, data_type: Int32}"
    temp = next(i for i, line in enumerate(lines) if line.startswith("  substrate_temp_c:"))
    power_node = lines[next(i for i, line in enumerate(lines) if line.startswith("  power_w:"))].split(",")[0]
    node = power_node.split("node: ")[1]
    lines[temp] = lines[temp].replace(lines[temp].split(",")[0].split("node: ")[1], node)
    path = tmp_path / "p.yaml"
    path.write_text("\n".join(lines) + "\n")
    problems = _problems(path)
    assert (
        f"{path}:{state + 1}:15: state.node: numeric node id 4294967296 is above 4294967295 (UInt32)"
        in problems
    )
    assert (
        f"{path}:{passes + 1}:81: setpoints.passes.min: min -5 is outside the UInt16 range 0–65535"
        in problems
    )
    assert any(
        p.startswith(f"{path}:{passes + 1}:81: setpoints.passes.min: a profile may narrow") for p in problems
    ), problems
    assert any(
        p.startswith(f"{path}:{temp + 1}:") and f"node {node} is already used by setpoints.power_w" in p
        for p in problems
    ), problems
    assert len(problems) == 4, problems


def test_numeric_node_id_above_uint32_is_a_profile_error(tmp_path: Path) -> None:
    path = _broken(tmp_path, "state: {node: s=Sputter.Status.StateCurrent,", "state: {node: i=99999999999,")
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}:")
    assert "state.node" in problem
    assert "numeric node id 99999999999 is above 4294967295" in problem


def test_scaled_limits_are_checked_in_the_machine_data_type(tmp_path: Path) -> None:
    # power in kW on a UInt16 node: 6000 W is 6 kW, fine; in mW it would be 6,000,000: too big
    old = "power_w: {node: s=Sputter.Setpoints.Power, data_type: Float, unit: W, min: 10, max: 6000}"
    mw = "power_w: {node: s=Sputter.Setpoints.Power, data_type: UInt16, unit: W, min: 10, max: 6000, scale: 0.001, machine_unit: mW}"
    (problem,) = _problems(_broken(tmp_path, old, mw))
    assert (
        "setpoints.power_w.max: max 6000 W (machine 6e+06 mW) is outside the UInt16 range 0–65535" in problem
    )
    kw = "power_w: {node: s=Sputter.Setpoints.Power, data_type: UInt16, unit: W, min: 10, max: 6000, scale: 1000}"
    (problem,) = _problems(_broken(tmp_path, old, kw))
    assert "setpoints.power_w.machine_unit: a scaled entry names the machine's unit" in problem


def test_absent_setpoints_and_optional_product(tmp_path: Path) -> None:
    old = "  ar_flow_sccm: {path: Line/Coater/Recipe/ArgonSccm, data_type: Double, unit: sccm, min: 0, max: 400}\n"
    path = _broken(tmp_path, old, "", "vendor-b-sputter.yaml")
    assert "missing setpoints of a sputter: ar_flow_sccm" in "\n".join(_problems(path))
    text = path.read_text().replace("setpoints:\n", "absent_setpoints: [ar_flow_sccm]\nsetpoints:\n", 1)
    text = text.replace(
        "  product: {path: Line/Coater/PackTags/Command/Product/ProductId, data_type: String}\n", ""
    )
    path.write_text(text)
    profile = load_profile(path)
    assert profile.absent_setpoints == ["ar_flow_sccm"]
    assert profile.job.product is None
    path.write_text(text.replace("[ar_flow_sccm]", "[ar_flow_sccm, power_w, voltage_v]"))
    problems = "\n".join(_problems(path))
    assert "absent_setpoints[1]: power_w is both a setpoint and absent" in problems
    assert "absent_setpoints[2]: sputter has no setpoint 'voltage_v'" in problems


def test_variable_gauge_needs_a_position_or_a_speed(tmp_path: Path) -> None:
    text = (PROFILES / "packml-coater.yaml").read_text().split("gauges:")[0]
    gauge = (
        "gauges:\n  beta:\n    kind: variable\n    characteristic: coat_weight\n    unit: mg_cm2\n"
        "    lanes: 6\n    pitch_m: 0.02\n    value: {node: s=Coater.Gauges.Beta.Latest, data_type: Double}\n"
        "    first_lane: 3\n"
    )
    path = tmp_path / "v.yaml"
    path.write_text(text + gauge + "    position: odometer_m\n")
    (problem,) = _problems(path)
    assert "gauges.beta.position: no process value 'odometer_m'" in problem
    path.write_text(text + gauge)
    note, problem = _problems(path)
    assert "give exactly one of position" in problem
    assert note.endswith(f"later checks did not run because the file's structure is invalid: {WHOLE}")
    path.write_text(text + gauge + "    position: position_m\n")
    profile = load_profile(path)
    assert list(profile.variable_gauges()) == ["beta"]
    assert profile.ring_buffer_gauges() == {}


def test_a_scale_on_a_state_counter_or_sequence_number_is_refused(tmp_path: Path) -> None:
    # The driver reads these as whole numbers as the machine gives them; a scale there would be
    # silently ignored, so the loader refuses it at its line.
    text = (PROFILES / "packml-sputter.yaml").read_text()
    lines = text.splitlines()
    state = next(i for i, line in enumerate(lines) if line.startswith("state:"))
    lines[state] = lines[state].replace("}", ", scale: 2, machine_unit: x}")
    seq = next(i for i, line in enumerate(lines) if "last_seq:" in line)
    lines[seq] = lines[seq].replace("}", ", scale: 10, machine_unit: x}")
    path = tmp_path / "p.yaml"
    path.write_text("\n".join(lines) + "\n")
    problems = _problems(path)
    assert any(p.startswith(f"{path}:{state + 1}:") and "state.scale: only setpoints" in p for p in problems)
    assert any(p.startswith(f"{path}:{seq + 1}:") and "last_seq.scale: only setpoints" in p for p in problems)


def test_a_field_error_does_not_hide_the_checks_of_valid_entries(tmp_path: Path) -> None:
    text = (PROFILES / "packml-sputter.yaml").read_text()
    lines = text.splitlines()
    power = next(i for i, line in enumerate(lines) if line.startswith("  power_w:"))
    passes = next(i for i, line in enumerate(lines) if line.startswith("  passes:"))
    # a field error (an unknown data type on the state) beside two setpoint mistakes
    state = next(i for i, line in enumerate(lines) if line.startswith("state:"))
    lines[state] = lines[state].replace("data_type: Int32", "data_type: Int33")
    lines[power] = lines[power].replace("max: 6000", "max: 12000")
    lines[passes] = lines[passes].replace("min: 1,", "min: -5,").replace("max: 50", "max: 20")
    path = tmp_path / "p.yaml"
    path.write_text("\n".join(lines) + "\n")
    problems = _problems(path)
    # before: only the data type was reported; the widened limit and the UInt16 range came after fixing it
    assert any(
        p.startswith(f"{path}:{state + 1}:") and "state.data_type: Input should be" in p for p in problems
    )
    assert any(
        p.startswith(f"{path}:{power + 1}:")
        and "setpoints.power_w.max: a profile may narrow the sputter class" in p
        for p in problems
    ), problems
    assert (
        f"{path}:{passes + 1}:81: setpoints.passes.min: min -5 is outside the UInt16 range 0–65535"
        in problems
    )
    assert (
        f"{path}:1:1: (file): later checks did not run because the file's structure is invalid: {WHOLE}"
        in (problems)
    )


def test_a_typo_in_a_profile_does_not_hide_a_widened_limit(tmp_path: Path) -> None:
    path = _broken(tmp_path, "min: 10, max: 6000}", "min: 10, max: 12000, colour: blue}")
    problems = _problems(path)
    assert any("setpoints.power_w.colour: unknown key 'colour'" in p for p in problems), problems
    assert any("setpoints.power_w.max: a profile may narrow" in p for p in problems), problems
    assert not any("did not run" in p for p in problems), problems  # the typo set aside, all checks ran
