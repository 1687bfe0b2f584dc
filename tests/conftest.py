"""Fixtures that give tests real PostgreSQL, SQLite and Redis.

Database tests take ``engine`` (a migrated database) or ``empty_db_url`` and run
once per backend. PostgreSQL databases are created for this run and dropped at
its end; SQLite files live in pytest's tmp_path.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mes.db import make_engine
from mes.migrate import upgrade
from mes.models import metadata
from tests.read_model_plant import Plant
from tests.read_model_plant import build as build_plant
from tests.services import (
    ServiceUnavailable,
    ServiceUrls,
    check_postgres,
    check_redis,
    create_database,
    drop_database,
)

BACKENDS = ["sqlite", "postgresql"]


def pytest_sessionstart(session: pytest.Session) -> None:
    services = ServiceUrls.from_env()
    try:
        check_postgres(services.pg_admin_url)
        check_redis(services.redis_url)
    except ServiceUnavailable as exc:
        pytest.exit(f"cannot run the suite: {exc}", returncode=3)


@pytest.fixture(scope="session")
def services() -> ServiceUrls:
    return ServiceUrls.from_env()


@pytest.fixture(scope="session")
def pg_migrated_url(services: ServiceUrls) -> Iterator[str]:
    """One migrated PostgreSQL database for the whole run; tests get it emptied."""
    url = create_database(services.pg_admin_url)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    drop_database(services.pg_admin_url, url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (faster than migrating again)."""
    path = tmp_path_factory.mktemp("template") / "mes.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _truncate_all(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a migrated, empty database on ``backend``."""
    if backend == "sqlite":
        path = tmp_path / "mes.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("pg_migrated_url")
    cleaner = make_engine(url)
    _truncate_all(cleaner)
    yield url
    _truncate_all(cleaner)
    cleaner.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def empty_db_url(backend: str, services: ServiceUrls, tmp_path: Path) -> Iterator[str]:
    """URL of a database with no schema at all, on ``backend``."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url = create_database(services.pg_admin_url)
    yield url
    drop_database(services.pg_admin_url, url)


@pytest.fixture
def redis_client(services: ServiceUrls) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(services.redis_url)
    yield client
    client.close()


@pytest.fixture(scope="module", params=BACKENDS)
def read_model_plant(
    request: pytest.FixtureRequest, services: ServiceUrls, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Plant]]:
    """A database URL with :mod:`tests.read_model_plant` built in it, shared by a module's
    read-only tests (it is never emptied between them), on each backend."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("plant") / "mes.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = create_database(services.pg_admin_url)
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
    engine = make_engine(url)
    plant = build_plant(engine)
    engine.dispose()
    yield url, plant
    if request.param == "postgresql":
        drop_database(services.pg_admin_url, url)
