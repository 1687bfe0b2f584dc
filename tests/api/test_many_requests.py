"""More requests at once than the database pool has connections, on a real server: each is answered.

A sync route's session keeps its connection until FastAPI has serialised the answer in another worker
thread; before requests were admitted to sessions (``mes.api.deps``), 60 at once left every worker
thread waiting for a connection held by a request waiting for a thread, until the pool gave up (30 s)
and answered 500s. Nothing here measures time.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool

from mes.api.app import create_app
from mes.auth.models import Role
from mes.config import Settings
from tests.api.conftest import Callers
from tests.api.server import serve

AT_ONCE = 60  # the pool keeps 5 connections and opens 10 more; FastAPI has 40 worker threads


async def _all_at_once(base_url: str, headers: dict[str, str], paths: list[str]) -> Counter[int]:
    limits = httpx.Limits(max_connections=AT_ONCE, max_keepalive_connections=AT_ONCE)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=120) as client:
        answers = await asyncio.gather(*(client.get(paths[i % len(paths)]) for i in range(AT_ONCE)))
    return Counter(a.status_code for a in answers)


def test_more_requests_at_once_than_the_pool_has_connections(
    db_url: str, engine: Engine, callers: Callers
) -> None:
    assert isinstance(engine.pool, QueuePool)
    assert AT_ONCE > engine.pool.size() + engine.pool._max_overflow
    app = create_app(Settings(database_url=db_url), engine=engine)
    paths = ["/api/v1/lots", "/api/v1/orders", "/api/v1/alarms", "/api/v1/me"]
    with serve(app) as base_url:
        statuses = asyncio.run(_all_at_once(base_url, callers.bearer(Role.QUALITY), paths))
    assert statuses == Counter({200: AT_ONCE})
