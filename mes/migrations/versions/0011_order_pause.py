"""orders: pause and resume of a step's unit (PackML Hold/Unhold), time held

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mes.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = mes.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("step_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pause_requested_at", mes.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("unit_held_at", mes.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("held_s", sa.Float(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("step_run", schema=None) as batch_op:
        batch_op.drop_column("held_s")
        batch_op.drop_column("unit_held_at")
        batch_op.drop_column("pause_requested_at")
