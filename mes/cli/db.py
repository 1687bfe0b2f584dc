"""``mes db``: the database schema."""

from __future__ import annotations

import typer

from mes.cli.common import database, out
from mes.config import get_settings
from mes.db import describe, make_engine

db_app = typer.Typer(help="Database schema: apply migrations, check the connection.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to MES_DATABASE_URL (safe to run again)."""
    from mes.migrate import upgrade

    settings = get_settings()
    engine = make_engine(settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    if before == after:
        out.print(f"schema already at revision {after}; nothing to do")
    else:
        out.print(f"schema upgraded from {before or 'empty'} to revision {after}")


@db_app.command("check")
def db_check() -> None:
    """Connect to MES_DATABASE_URL and report its schema revision (exit 1 unless current)."""
    from mes.migrate import require_current

    with database(migrated=False) as engine:
        revision = require_current(engine)
        url = describe(engine.url)
    out.print(f"database {url}: schema at revision {revision} (current)")
