"""``mes web`` refuses, before it serves anything, what it could not serve safely: one line on stderr,
exit 1, no traceback."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

from tests.test_cli import assert_one_line_error, run_mes

PRODUCTION = {
    "MES_ENVIRONMENT": "production",
    "MES_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/never_created",
    "MES_BROKER_URL": "redis://127.0.0.1:6379/14",
    "MES_RESULT_BACKEND": "redis://127.0.0.1:6379/14",
}


def test_a_taken_port_is_refused(db_url: str, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_mes("web", "--port", str(port), env={"MES_DATABASE_URL": db_url}, cwd=tmp_path)
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}", "give --port")


def test_a_database_that_is_not_migrated_is_refused(empty_db_url: str, tmp_path: Path) -> None:
    if empty_db_url.startswith("sqlite"):
        Path(empty_db_url.removeprefix("sqlite:///")).touch()  # exists, but has no schema
    result = run_mes("web", env={"MES_DATABASE_URL": empty_db_url}, cwd=tmp_path)
    assert_one_line_error(result, "no MES schema", "mes db upgrade")


def test_production_without_tls_is_refused(tmp_path: Path) -> None:
    env = {**PRODUCTION, "MES_SECRET_KEY": secrets.token_urlsafe(32)}
    result = run_mes("web", env=env, cwd=tmp_path)
    assert_one_line_error(result, "production serves over TLS", "--tls-cert", "--behind-proxy")


def test_production_with_a_placeholder_secret_is_refused(tmp_path: Path) -> None:
    env = {**PRODUCTION, "MES_SECRET_KEY": "change-me"}
    result = run_mes("web", "--behind-proxy", env=env, cwd=tmp_path)
    assert_one_line_error(result, "MES_SECRET_KEY is a placeholder", "mes secret new")
