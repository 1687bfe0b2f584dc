"""``mes status``: is every part of the MES up? One check per part, each bounded in time.

::

    database   reachable, schema at the code's revision         (MES_DATABASE_URL)
    broker     answers (Redis PING; the embedded broker's folder)  (MES_BROKER_URL, password masked)
    workers    Celery inspect: who answers, which queues they serve — dispatch and unit.NAME per unit
    collector  its heartbeat in the database is fresh (mes.execution.units)
    unit NAME  an OPC UA session opens and the state reads           (MES_LINE_CONFIG)

The checks run at once (threads for the database and the broker, one task per unit), so the whole
answer takes about the longest single timeout. A check that depends on another one that failed says
so instead of waiting for its own timeout.
"""

from __future__ import annotations

import asyncio
import os
import time
import warnings
from collections.abc import Awaitable

from pydantic import BaseModel, ConfigDict, Field

from mes.config import Settings, masked_url
from mes.db import describe, make_engine, require_database, session_scope
from mes.equipment.driver import UnitDriver
from mes.equipment.errors import EquipmentError, UnknownState
from mes.equipment.line import Line, load_line_for
from mes.errors import MesError
from mes.execution.scheduler import unit_queue
from mes.execution.units import last_beat

DATABASE_TIMEOUT_S = 6.0  # PostgreSQL's connect timeout is 5 s (mes.db)
BROKER_TIMEOUT_S = 2.0
WORKERS_TIMEOUT_S = 1.5  # how long workers get to answer the inspect broadcast
UNIT_TIMEOUT_S = 4.0


class Check(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    ok: bool
    detail: str = Field(description="What was found, or why the check failed.")
    seconds: float = Field(description="How long the check took.")


class SystemStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    checks: list[Check]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


class _Down(Exception):
    """A check's failure, with the cause a user reads."""


def _database(settings: Settings) -> str:
    from mes.migrate import current_revision, head_revision

    require_database(settings.database_url)
    engine = make_engine(settings.database_url, sqlite_busy_timeout_ms=1_000)
    try:
        current, head = current_revision(engine), head_revision()
    finally:
        engine.dispose()
    where = describe(settings.database_url)
    if current != head:
        raise _Down(
            f"{where}: schema at revision {current or 'none'}, this MES needs {head}; run `mes db upgrade`"
        )
    return f"{where}: schema at revision {current} (current)"


def _broker(settings: Settings) -> str:
    url = settings.broker_url
    shown = f"MES_BROKER_URL {masked_url(url)}"
    if url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(
            url, socket_connect_timeout=BROKER_TIMEOUT_S, socket_timeout=BROKER_TIMEOUT_S
        )
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            raise _Down(f"{shown}: {exc}") from exc
        finally:
            client.close()
        return f"{shown}: answers"
    if url.startswith("filesystem://"):
        folder = settings.broker_folder.resolve()
        if not (folder / "queue").is_dir() or not os.access(folder / "queue", os.W_OK):
            raise _Down(f"{shown}: no writable queue folder {folder / 'queue'} (MES_BROKER_FOLDER)")
        return f"{shown}: queue folder {folder / 'queue'}"
    return f"{shown}: not checked (only Redis and the embedded filesystem broker are)"


def _workers(settings: Settings, line: Line | None) -> str:
    from workers.app import make_app

    app = make_app(settings)
    # Celery warns when a broadcast brings a reply twice: not news to the user, who gets one line for
    # the workers.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            replies = app.control.inspect(timeout=WORKERS_TIMEOUT_S).active_queues() or {}
    finally:
        app.close()
    serving: dict[str, list[str]] = {}
    for worker, queues in replies.items():
        for queue in queues or []:
            serving.setdefault(str(queue.get("name")), []).append(worker)
    wanted = ["dispatch"] + [unit_queue(u) for u in (line.units if line else [])]
    missing = [q for q in wanted if q not in serving]
    answered = f"{len(replies)} worker(s) answer" + (f" ({', '.join(sorted(replies))})" if replies else "")
    if missing:
        raise _Down(f"{answered}; no worker serves {', '.join(missing)}")
    return f"{answered}, serving {', '.join(wanted)}"


def _collector(settings: Settings) -> str:
    engine = make_engine(settings.database_url, sqlite_busy_timeout_ms=1_000)
    try:
        with session_scope(engine) as session:
            heartbeat = last_beat(session, "collector")
    finally:
        engine.dispose()
    if heartbeat is None:
        raise _Down("no collector has ever run against this database (start `mes collector`)")
    where = f"pid {heartbeat.pid} on {heartbeat.host}"
    if not heartbeat.alive:
        raise _Down(f"last heartbeat {heartbeat.age_s:.0f} s ago ({where}): not running?")
    return f"alive, last heartbeat {heartbeat.age_s:.0f} s ago ({where})"


async def _unit(line: Line, name: str) -> str:
    cfg = line.unit(name)
    driver = UnitDriver(cfg, line.profiles[name], timeout_s=UNIT_TIMEOUT_S / 2, retry_s=UNIT_TIMEOUT_S / 2)
    try:
        await driver.connect()
        try:
            state = str(await driver.read_state())
        except UnknownState:
            state = "a state number the profile does not map"
    except EquipmentError as exc:
        cause = str(exc).removeprefix(f"{name}: ")
        raise _Down(cause if cfg.endpoint in cause else f"{cfg.endpoint}: {cause}") from exc
    finally:
        await driver.disconnect()
    return f"{cfg.endpoint}: {state}"


async def _timed(name: str, work: Awaitable[str], timeout_s: float) -> Check:
    """Await one check within its timeout; its failure is its answer, never the command's."""
    started = time.monotonic()
    try:
        detail, ok = await asyncio.wait_for(work, timeout=timeout_s), True
    except TimeoutError:
        detail, ok = f"no answer within {timeout_s:g} s", False
    except (_Down, MesError) as exc:
        detail, ok = str(exc), False
    except Exception as exc:  # an unexpected failure of one check is that check's answer
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return Check(name=name, ok=ok, detail=detail, seconds=round(time.monotonic() - started, 2))


def _skipped(name: str, because: str) -> Check:
    return Check(name=name, ok=False, detail=f"not asked: {because}", seconds=0.0)


async def system_status(settings: Settings) -> SystemStatus:
    """Every check, run at once; each within its own timeout."""
    line: Line | None = None
    line_error = ""
    try:
        line = load_line_for(settings)
    except MesError as exc:
        line_error = str(exc)
    thread = asyncio.to_thread
    database = asyncio.create_task(_timed("database", thread(_database, settings), DATABASE_TIMEOUT_S))
    broker = asyncio.create_task(_timed("broker", thread(_broker, settings), BROKER_TIMEOUT_S + 1))
    units = (
        [asyncio.create_task(_timed(f"unit {n}", _unit(line, n), UNIT_TIMEOUT_S + 1)) for n in line.units]
        if line is not None
        else []
    )
    checks = [await database, await broker]
    if checks[1].ok:
        checks.append(await _timed("workers", thread(_workers, settings, line), WORKERS_TIMEOUT_S + 3))
    else:
        checks.append(_skipped("workers", "the broker is unreachable"))
    if checks[0].ok:
        checks.append(await _timed("collector", thread(_collector, settings), DATABASE_TIMEOUT_S))
    else:
        checks.append(_skipped("collector", "its heartbeat is in the database, which is not usable"))
    if line is None:
        checks.append(Check(name="line", ok=False, detail=line_error, seconds=0.0))
    checks += [await u for u in units]
    return SystemStatus(ok=all(c.ok for c in checks), checks=checks)
