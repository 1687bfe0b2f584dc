"""Alembic environment: always run through ``mes.migrate`` with an open connection."""

from alembic import context

import mes.models  # noqa: F401 - registers every table on the metadata
from mes.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by calling alembic's CLI directly
    raise RuntimeError("run migrations with `mes db upgrade`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
