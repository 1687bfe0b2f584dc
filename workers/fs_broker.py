"""The embedded ``filesystem://`` broker, with kombu's file races closed.

kombu's filesystem transport creates a message file and then writes it, and
creates an exchange table and then fills it. A worker in another process can
pick the message up, or read the table, in between: it reads nothing, fails to
parse it, and the worker dies with "Unrecoverable error: JSONDecodeError" — the
message lost with it. Here a message is written under a temporary name and
renamed into the queue (a rename is atomic), and a table is created and filled
under one lock, an empty table reading as no bindings.

Registered for ``filesystem://`` by :mod:`workers.app`; nothing else changes.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads


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
        file = self._exchange_file(exchange)
        try:
            with file.open("rb") as f:
                filesystem.lock(f, filesystem.LOCK_SH)
                try:
                    return [filesystem.exchange_queue_t(*q) for q in _table(f.read())]
                finally:
                    filesystem.unlock(f)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(exist_ok=True)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            # "a+b" creates the file if needed without emptying it; the lock covers read and write.
            with open(file, "a+b", buffering=0) as f:
                filesystem.lock(f, filesystem.LOCK_EX)
                try:
                    f.seek(0)
                    queues = [filesystem.exchange_queue_t(*q) for q in _table(f.read())]
                    if binding not in queues:
                        queues.insert(0, binding)
                        f.seek(0)
                        f.truncate()
                        f.write(str_to_bytes(dumps(queues)))
                finally:
                    filesystem.unlock(f)
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc


class Transport(filesystem.Transport):
    Channel = Channel
