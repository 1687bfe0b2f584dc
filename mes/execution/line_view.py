"""The line as an operator watches it: one read model per unit, composed of what the other services
know (the unit's status, the step holding it, its lot and recipe, the newest stored scan of each of
its gauges with the spec and the control limits in force), for the line overview and the unit page.

::

    line_view()                         unit_view(name)              unit_jobs(name)
      └─ UnitTile per unit                ├─ UnitTile (its step: current,   └─ UnitJob per step run,
          ├─ link: collector heartbeat    │   else the unit's latest)           newest first, paged
          │   + the unit's last answer    └─ SetpointRow per setpoint of the step
          └─ StepOnUnit (the lease's step)
               └─ GaugeReading per characteristic of its layer

Progress is the furthest stored scan of the step's layer (as :mod:`mes.lots.order_progress` counts
it, read here from each gauge's newest scan by position, one indexed row each: never a pass over a
roll's scans). The link to a unit is up while the collector beats and the unit answered it within
:data:`LINK_LOST_AFTER_S`. Services flush; the caller commits.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from sqlmodel import Session, col, func, select

from mes.base import ReadModel, pk, utcnow
from mes.equipment.models import EquipmentClass, EquipmentUnit, UnitLease
from mes.execution.units import HEARTBEAT_S, STALE_AFTER_BEATS, get_unit, last_beat
from mes.lots.models import Characteristic, GaugeScan, Layer, Lot, StepRun, StepRunState, WorkOrder
from mes.lots.order_progress import step_eta
from mes.quality.limits import active_limits
from mes.recipes.models import Recipe as RecipeRow
from mes.recipes.service import stored_recipe
from mes.vocabulary import setpoint_limits

# The collector reads each unit's state every 2 s and writes it with its heartbeat (HEARTBEAT_S): a unit
# not heard of for as long as a collector counts as gone has no link.
LINK_LOST_AFTER_S = STALE_AFTER_BEATS * HEARTBEAT_S
COLLECTOR = "collector"


class GaugeReading(ReadModel):
    """A characteristic of the step's layer: its limits and the newest stored scan of its gauge."""

    gauge: str = Field(description="the profile's gauge id, as live values name it")
    layer: str
    characteristic: str
    unit: str = Field(description="of every value here")
    lsl: float
    target: float
    usl: float
    lcl: float | None = Field(description="control limits in force (recipe version × unit); None: none set")
    ucl: float | None
    center: float | None
    control_segment_m: float | None = Field(
        description="the control limits are of means over segments this long"
    )
    pitch_m: float
    lanes: int
    value: float | None = Field(description="mean over the lanes of the newest scan; None: no scan yet")
    position_m: float | None
    measured_at: datetime | None
    seq: int | None


class StepOnUnit(ReadModel):
    """A step run on a unit with its lot, recipe, place in the route and progress."""

    job_id: str
    lot: str
    order: str | None
    recipe: str = Field(description="ID@VERSION")
    step: str = Field(description="the recipe step's name")
    index: int = Field(description="0-based place in the lot's route")
    steps: int = Field(description="steps in the lot's route")
    state: StepRunState
    current: bool = Field(description="it holds the unit now (else: the unit's latest step)")
    paused: bool = Field(description="its order was paused or the unit held for it")
    error: str | None
    length_m: float
    progress_m: float | None = Field(description="furthest position a gauge measured; None: none yet")
    eta: datetime | None = Field(
        description="at the rate observed since the step started (its speed setpoint at first: "
        "mes.lots.order_progress); None when it does not run"
    )
    started_at: datetime | None
    ended_at: datetime | None
    gauges: list[GaugeReading]


class UnitTile(ReadModel):
    """One unit as the line overview shows it."""

    name: str
    equipment_class: EquipmentClass
    enabled: bool
    healthy: bool
    health_reason: str | None
    state: str | None = Field(description="PackML state the collector last read; None: never read")
    state_seen_at: datetime | None
    link_up: bool
    link_reason: str | None = Field(description="why there is no link; None while it is up")
    step: StepOnUnit | None


class LineView(ReadModel):
    at: datetime = Field(description="when this was read")
    collector_alive: bool
    link_lost_after_s: float
    units: list[UnitTile]


class SetpointRow(ReadModel):
    """A setpoint of the step as the step task writes it (the recipe step's), with its class limits."""

    name: str
    value: float
    unit: str
    min: float | None
    max: float | None


