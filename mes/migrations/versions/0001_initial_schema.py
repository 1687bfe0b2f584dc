"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 13:03:42.847820

All tables of the domain, plus triggers on both backends (autogenerate does not
see triggers, so they live only here): ``audit_event`` is append-only, and a
recipe version's content is frozen once it leaves draft.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mes.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "operator",
                "engineer",
                "quality",
                "admin",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("name", name=op.f("uq_app_user_name")),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_event_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_event_prev_hash")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_entity", ["entity_type", "entity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_occurred_at"), ["occurred_at"], unique=False)

    op.create_table(
        "equipment_unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column(
            "equipment_class",
            sa.Enum(
                "sputter",
                "coater",
                "winder",
                name="equipmentclass",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("endpoint", sa.String(length=300), nullable=False),
        sa.Column("profile", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("healthy", sa.Boolean(), nullable=False),
        sa.Column("last_seen_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_unit")),
        sa.UniqueConstraint("name", name=op.f("uq_equipment_unit_name")),
    )
    with op.batch_alter_table("equipment_unit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_equipment_unit_equipment_class"), ["equipment_class"], unique=False
        )

    op.create_table(
        "recipe",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("product_family", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "approved",
                "released",
                "obsolete",
                name="recipestatus",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("source_path", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=64), nullable=True),
        sa.Column("released_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("obsoleted_by", sa.String(length=64), nullable=True),
        sa.Column("obsoleted_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipe")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_recipe_name_version")),
    )
    with op.batch_alter_table("recipe", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recipe_name"), ["name"], unique=False)

    op.create_table(
        "work_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("recipe_id", sa.Integer(), nullable=False),
        sa.Column("lots_requested", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "waiting",
                "ready",
                "running",
                "held",
                "suspended",
                "completed",
                "aborted",
                "closed",
                name="workorderstate",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["recipe_id"], ["recipe.id"], name=op.f("fk_work_order_recipe_id_recipe")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order")),
        sa.UniqueConstraint("number", name=op.f("uq_work_order_number")),
    )
    with op.batch_alter_table("work_order", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_order_recipe_id"), ["recipe_id"], unique=False)
        batch_op.create_index("ix_work_order_state_priority", ["state", "priority"], unique=False)

    op.create_table(
        "lot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "anode",
                "cathode",
                "separator",
                "cell",
                "foil",
                "substrate",
                name="lotkind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "planned",
                "in_process",
                "on_hold",
                "released",
                "rejected",
                "consumed",
                name="lotstatus",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("width_mm", sa.Float(), nullable=True),
        sa.Column("work_order_id", sa.Integer(), nullable=True),
        sa.Column("recipe_id", sa.Integer(), nullable=True),
        sa.Column("recipe_hash", sa.String(length=64), nullable=True),
        sa.Column("material", sa.String(length=200), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=True),
        sa.Column("supplier_lot", sa.String(length=100), nullable=True),
        sa.Column("created_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["recipe_id"], ["recipe.id"], name=op.f("fk_lot_recipe_id_recipe")),
        sa.ForeignKeyConstraint(
            ["work_order_id"], ["work_order.id"], name=op.f("fk_lot_work_order_id_work_order")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lot")),
        sa.UniqueConstraint("number", name=op.f("uq_lot_number")),
    )
    with op.batch_alter_table("lot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lot_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_lot_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_lot_work_order_id"), ["work_order_id"], unique=False)

    op.create_table(
        "alarm",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("condition", sa.String(length=200), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column(
            "priority",
            sa.Enum(
                "low",
                "medium",
                "high",
                "urgent",
                name="alarmpriority",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum(
                "active_unack",
                "active_ack",
                "cleared_unack",
                "normal",
                name="alarmstate",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("equipment_unit_id", sa.Integer(), nullable=True),
        sa.Column("lot_id", sa.Integer(), nullable=True),
        sa.Column("raised_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("shelved_by", sa.String(length=64), nullable=True),
        sa.Column("shelved_until", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["equipment_unit_id"],
            ["equipment_unit.id"],
            name=op.f("fk_alarm_equipment_unit_id_equipment_unit"),
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"], name=op.f("fk_alarm_lot_id_lot")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm")),
    )
    with op.batch_alter_table("alarm", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alarm_lot_id"), ["lot_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_state"), ["state"], unique=False)
        batch_op.create_index(
            "uq_alarm_open_condition",
            ["condition"],
            unique=True,
            sqlite_where=sa.text("is_open"),
            postgresql_where=sa.text("is_open"),
        )

    op.create_table(
        "genealogy_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_lot_id", sa.Integer(), nullable=False),
        sa.Column("parent_start_m", sa.Float(), nullable=False),
        sa.Column("parent_end_m", sa.Float(), nullable=False),
        sa.Column("child_lot_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("created_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("parent_end_m > parent_start_m", name=op.f("ck_genealogy_link_interval_ordered")),
        sa.ForeignKeyConstraint(
            ["child_lot_id"], ["lot.id"], name=op.f("fk_genealogy_link_child_lot_id_lot")
        ),
        sa.ForeignKeyConstraint(
            ["parent_lot_id"], ["lot.id"], name=op.f("fk_genealogy_link_parent_lot_id_lot")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_genealogy_link")),
    )
    with op.batch_alter_table("genealogy_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_genealogy_link_child_lot_id"), ["child_lot_id"], unique=False)
        batch_op.create_index(
            "ix_genealogy_link_parent_interval",
            ["parent_lot_id", "parent_start_m", "parent_end_m"],
            unique=False,
        )

    op.create_table(
        "step_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("step_name", sa.String(length=100), nullable=False),
        sa.Column(
            "equipment_class",
            sa.Enum(
                "sputter",
                "coater",
                "winder",
                name="equipmentclass",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("equipment_unit_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "dispatched",
                "running",
                "completed",
                "failed",
                "held",
                "aborted",
                name="steprunstate",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("setpoints_sent", sa.JSON(), nullable=True),
        sa.Column("lease_token", sa.Integer(), nullable=True),
        sa.Column("time_limit_s", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["equipment_unit_id"],
            ["equipment_unit.id"],
            name=op.f("fk_step_run_equipment_unit_id_equipment_unit"),
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"], name=op.f("fk_step_run_lot_id_lot")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_run")),
        sa.UniqueConstraint("job_id", name=op.f("uq_step_run_job_id")),
        sa.UniqueConstraint("lot_id", "step_index", name=op.f("uq_step_run_lot_id_step_index")),
    )
    with op.batch_alter_table("step_run", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_step_run_equipment_unit_id"), ["equipment_unit_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_step_run_state"), ["state"], unique=False)

    op.create_table(
        "layer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("step_run_id", sa.Integer(), nullable=True),
        sa.Column("layer_index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("material", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column(
            "disposition_policy",
            sa.Enum(
                "hold_lot",
                "hold_interval",
                "flag_only",
                "scrap",
                name="disposition",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "result",
            sa.Enum(
                "pending",
                "in_spec",
                "out_of_spec",
                name="layerresult",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("closed_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"], name=op.f("fk_layer_lot_id_lot")),
        sa.ForeignKeyConstraint(["step_run_id"], ["step_run.id"], name=op.f("fk_layer_step_run_id_step_run")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_layer")),
        sa.UniqueConstraint("lot_id", "layer_index", name=op.f("uq_layer_lot_id_layer_index")),
    )
    with op.batch_alter_table("layer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_layer_step_run_id"), ["step_run_id"], unique=False)

    op.create_table(
        "unit_lease",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("step_run_id", sa.Integer(), nullable=True),
        sa.Column("acquired_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["step_run_id"], ["step_run.id"], name=op.f("fk_unit_lease_step_run_id_step_run")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["equipment_unit.id"], name=op.f("fk_unit_lease_unit_id_equipment_unit")
        ),
        sa.PrimaryKeyConstraint("unit_id", name=op.f("pk_unit_lease")),
    )
    op.create_table(
        "characteristic",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("layer_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("target", sa.Float(), nullable=False),
        sa.Column("lsl", sa.Float(), nullable=False),
        sa.Column("usl", sa.Float(), nullable=False),
        sa.Column("gauge", sa.String(length=64), nullable=False),
        sa.Column("pitch_m", sa.Float(), nullable=False),
        sa.Column("lanes", sa.Integer(), nullable=False),
        sa.Column(
            "result",
            sa.Enum(
                "pending",
                "in_spec",
                "out_of_spec",
                name="layerresult",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("n_values", sa.Integer(), nullable=False),
        sa.Column("min_value", sa.Float(), nullable=True),
        sa.Column("mean_value", sa.Float(), nullable=True),
        sa.Column("max_value", sa.Float(), nullable=True),
        sa.Column("stddev_value", sa.Float(), nullable=True),
        sa.CheckConstraint("lsl < usl", name=op.f("ck_characteristic_limits_ordered")),
        sa.ForeignKeyConstraint(["layer_id"], ["layer.id"], name=op.f("fk_characteristic_layer_id_layer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_characteristic")),
        sa.UniqueConstraint("layer_id", "name", name=op.f("uq_characteristic_layer_id_name")),
    )
    op.create_table(
        "gauge_scan",
        sa.Column("id", mes.base.BigIntPK, nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("layer_id", sa.Integer(), nullable=False),
        sa.Column("characteristic_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("position_m", sa.Float(), nullable=False),
        sa.Column("measured_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lane_values", mes.base.LaneValues(), nullable=False),
        sa.Column("min_value", sa.Float(), nullable=False),
        sa.Column("mean_value", sa.Float(), nullable=False),
        sa.Column("max_value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["characteristic_id"],
            ["characteristic.id"],
            name=op.f("fk_gauge_scan_characteristic_id_characteristic"),
        ),
        sa.ForeignKeyConstraint(["layer_id"], ["layer.id"], name=op.f("fk_gauge_scan_layer_id_layer")),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"], name=op.f("fk_gauge_scan_lot_id_lot")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gauge_scan")),
        sa.UniqueConstraint("characteristic_id", "seq", name=op.f("uq_gauge_scan_characteristic_id_seq")),
    )
    with op.batch_alter_table("gauge_scan", schema=None) as batch_op:
        batch_op.create_index(
            "ix_gauge_scan_characteristic_position", ["characteristic_id", "position_m"], unique=False
        )
        batch_op.create_index(
            "ix_gauge_scan_lot_layer_position", ["lot_id", "layer_id", "position_m"], unique=False
        )

    op.create_table(
        "oos_interval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("layer_id", sa.Integer(), nullable=False),
        sa.Column("characteristic_id", sa.Integer(), nullable=False),
        sa.Column("start_m", sa.Float(), nullable=False),
        sa.Column("end_m", sa.Float(), nullable=False),
        sa.Column("worst_value", sa.Float(), nullable=False),
        sa.Column("limit_value", sa.Float(), nullable=False),
        sa.Column("limit_kind", sa.String(length=8), nullable=False),
        sa.Column(
            "disposition",
            sa.Enum(
                "hold_lot",
                "hold_interval",
                "flag_only",
                "scrap",
                name="disposition",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "flagged",
                "held",
                "released",
                "scrapped",
                name="intervalstatus",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("opened_at", mes.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("dispositioned_by", sa.String(length=64), nullable=True),
        sa.Column("dispositioned_at", mes.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("end_m >= start_m", name=op.f("ck_oos_interval_interval_ordered")),
        sa.ForeignKeyConstraint(
            ["characteristic_id"],
            ["characteristic.id"],
            name=op.f("fk_oos_interval_characteristic_id_characteristic"),
        ),
        sa.ForeignKeyConstraint(["layer_id"], ["layer.id"], name=op.f("fk_oos_interval_layer_id_layer")),
        sa.ForeignKeyConstraint(["lot_id"], ["lot.id"], name=op.f("fk_oos_interval_lot_id_lot")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oos_interval")),
    )
    with op.batch_alter_table("oos_interval", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oos_interval_characteristic_id"), ["characteristic_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_oos_interval_layer_id"), ["layer_id"], unique=False)
        batch_op.create_index("ix_oos_interval_lot_start", ["lot_id", "start_m"], unique=False)

    _create_audit_guards()


def downgrade() -> None:
    _drop_audit_guards()
    with op.batch_alter_table("oos_interval", schema=None) as batch_op:
        batch_op.drop_index("ix_oos_interval_lot_start")
        batch_op.drop_index(batch_op.f("ix_oos_interval_layer_id"))
        batch_op.drop_index(batch_op.f("ix_oos_interval_characteristic_id"))

    op.drop_table("oos_interval")
    with op.batch_alter_table("gauge_scan", schema=None) as batch_op:
        batch_op.drop_index("ix_gauge_scan_lot_layer_position")
        batch_op.drop_index("ix_gauge_scan_characteristic_position")

    op.drop_table("gauge_scan")
    op.drop_table("characteristic")
    op.drop_table("unit_lease")
    with op.batch_alter_table("layer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_layer_step_run_id"))

    op.drop_table("layer")
    with op.batch_alter_table("step_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_step_run_state"))
        batch_op.drop_index(batch_op.f("ix_step_run_equipment_unit_id"))

    op.drop_table("step_run")
    with op.batch_alter_table("genealogy_link", schema=None) as batch_op:
        batch_op.drop_index("ix_genealogy_link_parent_interval")
        batch_op.drop_index(batch_op.f("ix_genealogy_link_child_lot_id"))

    op.drop_table("genealogy_link")
    with op.batch_alter_table("alarm", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_alarm_open_condition", sqlite_where=sa.text("is_open"), postgresql_where=sa.text("is_open")
        )
        batch_op.drop_index(batch_op.f("ix_alarm_state"))
        batch_op.drop_index(batch_op.f("ix_alarm_lot_id"))

    op.drop_table("alarm")
    with op.batch_alter_table("lot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lot_work_order_id"))
        batch_op.drop_index(batch_op.f("ix_lot_status"))
        batch_op.drop_index(batch_op.f("ix_lot_kind"))

    op.drop_table("lot")
    with op.batch_alter_table("work_order", schema=None) as batch_op:
        batch_op.drop_index("ix_work_order_state_priority")
        batch_op.drop_index(batch_op.f("ix_work_order_recipe_id"))

    op.drop_table("work_order")
    with op.batch_alter_table("recipe", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recipe_name"))

    op.drop_table("recipe")
    with op.batch_alter_table("equipment_unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_equipment_unit_equipment_class"))

    op.drop_table("equipment_unit")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_occurred_at"))
        batch_op.drop_index("ix_audit_event_entity")

    op.drop_table("audit_event")
    op.drop_table("app_user")


_PG_GUARD = """
CREATE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only';
END;
$$ LANGUAGE plpgsql
"""
_PG_RECIPE_FROZEN = """
CREATE FUNCTION recipe_content_frozen() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'recipe content is frozen once approved';
END;
$$ LANGUAGE plpgsql
"""
_FROZEN_WHEN = (
    "OLD.status <> 'draft' AND (NEW.content <> OLD.content OR NEW.content_hash <> OLD.content_hash)"
)


def _create_audit_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_GUARD)
        op.execute(
            "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )
        op.execute(_PG_RECIPE_FROZEN)
        op.execute(
            "CREATE TRIGGER recipe_frozen BEFORE UPDATE ON recipe "
            f"FOR EACH ROW WHEN ({_FROZEN_WHEN}) EXECUTE FUNCTION recipe_content_frozen()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
                "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
            )
        op.execute(
            f"CREATE TRIGGER recipe_frozen BEFORE UPDATE ON recipe WHEN {_FROZEN_WHEN} "
            "BEGIN SELECT RAISE(ABORT, 'recipe content is frozen once approved'); END"
        )


def _drop_audit_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
        op.execute("DROP TRIGGER IF EXISTS recipe_frozen ON recipe")
        op.execute("DROP FUNCTION IF EXISTS recipe_content_frozen()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
        op.execute("DROP TRIGGER IF EXISTS recipe_frozen")
