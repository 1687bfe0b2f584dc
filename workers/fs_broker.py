"""The embedded ``filesystem://`` broker, with kombu's file races closed.

kombu's filesystem transport creates a message file and then writes it, and
creates an exchange table and then fills it. A worker in another process can
pick the message up, or read the table, in between: it reads nothing, fails to
parse it, and the worker dies with "Unrecoverable error: JSONDecodeError" — the
message lost with it. Here a message is written under a temporary name and
renamed into the queue (a rename is atomic), and a table is likewise written
whole under a temporary name and renamed over the old one, writers taking turns
under a lock; a table left empty reads as no bindings.

Registered for ``filesystem://`` by :mod:`workers.app`; nothing else changes.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

_BIND_LOCK = threading.Lock()


def _table(raw: bytes) -> list[Any]:
    text = bytes_to_str(raw).strip()
    return list(loads(text)) if text else []


class Channel(filesystem.Channel):
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # The same name as kombu's, so that consumers order and match messages as before.
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"  # not a ".msg" name: no consumer looks at it
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def get_table(self, exchange: str) -> list[Any]:
        # A table is only ever replaced whole (see _queue_bind): a reader sees the old bindings or
        # the new ones, never a file being written — in another process or another thread.
        file = self._exchange_file(exchange)
        try:
            rows = [filesystem.exchange_queue_t(*q) for q in _table(file.read_bytes())]
        except FileNotFoundError:
            rows = []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        # kombu keeps the bindings of this process in a state shared by its threads: a thread that
        # finds a binding there does not write it again, and may publish before the thread that
        # declared it has written the file. Bindings known in this process count as well.
        local = self.state.exchanges.get(exchange, {}).get("table", [])
        rows += [q for q in (filesystem.exchange_queue_t(*m) for m in local) if q not in rows]
        return rows

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(exist_ok=True)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            # Writers take turns: a thread lock within this process (fcntl locks are per process),
            # a file lock beside the table across processes. The table is written under a
            # temporary name and renamed over the old one (atomic), so readers need no lock.
            with _BIND_LOCK, open(f"{file}.lock", "a+b") as guard:
                filesystem.lock(guard, filesystem.LOCK_EX)
                try:
                    queues = self.get_table(exchange)
                    if binding in queues:
                        return
                    queues.insert(0, binding)
                    partial = f"{file}.{uuid.uuid4().hex}.part"
                    with open(partial, "wb") as f:
                        f.write(str_to_bytes(dumps(queues)))
                    os.replace(partial, file)
                finally:
                    filesystem.unlock(guard)
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc


class Transport(filesystem.Transport):
    Channel = Channel