class UnitDetail(ReadModel):
    tile: UnitTile
    setpoints: list[SetpointRow]
    setpoints_source: str | None = Field(
        description="sent: as the step run recorded them; recipe: its step's"
    )


class UnitJob(ReadModel):
    """One step run a unit was given, as its job history lists it."""

    job_id: str
    lot: str
    order: str | None
    recipe: str | None
    step: str
    index: int
    state: StepRunState
    error: str | None
    dispatched_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None


def _link(unit: EquipmentUnit, collector_alive: bool, now: datetime) -> tuple[bool, str | None]:
    if not collector_alive:
        return False, "the collector is not running: nothing is read from the units"
    if unit.last_seen_at is None:
        return False, "the unit never answered the collector"
    if (now - unit.last_seen_at).total_seconds() > LINK_LOST_AFTER_S:
        return False, f"the unit has not answered the collector for over {LINK_LOST_AFTER_S:g} s"
    return True, None


def _gauges(session: Session, step: StepRun, lot: Lot, layer: Layer | None) -> list[GaugeReading]:
    if layer is None:
        return []
    chars = session.exec(
        select(Characteristic).where(Characteristic.layer_id == layer.id).order_by(col(Characteristic.id))
    ).all()
    out = []
    for char in chars:
        newest = session.exec(
            select(GaugeScan)
            .where(GaugeScan.characteristic_id == char.id)
            .order_by(col(GaugeScan.position_m).desc())
            .limit(1)
        ).first()
        limits = (
            active_limits(session, lot.recipe_id, step.equipment_unit_id, layer.name, char.name)
            if lot.recipe_id is not None and step.equipment_unit_id is not None
            else None
        )
        out.append(
            GaugeReading(
                gauge=char.gauge,
                layer=layer.name,
                characteristic=char.name,
                unit=char.unit,
                lsl=char.lsl,
                target=char.target,
                usl=char.usl,
                lcl=limits.lcl if limits else None,
                ucl=limits.ucl if limits else None,
                center=limits.center if limits else None,
                control_segment_m=limits.segment_m if limits else None,
                pitch_m=char.pitch_m,
                lanes=char.lanes,
                value=newest.mean_value if newest else None,
                position_m=newest.position_m if newest else None,
                measured_at=newest.measured_at if newest else None,
                seq=newest.seq if newest else None,
            )
        )
    return out


def _step_on_unit(session: Session, step: StepRun, *, current: bool) -> StepOnUnit:
    lot = session.get(Lot, step.lot_id)
    assert lot is not None  # noqa: S101 - foreign key
    recipe_row = session.get(RecipeRow, lot.recipe_id) if lot.recipe_id is not None else None
    order = session.get(WorkOrder, lot.work_order_id) if lot.work_order_id is not None else None
    steps = session.exec(select(func.count()).select_from(StepRun).where(StepRun.lot_id == lot.id)).one()
    layer = session.exec(select(Layer).where(Layer.step_run_id == step.id)).first()
    gauges = _gauges(session, step, lot, layer)
    seen = [(g.position_m, g.measured_at) for g in gauges if g.position_m is not None and g.measured_at]
    progress, eta = None, None
    if step.state == StepRunState.COMPLETED:
        progress = lot.length_m
    elif seen:
        furthest, at = max(seen, key=lambda s: s[0] or 0.0)
        progress = min(furthest or 0.0, lot.length_m)
        if recipe_row is not None and at is not None:
            eta = step_eta(step, stored_recipe(recipe_row), progress, at, lot.length_m)
    return StepOnUnit(
        job_id=step.job_id,
        lot=lot.number,
        order=order.number if order else None,
        recipe=f"{recipe_row.name}@{recipe_row.version}" if recipe_row else "",
        step=step.step_name,
        index=step.step_index,
        steps=int(steps),
        state=step.state,
        current=current,
        paused=step.pause_requested_at is not None or step.unit_held_at is not None,
        error=step.error,
        length_m=lot.length_m,
        progress_m=progress,
        eta=eta,
        started_at=step.started_at,
        ended_at=step.ended_at,
        gauges=gauges,
    )


