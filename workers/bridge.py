"""Run async equipment code from synchronous Celery tasks.

One asyncio loop runs in a daemon thread per worker process. It must be created
after the fork (``worker_process_init``): a loop or an OPC UA connection
inherited across ``fork()`` is shared, broken state. Each call waits for its
coroutine with a timeout and cancels it when the time is up, so a hung unit
cannot pin a worker forever.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from workers.errors import BridgeTimeout

T = TypeVar("T")


class LoopThread:
    """An event loop in its own thread, owned by the process that started it."""

    def __init__(self, name: str = "equipment-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._pid = os.getpid()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        self._loop.run_forever()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
        """Run ``coro`` on the loop and wait for it; cancel it after ``timeout_s``."""
        if os.getpid() != self._pid:
            coro.close()
            raise RuntimeError("this loop belongs to another process: create it after fork")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise BridgeTimeout(
                f"equipment call did not finish within {timeout_s:g} s; it was cancelled"
            ) from exc

    def stop(self, timeout_s: float = 5.0) -> None:
        if not self._loop.is_running():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout_s)


_process_loop: LoopThread | None = None


def init_process_loop() -> LoopThread:
    """Start this process's loop (called from ``worker_process_init``); idempotent per process."""
    global _process_loop
    if _process_loop is None or _process_loop._pid != os.getpid():
        _process_loop = LoopThread()
    return _process_loop


def process_loop() -> LoopThread:
    if _process_loop is None or _process_loop._pid != os.getpid():
        raise RuntimeError(
            "no equipment loop in this process: init_process_loop() runs in worker_process_init"
        )
    return _process_loop
