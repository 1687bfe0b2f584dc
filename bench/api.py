"""The HTTP API under load, on one ``mes web`` process (PostgreSQL, Redis), each figure against a
baseline measured in the same run:

- live values while a line runs: the collector publishes each poll's newest scans on Redis, ``mes web``
  relays them to ``--clients`` Server-Sent Events clients. Latency collector publish → SSE client
  receives (``published_at`` in each value), p50/p99, against the same messages' publish → receive
  on ``--clients`` bare Redis pub/sub subscribers in the same process at the same time;
- ``GET /api/v1/lots`` (first page, 50 lots, newest first, with their summaries) at ``--lots`` lots,
  requests/s with ``--concurrency`` keep-alive connections, against ``GET /api/v1/health`` (no database).

    .venv/bin/python -m bench.api [--clients 50] [--seconds 30] [--lots 10000]

The line: real simulators in this process, real Celery worker processes, the collector in this
process, orders placed through the API. The lots of ``--lots`` are made by the order service (lots,
step runs, layers, characteristics, as dispatch makes them) and marked made, so no worker runs them.
The SSE and Redis clients, the simulators and the collector share this process's event loop and the
machine's cores with ``mes web``: the figures are ratios, not capacities.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlmodel import Session, col, select

from bench.common import PG_ADMIN, percentile
from mes.auth.models import Role
from mes.auth.service import create_user
from mes.auth.tokens import create_token
from mes.db import session_scope
from mes.demo import ENGINEER, ROOT, prepare
from mes.execution.scheduler import sync_units
from mes.lots.models import (
    Characteristic,
    IntervalKind,
    IntervalStatus,
    Layer,
    LayerResult,
    Lot,
    LotStatus,
    OosInterval,
    StepRun,
    StepRunState,
    WorkOrderState,
)
from mes.lots.orders import create_order, expand_order
from mes.migrate import upgrade
from tests.api.event_stream import open_events
from tests.api.server import WebServer, start_web
from tests.lots.harness import LineUnderTest
from tests.services import ServiceUrls, create_database, drop_database

REDIS_DB = int(os.environ.get("MES_BENCH_REDIS_DB", "13"))
UNITS = ["sputter-1", "sputter-2", "coater-1"]
# Recipes the line runs while the clients listen (one lot each, long enough to outlast the window).
RUNNING = [("capped-si-anode@1", 400.0), ("alloy-film-anode@1", 400.0), ("cathode-lco@1", 400.0)]
SEED_RECIPE = "thin-composite-anode-carbon@1"
Latencies = tuple[list[float], list[float]]  # seconds: through mes web (SSE), straight from Redis
LayerRows = list[tuple[dict[str, Any], list[dict[str, Any]]]]  # a layer's row, its characteristics' rows


def seed_lots(line: LineUnderTest, lots: int) -> float:
    """``lots`` lots made, released, each with its layers and characteristics as the order service
    makes them (copied from one lot it made), one in ten with a held out-of-spec interval; seconds.

    Written with bulk inserts, a thousand lots a transaction: the order service takes about 15 s a
    thousand lots here, and one transaction of ten thousand lots would commit many thousands of event
    log rows at once."""
    started = time.perf_counter()
    with session_scope(line.engine) as session:
        order = create_order(session, SEED_RECIPE, 1, by=ENGINEER, line=line.line, lot_size=50.0)
        [template] = expand_order(session, order)
        order.state, template.status = WorkOrderState.COMPLETED, LotStatus.RELEASED
        session.add_all([order, template])
        session.execute(sa.update(StepRun).where(col(StepRun.lot_id) == template.id)
                        .values(state=StepRunState.COMPLETED))  # fmt: skip
        layers = session.exec(select(Layer).where(Layer.lot_id == template.id)).all()
        lot_row = template.model_dump(exclude={"id", "number"})
        layer_rows = [(layer.model_dump(exclude={"id", "lot_id", "step_run_id"}),
                       [c.model_dump(exclude={"id", "layer_id"}) for c in session.exec(
                           select(Characteristic).where(Characteristic.layer_id == layer.id))])
                      for layer in layers]  # fmt: skip
        prefix = template.number.rsplit("-L", 1)[0]
    for first in range(1, lots, 1_000):
        with session_scope(line.engine) as session:
            numbers = [f"{prefix}-B{n:05d}" for n in range(first, min(first + 1_000, lots))]
            _copy_lots(session, lot_row, layer_rows, numbers)
    return time.perf_counter() - started


def _inserted(session: Session, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Bulk insert; the new rows' ids in the order of ``rows``."""
    returning = sa.insert(table).returning(table.id, sort_by_parameter_order=True)
    return list(session.scalars(returning, rows).all())


