"""orders: idempotency key (unique), lots of a cancelled order

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ("planned", "in_process", "on_hold", "released", "rejected", "consumed")
NEW_STATUSES = (*OLD_STATUSES, "cancelled")


def _set_statuses(values: Sequence[str]) -> None:
    # The enum is VARCHAR + a named CHECK (mes.base.enum_type): widening it is a new CHECK.
    with op.batch_alter_table("lot", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_lot_lotstatus"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_lot_lotstatus"), sa.text("status IN (" + ", ".join(f"'{v}'" for v in values) + ")")
        )


def upgrade() -> None:
    with op.batch_alter_table("work_order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(op.f("uq_work_order_idempotency_key"), ["idempotency_key"])
    _set_statuses(NEW_STATUSES)


def downgrade() -> None:
    # The old schema has no word for a lot never made; "rejected" is the nearest (no material).
    op.execute("UPDATE lot SET status = 'rejected' WHERE status = 'cancelled'")
    _set_statuses(OLD_STATUSES)
    with op.batch_alter_table("work_order", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_work_order_idempotency_key"), type_="unique")
        batch_op.drop_column("idempotency_key")
