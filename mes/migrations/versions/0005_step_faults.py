"""step faults: link-failure budget, fault count and evidence of running on step runs; unit health reason

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-30 13:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mes.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("step_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("link_failing_since", mes.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("faults", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("seen_running_at", mes.base.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("equipment_unit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("health_reason", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("equipment_unit", schema=None) as batch_op:
        batch_op.drop_column("health_reason")
    with op.batch_alter_table("step_run", schema=None) as batch_op:
        batch_op.drop_column("seen_running_at")
        batch_op.drop_column("faults")
        batch_op.drop_column("link_failing_since")
        batch_op.drop_column("link_failures")
