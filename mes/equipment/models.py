"""Equipment unit and unit lease tables."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from mes.base import UTCDateTime, enum_type, utcnow
from mes.vocabulary import EquipmentClass as EquipmentClass  # re-exported for the table's users


class EquipmentUnit(SQLModel, table=True):
    __tablename__ = "equipment_unit"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    equipment_class: EquipmentClass = Field(sa_type=enum_type(EquipmentClass), index=True)
    endpoint: str = Field(max_length=300)
    profile: str = Field(max_length=200)
    enabled: bool = Field(default=True)
    healthy: bool = Field(default=True)
    # Why the unit was taken out of scheduling (the fault that held its step), until
    # someone sets it healthy again with a reason of their own (audited).
    health_reason: str | None = Field(default=None, max_length=500)
    # What the collector last read from the unit (every few seconds while it runs): its PackML state
    # ("unknown" for a number the profile does not map) and when the unit last answered.
    last_state: str | None = Field(default=None, max_length=32)
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UnitLease(SQLModel, table=True):
    """Who may command a unit right now.

    The token only ever increases; a worker writes it with every command it sends
    and checks it before the next, so a stale worker that lost its lease finds out
    before it touches the machine (second line of defence after queue routing).
    """

    __tablename__ = "unit_lease"

    unit_id: int = Field(foreign_key="equipment_unit.id", primary_key=True)
    token: int = Field(default=0, ge=0)
    holder: str | None = Field(default=None, max_length=200)
    step_run_id: int | None = Field(default=None, foreign_key="step_run.id")
    acquired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
