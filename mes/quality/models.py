"""Alarm table (ISA-18.2)."""

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
