"""Production judges the line file a process loads, whichever way it was named (decision 005)."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

from mes.config import Settings, load_settings
from mes.equipment.errors import ProfileError
from mes.equipment.line import load_line, load_line_for, production_problems
from mes.errors import ConfigError
from tests.equipment.conftest import PROFILES, ROOT
from tests.services import free_port
from tests.test_config import GOOD_PRODUCTION

SECURED = {
    "policy": "Basic256Sha256",
    "mode": "SignAndEncrypt",
    "server_pin": "{sha256: '" + "ab" * 32 + "'}",
}
UNPINNED = {"policy": "Basic256Sha256", "mode": "SignAndEncrypt"}


def write_line(path: Path, security: Mapping[str, Mapping[str, str] | None]) -> Path:
    """A line of sputter units on free ports, each with the given security block (None: none)."""
    units = []
    for name, sec in security.items():
        block = ""
        if sec is not None:
            files = "{certificate: c.der, private_key: c.pem, trust_dir: trusted}"
            pin = f"server_pin: {sec['server_pin']}, " if "server_pin" in sec else ""
            block = f", security: {{policy: {sec['policy']}, mode: {sec['mode']}, {pin}" + files[1:]
        units.append(f"  - {{name: {name}, equipment_class: sputter, endpoint: 'opc.tcp://127.0.0.1:{free_port()}', "
                     f"profile: {PROFILES / 'packml-sputter.yaml'}{block}}}\n")  # fmt: skip
    path.write_text("line: t\nunits:\n" + "".join(units))
    return path


def production(**overrides: object) -> Settings:
    return load_settings(**{**GOOD_PRODUCTION, **overrides})


def test_the_shipped_lines() -> None:
    # Expected: the simulated line fails for all four units; the secured example passes.
    [problem] = production_problems(load_line(ROOT / "deploy" / "line.yaml"))
    assert problem.startswith(
        "units sputter-1, sputter-2, coater-1, winder-1: not Basic256Sha256 SignAndEncrypt"
    )
    assert production_problems(load_line(ROOT / "deploy" / "line-secure.yaml")) == []


def test_each_unit_at_fault_is_named(tmp_path: Path) -> None:
    sign = {"policy": "Basic256Sha256", "mode": "Sign"}
    path = write_line(tmp_path / "line.yaml", {"sputter-1": SECURED, "sputter-2": sign, "sputter-3": None})
    with pytest.raises(ConfigError) as info:
        load_line_for(production(line_config=path))
    message = str(info.value)
    assert message.startswith(f"MES_LINE_CONFIG {path}: units sputter-2, sputter-3: not Basic256Sha256")
    assert "sputter-1" not in message
    assert "\n" not in message


def test_an_encrypted_unit_without_a_pin_is_named(tmp_path: Path) -> None:
    # Expected: production refuses a SignAndEncrypt unit that names no server_pin (any trusted
    # certificate could stand in for it), naming only that unit.
    path = write_line(tmp_path / "line.yaml", {"sputter-1": SECURED, "sputter-2": UNPINNED})
    with pytest.raises(ConfigError) as info:
        load_line_for(production(line_config=path))
    assert str(info.value) == (
        f"MES_LINE_CONFIG {path}: unit sputter-2: no server_pin (production refuses a unit that any trusted "
        "certificate could stand in for: pin its certificate file or SHA-256)"
    )


def test_a_line_named_by_option_is_judged_and_named_as_such(tmp_path: Path) -> None:
    secured = write_line(tmp_path / "secured.yaml", {"sputter-1": SECURED})
    plain = write_line(tmp_path / "plain.yaml", {"sputter-1": None})
    # Expected: the file given is what counts, not MES_LINE_CONFIG — before, a --line file was never checked.
    with pytest.raises(ConfigError, match=rf"^--line {plain}: unit sputter-1: not Basic256Sha256"):
        load_line_for(production(line_config=secured), plain)
    assert load_line_for(production(line_config=plain), secured).path == secured


def test_development_loads_any_line(tmp_path: Path) -> None:
    plain = write_line(tmp_path / "plain.yaml", {"sputter-1": None})
    assert list(load_line_for(load_settings(line_config=plain)).units) == ["sputter-1"]


def test_production_refuses_a_missing_line_file(tmp_path: Path) -> None:
    # before: the settings check skipped a MES_LINE_CONFIG that did not exist
    with pytest.raises(ProfileError, match="cannot read line file"):
        load_line_for(production(line_config=tmp_path / "absent.yaml"))


def _bare_load_line_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "id", None) == "load_line" or getattr(node.func, "attr", None) == "load_line")
    ]


def test_every_process_loads_its_line_through_the_production_check() -> None:
    # Expected: outside the equipment layer that defines it, no module of the product calls load_line
    # itself; each loads its line with load_line_for (CLI commands, collector, workers, status, demo).
    calls = {
        f"{path.relative_to(ROOT)}:{line}"
        for package in ("mes", "workers")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.parent != ROOT / "mes" / "equipment"
        for line in _bare_load_line_calls(path)
    }
    assert calls == set()
