"""The event stream of one ``mes web`` process: one reader of the event log and one Redis subscription,
shared by every client of ``GET /api/v1/events``.

The hub reads the log's new rows when PostgreSQL NOTIFYs ``mes_events`` (or every
``MES_EVENTS_POLL_S``: SQLite has no notifications) and hands each page, serialised once, to every
client's queue; live values (and the process values read with them) come from ``PSUBSCRIBE
mes:live:*`` on the live values' Redis, or, with no Redis, from the newest scans in the database
(which has no process values). A client replays from the database what it missed,
then follows the hub; one that falls behind (its queue full) reads from the database again from its
own position, so what a client gets, and in what order, always comes from the log.

Connections, loops and tasks are made on first use, in the serving process (after any fork).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi.sse import KEEPALIVE_COMMENT, ServerSentEvent, format_sse_event
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from mes.config import Settings, masked_url
from mes.db import session_scope
from mes.events.live import LIVE_PATTERN, latest_values, newest_scan_id, parse_message
from mes.events.log import PAGE, events_after, newest_id
from mes.events.schemas import LiveValue, ProcessValues, ReplayPlan, StateEvent
from mes.logs import StateLog

log = logging.getLogger("mes.api.events")
T = TypeVar("T")

NOTIFY_CHANNEL = "mes_events"  # NOTIFYd by the event log's numbering trigger (migration 0010)
QUEUE_BATCHES = 256  # pages and live messages a client may lag behind before it reads the log itself
RETRY_S = 2.0  # how long to wait before asking a database or Redis that did not answer again
RECONNECT_MS = 2_000  # the `retry:` a client is told: wait this long before reconnecting
POSITION_EVERY_S = 5.0  # a filtered client is told its position (an id-only event) at most this often
LIVE_KINDS = frozenset({"value", "process"})  # measurements, not events of the log: never replayed
PING_S = 15.0  # a comment after this long without an event keeps proxies from closing the connection
CREDENTIAL_CHECK_S = 15.0  # a revoked token or an ended session ends its streams within this long


@dataclass(frozen=True)
class Outgoing:
    """One event as every client sends it: serialised once, with what the filters look at."""

    id: int | None  # the log's id; None for a live value or process values
    kind: str
    unit: str | None
    lot: str | None
    order: str | None
    data: str

    @classmethod
    def state(cls, e: StateEvent) -> Outgoing:
        return cls(e.id, e.kind.value, e.unit, e.lot, e.order, e.model_dump_json())

    @classmethod
    def value(cls, v: LiveValue) -> Outgoing:
        return cls(None, "value", v.unit, v.lot, None, v.model_dump_json())

    @classmethod
    def process(cls, p: ProcessValues) -> Outgoing:
        return cls(None, "process", p.unit, p.lot, None, p.model_dump_json())


@dataclass(frozen=True)
class StreamRequest:
    """What a client asked for: kinds, filters, and where its stream starts."""

    kinds: frozenset[str]
    unit: str | None
    order: str | None
    order_lots: frozenset[str]  # the order's lots when the stream starts (its new lots are added)
    plan: ReplayPlan
    # Asked every CREDENTIAL_CHECK_S: None while the client's token or session holds, else why not.
    credential: Callable[[Session], str | None] = field(default=lambda _db: None)


@dataclass(eq=False)
class Subscriber:
    values: bool
    queue: asyncio.Queue[list[Outgoing]] = field(default_factory=lambda: asyncio.Queue(QUEUE_BATCHES))
    behind: bool = False  # a page of the log did not fit in the queue: read the log again

    def offer(self, batch: list[Outgoing], *, lossy: bool) -> None:
        try:
            self.queue.put_nowait(batch)
        except asyncio.QueueFull:
            if not lossy:
                self.behind = True  # live values are simply dropped: the next ones are newer


class EventHub:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings
        self.subscribers: set[Subscriber] = set()
        self.head = 0  # the newest id read from the log and handed out
        self._ready = asyncio.Event()  # head read: subscribers may catch up from the log
        self._tasks: list[asyncio.Task[None]] = []
        self.reading = StateLog(log)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(session, *args)`` in a short read-only transaction, on a worker thread."""

        def run() -> T:
            with session_scope(self.engine) as session:
                return fn(session, *args)

        return await asyncio.to_thread(run)

    async def subscribe(self, *, values: bool) -> Subscriber:
        if not self._tasks:
            self._start()
        await self._ready.wait()
        sub = Subscriber(values=values)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def _start(self) -> None:
        wake = asyncio.Event()
        self._tasks.append(asyncio.create_task(self._follow(wake), name="events-follow"))
        if self.engine.dialect.name == "postgresql":
            self._tasks.append(asyncio.create_task(self._listen(wake), name="events-listen"))
        url, setting = self.settings.live_values
        if url:
            self._tasks.append(asyncio.create_task(self._relay(url, setting), name="events-live"))
        else:
            self._tasks.append(asyncio.create_task(self._tail_values(), name="events-values"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def _broadcast(self, batch: list[Outgoing], *, values: bool) -> None:
        for sub in list(self.subscribers):
            if values and not sub.values:
                continue
            sub.offer(batch, lossy=values)

    async def _follow(self, wake: asyncio.Event) -> None:
        """Read the log's new rows whenever woken, or every MES_EVENTS_POLL_S, and hand them out."""
        while True:
            try:
                if not self._ready.is_set():
                    self.head = await self.read(newest_id)
                    self._ready.set()
                while True:
                    page = await self.read(events_after, self.head, PAGE)
                    if page:
                        self.head = page[-1].id
                        self._broadcast([Outgoing.state(e) for e in page], values=False)
                    if len(page) < PAGE:
                        break
                self.reading.back("mes web: events: the event log answers again")
            except DBAPIError as exc:
                self.reading.lost(
                    "database",
                    f"mes web: events: cannot read the event log ({str(exc.orig).strip().splitlines()[0]}); "
                    "clients wait (their connections kept open) until it answers",
                )
                await asyncio.sleep(RETRY_S)
            except Exception as exc:  # a bug or a row it cannot read must not end every stream for good
                failed = "mes web: events: reading the event log failed; retrying"
                self.reading.lost(f"bug:{type(exc).__name__}", failed, exc_info=True)
                await asyncio.sleep(RETRY_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.settings.events_poll_s)
            wake.clear()

    async def _listen(self, wake: asyncio.Event) -> None:
        """PostgreSQL: LISTEN on one connection; each NOTIFY (a commit with events) wakes the reader."""
        import psycopg

        url = self.engine.url
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        where = url.render_as_string(hide_password=True)
        state = StateLog(log)
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=5)
                async with conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    state.back(f"mes web: events: listening on {where} again")
                    wake.set()  # whatever was committed while nobody listened
                    async for _ in conn.notifies():
                        wake.set()
            except psycopg.Error as exc:
                state.lost(
                    "listen",
                    f"mes web: events: cannot LISTEN on {where} ({str(exc).strip().splitlines()[0]}); "
                    f"reading the event log every {self.settings.events_poll_s:g} s meanwhile",
                )
            await asyncio.sleep(RETRY_S)

    async def _relay(self, url: str, setting: str) -> None:
        """One PSUBSCRIBE to the collector's live values for every client of this process."""
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        where = f"{masked_url(url)} ({setting})"
        state = StateLog(log)
        while True:
            client = aioredis.Redis.from_url(url, socket_connect_timeout=2)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.psubscribe(LIVE_PATTERN)
                    state.back(f"mes web: live values: Redis at {where} answers again")
                    async for message in pubsub.listen():
                        if message.get("type") == "pmessage":
                            self._relay_message(message["data"])
            except (RedisError, OSError) as exc:
                state.lost(
                    "live",
                    f"mes web: live values: cannot reach Redis at {where}: {str(exc).rstrip('.')}; "
                    "no live values until it answers (state events are not affected)",
                )
            except Exception as exc:  # a bug must not end the live values for the life of the process
                state.lost(f"bug:{type(exc).__name__}", "mes web: live values: relay failed; retrying",
                           exc_info=True)  # fmt: skip
            finally:
                await client.aclose()
            await asyncio.sleep(RETRY_S)

    def _relay_message(self, raw: bytes) -> None:
        try:
            message = parse_message(raw)
        except ValidationError as exc:
            log.debug("mes web: live values: a message that is not one (%s): %.200r", exc, raw)
            return
        batch = [Outgoing.value(v) for v in message.values]
        if message.process is not None:
            batch.append(Outgoing.process(message.process))
        if batch:
            self._broadcast(batch, values=True)

    async def _tail_values(self) -> None:
        """No Redis (the embedded default): the newest scans in the database, while a client wants them."""
        after: int | None = None
        while True:
            await asyncio.sleep(self.settings.events_poll_s)
            if not any(s.values for s in self.subscribers):
                after = None
                continue
            try:
                if after is None:
                    after = await self.read(newest_scan_id)
                    continue
                values, after = await self.read(latest_values, after)
            except DBAPIError:
                continue  # the log's reader says the database is away
            except Exception:  # a bug: said once per process, the values go on being read
                log.debug("mes web: live values: reading the newest scans failed", exc_info=True)
                continue
            if values:
                self._broadcast([Outgoing.value(v) for v in values], values=True)


class _Client:
    """One client's position and filters."""

    def __init__(self, want: StreamRequest) -> None:
        self.want = want
        self.cursor = want.plan.start_after  # every event up to here was sent or filtered out
        self.sent = self.cursor  # the id the client holds (its Last-Event-ID should it reconnect)
        self.told_at = time.monotonic()
        self.lots = set(want.order_lots)

    def states(self, batch: list[Outgoing]) -> list[ServerSentEvent]:
        out: list[ServerSentEvent] = []
        for e in batch:
            if e.id is None or e.id <= self.cursor:
                continue  # already read from the log, or a page the hub read before this client's replay
            self.cursor = e.id
            if self.want.order is not None and e.kind == "lot" and e.order == self.want.order and e.lot:
                self.lots.add(e.lot)
            if e.kind in self.want.kinds and self._concerns(e, e.order == self.want.order):
                out.append(ServerSentEvent(event=e.kind, id=str(e.id), raw_data=e.data))
                self.sent = e.id
        if not out and self.cursor > self.sent and time.monotonic() - self.told_at >= POSITION_EVERY_S:
            # Events were filtered out: an id alone moves the client's Last-Event-ID past them.
            out.append(ServerSentEvent(id=str(self.cursor)))
            self.sent = self.cursor
        if out:
            self.told_at = time.monotonic()
        return out

    def values(self, batch: list[Outgoing]) -> list[ServerSentEvent]:
        out = [
            ServerSentEvent(event=v.kind, id=str(self.cursor), raw_data=v.data)
            for v in batch
            if v.kind in self.want.kinds and self._concerns(v, v.lot in self.lots)
        ]
        if out:
            self.sent, self.told_at = self.cursor, time.monotonic()
        return out

    def _concerns(self, e: Outgoing, of_order: bool) -> bool:
        return (self.want.unit is None or e.unit == self.want.unit) and (self.want.order is None or of_order)


def wire(event: ServerSentEvent) -> bytes:
    """An event in the text/event-stream format (its data already JSON)."""
    return format_sse_event(data_str=event.raw_data, event=event.event, id=event.id, retry=event.retry,
                            comment=event.comment)  # fmt: skip


async def stream(hub: EventHub, want: StreamRequest) -> AsyncIterator[bytes]:
    """The events of one client: a gap if any, ``ready``, the events it missed (from the log), then
    what the hub hands out, with a ``: ping`` comment after PING_S without one. The id of every
    event is the client's position in the log.

    Served as the body of a plain streaming response rather than through FastAPI's SSE generator
    routes: those log a client that hangs up mid-stream as an error (fastapi discussion #15725);
    here the server cancels the body and ``finally`` unsubscribes."""
    sub = await hub.subscribe(values=bool(want.kinds & LIVE_KINDS))
    try:
        client = _Client(want)
        position = str(client.cursor)
        if want.plan.gap is not None:
            yield wire(ServerSentEvent(event="gap", id=position, raw_data=want.plan.gap.model_dump_json()))
        ready = json.dumps({"last_event_id": client.cursor, "kinds": sorted(want.kinds), "unit": want.unit,
                            "order": want.order})  # fmt: skip
        yield wire(ServerSentEvent(event="ready", id=position, retry=RECONNECT_MS, raw_data=ready))
        async for chunk in _catch_up(hub, client):
            yield chunk
        written = checked = time.monotonic()
        while True:
            if time.monotonic() - checked >= CREDENTIAL_CHECK_S:
                checked = time.monotonic()
                why = await _credential_gone(hub, want)
                if why is not None:
                    yield wire(
                        ServerSentEvent(
                            event="end", id=str(client.cursor), raw_data=json.dumps({"reason": why})
                        )
                    )
                    return
            try:
                wait_s = min(written + PING_S, checked + CREDENTIAL_CHECK_S) - time.monotonic()
                batch = await asyncio.wait_for(sub.queue.get(), max(0.0, wait_s))
            except TimeoutError:
                if time.monotonic() - written >= PING_S:
                    # Nothing for this client for a while (or only what its filters leave out):
                    # proxies keep a connection that carries something.
                    yield KEEPALIVE_COMMENT
                    written = time.monotonic()
                continue
            sent = False
            for event in client.values(batch) if batch[0].id is None else client.states(batch):
                yield wire(event)
                sent = True
            if sub.behind:
                sub.behind = False
                async for chunk in _catch_up(hub, client):
                    yield chunk
                    sent = True
            if sent:
                written = time.monotonic()
    finally:
        hub.unsubscribe(sub)


async def _credential_gone(hub: EventHub, want: StreamRequest) -> str | None:
    """Why the client may no longer follow the stream, or None; a database that does not answer ends
    nothing (the stream waits for it as the catch-up does)."""
    try:
        return await hub.read(want.credential)
    except DBAPIError:
        return None


async def _catch_up(hub: EventHub, client: _Client) -> AsyncIterator[bytes]:
    """The client's events from the log, from its position to the newest; a database that does not
    answer is asked again while the connection is kept open."""
    while True:
        try:
            page = await hub.read(events_after, client.cursor, PAGE)
        except DBAPIError:
            yield KEEPALIVE_COMMENT
            await asyncio.sleep(RETRY_S)
            continue
        for event in client.states([Outgoing.state(e) for e in page]):
            yield wire(event)
        if len(page) < PAGE:
            return


def hub_of(engine: Engine, settings: Settings, state: Any) -> EventHub:
    """The process's hub, made on first use (in the serving process, on its loop)."""
    hub: EventHub | None = getattr(state, "events", None)
    if hub is None:
        hub = state.events = EventHub(engine, settings)
    return hub
