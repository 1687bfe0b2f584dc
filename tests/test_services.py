"""The suite's own service plumbing: real servers, and a loud stop when one is away."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import redis

from tests.services import (
    ServiceUnavailable,
    ServiceUrls,
    check_postgres,
    check_redis,
    create_database,
    drop_database,
    free_port,
)


def test_postgres_away_is_reported_with_how_to_start_it() -> None:
    with pytest.raises(ServiceUnavailable, match="PostgreSQL .* is not reachable .*start PostgreSQL"):
        check_postgres(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")


def test_redis_away_is_reported_with_how_to_start_it() -> None:
    with pytest.raises(ServiceUnavailable, match="Redis at 127.0.0.1:.* is not reachable .*start Redis"):
        check_redis(f"redis://127.0.0.1:{free_port()}/0")


def test_suite_stops_instead_of_skipping_when_redis_is_away(tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text("def test_nothing():\n    assert True\n")
    root = Path(__file__).resolve().parent.parent
    env = {"MES_TEST_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-q", str(probe), "--rootdir", str(root)],
        capture_output=True, text=True, cwd=root, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    assert "cannot run the suite: Redis" in result.stdout + result.stderr
    assert "1 passed" not in result.stdout


def test_throwaway_databases_are_real_and_dropped(services: ServiceUrls) -> None:
    url = create_database(services.pg_admin_url)
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        assert conn.execute("SELECT current_database()").fetchone() is not None
    drop_database(services.pg_admin_url, url)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), connect_timeout=3)


def test_redis_is_real(redis_client: redis.Redis) -> None:
    key = f"mes-test:{free_port()}"
    redis_client.set(key, "x", ex=10)
    assert redis_client.get(key) == b"x"
    redis_client.delete(key)


def test_a_value_past_a_limit_never_prints_as_the_limit() -> None:
    from mes.base import beyond_limit

    # Expected: the alarm said "4200 nm beyond USL 4200" for 4200.4 (``.4g``).
    assert beyond_limit(4200.4, 4200.0) == "4200.4"
    assert beyond_limit(343.71, 400.0) == "343.7"
    assert beyond_limit(0.50001, 0.5) == "0.50001"
    assert float(beyond_limit(1e-9 + 1.0, 1.0)) != 1.0
