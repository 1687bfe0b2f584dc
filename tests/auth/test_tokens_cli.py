"""``mes token create|list|revoke`` as a user runs them: a separate process on a fresh SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import assert_one_line_error, run_mes


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {"MES_DATABASE_URL": f"sqlite:///{tmp_path / 'mes.db'}"}
    assert run_mes("db", "upgrade", env=env).returncode == 0
    for name, role in (("root", "admin"), ("olga", "operator")):
        added = run_mes(
            "user", "add", name, "--role", role, "--password-stdin", env=env, stdin="pw-long-enough\n"
        )
        assert added.returncode == 0, added.stderr
    return env


def test_a_token_is_shown_once_and_listed_without_it(env: dict[str, str]) -> None:
    made = run_mes(
        "token", "create", "erp", "--role", "operator", "--expires", "30d", "--by", "root", env=env
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("mes_")
    assert len(token) > 40
    assert "not shown again" in made.stderr
    listed = run_mes("token", "list", "--json", env=env)
    assert listed.returncode == 0
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["role"], r["active"], r["created_by"]) for r in rows] == [
        ("erp", "operator", True, "root")
    ]
    assert token not in listed.stdout
    assert token not in (
        Path(env["MES_DATABASE_URL"].removeprefix("sqlite:///")).read_bytes().decode("latin-1")
    )


def test_revoked_tokens_are_listed_inactive(env: dict[str, str]) -> None:
    assert run_mes("token", "create", "erp", "--role", "quality", "--by", "root", env=env).returncode == 0
    revoked = run_mes("token", "revoke", "erp", "--by", "root", env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in revoked.stdout
    rows = json.loads(run_mes("token", "list", "--json", env=env).stdout)
    assert rows[0]["active"] is False
    assert rows[0]["revoked_by"] == "root"


def test_refusals_are_one_line(env: dict[str, str]) -> None:
    assert_one_line_error(
        run_mes("token", "create", "erp", "--role", "operator", "--by", "olga", env=env), "admin"
    )
    assert_one_line_error(
        run_mes("token", "create", "erp", "--role", "admin", "--by", "root", env=env), "not admin", code=2
    )
    assert_one_line_error(
        run_mes("token", "create", "erp", "--role", "operator", "--expires", "5y", "--by", "root", env=env),
        "--expires",
        code=2,
    )
    assert_one_line_error(
        run_mes("token", "create", "olga", "--role", "operator", "--by", "root", env=env), "taken"
    )
    assert_one_line_error(run_mes("token", "revoke", "nothing", "--by", "root", env=env), "no API token")
