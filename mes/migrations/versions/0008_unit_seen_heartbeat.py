"""units: last state the collector read; service heartbeats

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mes.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("equipment_unit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_state", sa.String(length=32), nullable=True))
    op.create_table(
        "service_heartbeat",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_heartbeat")),
    )


def downgrade() -> None:
    op.drop_table("service_heartbeat")
    with op.batch_alter_table("equipment_unit", schema=None) as batch_op:
        batch_op.drop_column("last_state")
