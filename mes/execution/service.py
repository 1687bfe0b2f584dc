"""Ways back from a fault, all audited: resume or abort a held step, set a unit healthy again.

Resume re-checks the unit first (the caller reads it and passes a :class:`UnitSeen`):

- the unit still runs the step's job (or has it Complete) → the step goes back to running;
- the unit is Idle and never ran the job → the step goes back to dispatched (prepared again);
- anything else → refused with what was seen.

Services flush; the caller commits and enqueues what :func:`resume_step` returns.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlmodel import Session, col, select

from mes.audit.models import AuditEvent
from mes.audit.service import record
from mes.auth.models import Role
from mes.auth.service import get_user, require_role
from mes.base import is_row_id, pk, utcnow
from mes.equipment.models import EquipmentUnit
from mes.equipment.profile import PackMLState
from mes.equipment.states import BUSY
from mes.execution.errors import StepInvalid, StepNotFound, StepRefused
from mes.execution.faults import mark_unit
from mes.execution.scheduler import Enqueue, acquire_lease, finish_orders, unit_queue
from mes.execution.units import UnitStatus, get_unit, status_of
from mes.lots.models import (
    Disposition,
    Layer,
    LayerResult,
    Lot,
    LotStatus,
    StepRun,
    StepRunState,
    WorkOrder,
    WorkOrderState,
)
from mes.lots.report import step_public, unit_names
from mes.lots.schemas import StepRunDetail, StepRunPublic
from mes.quality.alarms import clear_alarm, clear_conditions, open_alarm

S = PackMLState
# Who may give a unit back to scheduling after a fault: someone who can judge the equipment.
ROLES_SET_HEALTHY = (Role.ENGINEER,)


@dataclass(frozen=True)
class UnitSeen:
    """What the unit showed just before a resume: state, job id, and whether it counted a Start of ours."""

    state: PackMLState
    job_id: str
    started_ours: bool


def get_step(session: Session, ref: str) -> StepRun:
    """A step run by its id or its job id."""
    if not ref.strip():
        raise StepInvalid("the step is empty: give its id or job id (see `mes step list`)")
    query = select(StepRun).where(StepRun.job_id == ref)
    if ref.isdigit():
        if not is_row_id(int(ref)):  # no such step (asked of the database: an overflow)
            raise StepNotFound(f"no step {ref} (see `mes step list`)")
        query = select(StepRun).where(StepRun.id == int(ref))
    step = session.exec(query.with_for_update()).first()
    if step is None:
        raise StepNotFound(f"no step {ref} (see `mes step list`)")
    return step


def list_steps(
    session: Session, states: list[StepRunState] | None = None, limit: int = 200
) -> list[StepRunPublic]:
    """Newest steps first, each with its lot's number and its unit's name."""
    query = select(StepRun, Lot.number).join(Lot, col(Lot.id) == col(StepRun.lot_id))
    if states:
        query = query.where(col(StepRun.state).in_(states))
    units = unit_names(session)
    rows = session.exec(query.order_by(col(StepRun.id).desc()).limit(limit)).all()
    return [step_public(step, number, units) for step, number in rows]


def step_detail(session: Session, step: StepRun) -> StepRunDetail:
    lot = session.get(Lot, step.lot_id)
    assert lot is not None  # noqa: S101 - foreign key
    unit = session.get(EquipmentUnit, step.equipment_unit_id) if step.equipment_unit_id else None
    public = step_public(step, lot.number, {unit.id: unit.name} if unit and unit.id else {})
    return StepRunDetail(
        **public.model_dump(),
        lot_status=lot.status,
        unit_healthy=unit.healthy if unit else None,
        unit_health_reason=unit.health_reason if unit else None,
        link_failures=step.link_failures,
        faults=step.faults,
        seen_running_at=step.seen_running_at,
        dispatched_at=step.dispatched_at,
    )


def _reason(reason: str) -> str:
    if not reason.strip():
        raise StepInvalid("--reason: say why (it goes into the audit trail)")
    return reason.strip()


def _quality_hold(session: Session, lot: Lot) -> bool:
    """Whether something other than a step fault holds the lot: a signed hold, or a hold_lot layer."""
    last = session.exec(
        select(AuditEvent.action)
        .where(
            AuditEvent.entity_type == "lot",
            AuditEvent.entity_id == lot.number,
            col(AuditEvent.action).in_(("lot.hold", "lot.release", "lot.scrap")),
        )
        .order_by(col(AuditEvent.id).desc())
        .limit(1)
    ).first()
    failed_layer = session.exec(
        select(Layer.id).where(
            Layer.lot_id == lot.id,
            Layer.result == LayerResult.OUT_OF_SPEC,
            Layer.disposition_policy == Disposition.HOLD_LOT,
        )
    ).first()
    return last == "lot.hold" or failed_layer is not None


def _end_alarm(session: Session, step: StepRun, by: str, comment: str) -> None:
    for state in (StepRunState.HELD, StepRunState.FAILED):
        alarm = open_alarm(session, f"step:{step.id}:{state.value}")
        if alarm is not None:
            clear_alarm(session, alarm, by, comment)


def resume_step(session: Session, ref: str, seen: UnitSeen, *, by: str, reason: str) -> Enqueue:
    """Put a held step back to running or dispatched after checking what its unit shows; audited."""
    why = _reason(reason)
    user = get_user(session, by)
    step = get_step(session, ref)
    if step.state != StepRunState.HELD:
        raise StepRefused(f"step {step.job_id} is {step.state.value}; only a held step can be resumed")
    unit = session.get(EquipmentUnit, step.equipment_unit_id) if step.equipment_unit_id else None
    if unit is None:
        raise StepRefused(f"step {step.job_id} has no unit to resume on")
    ours = seen.job_id == step.job_id
    if ours and seen.state in BUSY:
        to = StepRunState.RUNNING
    elif seen.state == S.IDLE and not (ours and seen.started_ours):
        to = StepRunState.DISPATCHED
    else:
        raise StepRefused(
            f"step {step.job_id}: {unit.name} is {seen.state} with job {seen.job_id!r}; a resume needs it "
            f"running {step.job_id}, or Idle without having run it"
        )
    token = acquire_lease(session, pk(unit), pk(step), f"resume:{user.name}")
    if token is None:
        raise StepRefused(f"step {step.job_id}: {unit.name} is leased to another step; resume it when free")
    before = {"state": step.state.value, "error": step.error}
    now = utcnow()
    step.state, step.lease_token, step.chain_token = to, token, secrets.token_hex(8)
    step.error, step.ended_at, step.updated_at = None, None, now
    step.link_failures, step.link_failing_since, step.faults = 0, None, 0
    if to == StepRunState.RUNNING:
        step.seen_running_at = step.seen_running_at or now
        step.started_at = step.started_at or now
    else:
        step.gauge_seq_start, step.started_at = None, None
    session.add(step)
    lot = session.get(Lot, step.lot_id)
    assert lot is not None  # noqa: S101 - foreign key
    others = session.exec(
        select(StepRun.id).where(
            StepRun.lot_id == lot.id, StepRun.state == StepRunState.HELD, StepRun.id != step.id
        )
    ).first()
    if lot.status == LotStatus.ON_HOLD and others is None and not _quality_hold(session, lot):
        lot.status, lot.updated_at = LotStatus.IN_PROCESS, now
        session.add(lot)
    order = session.get(WorkOrder, lot.work_order_id) if lot.work_order_id else None
    if order is not None and order.state == WorkOrderState.HELD:
        order.state, order.ended_at = WorkOrderState.RUNNING, None
        session.add(order)
    _end_alarm(session, step, user.name, f"step resumed: {why}")
    record(
        session,
        actor=user.name,
        action="step.resume",
        entity_type="step_run",
        entity_id=step.job_id,
        before=before,
        after={
            "state": to.value,
            "unit": unit.name,
            "unit_state": str(seen.state),
            "unit_job": seen.job_id,
            "lot_status": lot.status.value,
        },
        reason=why,
    )
    session.flush()
    return Enqueue(pk(step), step.chain_token or "", unit_queue(unit.name))


def abort_step(session: Session, ref: str, *, by: str, reason: str) -> StepRun:
    """Abort a held, failed or pending step and the lot's steps after it; the lot stays on hold; audited.

    The unit is not commanded: what is on the machine is for the person who aborts to see to.
    """
    why = _reason(reason)
    user = get_user(session, by)
    step = get_step(session, ref)
    allowed = (StepRunState.HELD, StepRunState.FAILED, StepRunState.PENDING)
    if step.state not in allowed:
        raise StepRefused(
            f"step {step.job_id} is {step.state.value}; only a held, failed or pending step can be aborted"
        )
    before = {"state": step.state.value, "error": step.error}
    now = utcnow()
    later = session.exec(
        select(StepRun).where(
            StepRun.lot_id == step.lot_id,
            StepRun.step_index > step.step_index,
            StepRun.state == StepRunState.PENDING,
        )
    ).all()
    for run in [step, *later]:
        run.state, run.ended_at, run.updated_at, run.chain_token = StepRunState.ABORTED, now, now, None
        session.add(run)
    lot = session.get(Lot, step.lot_id)
    assert lot is not None  # noqa: S101 - foreign key
    if lot.status in (LotStatus.PLANNED, LotStatus.IN_PROCESS):
        lot.status, lot.updated_at = LotStatus.ON_HOLD, now  # not made as ordered: quality decides
        session.add(lot)
    _end_alarm(session, step, user.name, f"step aborted: {why}")
    record(
        session,
        actor=user.name,
        action="step.abort",
        entity_type="step_run",
        entity_id=step.job_id,
        before=before,
        after={"state": "aborted", "also_aborted": [r.job_id for r in later], "lot_status": lot.status.value},
        reason=why,
    )
    session.flush()
    finish_orders(session, [lot.work_order_id] if lot.work_order_id else [])
    return step


def set_unit_healthy(session: Session, name: str, *, by: str, reason: str) -> UnitStatus:
    """Give a unit back to scheduling after someone looked at it (an engineer); audited with the fault
    it had. Raises :class:`UnitNotFound` for a unit the MES does not know."""
    why = _reason(reason)
    if not name.strip():
        raise StepInvalid("the unit name is empty: give one (see `mes unit list`)")
    user = get_user(session, by)
    require_role(user, ROLES_SET_HEALTHY, "set units healthy")
    unit = get_unit(session, name)
    before = {"healthy": unit.healthy, "reason": unit.health_reason}
    mark_unit(session, pk(unit), True, None)
    clear_conditions(session, [f"unit:{unit.id}:"], actor=user.name)  # the out-of-service alarm ends
    record(
        session,
        actor=user.name,
        action="unit.set_healthy",
        entity_type="equipment_unit",
        entity_id=unit.name,
        before=before,
        after={"healthy": True},
        reason=why,
    )
    session.flush()
    return status_of(session, unit)
