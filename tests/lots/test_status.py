"""``mes status`` against a real line: simulators, Celery workers on Redis, the collector, a database."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.lots.harness import LineUnderTest
from tests.services import free_port
from tests.test_cli import run_mes


def _status(line: LineUnderTest, **env: str) -> tuple[dict[str, Any], str, int, float]:
    started = time.monotonic()
    result = run_mes("status", "--json", env={**line.env, **env}, cwd=line.tmp)
    elapsed = time.monotonic() - started
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout), result.stderr, result.returncode, elapsed


def _by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


async def test_status_says_what_is_up_and_what_is_down(tmp_path: Path, broker: str) -> None:
    line = LineUnderTest(tmp_path, f"sqlite:///{tmp_path / 'mes.db'}", broker, ["sputter-1", "coater-1"])
    try:
        await line.start()
        # Workers take a few seconds to come up and answer.
        deadline = time.monotonic() + 90
        while True:
            report, stderr, code, _ = await asyncio.to_thread(_status, line)
            if report["ok"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        # Expected: one OK line per part — database, broker, workers (dispatch and a queue per unit),
        # collector, each unit — and exit 0.
        checks = _by_name(report)
        assert code == 0 and report["ok"], report
        assert list(checks) == [
            "database",
            "broker",
            "workers",
            "collector",
            "unit sputter-1",
            "unit coater-1",
        ]
        assert "schema at revision" in checks["database"]["detail"]
        assert "unit.sputter-1" in checks["workers"]["detail"] and "dispatch" in checks["workers"]["detail"]
        assert "Stopped" in checks["unit coater-1"]["detail"]
        text = await asyncio.to_thread(run_mes, "status", env=line.env, cwd=line.tmp)
        assert text.returncode == 0 and text.stdout.count("OK ") == 6, text.stdout

        # A unit's machine gone, a unit's worker killed, the collector stopped for a minute.
        await line.runner.sims.pop("sputter-1").stop()
        line.runner.kill_worker("unit.coater-1")
        assert line.runner._stop is not None and line.runner._collector_task is not None
        line.runner._stop.set()
        await line.runner._collector_task
        with line.engine.begin() as conn:
            conn.execute(sa.text("UPDATE service_heartbeat SET beat_at = :t"),
                         {"t": "2020-01-01 00:00:00.000000"})  # fmt: skip
        report, stderr, code, elapsed = await asyncio.to_thread(_status, line)
        # Expected: FAIL for each, with the cause; one error line; exit 1; within the checks' timeouts.
        checks = _by_name(report)
        assert code == 1 and not report["ok"]
        assert [n for n, c in checks.items() if not c["ok"]] == ["workers", "collector", "unit sputter-1"]
        assert "no worker serves unit.coater-1" in checks["workers"]["detail"]
        assert "last heartbeat" in checks["collector"]["detail"]
        assert "cannot connect to opc.tcp://127.0.0.1" in checks["unit sputter-1"]["detail"]
        assert stderr.strip() == "mes: error: 3 of 6 checks failed: workers, collector, unit sputter-1"
        assert elapsed < 20, elapsed

        # The broker away: named by its URL with the password masked; the workers are not asked.
        away = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
        report, stderr, code, _ = await asyncio.to_thread(_status, line, MES_BROKER_URL=away)
        checks = _by_name(report)
        assert code == 1 and not checks["broker"]["ok"]
        assert "MES_BROKER_URL redis://:***@127.0.0.1" in checks["broker"]["detail"]
        assert "hunter2" not in json.dumps(report)
        assert checks["workers"]["detail"] == "not asked: the broker is unreachable"
        # A database that is not there: named, nothing created; the collector is not asked.
        missing = tmp_path / "elsewhere" / "mes.db"
        report, _, code, _ = await asyncio.to_thread(_status, line, MES_DATABASE_URL=f"sqlite:///{missing}")
        checks = _by_name(report)
        assert code == 1 and str(missing) in checks["database"]["detail"]
        assert checks["collector"]["detail"].startswith("not asked")
        assert not missing.exists()
    finally:
        await line.stop()
