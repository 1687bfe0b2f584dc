"""The HTTP API end to end, as an automation client uses it: ``mes web`` as a real process, a token made
with ``mes token create``, and a real line behind it (simulators, the dispatch and unit Celery workers,
the collector) — on PostgreSQL + Redis and on the embedded default (SQLite, filesystem broker, no
Redis).

The client places an order with an idempotency key, places it again (still one order), follows
``GET /api/v1/events`` over a real HTTP connection until the order's lot is done, finds the
out-of-spec interval a fault on the sputter made, holds and releases the lot with a signature and sees
both on the stream, then reconnects with ``Last-Event-ID`` and is sent what it missed. Every wait is
bounded.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mes.auth.models import Role
from mes.auth.service import create_user
from mes.auth.tokens import create_token
from mes.db import session_scope
from mes.sim.faults import parse_fault
from tests.api.event_stream import Event, EventStream, open_events
from tests.api.server import WebServer, start_web
from tests.lots.conftest import broker, pg_url  # noqa: F401 - the whole-line fixtures, used by name
from tests.lots.harness import LineUnderTest
from tests.services import free_port
from tests.test_cli import run_mes

RECIPE = "capped-si-anode@1"
LOT_M = 10.0
# The Si layer's thickness 10 % over target from 4 m on: past its USL (+5 %) to the end of the layer.
# capped-si-anode holds the failing metres, not the roll (disposition hold_interval).
FAULT = "step,pct=10,at_m=4"
ADMIN, SIGNER = "e2e-admin", "e2e-quality"
SIGNER_PASSWORD = secrets.token_urlsafe(12)
ENDED = frozenset({"completed", "held", "aborted"})
STATE_KINDS = frozenset({"order", "lot", "step", "alarm", "unit"})
WAIT_S = 90.0  # for the line to make the lot; the scenario as a whole stays well under two minutes


def _backend(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> tuple[str, str]:
    """(database URL, broker URL): PostgreSQL + the suite's Redis, or a SQLite file + the filesystem."""
    if backend == "postgresql":
        return request.getfixturevalue("pg_url"), request.getfixturevalue("broker")
    return f"sqlite:///{tmp_path / 'mes.db'}", "filesystem://"


def _people(line: LineUnderTest) -> str:
    """An admin and a quality person (who signs); a quality token made in process. The client's own
    token is made with the command line, as an administrator makes it."""
    with session_scope(line.engine) as s:
        create_user(s, ADMIN, Role.ADMIN, secrets.token_urlsafe(12), full_name="E2E Admin")
        create_user(s, SIGNER, Role.QUALITY, SIGNER_PASSWORD, full_name="E2E Quality")
        issued = create_token(s, "e2e-quality-desk", role=Role.QUALITY, expires=timedelta(days=1), by=ADMIN)
    return issued.token


