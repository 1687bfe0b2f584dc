"""Quality tables: alarms (ISA-18.2) and their journal, stored SPC control limits."""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from mes.base import UTCDateTime, enum_type, utcnow


class AlarmPriority(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class AlarmState(enum.StrEnum):
    """ISA-18.2 states: active/cleared × unacknowledged/acknowledged."""

    ACTIVE_UNACK = "active_unack"
    ACTIVE_ACK = "active_ack"
    CLEARED_UNACK = "cleared_unack"
    NORMAL = "normal"  # cleared and acknowledged: the alarm is over


class Alarm(SQLModel, table=True):
    __tablename__ = "alarm"

    id: int | None = Field(default=None, primary_key=True)
    # Identifies the live condition (e.g. "sputter-1:arc" or "lot:12:thickness:nelson-2");
    # at most one alarm per condition is open at a time.
    condition: str = Field(max_length=200)
    message: str = Field(max_length=500)
    priority: AlarmPriority = Field(sa_type=enum_type(AlarmPriority))
    state: AlarmState = Field(default=AlarmState.ACTIVE_UNACK, sa_type=enum_type(AlarmState), index=True)
    is_open: bool = Field(default=True)
    equipment_unit_id: int | None = Field(default=None, foreign_key="equipment_unit.id")
    lot_id: int | None = Field(default=None, foreign_key="lot.id", index=True)
    # What a quality alarm is about: the characteristic and where along the band it fired.
    characteristic_id: int | None = Field(default=None, foreign_key="characteristic.id", index=True)
    position_m: float | None = None
    raised_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    cleared_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=64)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    shelved_by: str | None = Field(default=None, max_length=64)
    shelved_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    comment: str | None = Field(default=None, max_length=2000)

    __table_args__ = (
        sa.Index(
            "uq_alarm_open_condition",
            "condition",
            unique=True,
            sqlite_where=sa.text("is_open"),
            postgresql_where=sa.text("is_open"),
        ),
    )


class AlarmEvent(SQLModel, table=True):
    """The alarm journal: one row per transition, with who, when and an optional comment."""

    __tablename__ = "alarm_event"

    id: int | None = Field(default=None, primary_key=True)
    alarm_id: int = Field(foreign_key="alarm.id", index=True)
    transition: str = Field(max_length=32)  # raise, reraise, clear, acknowledge, shelve, unshelve, …
    from_state: AlarmState | None = Field(default=None, sa_type=enum_type(AlarmState, name="from_state"))
    to_state: AlarmState = Field(sa_type=enum_type(AlarmState, name="to_state"))
    actor: str = Field(max_length=64)  # a user, or "system" for what the line did by itself
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    comment: str | None = Field(default=None, max_length=2000)


class ControlLimit(SQLModel, table=True):
    """Stored (phase II) control limits of one layer characteristic on one unit for one recipe version.

    The charted statistic is the mean of all lane values over one segment of
    ``segment_m`` metres of band (an individuals chart of segment means), in the
    characteristic's unit. A new computation supersedes the active row rather
    than overwriting it, so every past limit stays on record.
    """

    __tablename__ = "control_limit"

    id: int | None = Field(default=None, primary_key=True)
    recipe_id: int = Field(foreign_key="recipe.id")
    equipment_unit_id: int = Field(foreign_key="equipment_unit.id")
    layer_name: str = Field(max_length=100)
    characteristic: str = Field(max_length=64)
    chart: str = Field(default="imr", max_length=16)
    segment_m: float = Field(gt=0)
    center: float
    ucl: float
    lcl: float
    sigma: float = Field(gt=0)
    rules: str = Field(default="nelson", max_length=32)
    run_length: int = Field(default=9, ge=2)
    n_baseline: int = Field(ge=0)
    source: str = Field(max_length=500)  # how the limits were obtained (baseline lots, manual entry)
    active: bool = Field(default=True)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("lcl < center AND center < ucl", name="limits_ordered"),
        sa.Index(
            "uq_control_limit_active",
            "recipe_id",
            "equipment_unit_id",
            "layer_name",
            "characteristic",
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        ),
    )