def _copy_lots(session: Session, lot_row: dict[str, Any], layer_rows: LayerRows, numbers: list[str]) -> None:
    lot_ids = _inserted(session, Lot, [{**lot_row, "number": n} for n in numbers])
    for layer_row, char_rows in layer_rows:
        layer_ids = _inserted(session, Layer, [{**layer_row, "lot_id": i, "result": LayerResult.IN_SPEC}
                                               for i in lot_ids])  # fmt: skip
        for char_row in char_rows:
            char_ids = _inserted(session, Characteristic, [{**char_row, "layer_id": i} for i in layer_ids])
            held = {"kind": IntervalKind.OUT_OF_SPEC, "start_m": 12.0, "end_m": 12.5, "limit_kind": "usl",
                    "worst_value": char_row["usl"] * 1.02, "limit_value": char_row["usl"],
                    "disposition": layer_row["disposition_policy"],
                    "status": IntervalStatus.HELD}  # fmt: skip
            every_tenth = list(zip(lot_ids, layer_ids, char_ids, strict=True))[::10]
            session.execute(sa.insert(OosInterval), [
                {**held, "lot_id": lot, "layer_id": layer, "characteristic_id": char}
                for lot, layer, char in every_tenth
            ])  # fmt: skip


async def rate(client: httpx.AsyncClient, path: str, seconds: float, concurrency: int) -> tuple[float, int]:
    """Requests/s of ``GET path`` answered 200 by ``concurrency`` callers for ``seconds``; errors."""
    done, errors = 0, 0
    stop = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal done, errors
        while time.perf_counter() < stop:
            response = await client.get(path)
            if response.status_code == 200:
                done += 1
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return done / (time.perf_counter() - started), errors


def _published_at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


async def sse_client(client: httpx.AsyncClient, ready: asyncio.Event, latencies: list[float]) -> None:
    """Follow the live values until cancelled (the end of the window)."""
    async with open_events(client, params={"kinds": "value"}) as stream:
        await stream.until(lambda e: e.event == "ready", 60, "ready")
        ready.set()
        while True:
            event = await stream.next(3600)
            if event.event == "value":
                latencies.append(event.received - _published_at(event.json()["published_at"]))


async def redis_subscriber(url: str, ready: asyncio.Event, latencies: list[float]) -> None:
    """The same messages straight from Redis, until cancelled."""
    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub()
    try:
        await pubsub.psubscribe("mes:live:*")
        ready.set()
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=3600)
            if message is not None:
                received = time.time()
                body = json.loads(message["data"])
                # One message carries a value per gauge: the SSE clients get each as an event.
                latencies += [received - _published_at(body["published_at"])] * len(body["values"])
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()


def _describe(values: list[float]) -> str:
    return (f"p50 {statistics.median(values) * 1000:.1f} ms, p99 {percentile(values, 99) * 1000:.1f} ms "
            f"(n={len(values)})")  # fmt: skip


def measure_live(base_url: str, token: str, broker: str, clients: int, seconds: float) -> Latencies:
    """In a process of its own: the simulators and the collector keep the bench's event loop busy,
    which would delay the clients' reading (and inflate both figures)."""
    return asyncio.run(_measure_live(base_url, token, broker, clients, seconds))


async def _measure_live(base_url: str, token: str, broker: str, clients: int, seconds: float) -> Latencies:
    auth = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(base_url=base_url, headers=auth, timeout=30, limits=limits) as client:
        sse: list[float] = []
        bare: list[float] = []
        readies = [asyncio.Event() for _ in range(2 * clients)]
        tasks = [asyncio.create_task(sse_client(client, readies[i], sse)) for i in range(clients)]
        tasks += [asyncio.create_task(redis_subscriber(broker, readies[clients + i], bare))
                  for i in range(clients)]  # fmt: skip
        async with asyncio.timeout(120):
            await asyncio.gather(*(r.wait() for r in readies))
        for i, (recipe, size) in enumerate(RUNNING):
            placed = await client.post("/api/v1/orders", headers={"Idempotency-Key": f"bench-{i}"},
                                       json={"recipe": recipe, "lots": 1, "lot_size": size})  # fmt: skip
            assert placed.status_code == 201, placed.text
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        ended = await asyncio.gather(*tasks, return_exceptions=True)
    failed = [e for e in ended if not isinstance(e, asyncio.CancelledError)]
    if failed:
        raise SystemExit(f"{len(failed)} client(s) failed: {failed[0]!r}")
    return sse, bare