def _token_from_cli(env: dict[str, str]) -> str:
    made = run_mes("token", "create", "e2e-erp", "--role", "operator", "--expires", "1d", "--by", ADMIN,
                   env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[0]
    assert token.startswith("mes_") and "not shown again" in made.stderr
    return token


def _signature(meaning: str) -> dict[str, str]:
    return {"name": SIGNER, "password": SIGNER_PASSWORD, "meaning": meaning}


def _about(event: Event, kind: str, entity: str | None = None, state: str | None = None) -> bool:
    if event.event != kind:
        return False
    body = event.json()
    return (entity is None or body["entity"] == entity) and (state is None or body["state"] == state)


async def _place(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post("/api/v1/orders", headers={"Idempotency-Key": key},
                             json={"recipe": RECIPE, "lots": 1, "lot_size": LOT_M, "priority": 50})  # fmt: skip


async def _order_through_the_api(line: LineUnderTest, web: WebServer, operator: str, quality: str) -> None:
    auth = {"Authorization": f"Bearer {operator}"}
    async with httpx.AsyncClient(base_url=web.base_url, headers=auth, timeout=30) as client:
        async with open_events(client) as stream:
            ready = await stream.until(lambda e: e.event == "ready", 20, "ready")
            start_id = ready.id or stream.last_id

            key = f"erp-{secrets.token_hex(4)}"
            placed = await _place(client, key)
            assert placed.status_code == 201, placed.text
            number = placed.json()["order"]["number"]
            assert placed.headers["location"] == f"/api/v1/orders/{number}"
            again = await _place(client, key)  # a client that did not see the answer retries
            assert again.status_code == 200, again.text
            assert again.json()["order"]["number"] == number and again.json()["created"] is False
            listed = (await client.get("/api/v1/orders")).json()["items"]
            assert [o["number"] for o in listed] == [number]

            await stream.until(lambda e: _about(e, "order", number), 30, f"about order {number}")
            done = await stream.until(lambda e: _about(e, "order", number) and e.json()["state"] in ENDED,
                                      WAIT_S, f"order {number} ended")  # fmt: skip
            assert done.json()["state"] == "completed", done.json()
            order = (await client.get(f"/api/v1/orders/{number}")).json()
            [lot] = order["lots"]
            assert [s["state"] for s in lot["steps"]] == ["completed", "completed"]
            seen = [e for e in stream.seen if e.event in ("lot", "step", "value")]
            assert any(_about(e, "lot", lot["number"]) for e in seen)
            assert any(e.event == "step" and e.json()["lot"] == lot["number"] for e in seen)
            assert any(e.event == "value" and e.json()["lot"] == lot["number"] for e in seen), (
                "no live value of the lot on the stream"
            )

            record = await _held_interval_decided(client, lot["number"], quality, stream)
            assert record["status"] == "released"

        # Reconnect from the position before the order: the state events missed come from the log.
        async with open_events(client, headers={"Last-Event-ID": str(start_id)}) as replay:
            replayed = await replay.until(lambda e: _about(e, "lot", lot["number"], "released"), 30,
                                          "the lot's release, replayed")  # fmt: skip
            ids = [int(e.id) for e in replay.seen if e.id is not None and e.event in STATE_KINDS]
            assert ids == sorted(ids) and ids[0] > int(str(start_id))
            assert replayed.id is not None


async def _held_interval_decided(
    client: httpx.AsyncClient, number: str, quality: str, stream: EventStream
) -> dict[str, Any]:
    """The fault's out-of-spec interval held by the recipe; the lot held and released, with signatures."""
    record = (await client.get(f"/api/v1/lots/{number}")).json()
    [interval] = [i for i in record["intervals"] if i["kind"] == "out_of_spec"]
    assert interval["status"] == "held" and interval["layer"] == "si-active"
    assert interval["start_m"] >= 3.5 and interval["worst"] > interval["limit"]
    desk = {"Authorization": f"Bearer {quality}"}

    hold = await client.post(f"/api/v1/lots/{number}:hold", json={
        "reason": "e2e: whole roll held while the sputter is checked", "signature": _signature("responsibility")})  # fmt: skip
    assert hold.status_code == 200, hold.text
    await stream.until(lambda e: _about(e, "lot", number, "on_hold"), 20, f"lot {number} on hold")
    refused = await client.post(f"/api/v1/lots/{number}:release", json={
        "reason": "e2e: checked", "signature": _signature("approval")})  # fmt: skip
    assert refused.status_code == 403, refused.text  # an operator's token may not release
    assert refused.headers["content-type"] == "application/problem+json"
    release = await client.post(f"/api/v1/lots/{number}:release", headers=desk, json={
        "reason": "e2e: sputter checked, the held metres stay cut out", "signature": _signature("approval")})  # fmt: skip
    assert release.status_code == 200, release.text
    await stream.until(lambda e: _about(e, "lot", number, "released"), 20, f"lot {number} released")
    record = (await client.get(f"/api/v1/lots/{number}")).json()
    signatures = [(s["printed_name"], s["meaning"]) for s in record["signatures"]]
    assert ("E2E Quality", "responsibility") in signatures and ("E2E Quality", "approval") in signatures
    return dict(record)


async def test_an_order_through_the_api_end_to_end(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    database_url, broker_url = _backend(request, backend, tmp_path)
    line = LineUnderTest(tmp_path, database_url, broker_url, ["sputter-1"], time_scale=2_000)
    redis_broker = broker_url.startswith("redis")
    # Embedded: nothing may reach for a Redis (live values come from the database there).
    line.env["MES_RESULT_BACKEND"] = broker_url if redis_broker else f"redis://127.0.0.1:{free_port()}/0"
    env = dict(line.env)
    web: WebServer | None = None
    try:
        await line.start(collector=False)
        await line.runner.start_collector(database_url, live_url=broker_url if redis_broker else "")
        quality = _people(line)
        operator = await asyncio.to_thread(_token_from_cli, env)
        for sim in line.runner.sims.values():
            sim.inject(parse_fault(FAULT))  # armed for the next job: the order's first step
        web = await asyncio.to_thread(start_web, env, tmp_path)
        await _order_through_the_api(line, web, operator, quality)
    finally:
        if web is not None:
            code = await asyncio.to_thread(web.stop)
            print(f"--- mes web (exit {code}) ---\n{web.output()}")  # noqa: T201 - shown on failure
        await line.stop()
