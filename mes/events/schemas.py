"""Read models of the event stream: a state change from the log, a live value, a gap in a replay.

A state event names what changed as people do (order and lot numbers, job ids, unit names, alarm
conditions); the only row id is an alarm's, which `mes alarm ack ID` takes. Times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from mes.base import ReadModel
from mes.events.models import EventKind


def _utc(value: datetime | None) -> datetime | None:
    """SQLite's JSON keeps a timestamp without its zone; every stored time is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcTime = Annotated[datetime, AfterValidator(_utc)]


class OrderChange(ReadModel):
    lots_requested: int
    lots_created: int
    priority: int


class LotChange(ReadModel):
    lot_kind: str = Field(description="anode, cathode, separator, cell, foil, substrate")


class StepChange(ReadModel):
    step: str = Field(description="the recipe step's name")
    index: int
    attempt: int
    error: str | None = Field(description="why the step is held or failed (cut at 300 characters)")


class AlarmChange(ReadModel):
    alarm_id: int = Field(description="what `mes alarm ack|shelve ID` takes")
    priority: str
    message: str = Field(description="cut at 300 characters")
    open: bool
    shelved_until: UtcTime | None
    acknowledged_by: str | None


class UnitChange(ReadModel):
    healthy: bool
    enabled: bool
    reason: str | None = Field(description="why it was taken out of scheduling")


class StateEvent(ReadModel):
    """One committed state change, as ``event: KIND`` with ``id: ID`` carries it on the stream."""

    id: int = Field(description="the event log's id: increasing in commit order")
    kind: EventKind
    occurred_at: datetime
    entity: str = Field(description="order or lot number, step job id, unit name, alarm condition")
    state: str | None = Field(description="after the change (a unit: the PackML state last read)")
    from_state: str | None = Field(description="before it; None when the row was created")
    unit: str | None = Field(description="the unit it concerns, by name")
    lot: str | None = Field(description="the lot it concerns")
    order: str | None = Field(description="the work order it concerns (a step's and an alarm's: its lot's)")
    detail: OrderChange | LotChange | StepChange | AlarmChange | UnitChange


class LiveValue(ReadModel):
    """The newest scan of one gauge of the step running on a unit (``event: value``).

    Not an event of the log: live values are streamed as they come and never replayed; a client
    that needs the record reads the scans. ``seq`` is the gauge's own scan number.
    """

    unit: str
    lot: str
    job: str = Field(description="the step's job id")
    gauge: str
    seq: int
    position_m: float
    measured_at: UtcTime
    min: float | None = Field(description="over the scan's lanes that are numbers; None: none is")
    mean: float | None
    max: float | None
    published_at: UtcTime | None = Field(
        default=None, description="when the collector published it; None: read from the database"
    )


class ProcessValues(ReadModel):
    """The process values (web speed, power, pressure, tension, …) the collector read from a unit in
    one poll while a step ran on it (``event: process``): actual values beside the setpoints sent.

    Live only, like :class:`LiveValue`: the database does not keep them and no stream replays them.
    """

    unit: str
    lot: str
    job: str = Field(description="the step's job id")
    read_at: UtcTime
    values: dict[str, float] = Field(
        description="by the profile's logical name (``power_w``, ``web_speed_m_min``); a node that "
        "answered no number is left out"
    )
    units: dict[str, str] = Field(description="each value's unit, as the unit's profile names it")
    published_at: UtcTime | None = Field(default=None, description="when the collector published it")


class LiveMessage(ReadModel):
    """What the collector publishes on Redis channel ``mes:live:UNIT`` after each poll of a step:
    the newest scan of each gauge read, and the unit's process values when they were read."""

    unit: str
    lot: str
    job: str
    published_at: UtcTime
    values: list[LiveValue]
    process: ProcessValues | None = None


class Gap(ReadModel):
    """Sent first (``event: gap``) to a client whose Last-Event-ID cannot be replayed: it must read
    the resources again, and the stream goes on from ``resume_after``."""

    last_event_id: int
    reason: Literal["window", "pruned", "unknown"] = Field(
        description="window: more than MES_EVENTS_REPLAY_MAX events since; pruned: events since were "
        "deleted (older than MES_EVENTS_RETENTION_H); unknown: the log has no such id (another database)"
    )
    missed: int | None = Field(description="events since Last-Event-ID, of every kind; None: unknown")
    exact: bool = Field(description="False: counted from ids, which a failed commit may have skipped")
    resume_after: int
    message: str


class ReplayPlan(ReadModel):
    """Where a stream starts: replay the events after ``start_after`` (none to replay when it is the
    newest), after a ``gap`` when there is one."""

    start_after: int
    gap: Gap | None