def _tile(session: Session, unit: EquipmentUnit, alive: bool, now: datetime, *, latest: bool) -> UnitTile:
    lease = session.get(UnitLease, unit.id)
    step = session.get(StepRun, lease.step_run_id) if lease is not None and lease.step_run_id else None
    current = step is not None
    if step is None and latest:
        step = session.exec(
            select(StepRun)
            .where(StepRun.equipment_unit_id == unit.id)
            .order_by(col(StepRun.id).desc())
            .limit(1)
        ).first()
    up, why = _link(unit, alive, now)
    return UnitTile(
        name=unit.name,
        equipment_class=unit.equipment_class,
        enabled=unit.enabled,
        healthy=unit.healthy,
        health_reason=unit.health_reason,
        state=unit.last_state,
        state_seen_at=unit.last_seen_at,
        link_up=up,
        link_reason=why,
        step=_step_on_unit(session, step, current=current) if step is not None else None,
    )


def _collector_alive(session: Session) -> bool:
    beat = last_beat(session, COLLECTOR)
    return beat is not None and beat.alive


def line_view(session: Session) -> LineView:
    """Every unit the MES knows, by name: state, link, health, and the step holding it with its
    lot, recipe, place in the route, progress and the newest value of each gauge."""
    now, alive = utcnow(), _collector_alive(session)
    units = session.exec(select(EquipmentUnit).order_by(col(EquipmentUnit.name))).all()
    return LineView(
        at=now,
        collector_alive=alive,
        link_lost_after_s=LINK_LOST_AFTER_S,
        units=[_tile(session, u, alive, now, latest=False) for u in units],
    )


def unit_view(session: Session, name: str) -> UnitDetail:
    """One unit with its current step (else its latest) and that step's setpoints. Raises
    :class:`~mes.execution.errors.UnitNotFound`."""
    unit = get_unit(session, name)
    tile = _tile(session, unit, _collector_alive(session), utcnow(), latest=True)
    rows: list[SetpointRow] = []
    source = None
    if tile.step is not None:
        step = session.exec(select(StepRun).where(StepRun.job_id == tile.step.job_id)).one()
        sent, source = step.setpoints_sent, "sent"
        if not sent:
            lot = session.get(Lot, step.lot_id)
            recipe_row = session.get(RecipeRow, lot.recipe_id) if lot and lot.recipe_id else None
            if recipe_row is not None:
                spec = stored_recipe(recipe_row).steps[step.step_index]
                sent, source = spec.setpoints.model_dump(exclude_none=True), "recipe"
        for key, value in (sent or {}).items():
            limits = setpoint_limits(unit.equipment_class, key)
            rows.append(
                SetpointRow(
                    name=key,
                    value=float(value),
                    unit=limits[2] if limits else "",
                    min=limits[0] if limits else None,
                    max=limits[1] if limits else None,
                )
            )
    return UnitDetail(tile=tile, setpoints=rows, setpoints_source=source if rows else None)


def unit_jobs(
    session: Session, name: str, *, before: int | None = None, limit: int = 20
) -> tuple[list[UnitJob], list[int]]:
    """Up to ``limit`` step runs given to unit ``name``, newest first (below row id ``before``), with
    their row ids (the API's cursor). Raises :class:`~mes.execution.errors.UnitNotFound`."""
    unit = get_unit(session, name)
    query = (
        select(StepRun, Lot, WorkOrder.number, RecipeRow)
        .join(Lot, col(Lot.id) == col(StepRun.lot_id))
        .join(WorkOrder, col(WorkOrder.id) == col(Lot.work_order_id), isouter=True)
        .join(RecipeRow, col(RecipeRow.id) == col(Lot.recipe_id), isouter=True)
        .where(StepRun.equipment_unit_id == unit.id)
    )
    if before is not None:
        query = query.where(col(StepRun.id) < before)
    rows = session.exec(query.order_by(col(StepRun.id).desc()).limit(limit)).all()
    jobs = [
        UnitJob(
            job_id=step.job_id,
            lot=lot.number,
            order=order,
            recipe=f"{recipe.name}@{recipe.version}" if recipe is not None else None,
            step=step.step_name,
            index=step.step_index,
            state=step.state,
            error=step.error,
            dispatched_at=step.dispatched_at,
            started_at=step.started_at,
            ended_at=step.ended_at,
        )
        for step, lot, order, recipe in rows
    ]
    return jobs, [pk(step) for step, *_ in rows]
