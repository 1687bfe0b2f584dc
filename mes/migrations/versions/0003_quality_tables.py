"""quality: alarm journal, control limits, alarm characteristic

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 15:51:57.206727
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mes.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "control_limit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipe_id", sa.Integer(), nullable=False),
        sa.Column("equipment_unit_id", sa.Integer(), nullable=False),
        sa.Column("layer_name", sa.String(length=100), nullable=False),
        sa.Column("characteristic", sa.String(length=64), nullable=False),
        sa.Column("chart", sa.String(length=16), nullable=False),
        sa.Column("segment_m", sa.Float(), nullable=False),
        sa.Column("center", sa.Float(), nullable=False),
        sa.Column("ucl", sa.Float(), nullable=False),
        sa.Column("lcl", sa.Float(), nullable=False),
        sa.Column("sigma", sa.Float(), nullable=False),
        sa.Column("rules", sa.String(length=32), nullable=False),
        sa.Column("run_length", sa.Integer(), nullable=False),
        sa.Column("n_baseline", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("lcl < center AND center < ucl", name=op.f("ck_control_limit_limits_ordered")),
        sa.ForeignKeyConstraint(
            ["equipment_unit_id"],
            ["equipment_unit.id"],
            name=op.f("fk_control_limit_equipment_unit_id_equipment_unit"),
        ),
        sa.ForeignKeyConstraint(["recipe_id"], ["recipe.id"], name=op.f("fk_control_limit_recipe_id_recipe")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_limit")),
    )
    with op.batch_alter_table("control_limit", schema=None) as batch_op:
        batch_op.create_index(
            "uq_control_limit_active",
            ["recipe_id", "equipment_unit_id", "layer_name", "characteristic"],
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )

    op.create_table(
        "alarm_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alarm_id", sa.Integer(), nullable=False),
        sa.Column("transition", sa.String(length=32), nullable=False),
        sa.Column(
            "from_state",
            sa.Enum(
                "active_unack",
                "active_ack",
                "cleared_unack",
                "normal",
                name="from_state",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_state",
            sa.Enum(
                "active_unack",
                "active_ack",
                "cleared_unack",
                "normal",
                name="to_state",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarm.id"], name=op.f("fk_alarm_event_alarm_id_alarm")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_event")),
    )
    with op.batch_alter_table("alarm_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alarm_event_alarm_id"), ["alarm_id"], unique=False)

    with op.batch_alter_table("alarm", schema=None) as batch_op:
        batch_op.add_column(sa.Column("characteristic_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("position_m", sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f("ix_alarm_characteristic_id"), ["characteristic_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_alarm_characteristic_id_characteristic"),
            "characteristic",
            ["characteristic_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("alarm", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_alarm_characteristic_id_characteristic"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_alarm_characteristic_id"))
        batch_op.drop_column("position_m")
        batch_op.drop_column("characteristic_id")

    with op.batch_alter_table("alarm_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alarm_event_alarm_id"))

    op.drop_table("alarm_event")
    with op.batch_alter_table("control_limit", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_control_limit_active", sqlite_where=sa.text("active"), postgresql_where=sa.text("active")
        )

    op.drop_table("control_limit")
