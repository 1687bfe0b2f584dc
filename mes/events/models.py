"""The event log: one row per state change of an order, a lot, a step, an alarm or a unit.

Rows are written by database triggers (migration 0010), never by the application: see
:mod:`mes.events`. ``id`` is the event's id and increases in commit order — a reader that has seen
id N never later sees a smaller one commit (on PostgreSQL the triggers number a transaction's rows
at its commit, under a lock, see decision 018). The row names what changed by row ids; the reader
joins the names (unit, lot and order numbers), which never change.
"""

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from mes.base import BigIntPK, UTCDateTime, enum_type


class EventKind(enum.StrEnum):
    ORDER = "order"
    STEP = "step"
    LOT = "lot"
    ALARM = "alarm"
    UNIT = "unit"


class EventLog(SQLModel, table=True):
    __tablename__ = "event_log"

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    # When the change was made (the database's clock, at the statement); ids give the commit order.
    occurred_at: datetime = Field(sa_type=UTCDateTime, index=True)
    kind: EventKind = Field(sa_type=enum_type(EventKind, length=8, name="event_kind"))
    entity_id: int  # the changed row's id
    # How people name it: an order or lot number, a step's job id, a unit's name, an alarm's condition.
    entity: str = Field(max_length=200)
    # The state after and before (None before: the row was created). A unit's state is the PackML
    # state the collector last read; a unit event is also written when it goes (un)healthy.
    state: str | None = Field(default=None, max_length=32)
    from_state: str | None = Field(default=None, max_length=32)
    # What the change concerns, for filters and names: equipment_unit.id, lot.id, work_order.id
    # (a lot's order; a step's or an alarm's order is its lot's).
    unit_id: int | None = None
    lot_id: int | None = None
    order_id: int | None = None
    # A few columns of the row (kind-specific, see mes.events.log), small enough for every client.
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)

    # AUTOINCREMENT: SQLite would otherwise reuse the id of a deleted newest row.
    __table_args__ = {"sqlite_autoincrement": True}
