"""Pointing this process's Celery app, through which the routes send, at a broker of the test's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from tests.lots.conftest import REDIS_DB
from tests.services import ServiceUrls


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


@contextmanager
def sending_broker(services: ServiceUrls) -> Iterator[redis.Redis]:
    """The suite's Redis database (``MES_TEST_REDIS_DB``), emptied, as the broker the routes send
    through; the test reads what was sent from the client it yields. Emptied again after."""
    url = services.redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        with celery_broker(url):
            yield client
    finally:
        client.flushdb()
        client.close()