async def live_values(web: WebServer, token: str, broker: str, clients: int, seconds: float) -> None:
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        sse, bare = await asyncio.get_running_loop().run_in_executor(
            pool, measure_live, web.base_url, token, broker, clients, seconds
        )
    if not sse or not bare:
        raise SystemExit(f"no live values received (SSE {len(sse)}, Redis {len(bare)}): is the line running?")
    print(f"live values, {clients} clients, {seconds:g} s of a running line ({len(UNITS)} units):")
    print(f"  collector publish → bare Redis subscriber: {_describe(bare)}")
    print(f"  collector publish → SSE client of mes web:  {_describe(sse)}")
    print(f"  ratio of p50s {statistics.median(sse) / statistics.median(bare):.1f}, "
          f"of p99s {percentile(sse, 99) / percentile(bare, 99):.1f}")  # fmt: skip


async def lot_list(web: WebServer, token: str, lots: int, seconds: float, concurrency: int) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    paths = {"/api/v1/health": "no credential, no database", "/api/v1/me": "the token checked: 2 queries",
             "/api/v1/lots": f"50 of {lots:,} lots with their summaries"}  # fmt: skip
    rates: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=web.base_url, headers=auth, timeout=30) as client:
        for path in paths:  # warm up: connections, imports, caches
            await rate(client, path, 1.0, concurrency)
        for path in paths:
            rates[path], errors = await rate(client, path, seconds, concurrency)
            if errors:
                raise SystemExit(f"{errors} errors on {path}")
    print(f"requests/s, {concurrency} keep-alive connections, {seconds:g} s each:")
    for path, what in paths.items():
        print(f"  GET {path:<15} {rates[path]:7.0f}/s  ({what})")
    listed, health, me = rates["/api/v1/lots"], rates["/api/v1/health"], rates["/api/v1/me"]
    print(f"  ratio lots/health {listed / health:.2f}, lots/me {listed / me:.2f}")


async def main(clients: int, seconds: float, lots: int, concurrency: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="mes-bench-api-"))
    url = create_database(PG_ADMIN, prefix="mes_bench")
    broker = ServiceUrls.from_env().redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(broker).flushdb()
    line = LineUnderTest(tmp, url, broker, UNITS, time_scale=20)
    web: WebServer | None = None
    try:
        # The requests/s first, with nothing else in this process (line.start() does this again).
        upgrade(line.engine)
        prepare(line.engine, ROOT / "recipes")
        with session_scope(line.engine) as session:
            sync_units(session, line.line)
        print(f"{lots:,} lots made in {seed_lots(line, lots):.1f} s")
        with session_scope(line.engine) as session:
            create_user(session, "bench-admin", Role.ADMIN, secrets.token_urlsafe(12))
            token = create_token(session, "bench", role=Role.OPERATOR, expires=timedelta(hours=2),
                                 by="bench-admin").token  # fmt: skip
        env = {**line.env, "MES_RESULT_BACKEND": broker, "MES_LIVE_URL": broker}
        web = await asyncio.to_thread(start_web, env, tmp)
        await lot_list(web, token, lots, seconds / 3, concurrency)
        await line.start(collector=False)
        await line.runner.start_collector(url, live_url=broker)
        await live_values(web, token, broker, clients, seconds)
        print(f"command: .venv/bin/python -m bench.api --clients {clients} --seconds {seconds:g} "
              f"--lots {lots} --concurrency {concurrency}")  # fmt: skip
    finally:
        if web is not None:
            await asyncio.to_thread(web.stop)
        await line.stop()
        drop_database(PG_ADMIN, url)
        redis.Redis.from_url(broker).flushdb()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--lots", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.seconds, args.lots, args.concurrency))
