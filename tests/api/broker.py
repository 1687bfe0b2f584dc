"""Pointing this process's Celery app, through which the routes send, at a broker of the test's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Send through ``url`` inside the block, and through the configured broker again after it."""
    from workers.app import app as celery

    def reset() -> None:  # its connection pools were made for the old URL
        celery._pool = None
        celery.amqp._producer_pool = None

    old = celery.conf.broker_url
    celery.conf.broker_url = url
    reset()
    try:
        yield
    finally:
        celery.conf.broker_url = old
        reset()
