"""Schema migrations: apply, inspect and compare, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError as SaDatabaseError
from sqlalchemy.exc import OperationalError

from mes.db import describe, ping
from mes.errors import DatabaseUnreachable, SchemaNotCurrent

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations found")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    ping(engine)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except (OperationalError, SaDatabaseError) as exc:
        raise DatabaseUnreachable(f"cannot read the schema revision: {exc.orig}") from exc


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to ``revision``; running it again is a no-op. Returns (before, after)."""
    before = current_revision(engine)
    with engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    after = current_revision(engine)
    assert after is not None  # noqa: S101 - alembic just wrote it
    return before, after


def require_current(engine: Engine) -> str:
    """Raise :class:`SchemaNotCurrent` unless the database is at the code's head revision."""
    current = current_revision(engine)
    head = head_revision()
    where = f"the database {describe(engine.url)} (MES_DATABASE_URL)"
    if current is None:
        raise SchemaNotCurrent(f"{where} has no MES schema; run `mes db upgrade`")
    if current != head:
        raise SchemaNotCurrent(
            f"{where} is at revision {current}, this MES needs {head}; run `mes db upgrade`"
        )
    return current


def schema_diff(engine: Engine) -> list[Any]:
    """What differs between the tables in the database and the models (empty when they agree)."""
    import mes.models

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, mes.models.metadata))
