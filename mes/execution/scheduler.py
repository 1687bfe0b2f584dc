"""Step runs as a state machine in SQL, unit leases, and scheduling.

::

    pending ──schedule()──▶ dispatched ──Start seen──▶ running ──Complete──▶ completed
       ▲                         │  │                   ├──Aborted/Stopped──▶ failed
       └─ lot on hold, order ────┘  └───────────────────┴──any fault────────▶ held
          paused                 └──── order aborted ───┴──(unit Abort)─────▶ aborted
                                          held ──mes step resume──▶ running | dispatched
                                          held ──mes step abort───▶ aborted

A running step of a paused order stays running, its unit in PackML Held (pause_requested_at,
unit_held_at on the row), and goes on when the order is resumed (mes.execution.order_control).

Every transition is a compare-and-set on (id, state, chain_token), so a
duplicated or stale task can never move a step twice; the unit lease (a row per
unit with a token that only grows) is checked before any command. Services flush;
the caller commits and only then enqueues what these functions return.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mes.base import pk, utcnow
from mes.equipment.models import EquipmentUnit, UnitLease
from mes.equipment.profile import Line
from mes.lots.models import (
    Characteristic,
    Layer,
    Lot,
    LotStatus,
    StepRun,
    StepRunState,
    WorkOrder,
    WorkOrderState,
)
from mes.lots.orders import unit_can_run
from mes.quality.spec import hold_lot, unjudged_layers
from mes.recipes.models import Recipe as RecipeRow
from mes.recipes.schema import Recipe, WinderStep
from mes.recipes.service import stored_recipe

ACTIVE = (StepRunState.DISPATCHED, StepRunState.RUNNING)
TERMINAL = (StepRunState.COMPLETED, StepRunState.FAILED, StepRunState.HELD, StepRunState.ABORTED)


def unit_queue(unit: str) -> str:
    return f"unit.{unit}"


@dataclass(frozen=True)
class Enqueue:
    """A task to send after the commit: advance step ``step_run_id`` on ``queue``."""

    step_run_id: int
    chain_token: str
    queue: str


@dataclass(frozen=True)
class StepPlan:
    """Everything a task needs to drive one step on its unit, read in one transaction."""

    step_run_id: int
    lot_id: int
    lot_number: str
    job_id: str
    unit: str
    unit_id: int
    state: StepRunState
    chain_token: str
    lease_token: int
    setpoints: dict[str, float]
    product: str
    length_m: float
    time_limit_s: float
    layer_id: int
    gauges: dict[str, int]  # profile gauge id → characteristic id
    gauge_seq_start: dict[str, int] | None
    gauge_seq_end: dict[str, int] | None
    started_at_unix: float | None
    is_last_step: bool
    # The unit was seen out of Idle with this job id (or its start count rose): only then
    # may "Idle with our job id" be read as "ran and was reset".
    seen_running: bool = False
    lot_held: bool = False  # the lot is on hold: nothing of it may be started
    on_lot_hold: str = "finish"  # the recipe's choice for a running step: finish | hold
    # The work order is paused (suspended): nothing of it starts; a running step whose row says
    # the pause reached it (pause_requested) holds its unit until the order is resumed.
    order_paused: bool = False
    order_aborted: bool = False  # the work order was aborted: the step's unit is aborted, the step too
    pause_requested: bool = False
    unit_held: bool = False  # the MES saw the unit Held for this step and has not unheld it yet
    extra: dict[str, Any] = field(default_factory=dict)


def sync_units(session: Session, line: Line) -> None:
    """Make sure every unit of the line has its row and its lease row."""
    existing = {u.name: u for u in session.exec(select(EquipmentUnit)).all()}
    for name, cfg in line.units.items():
        unit = existing.get(name)
        if unit is None:
            unit = EquipmentUnit(
                name=name,
                equipment_class=cfg.equipment_class,
                endpoint=cfg.endpoint,
                profile=line.profiles[name].id,
            )
        else:
            unit.endpoint, unit.profile = cfg.endpoint, line.profiles[name].id
        session.add(unit)
        session.flush()
        if session.get(UnitLease, unit.id) is None:
            session.add(UnitLease(unit_id=pk(unit)))
    session.flush()


class _RecipeCache:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.recipes: dict[int, Recipe] = {}

    def __call__(self, recipe_id: int) -> Recipe:
        if recipe_id not in self.recipes:
            row = self.session.get(RecipeRow, recipe_id)
            assert row is not None  # noqa: S101 - foreign key
            self.recipes[recipe_id] = stored_recipe(row)
        return self.recipes[recipe_id]


def acquire_lease(session: Session, unit_id: int, step_run_id: int, holder: str) -> int | None:
    """Take a free unit for a step (compare-and-set); returns the new lease token, or None if taken."""
    result = session.execute(
        sa.update(UnitLease)
        .where(col(UnitLease.unit_id) == unit_id, col(UnitLease.step_run_id).is_(None))
        .values(token=UnitLease.token + 1, step_run_id=step_run_id, holder=holder, acquired_at=utcnow())
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    lease = session.get(UnitLease, unit_id, populate_existing=True)
    assert lease is not None  # noqa: S101 - just updated
    return lease.token


def lease_holds(session: Session, unit_id: int, step_run_id: int, token: int) -> bool:
    lease = session.get(UnitLease, unit_id, populate_existing=True)
    return lease is not None and lease.step_run_id == step_run_id and lease.token == token


def release_lease(session: Session, unit_id: int, step_run_id: int) -> None:
    session.execute(
        sa.update(UnitLease)
        .where(col(UnitLease.unit_id) == unit_id, col(UnitLease.step_run_id) == step_run_id)
        .values(step_run_id=None, holder=None)
    )


def transition(
    session: Session, step_run_id: int, token: str, from_states: tuple[StepRunState, ...], **values: Any
) -> bool:
    """Move a step if it is still in ``from_states`` under ``token``; False when someone else moved it."""
    values.setdefault("updated_at", utcnow())
    result = session.execute(
        sa.update(StepRun)
        .where(
            col(StepRun.id) == step_run_id,
            col(StepRun.state).in_(from_states),
            col(StepRun.chain_token) == token,
        )
        .values(**values)
    )
    session.expire_all()
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _previous_done(session: Session, steps: list[StepRun]) -> set[int]:
    """Ids of the candidate steps whose previous step has completed (or that are first)."""
    lots = {s.lot_id for s in steps}
    done = {
        (r.lot_id, r.step_index)
        for r in session.exec(
            select(StepRun).where(col(StepRun.lot_id).in_(lots), StepRun.state == StepRunState.COMPLETED)
        ).all()
    }
    return {pk(s) for s in steps if s.step_index == 0 or (s.lot_id, s.step_index - 1) in done}


def schedule(session: Session, line: Line, holder: str = "scheduler") -> list[Enqueue]:
    """Give pending steps whose turn has come to free, healthy, capable units."""
    from mes.lots.genealogy import reserve_inputs

    units = session.exec(
        select(EquipmentUnit, UnitLease)
        .join(UnitLease, col(UnitLease.unit_id) == col(EquipmentUnit.id))
        .where(col(EquipmentUnit.enabled), col(EquipmentUnit.healthy), col(UnitLease.step_run_id).is_(None))
        .order_by(col(EquipmentUnit.name))
    ).all()
    free = {u.name: u for u, _ in units if u.name in line.units}
    if not free:
        return []
    candidates = list(
        session.exec(
            select(StepRun)
            .join(Lot, col(Lot.id) == col(StepRun.lot_id))
            .join(WorkOrder, col(WorkOrder.id) == col(Lot.work_order_id))
            .where(
                StepRun.state == StepRunState.PENDING,
                col(Lot.status).in_((LotStatus.PLANNED, LotStatus.IN_PROCESS)),
                WorkOrder.state == WorkOrderState.RUNNING,
            )
            .order_by(
                col(WorkOrder.priority), col(WorkOrder.created_at), col(Lot.id), col(StepRun.step_index)
            )
            .limit(500)
        ).all()
    )
    ready = _previous_done(session, candidates)
    recipe = _RecipeCache(session)
    out: list[Enqueue] = []
    for step in candidates:
        if not free or pk(step) not in ready:
            continue
        lot = session.get(Lot, step.lot_id)
        assert lot is not None  # noqa: S101 - foreign key
        assert lot.recipe_id is not None  # noqa: S101 - made by expand_order
        spec = recipe(lot.recipe_id).steps[step.step_index]
        unit = next((u for name, u in free.items() if unit_can_run(line, name, spec) is None), None)
        if unit is None:
            continue
        if isinstance(spec, WinderStep) and not reserve_inputs(session, lot, spec):
            continue  # not enough released input yet: stays pending
        token = acquire_lease(session, pk(unit), pk(step), holder)
        if token is None:
            continue
        chain = secrets.token_hex(8)
        moved = session.execute(
            sa.update(StepRun)
            .where(col(StepRun.id) == step.id, col(StepRun.state) == StepRunState.PENDING)
            .values(
                state=StepRunState.DISPATCHED,
                equipment_unit_id=unit.id,
                lease_token=token,
                chain_token=chain,
                dispatched_at=utcnow(),
                updated_at=utcnow(),
            )
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            release_lease(session, pk(unit), pk(step))  # another scheduler dispatched it first
            continue
        if lot.status == LotStatus.PLANNED:
            lot.status, lot.updated_at = LotStatus.IN_PROCESS, utcnow()
            session.add(lot)
        del free[unit.name]
        out.append(Enqueue(pk(step), chain, unit_queue(unit.name)))
    session.flush()
    return out


def plan(
    session: Session, step_run_id: int, *, lock: bool = True, active_only: bool = True
) -> StepPlan | None:
    """Read a step and everything needed to drive it; None when it is not active (unless ``active_only``
    is False: the collector still stores what a held step's machine goes on measuring)."""
    query = select(StepRun).where(StepRun.id == step_run_id)
    step = session.exec(query.with_for_update() if lock else query).first()
    if step is None or (active_only and step.state not in ACTIVE) or step.equipment_unit_id is None:
        return None
    lot = session.get(Lot, step.lot_id)
    unit = session.get(EquipmentUnit, step.equipment_unit_id)
    assert lot is not None  # noqa: S101 - foreign key
    assert unit is not None  # noqa: S101 - foreign key
    assert lot.recipe_id is not None  # noqa: S101 - made by expand_order
    order = session.get(WorkOrder, lot.work_order_id) if lot.work_order_id is not None else None
    order_state = order.state if order is not None else None
    recipe = _RecipeCache(session)(lot.recipe_id)
    spec = recipe.steps[step.step_index]
    layer = session.exec(select(Layer).where(Layer.step_run_id == step.id)).one()
    chars = session.exec(select(Characteristic).where(Characteristic.layer_id == layer.id)).all()
    if isinstance(spec, WinderStep):
        product = spec.winding.cell.format
    else:
        product = spec.layer.composition[0].formula
    return StepPlan(
        step_run_id=pk(step),
        lot_id=pk(lot),
        lot_number=lot.number,
        job_id=step.job_id,
        unit=unit.name,
        unit_id=pk(unit),
        state=step.state,
        chain_token=step.chain_token or "",
        lease_token=step.lease_token or 0,
        setpoints={k: float(v) for k, v in spec.setpoints.model_dump(exclude_none=True).items()},
        product=product,
        length_m=lot.length_m,
        time_limit_s=float(step.time_limit_s or 86_400),
        layer_id=pk(layer),
        gauges={c.gauge: pk(c) for c in chars},
        gauge_seq_start=step.gauge_seq_start,
        gauge_seq_end=step.gauge_seq_end,
        # Time the MES held the unit does not count against the step's time limit.
        started_at_unix=step.started_at.timestamp() + step.held_s if step.started_at else None,
        is_last_step=step.step_index == len(recipe.steps) - 1,
        seen_running=step.seen_running_at is not None,
        lot_held=lot.status == LotStatus.ON_HOLD,
        on_lot_hold=spec.on_lot_hold,
        order_paused=order_state == WorkOrderState.SUSPENDED,
        order_aborted=order_state == WorkOrderState.ABORTED,
        pause_requested=step.pause_requested_at is not None,
        unit_held=step.unit_held_at is not None,
    )


def finish_lot(session: Session, lot: Lot) -> None:
    """All steps done: a lot nothing holds is released; its work order completes with its last lot.

    A lot with a layer not judged (still ``pending``, or ``incomplete``: metres not measured) is
    held instead, whatever its recipe's disposition: nothing unmeasured is released.
    """
    unjudged = unjudged_layers(session, lot)
    if unjudged and lot.status == LotStatus.IN_PROCESS:
        hold_lot(session, lot, f"layers not judged at the end of the lot: {', '.join(unjudged)}")
    elif lot.status == LotStatus.IN_PROCESS:
        lot.status = LotStatus.RELEASED
    lot.updated_at = utcnow()
    session.add(lot)
    session.flush()
    finish_orders(session, [lot.work_order_id] if lot.work_order_id else [])


def finish_orders(session: Session, order_ids: list[int]) -> None:
    """Close orders with nothing left to do: completed, or held while any of their lots is on hold.

    A held order completes once its lots are released (or scrapped) and it is looked at again.
    """
    for order_id in order_ids:
        order = session.get(WorkOrder, order_id)
        if (
            order is None
            or order.state not in (WorkOrderState.RUNNING, WorkOrderState.HELD)
            or order.lots_created < order.lots_requested
        ):
            continue
        open_steps = session.exec(
            select(sa.func.count())
            .select_from(StepRun)
            .join(Lot, col(Lot.id) == col(StepRun.lot_id))
            .where(Lot.work_order_id == order_id, col(StepRun.state).not_in(TERMINAL))
        ).one()
        if open_steps:
            continue
        held = session.exec(
            select(sa.func.count())
            .select_from(Lot)
            .where(Lot.work_order_id == order_id, Lot.status == LotStatus.ON_HOLD)
        ).one()
        # A lot on hold was not made as ordered (yet): its order is held, not completed.
        state = WorkOrderState.HELD if held else WorkOrderState.COMPLETED
        if state != order.state:
            order.state = state
            order.ended_at = utcnow() if state == WorkOrderState.COMPLETED else None
            session.add(order)
    session.flush()


def stalled(session: Session, older_than_s: float) -> list[Enqueue]:
    """Active steps nobody has advanced for a while (a lost message, a dead chain): new chain for each."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    # A step whose row another worker holds locked is being moved right now (completing, say):
    # not stalled. SKIP LOCKED passes it by instead of waiting for that transaction and then
    # overwriting its chain token. SQLite has no row locks (one writer at a time); there the
    # compare-and-set below on (state, chain token, updated_at) keeps it correct.
    query = (
        select(StepRun, EquipmentUnit)
        .join(EquipmentUnit, col(EquipmentUnit.id) == col(StepRun.equipment_unit_id))
        .where(col(StepRun.state).in_(ACTIVE), col(StepRun.updated_at) < cutoff)
        .with_for_update(skip_locked=True, of=StepRun)
    )
    out = []
    for step, unit in session.exec(query).all():
        chain = secrets.token_hex(8)
        moved = session.execute(
            sa.update(StepRun)
            .where(
                col(StepRun.id) == step.id,
                col(StepRun.state).in_(ACTIVE),
                col(StepRun.chain_token) == step.chain_token
                if step.chain_token is not None
                else col(StepRun.chain_token).is_(None),
                col(StepRun.updated_at) < cutoff,
            )
            .values(chain_token=chain, updated_at=utcnow())
        )
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            out.append(Enqueue(pk(step), chain, unit_queue(unit.name)))
    session.flush()
    return out
