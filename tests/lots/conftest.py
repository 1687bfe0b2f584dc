"""Fixtures for whole-line tests: a throwaway PostgreSQL database and the suite's Redis database."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from tests.services import ServiceUrls, create_database, drop_database

# The suite's own database number on the shared Redis; two runs at once on one machine take two numbers.
REDIS_DB = int(os.environ.get("MES_TEST_REDIS_DB", "11"))


@pytest.fixture
def pg_url(services: ServiceUrls) -> Iterator[str]:
    url = create_database(services.pg_admin_url)
    yield url
    drop_database(services.pg_admin_url, url)


@pytest.fixture
def broker(services: ServiceUrls) -> Iterator[str]:
    url = services.redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()
