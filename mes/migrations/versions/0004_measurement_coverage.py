"""measurement coverage: unmeasured intervals, incomplete results, scans with no finite lane

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 13:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_RESULTS = ("pending", "in_spec", "out_of_spec")
NEW_RESULTS = (*OLD_RESULTS, "incomplete")


def _results_check(values: Sequence[str]) -> str:
    return "result IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _set_results(values: Sequence[str]) -> None:
    # The enum is VARCHAR + a named CHECK (mes.base.enum_type): widening it is a new CHECK.
    for table in ("layer", "characteristic"):
        name = f"ck_{table}_layerresult"
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(name), type_="check")
            batch_op.create_check_constraint(op.f(name), sa.text(_results_check(values)))


def upgrade() -> None:
    _set_results(NEW_RESULTS)
    with op.batch_alter_table("characteristic", schema=None) as batch_op:
        batch_op.add_column(sa.Column("min_coverage_pct", sa.Float(), nullable=False, server_default="100"))
        batch_op.add_column(sa.Column("max_gap_pitches", sa.Integer(), nullable=False, server_default="2"))
        batch_op.add_column(sa.Column("measured_m", sa.Float(), nullable=True))
    with op.batch_alter_table("gauge_scan", schema=None) as batch_op:
        for column in ("min_value", "mean_value", "max_value"):
            batch_op.alter_column(column, existing_type=sa.Float(), nullable=True)
    with op.batch_alter_table("oos_interval", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sa.Enum(
                    "out_of_spec",
                    "unmeasured",
                    name="intervalkind",
                    native_enum=False,
                    create_constraint=True,
                    length=24,
                ),
                nullable=False,
                server_default="out_of_spec",
            )
        )
        batch_op.alter_column("worst_value", existing_type=sa.Float(), nullable=True)
        batch_op.alter_column("limit_value", existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    # Unmeasured intervals and incomplete results have no place in the old schema.
    op.execute("DELETE FROM oos_interval WHERE kind = 'unmeasured'")
    op.execute("UPDATE layer SET result = 'out_of_spec' WHERE result = 'incomplete'")
    op.execute("UPDATE characteristic SET result = 'out_of_spec' WHERE result = 'incomplete'")
    op.execute("DELETE FROM gauge_scan WHERE mean_value IS NULL")
    with op.batch_alter_table("oos_interval", schema=None) as batch_op:
        batch_op.alter_column("limit_value", existing_type=sa.Float(), nullable=False)
        batch_op.alter_column("worst_value", existing_type=sa.Float(), nullable=False)
        batch_op.drop_constraint(op.f("ck_oos_interval_intervalkind"), type_="check")
        batch_op.drop_column("kind")
    with op.batch_alter_table("gauge_scan", schema=None) as batch_op:
        for column in ("min_value", "mean_value", "max_value"):
            batch_op.alter_column(column, existing_type=sa.Float(), nullable=False)
    with op.batch_alter_table("characteristic", schema=None) as batch_op:
        batch_op.drop_column("measured_m")
        batch_op.drop_column("max_gap_pitches")
        batch_op.drop_column("min_coverage_pct")
    _set_results(OLD_RESULTS)
