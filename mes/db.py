"""Engine and session factory.

Engines are built by :func:`make_engine`, never at import time: a Celery worker
forks after importing this module, and a pooled connection must not cross a fork.
The caller owns the transaction — services only ``flush()``; :func:`session_scope`
is the context manager that commits or rolls back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.exc import DatabaseError as SaDatabaseError
from sqlmodel import Session

from mes.errors import DatabaseMissing, DatabaseUnreachable, DatabaseUrlError


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def normalise_url(url: str) -> str:
    """Pin PostgreSQL URLs to psycopg 3, the only PostgreSQL driver the product installs."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.removeprefix("postgres://")
    return url


def sqlite_file(url: str | URL) -> Path | None:
    """The absolute path of the file a SQLite URL names; None for a server or an in-memory database."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return None
    name = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or name in ("", ":memory:") or name.startswith("file:"):
        return None
    return Path(name).expanduser().resolve()


def describe(url: str | URL) -> str:
    """How a user recognises the database: a SQLite file's absolute path, else the URL with the
    password masked (and without the driver name the MES adds)."""
    path = sqlite_file(url)
    if path is not None:
        return str(path)
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return str(url)
    return parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=True)


def require_database(url: str) -> None:
    """Refuse a SQLite URL whose file does not exist: only ``mes db upgrade`` may create a database
    (opening a missing file would leave an empty one behind, wherever the command was run)."""
    path = sqlite_file(normalise_url(url))
    if path is not None and not path.exists():
        raise DatabaseMissing(
            f"MES_DATABASE_URL names the SQLite file {path}, which does not exist: point MES_DATABASE_URL "
            "at the MES database, or run `mes db upgrade` to create one there"
        )


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers (HMI, CLI) run while the worker or collector writes;
        # the busy timeout makes a second writer wait instead of failing.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


def make_engine(url: str, *, sqlite_busy_timeout_ms: int = 15_000, echo: bool = False) -> Engine:
    """Create an engine for ``url`` (SQLite or PostgreSQL).

    Raises :class:`DatabaseUrlError` when the URL cannot be parsed or its driver is
    not installed. No connection is opened here.
    """
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUrlError(
            f"MES_DATABASE_URL {url!r} is not a database URL "
            "(expected e.g. sqlite:///./mes.db or postgresql://user@host:5432/mes)"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(f"MES_DATABASE_URL uses {backend!r}; the MES runs on sqlite or postgresql")
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if backend == "sqlite":
        # One connection per thread is fine for SQLite; the timeout here is the
        # driver-level wait and complements the busy_timeout pragma.
        kwargs["connect_args"] = {"timeout": sqlite_busy_timeout_ms / 1000, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": 5}
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise DatabaseUrlError(f"MES_DATABASE_URL {_redact(url)}: driver not installed ({exc})") from exc
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(sqlite_busy_timeout_ms))
    return engine


def ping(engine: Engine) -> None:
    """Open one connection; raise :class:`DatabaseUnreachable` with the reason when it fails."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except (OperationalError, SaDatabaseError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        raise DatabaseUnreachable(
            f"cannot connect to MES_DATABASE_URL {engine.url.render_as_string(hide_password=True)}: {reason}"
        ) from exc


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits when the block ends and rolls back on error."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
