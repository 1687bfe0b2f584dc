"""The real services the suite runs against, and how it finds and provisions them.

The suite never skips a test because a server is away: it stops at start with a
message that says which server and how to start it.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg
import redis
from sqlalchemy.engine import make_url

from mes.db import normalise_url

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

PG_HOW_TO_START = (
    "start PostgreSQL (e.g. `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) "
    "or point MES_TEST_DATABASE_URL at a server where this user may CREATE DATABASE"
)
REDIS_HOW_TO_START = (
    "start Redis (e.g. `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' "
    "--appendonly no`) or point MES_TEST_REDIS_URL at one"
)


class ServiceUnavailable(Exception):
    """A server the suite needs did not answer."""


@dataclass(frozen=True)
class ServiceUrls:
    pg_admin_url: str
    redis_url: str

    @classmethod
    def from_env(cls) -> ServiceUrls:
        return cls(
            pg_admin_url=os.environ.get("MES_TEST_DATABASE_URL", DEFAULT_PG_URL),
            redis_url=os.environ.get("MES_TEST_REDIS_URL", DEFAULT_REDIS_URL),
        )


def _conninfo(url: str) -> str:
    """A libpq URL for psycopg (SQLAlchemy's driver suffix removed)."""
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


def check_postgres(admin_url: str) -> None:
    try:
        with psycopg.connect(_conninfo(admin_url), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServiceUnavailable(
            f"PostgreSQL at {make_url(normalise_url(admin_url)).render_as_string(hide_password=True)} "
            f"is not reachable ({reason}): {PG_HOW_TO_START}"
        ) from exc


def check_redis(url: str) -> None:
    parts = urlsplit(url)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.close()
    except (redis.RedisError, OSError) as exc:
        raise ServiceUnavailable(
            f"Redis at {parts.hostname}:{parts.port or 6379} is not reachable ({exc}): {REDIS_HOW_TO_START}"
        ) from exc


def create_database(admin_url: str, prefix: str = "mes_test") -> str:
    """Create an empty throwaway database beside ``admin_url``; return its SQLAlchemy URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(_conninfo(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(normalise_url(admin_url)).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(_conninfo(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def allow_connections(admin_url: str, url: str, allowed: bool) -> None:
    """Let the database of ``url`` take connections again, or refuse new ones and end those open.

    Its clients then meet a database that is away, as after a crash or a failover, and
    find it back later with everything committed before.
    """
    name = make_url(url).database
    with psycopg.connect(_conninfo(admin_url), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}')
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid()",
                (name,),
            )
