"""execution fields: step-run chain token and gauge sequence ranges, work-order lot size

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 13:46:56.440009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("step_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain_token", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("gauge_seq_start", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("gauge_seq_end", sa.JSON(), nullable=True))
    with op.batch_alter_table("work_order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lot_size", sa.Float(), nullable=True))
        # Existing orders created nothing through this counter yet.
        batch_op.add_column(sa.Column("lots_created", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("work_order", schema=None) as batch_op:
        batch_op.drop_column("lots_created")
        batch_op.drop_column("lot_size")
    with op.batch_alter_table("step_run", schema=None) as batch_op:
        batch_op.drop_column("gauge_seq_end")
        batch_op.drop_column("gauge_seq_start")
        batch_op.drop_column("chain_token")
