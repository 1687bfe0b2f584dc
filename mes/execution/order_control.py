"""Pause, resume and abort a work order (OPC 10031-4 Pause, Resume, Abort), each audited with its reason.

::

    running ──pause──▶ suspended (Interrupted) ──resume──▶ running
    waiting | ready | running | held | suspended ──abort──▶ aborted

- **Pause** suspends the order: the scheduler starts nothing more of it, a dispatched step goes
  back to pending, and each running step's row gets ``pause_requested_at``; that step's own chain
  then holds its unit (PackML Hold, confirmed Held) and keeps it Held (:mod:`mes.execution.interrupts`).
  The step stays running and keeps its unit's lease: a paused step is neither a fault nor an end.
- **Resume** makes the order running again and schedules what waits; each paused step's chain
  Unholds its unit (confirmed) and the roll goes on where it stopped.
- **Abort** ends the order: pending steps are aborted (compare-and-set), held and failed ones
  through :func:`mes.execution.service.abort_step`, running and dispatched ones by their chains
  (the unit commanded Abort, confirmed). Lots nothing of which was started are cancelled; the others
  are put on hold for quality — nothing of an aborted order is released.

A refused transition names the order's state in both vocabularies. Services flush; the caller commits
and then sends what :func:`resume_order` returns.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mes.audit.service import record
from mes.auth.service import get_user
from mes.base import pk, utcnow
from mes.equipment.profile import Line
from mes.execution.scheduler import ACTIVE, Enqueue, finish_orders, schedule
from mes.execution.service import abort_step
from mes.lots.job_orders import reason_given, refused
from mes.lots.models import Lot, LotStatus, StepRun, StepRunState, WorkOrder, WorkOrderState
from mes.lots.order_models import OrderDetail
from mes.lots.order_queries import get_order, order_detail

ENDED = (WorkOrderState.COMPLETED, WorkOrderState.CLOSED, WorkOrderState.ABORTED)


def _steps(session: Session, order: WorkOrder) -> tuple[list[Lot], list[StepRun]]:
    lots = list(session.exec(select(Lot).where(Lot.work_order_id == order.id).with_for_update()).all())
    steps = session.exec(
        select(StepRun).where(col(StepRun.lot_id).in_([lot.id for lot in lots])).order_by(col(StepRun.id))
    ).all()
    return lots, list(steps)


def pause_order(session: Session, number: str, *, by: str, reason: str) -> OrderDetail:
    """Pause a running order: suspended; its running steps' units are held by their chains."""
    why = reason_given(reason, "paused")
    user = get_user(session, by)
    order = get_order(session, number, lock=True)
    if order.state != WorkOrderState.RUNNING:
        raise refused(number, order.state, "only a running order can be paused")
    lots, steps = _steps(session, order)
    active = [s for s in steps if s.state in ACTIVE and s.pause_requested_at is None]
    if active:
        # No chain token: the step's chain reads the flag in its next move, whatever its token.
        session.execute(
            sa.update(StepRun)
            .where(col(StepRun.id).in_([pk(s) for s in active]), col(StepRun.state).in_(ACTIVE))
            .values(pause_requested_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    order.state = WorkOrderState.SUSPENDED
    session.add(order)
    record(
        session,
        actor=user.name,
        action="order.pause",
        entity_type="work_order",
        entity_id=order.number,
        before={"state": WorkOrderState.RUNNING.value},
        after={"state": order.state.value, "steps_to_hold": [s.job_id for s in active]},
        reason=why,
    )
    session.flush()
    session.expire_all()
    return order_detail(session, number)


def resume_order(
    session: Session, number: str, *, by: str, reason: str, line: Line
) -> tuple[OrderDetail, list[Enqueue]]:
    """Resume a paused order: running again; its paused steps' chains Unhold their units, and what
    waits is scheduled (the step moves to send after the commit are returned)."""
    why = reason_given(reason, "resumed")
    user = get_user(session, by)
    order = get_order(session, number, lock=True)
    if order.state != WorkOrderState.SUSPENDED:
        raise refused(number, order.state, "only a paused order (suspended) can be resumed")
    _, steps = _steps(session, order)
    paused = [s.job_id for s in steps if s.pause_requested_at is not None or s.unit_held_at is not None]
    order.state = WorkOrderState.RUNNING
    session.add(order)
    record(
        session,
        actor=user.name,
        action="order.resume",
        entity_type="work_order",
        entity_id=order.number,
        before={"state": WorkOrderState.SUSPENDED.value},
        after={"state": order.state.value, "steps_to_unhold": paused},
        reason=why,
    )
    session.flush()
    finish_orders(session, [pk(order)])  # its last roll may have finished while it was paused
    items = schedule(session, line)
    return order_detail(session, number), items


def abort_order(session: Session, number: str, *, by: str, reason: str) -> OrderDetail:
    """Abort an order that has not ended: its steps end aborted (the running ones once their chains
    have aborted their units), its lots cancelled or held; audited."""
    why = reason_given(reason, "aborted")
    user = get_user(session, by)
    order = get_order(session, number, lock=True)
    if order.state in ENDED:
        raise refused(number, order.state, "an order that has ended cannot be aborted")
    before = order.state
    now = utcnow()
    order.state, order.ended_at = WorkOrderState.ABORTED, now
    session.add(order)
    session.flush()  # first: abort_step's finish_orders leaves an aborted order as it is
    lots, steps = _steps(session, order)
    was = {pk(s): s.state for s in steps}
    for step in steps:
        if was[pk(step)] in (StepRunState.HELD, StepRunState.FAILED):
            abort_step(session, step.job_id, by=user.name, reason=f"work order {number} aborted: {why}")
    pending = [pk(s) for s in steps if was[pk(s)] == StepRunState.PENDING]
    if pending:
        # Compare-and-set: a step a scheduler dispatched meanwhile is aborted by its chain instead.
        session.execute(
            sa.update(StepRun)
            .where(col(StepRun.id).in_(pending), col(StepRun.state) == StepRunState.PENDING)
            .values(state=StepRunState.ABORTED, ended_at=now, updated_at=now, chain_token=None)
            .execution_options(synchronize_session=False)
        )
    cancelled: list[str] = []
    held: list[str] = []
    for lot in lots:
        if lot.status not in (LotStatus.PLANNED, LotStatus.IN_PROCESS):
            continue  # made and judged already, or held: quality's
        started = any(was[pk(s)] not in (StepRunState.PENDING, StepRunState.ABORTED)
                      for s in steps if s.lot_id == lot.id)  # fmt: skip
        lot.status, lot.updated_at = (LotStatus.ON_HOLD if started else LotStatus.CANCELLED), now
        (held if started else cancelled).append(lot.number)
        session.add(lot)
    aborting = [s.job_id for s in steps if was[pk(s)] in ACTIVE]
    record(
        session,
        actor=user.name,
        action="order.abort",
        entity_type="work_order",
        entity_id=order.number,
        before={"state": before.value},
        after={"state": order.state.value, "steps_aborted": len(pending), "steps_aborting": aborting,
               "lots_cancelled": cancelled, "lots_on_hold": held},
        reason=why,
    )  # fmt: skip
    session.flush()
    session.expire_all()
    return order_detail(session, number)
