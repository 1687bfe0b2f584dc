"""Server-Sent Events read over a real HTTP connection (httpx, asyncio), parsed as a browser's
EventSource parses them: for the end-to-end test and the API benchmark, in an event loop that also runs
the simulators, so nothing here blocks it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    event: str  # "message" when the block named none
    id: str | None  # the last event id after this block, as EventSource keeps it
    data: str
    received: float = field(default=0.0, compare=False)  # time.time() when its block ended

    def json(self) -> Any:
        return json.loads(self.data)


class EventStream:
    """One open ``GET …/events``: :meth:`next` and :meth:`until` wait a bounded time for events."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.last_id: str | None = None
        self.seen: list[Event] = []
        self._lines = response.aiter_lines()

    async def next(self, timeout_s: float) -> Event:
        """The next event with data (blocks of only an id or comments move :attr:`last_id`)."""
        kind, data = "", list[str]()
        async with asyncio.timeout(timeout_s):
            async for line in self._lines:
                if line == "":
                    if data:
                        event = Event(kind or "message", self.last_id, "\n".join(data), time.time())
                        self.seen.append(event)
                        return event
                    kind = ""
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    kind = value
                elif name == "data":
                    data.append(value)
                elif name == "id" and "\0" not in value:
                    self.last_id = value
        raise EOFError("the server ended the event stream")

    async def until(self, found: Callable[[Event], bool], timeout_s: float, what: str) -> Event:
        """Read events until one is ``found``; AssertionError naming ``what`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            try:
                event = await self.next(max(left, 0.001))
            except TimeoutError:
                kinds = [f"{e.event}:{_entity(e)}" for e in self.seen[-15:]]
                raise AssertionError(
                    f"no event {what} within {timeout_s:g} s; the last ones: {kinds}"
                ) from None
            if found(event):
                return event


def _entity(event: Event) -> str:
    try:
        body = event.json()
    except ValueError:
        return "?"
    return f"{body.get('entity', body.get('gauge', '?'))}={body.get('state', '')}"


@asynccontextmanager
async def open_events(
    client: httpx.AsyncClient, path: str = "/api/v1/events", *, headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> AsyncIterator[EventStream]:  # fmt: skip
    """The stream, once its status and headers are in (raises AssertionError on anything but 200)."""
    async with client.stream("GET", path, headers=headers, params=params,
                             timeout=httpx.Timeout(30.0, read=None)) as response:  # fmt: skip
        if response.status_code != 200:
            await response.aread()
            raise AssertionError(f"GET {path}: {response.status_code} {response.text}")
        yield EventStream(response)
