"""A small Server-Sent Events reader for the tests: one connection, events parsed as a browser's
EventSource parses them, every wait bounded."""

from __future__ import annotations

import json
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    event: str  # "message" when the block named none
    id: str | None  # the last event id after this block (as EventSource keeps it)
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class SseClient:
    """Reads ``url`` on a thread into a queue; :meth:`next` waits a bounded time for the next event.
    Blocks without data (an id alone, comments) only move ``last_id``."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout_s: float = 20.0) -> None:
        self.url, self.headers = url, headers or {}
        self.events: queue.Queue[Event | BaseException] = queue.Queue()
        self.last_id: str | None = None
        self.status: int | None = None
        self.content_type = ""
        self.comments = 0
        self._opened = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=5.0))
        self._stop = threading.Event()
        self._socket: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="sse-client", daemon=True)
        self._thread.start()
        if not self._opened.wait(timeout_s):
            raise TimeoutError(f"no answer from {url}")

    def _run(self) -> None:
        try:
            with self._client.stream("GET", self.url, headers=self.headers) as response:
                self.status, self.content_type = (
                    response.status_code,
                    response.headers.get("content-type", ""),
                )
                self._socket = response.extensions["network_stream"].get_extra_info("socket")
                self._opened.set()
                if response.status_code != 200:
                    response.read()
                    self.events.put(RuntimeError(response.text))
                    return
                self._parse(response)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self._opened.set()
            if not self._stop.is_set():
                self.events.put(exc)

    def _parse(self, response: httpx.Response) -> None:
        kind, data = "", list[str]()
        for line in response.iter_lines():
            if self._stop.is_set():
                return
            if line == "":
                if data:
                    self.events.put(Event(kind or "message", self.last_id, "\n".join(data)))
                kind, data = "", []
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                kind = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                self.last_id = value

    def next(self, timeout_s: float = 20.0) -> Event:
        item = self.events.get(timeout=timeout_s)
        if isinstance(item, BaseException):
            raise item
        return item

    def until(self, kind: str, timeout_s: float = 20.0) -> Event:
        """The next event of ``kind`` (others before it are skipped)."""
        while True:
            event = self.next(timeout_s)
            if event.event == kind:
                return event

    def close(self) -> None:
        """Hang up as a browser tab that is closed does: the server sees the connection end."""
        self._stop.set()
        if self._socket is not None:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)  # wakes the reading thread; a close would not
            except OSError:
                pass
        self._thread.join(5)
        self._client.close()

    def __enter__(self) -> SseClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
