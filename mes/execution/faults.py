"""Faults of a step: hold it with an alarm that names the cause, or count the attempt and retry.

::

    equipment error ──describe_fault()──▶ Observation("held", "<unit>: <what>") ──hold_step()
    lost link       ──count_link_failure()──▶ retry in 2 s ── budget spent ──▶ hold_step()
    anything else   ──count_fault()─────────▶ retry in 2 s ── FAULT_ATTEMPTS ──▶ hold_step()

The counters live on the step row, so a redelivered task or a new chain from the
reconciler continues the same budget instead of starting a fresh one. Services
flush; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from mes.base import utcnow
from mes.equipment.errors import BadStatus, EquipmentError, LimitViolation
from mes.equipment.models import EquipmentUnit
from mes.execution.scheduler import ACTIVE, StepPlan, release_lease, transition
from mes.lots.models import Lot, LotStatus, StepRun, StepRunState
from mes.quality.alarms import raise_alarm

# An unexpected exception in a step task, this many times in a row, holds the step.
FAULT_ATTEMPTS = 3


@dataclass(frozen=True)
class LinkBudget:
    failures: int
    seconds: float
    spent: bool


def describe_fault(unit: str, exc: BaseException) -> tuple[str, bool]:
    """(one line naming unit, node and status or what was seen; whether the unit itself is at fault)."""
    if isinstance(exc, BadStatus):
        where = exc.unit or unit
        text = f"{where}: node {exc.node or '?'} answered {exc.status or '?'}"
        detail = str(exc)
        return (f"{text} ({detail})" if detail and detail not in text else text), True
    message = str(exc) or type(exc).__name__
    if not message.startswith(unit):
        message = f"{unit}: {message}"
    line = f"{message} ({type(exc).__name__})"
    if isinstance(exc, EquipmentError):
        # A setpoint or value the node cannot take: nothing was written, the unit is fine.
        return line, not isinstance(exc, LimitViolation)
    return line, False


def count_link_failure(
    session: Session, plan: StepPlan, *, attempts: int, budget_s: float
) -> LinkBudget | None:
    """Count one failed attempt to reach the step's unit; None when the chain is no longer current.

    The budget is spent once ``attempts`` attempts failed in a row *and* ``budget_s``
    seconds passed since the first of them.
    """
    step = session.exec(select(StepRun).where(StepRun.id == plan.step_run_id).with_for_update()).first()
    if step is None or step.state not in ACTIVE or step.chain_token != plan.chain_token:
        return None
    now = utcnow()
    since = step.link_failing_since or now
    failures = step.link_failures + 1
    transition(
        session, plan.step_run_id, plan.chain_token, ACTIVE, link_failures=failures, link_failing_since=since
    )
    seconds = (now - since).total_seconds()
    return LinkBudget(failures, seconds, failures >= attempts and seconds >= budget_s)


def count_fault(session: Session, plan: StepPlan) -> int | None:
    """Count one move that ended in an unexpected exception; the count in a row, None when stale."""
    step = session.exec(select(StepRun).where(StepRun.id == plan.step_run_id).with_for_update()).first()
    if step is None or step.state not in ACTIVE or step.chain_token != plan.chain_token:
        return None
    faults = step.faults + 1
    transition(session, plan.step_run_id, plan.chain_token, ACTIVE, faults=faults)
    return faults


def mark_unit(session: Session, unit_id: int, healthy: bool, reason: str | None) -> None:
    unit = session.get(EquipmentUnit, unit_id)
    if unit is not None:
        unit.healthy, unit.health_reason = healthy, (reason[:500] if reason else None)
        session.add(unit)
        session.flush()


def hold_step(
    session: Session,
    plan: StepPlan,
    to: StepRunState,
    reason: str,
    *,
    unit_fault: bool,
    seen: bool = False,
) -> bool:
    """Hold (or fail) an active step: lease freed, lot on hold, unit unhealthy on a unit fault, alarm.

    Returns False when another chain moved the step first (nothing written).
    """
    extra = {"seen_running_at": utcnow()} if seen and not plan.seen_running else {}
    if not transition(
        session,
        plan.step_run_id,
        plan.chain_token,
        (StepRunState.DISPATCHED, StepRunState.RUNNING),
        state=to,
        ended_at=utcnow(),
        error=reason,
        **extra,
    ):
        return False
    release_lease(session, plan.unit_id, plan.step_run_id)
    lot = session.get(Lot, plan.lot_id)
    assert lot is not None  # noqa: S101 - foreign key
    lot.status, lot.updated_at = LotStatus.ON_HOLD, utcnow()
    session.add(lot)
    if unit_fault:
        mark_unit(session, plan.unit_id, False, reason)  # nothing more goes there until someone looked
    raise_alarm(
        session,
        f"step:{plan.step_run_id}:{to.value}",
        f"{plan.lot_number} step {plan.job_id} {to.value}: {reason}",
        lot_id=plan.lot_id,
        unit_id=plan.unit_id,
    )
    session.flush()
    return True


def back_to_waiting(session: Session, plan: StepPlan) -> bool:
    """A dispatched step of a lot on hold (or of a paused order) gives its unit back and waits (pending)."""
    if not transition(
        session,
        plan.step_run_id,
        plan.chain_token,
        (StepRunState.DISPATCHED,),
        state=StepRunState.PENDING,
        equipment_unit_id=None,
        lease_token=None,
        chain_token=None,
        gauge_seq_start=None,
        dispatched_at=None,
        pause_requested_at=None,
    ):
        return False
    release_lease(session, plan.unit_id, plan.step_run_id)
    session.flush()
    return True


def held_steps(session: Session, lot_id: int) -> list[StepRun]:
    return list(
        session.exec(
            select(StepRun).where(StepRun.lot_id == lot_id, col(StepRun.state) == StepRunState.HELD)
        ).all()
    )
