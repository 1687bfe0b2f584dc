"""``mes sim``, ``mes equipment …``, ``mes certs init``, ``mes collector`` and ``mes status`` in
production: each judges the line file it loads (``--line`` or ``MES_LINE_CONFIG``) and refuses an
unencrypted one in one line, before it serves, connects or writes anything."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.equipment.conftest import PROFILES, ROOT
from tests.equipment.test_cli import MES
from tests.equipment.test_production_line import SECURED, write_line
from tests.services import free_port
from tests.test_cli import assert_one_line_error, run_mes

PLAIN_UNITS = {"sputter-1": None, "sputter-2": None}


def production_env(redis_url: str, **variables: str) -> dict[str, str]:
    return {
        "MES_ENVIRONMENT": "production",
        "MES_SECRET_KEY": secrets.token_urlsafe(32),
        "MES_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/never_created",
        "MES_BROKER_URL": redis_url,
        "MES_RESULT_BACKEND": redis_url,
        **variables,
    }


@pytest.fixture
def env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    # MES_LINE_CONFIG names a secured line: what the deploy sets; the commands below are given another.
    secured = write_line(tmp_path / "secured.yaml", {"sputter-1": SECURED})
    return production_env(redis_url, MES_LINE_CONFIG=str(secured))


@pytest.fixture
def redis_url() -> str:
    from tests.services import ServiceUrls

    return ServiceUrls.from_env().redis_url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A plain (unencrypted) coater line, served by a real ``mes sim`` in development."""
    path = tmp_path_factory.mktemp("served") / "plain.yaml"
    path.write_text(
        "line: t\nunits:\n  - {name: coater-1, equipment_class: coater, "
        f"endpoint: 'opc.tcp://127.0.0.1:{free_port()}', profile: {PROFILES / 'packml-coater.yaml'}}}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    proc = subprocess.Popen([MES, "sim", "--line", str(path), "--time-scale", "2000"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    for text in proc.stdout:
        if "simulators running" in text:
            break
    yield path
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)


JOB = ["--product", "LiCoO2", "--length-m", "5", "--set", "gap_um=180", "--set", "web_speed_m_min=10",
       "--set", "pump_rate_ml_min=540", "--set", "dryer_temp_c=120", "--set", "tension_n=80"]  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [["equipment", "check", "coater-1"], ["equipment", "run-job", "coater-1", "--job-id", "PROD-1", *JOB]],
    ids=["check", "run-job"],
)
def test_production_refuses_to_talk_to_a_unit_over_an_unencrypted_line(
    command: list[str], served: Path, env: dict[str, str], tmp_path: Path
) -> None:
    # Expected: exit 1, one line naming --line, the file and the unit; nothing connected or written.
    # Before: `check` read every node and `run-job` wrote the setpoints and ran the job, unencrypted.
    result = run_mes(*command, "--line", str(served), env=env, cwd=tmp_path)
    assert_one_line_error(result, f"--line {served}: unit coater-1: not Basic256Sha256 SignAndEncrypt")
    # The unit never saw the job: the same job id still runs once, in development.
    if "run-job" in command:
        dev = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
        again = run_mes(*command, "--line", str(served), env=dev, cwd=tmp_path)
        assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("command", [["sim"], ["certs", "init", "--dir", "pki"]], ids=["sim", "certs"])
def test_production_refuses_to_serve_or_secure_an_unencrypted_line(
    command: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    plain = write_line(tmp_path / "plain.yaml", PLAIN_UNITS)
    # Expected: exit 1, one line naming --line, the file and both units; nothing served, no file written.
    # Before: `mes sim` served both units without security until stopped (here: until the timeout).
    try:
        result = run_mes(*command, "--line", str(plain), env=env, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`mes {' '.join(command)}` kept running on an unencrypted line in production")
    assert_one_line_error(result, f"--line {plain}: units sputter-1, sputter-2: not Basic256Sha256")
    assert not (tmp_path / "pki").exists()


def test_production_judges_the_line_given_not_mes_line_config(redis_url: str, tmp_path: Path) -> None:
    plain = write_line(tmp_path / "plain.yaml", PLAIN_UNITS)
    secured = write_line(tmp_path / "secured.yaml", {"sputter-1": SECURED})
    env = production_env(redis_url, MES_LINE_CONFIG=str(plain))
    # Expected: a secured --line is accepted although MES_LINE_CONFIG names an unencrypted line.
    result = run_mes("certs", "init", "--dir", "pki", "--line", str(secured), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "pki" / "units" / "sputter-1.der").exists()


def test_the_collector_refuses_an_unencrypted_mes_line_config(redis_url: str, tmp_path: Path) -> None:
    plain = write_line(tmp_path / "plain.yaml", PLAIN_UNITS)
    result = run_mes("collector", env=production_env(redis_url, MES_LINE_CONFIG=str(plain)), cwd=tmp_path)
    assert_one_line_error(result, f"MES_LINE_CONFIG {plain}: units sputter-1, sputter-2: not Basic256Sha256")


def test_status_reports_the_refused_line_and_contacts_no_unit(redis_url: str, tmp_path: Path) -> None:
    plain = write_line(tmp_path / "plain.yaml", PLAIN_UNITS)
    result = run_mes(
        "status", "--json", env=production_env(redis_url, MES_LINE_CONFIG=str(plain)), cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    # Expected: the line check fails with the production refusal; no unit is asked over an unencrypted link.
    assert not checks["line"]["ok"]
    assert checks["line"]["detail"].startswith(f"MES_LINE_CONFIG {plain}: units sputter-1, sputter-2")
    assert not [name for name in checks if name.startswith("unit ")]


def test_the_shipped_secured_line_passes(redis_url: str, tmp_path: Path) -> None:
    env = production_env(redis_url)
    line = ROOT / "deploy" / "line-secure.yaml"
    result = run_mes("certs", "init", "--dir", "pki", "--line", str(line), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
