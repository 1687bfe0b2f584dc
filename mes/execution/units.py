"""What the MES knows about each unit right now, and whether the collector is alive.

The collector writes, every few seconds (:data:`HEARTBEAT_S`), its heartbeat and what it last read
from each unit (PackML state, when the unit answered); :func:`unit_status` puts that together with
the unit's health, the step it is leased to and the age of the last value it sent (the later of the
last answer and the last gauge scan of its latest step). Services flush; the caller commits.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from mes.base import pk, utcnow
from mes.equipment.models import EquipmentClass, EquipmentUnit, UnitLease
from mes.execution.errors import UnitNameInvalid, UnitNotFound
from mes.execution.models import ServiceHeartbeat
from mes.lots.models import GaugeScan, Layer, Lot, StepRun, StepRunState

# How often the collector beats; a heartbeat older than STALE_AFTER_BEATS of these means it is gone.
HEARTBEAT_S = 5.0
STALE_AFTER_BEATS = 3


class UnitStep(BaseModel):
    """The step a unit is given to (it holds the unit's lease), named by its job id as `mes step` takes it."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    lot: str
    step: str
    state: StepRunState


class UnitStatus(BaseModel):
    """A unit as an operator asks about it: health, last known state, current step, freshness."""

    model_config = ConfigDict(frozen=True)

    name: str
    equipment_class: EquipmentClass
    endpoint: str
    profile: str
    enabled: bool
    healthy: bool
    health_reason: str | None
    state: str | None = Field(description="Last PackML state the collector read; None: never read.")
    state_seen_at: datetime | None
    current_step: UnitStep | None
    last_value_at: datetime | None = Field(
        description="The later of the unit's last answer to the collector and its last gauge scan."
    )
    last_value_age_s: float | None = Field(description="Seconds since last_value_at, when this was asked.")


class HeartbeatPublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    host: str
    pid: int
    started_at: datetime
    beat_at: datetime
    age_s: float = Field(description="Seconds since the last beat, when this was asked.")
    alive: bool = Field(description=f"Beat within the last {STALE_AFTER_BEATS} × {HEARTBEAT_S:g} s.")


def beat(
    session: Session,
    name: str,
    *,
    host: str,
    pid: int,
    started_at: datetime,
    seen: dict[str, tuple[str, datetime]] | None = None,
) -> None:
    """Record that service ``name`` is alive, and what it last read of each unit (state, when)."""
    now = utcnow()
    row = session.get(ServiceHeartbeat, name)
    if row is None:
        row = ServiceHeartbeat(name=name, host=host, pid=pid, started_at=started_at, beat_at=now)
    row.host, row.pid, row.started_at, row.beat_at = host, pid, started_at, now
    session.add(row)
    if seen:
        for unit in session.exec(select(EquipmentUnit).where(col(EquipmentUnit.name).in_(seen))).all():
            unit.last_state, unit.last_seen_at = seen[unit.name][0][:32], seen[unit.name][1]
            session.add(unit)
    session.flush()


def last_beat(session: Session, name: str) -> HeartbeatPublic | None:
    """Service ``name``'s last heartbeat; None when it never beat against this database."""
    row = session.get(ServiceHeartbeat, name)
    if row is None:
        return None
    age = max(0.0, (utcnow() - row.beat_at).total_seconds())
    return HeartbeatPublic(
        name=row.name,
        host=row.host,
        pid=row.pid,
        started_at=row.started_at,
        beat_at=row.beat_at,
        age_s=round(age, 1),
        alive=age <= STALE_AFTER_BEATS * HEARTBEAT_S,
    )


def _current_step(session: Session, unit: EquipmentUnit) -> UnitStep | None:
    lease = session.get(UnitLease, unit.id)
    step = session.get(StepRun, lease.step_run_id) if lease is not None and lease.step_run_id else None
    if step is None:
        return None
    lot = session.get(Lot, step.lot_id)
    return UnitStep(job_id=step.job_id, lot=lot.number if lot else "", step=step.step_name,
                    state=step.state)  # fmt: skip


def _last_scan_at(session: Session, unit: EquipmentUnit) -> datetime | None:
    """When the last gauge scan of the unit's latest started step was measured."""
    step = session.exec(
        select(StepRun)
        .where(StepRun.equipment_unit_id == unit.id, col(StepRun.started_at).is_not(None))
        .order_by(col(StepRun.started_at).desc())
        .limit(1)
    ).first()
    if step is None:
        return None
    layer_id = session.exec(select(Layer.id).where(Layer.step_run_id == step.id)).first()
    if layer_id is None:
        return None
    # The scan furthest along the band is the last one made (ordered by the lot-layer-position index).
    return session.exec(
        select(GaugeScan.measured_at)
        .where(GaugeScan.lot_id == step.lot_id, GaugeScan.layer_id == layer_id)
        .order_by(col(GaugeScan.position_m).desc())
        .limit(1)
    ).first()


def _status(session: Session, unit: EquipmentUnit) -> UnitStatus:
    times = [t for t in (unit.last_seen_at, _last_scan_at(session, unit)) if t is not None]
    last = max(times) if times else None
    return UnitStatus(
        name=unit.name,
        equipment_class=unit.equipment_class,
        endpoint=unit.endpoint,
        profile=unit.profile,
        enabled=unit.enabled,
        healthy=unit.healthy,
        health_reason=unit.health_reason,
        state=unit.last_state,
        state_seen_at=unit.last_seen_at,
        current_step=_current_step(session, unit),
        last_value_at=last,
        last_value_age_s=round(max(0.0, (utcnow() - last).total_seconds()), 1) if last else None,
    )


def list_unit_status(session: Session) -> list[UnitStatus]:
    """Every unit the MES knows (the line's units, once a command or worker has synced them), by name."""
    units = session.exec(select(EquipmentUnit).order_by(col(EquipmentUnit.name))).all()
    return [_status(session, u) for u in units]


def unit_status_page(
    session: Session,
    *,
    healthy: bool | None = None,
    equipment_class: EquipmentClass | None = None,
    before: int | None = None,
    limit: int = 50,
) -> tuple[list[UnitStatus], list[int]]:
    """Up to ``limit`` units, newest first (below row id ``before`` when given), with their row ids
    (the API's cursor); optionally only healthy or unhealthy ones, or one equipment class."""
    query = select(EquipmentUnit)
    if healthy is not None:
        query = query.where(EquipmentUnit.healthy == healthy)
    if equipment_class is not None:
        query = query.where(EquipmentUnit.equipment_class == equipment_class)
    if before is not None:
        query = query.where(col(EquipmentUnit.id) < before)
    units = session.exec(query.order_by(col(EquipmentUnit.id).desc()).limit(limit)).all()
    return [_status(session, u) for u in units], [pk(u) for u in units]


def get_unit(session: Session, name: str) -> EquipmentUnit:
    """The unit of that name; raises :class:`UnitNameInvalid` (empty) or :class:`UnitNotFound`."""
    if not name.strip():
        raise UnitNameInvalid("the unit name is empty: give one (see `mes unit list`)")
    unit = session.exec(select(EquipmentUnit).where(EquipmentUnit.name == name)).first()
    if unit is None:
        known = ", ".join(session.exec(select(EquipmentUnit.name).order_by(col(EquipmentUnit.name))).all())
        raise UnitNotFound(f"no unit {name} (units: {known or 'none yet'}; see `mes unit list`)")
    return unit


def unit_status(session: Session, name: str) -> UnitStatus:
    return _status(session, get_unit(session, name))


def status_of(session: Session, unit: EquipmentUnit) -> UnitStatus:
    """The read model of a unit row (for services of this layer that changed it)."""
    return _status(session, unit)
