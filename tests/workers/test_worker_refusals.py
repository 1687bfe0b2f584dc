"""A Celery worker started on settings production refuses ends at once: one line, no traceback."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.equipment.test_production_line import SECURED, write_line
from tests.services import ServiceUrls


def worker(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """``celery -A workers.app worker`` as the deploy's unit files start it, with only these MES_* variables."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")} | env
    command = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "--pool", "solo",
               "-Q", "unit.sputter-1", "-n", f"refusal-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
               "--loglevel", "INFO"]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
                            cwd=cwd)  # fmt: skip


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    redis_url = ServiceUrls.from_env().redis_url
    return {
        "MES_ENVIRONMENT": "production",
        "MES_SECRET_KEY": secrets.token_urlsafe(32),
        "MES_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/never_created",
        "MES_BROKER_URL": redis_url,
        "MES_RESULT_BACKEND": redis_url,
        "MES_LINE_CONFIG": str(write_line(tmp_path / "secured.yaml", {"sputter-1": SECURED})),
    }


def _refused(env: dict[str, str], cwd: Path) -> str:
    proc = worker(env, cwd)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the worker started on settings production refuses")
    assert proc.returncode != 0, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # before: Celery's 51-line "Unable to load celery application" + traceback
    assert lines[0].startswith("mes worker: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("MES_SECRET_KEY", "x", "MES_SECRET_KEY is too weak"),
        ("MES_SECRET_KEY", "change-me", "MES_SECRET_KEY is a placeholder"),
        ("MES_DATABASE_URL", "sqlite:///./mes.db", "MES_DATABASE_URL points at SQLite"),
        ("MES_BROKER_URL", "filesystem://", "MES_BROKER_URL is an embedded broker"),
    ],
)
def test_a_refused_setting_ends_the_worker_in_one_line(
    variable: str, value: str, needle: str, env: dict[str, str], tmp_path: Path
) -> None:
    # Expected: exit code non-zero, one line on stderr naming the setting, no traceback.
    assert needle in _refused({**env, variable: value}, tmp_path)


def test_an_unencrypted_line_ends_the_worker_before_it_takes_a_task(
    env: dict[str, str], tmp_path: Path
) -> None:
    plain = write_line(tmp_path / "plain.yaml", {"sputter-1": None})
    # Expected: refused at start in one line naming MES_LINE_CONFIG and the unit (before: a traceback).
    line = _refused({**env, "MES_LINE_CONFIG": str(plain)}, tmp_path)
    assert f"MES_LINE_CONFIG {plain}: unit sputter-1: not Basic256Sha256 SignAndEncrypt" in line


def test_a_worker_on_accepted_settings_starts(env: dict[str, str], tmp_path: Path) -> None:
    # The control: the same worker on a secured line and a real key comes up and serves its queue.
    proc = worker(env, tmp_path)
    try:
        deadline = time.monotonic() + 60
        seen: list[str] = []
        assert proc.stderr is not None
        while time.monotonic() < deadline:
            text = proc.stderr.readline()
            if not text:
                break
            seen.append(text)
            if " ready." in text:
                break
        assert any(" ready." in t for t in seen), "".join(seen)
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
