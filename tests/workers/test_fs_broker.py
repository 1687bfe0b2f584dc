"""The embedded filesystem broker under concurrent producers and a consumer: nothing torn, nothing lost."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from kombu.connection import Connection

import workers.app  # noqa: F401 - registers the transport for filesystem://
from workers.app import broker_options
from workers.fs_broker import Channel


def _connection(folder: Path) -> Connection:
    return Connection(  # type: ignore[no-untyped-call]
        "filesystem://", transport_options=broker_options("filesystem://", folder)
    )


def test_concurrent_producers_and_a_consumer_lose_and_tear_nothing(tmp_path: Path) -> None:
    """A smoke test: threads in one process rarely hit the torn-file window that separate worker
    processes hit; the empty-table test below is the deterministic one."""
    sent = {f"{p}-{i}" for p in range(3) for i in range(200)}
    received: list[str] = []
    errors: list[BaseException] = []

    def produce(p: int) -> None:
        try:
            with _connection(tmp_path) as conn:
                queue = conn.SimpleQueue("q")
                for i in range(200):
                    queue.put({"id": f"{p}-{i}", "pad": "x" * 2000})
                queue.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    def consume() -> None:
        try:
            with _connection(tmp_path) as conn:
                queue = conn.SimpleQueue("q")
                while len(received) < len(sent):
                    message = queue.get(timeout=10)
                    received.append(message.payload["id"])
                    message.ack()
                queue.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    consumer = threading.Thread(target=consume)
    consumer.start()
    producers = [threading.Thread(target=produce, args=(p,)) for p in range(3)]
    for t in producers:
        t.start()
    for t in [*producers, consumer]:
        t.join(60)
    assert not errors, errors
    assert sorted(received) == sorted(sent)


def test_an_exchange_table_left_empty_reads_as_no_bindings(tmp_path: Path) -> None:
    with _connection(tmp_path) as conn:
        channel = conn.default_channel
        assert isinstance(channel, Channel)
        (tmp_path / "control" / "ex.exchange").write_bytes(b"")  # created, not yet filled
        assert channel.get_table("ex") == []
        channel._queue_bind("ex", "key", "", "q")
        channel._queue_bind("ex", "key", "", "q")
        assert [tuple(q) for q in channel.get_table("ex")] == [("key", "", "q")]


def test_the_app_connects_to_the_filesystem_broker_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mes.config import Settings
    from workers.app import make_app

    app = make_app(Settings(broker_url="filesystem://", broker_folder=tmp_path))  # as `mes demo` sets it
    with caplog.at_level(logging.WARNING), app.connection_for_write() as conn:
        conn.info()
    # Expected: no kombu warning; `mes demo` printed "WARNING kombu.connection: No hostname was supplied.
    # Reverting to default 'localhost'" as a raw log line.
    assert [r.getMessage() for r in caplog.records if r.name.startswith("kombu")] == []
