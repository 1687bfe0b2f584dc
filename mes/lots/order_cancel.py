"""Cancel a work order before anything of it was made.

Only an order none of whose steps has gone to a unit can be cancelled: its pending steps are
aborted (compare-and-set, so a scheduler that dispatched one meanwhile wins and the cancel is
refused), its lots cancelled (no material exists) and the order aborted (ISA-95), all audited.
Services flush; the caller commits.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mes.audit.service import record
from mes.auth.service import get_user
from mes.base import pk, utcnow
from mes.equipment.models import EquipmentUnit
from mes.lots.errors import OrderInvalid, OrderRefused
from mes.lots.models import Lot, LotStatus, StepRun, StepRunState, WorkOrderState
from mes.lots.order_models import OrderCancelled
from mes.lots.order_queries import cancellation, get_order, order_public


def cancel_order(session: Session, number: str, *, by: str, reason: str) -> OrderCancelled:
    """Cancel an order nothing of which has been started: its pending steps are aborted, its lots
    cancelled, the order aborted; audited. Refused, naming the step, once any step has gone to a
    unit. Cancelling it again changes nothing and says who cancelled it."""
    why = reason.strip()
    if not why:
        raise OrderInvalid("--reason: say why the order is cancelled (it goes into the audit trail)")
    user = get_user(session, by)
    order = get_order(session, number, lock=True)
    if order.state == WorkOrderState.ABORTED:
        earlier = cancellation(session, order)
        if earlier is not None:
            return OrderCancelled(order=order_public(session, order), cancellation=earlier,
                                  lots_cancelled=[], steps_aborted=0, already=True)  # fmt: skip
    if order.state in (WorkOrderState.ABORTED, WorkOrderState.COMPLETED, WorkOrderState.CLOSED):
        raise OrderRefused(f"work order {number} is {order.state.value}; there is nothing to cancel")
    lots = list(session.exec(select(Lot).where(Lot.work_order_id == order.id).with_for_update()).all())
    steps = session.exec(select(StepRun).where(col(StepRun.lot_id).in_([lot.id for lot in lots]))).all()
    started = [s for s in steps if s.state not in (StepRunState.PENDING, StepRunState.ABORTED)]
    if started:
        first = started[0]
        unit = session.get(EquipmentUnit, first.equipment_unit_id) if first.equipment_unit_id else None
        raise OrderRefused(
            f"work order {number}: production has started (step {first.job_id} is {first.state.value}"
            + (f" on {unit.name}" if unit else "")
            + f"; {len(started)} step(s) have gone to a unit): it cannot be cancelled. Held steps are "
            "aborted with `mes step abort`; what was made is for quality to decide (`mes lot hold|scrap`)"
        )
    pending = [pk(s) for s in steps if s.state == StepRunState.PENDING]
    now = utcnow()
    if pending:
        # Compare-and-set: a scheduler that dispatched one of them meanwhile wins, and this is refused.
        moved = session.execute(
            sa.update(StepRun)
            .where(col(StepRun.id).in_(pending), col(StepRun.state) == StepRunState.PENDING)
            .values(state=StepRunState.ABORTED, ended_at=now, updated_at=now, chain_token=None)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != len(pending):  # type: ignore[attr-defined]
            raise OrderRefused(
                f"work order {number}: a step of it was just given to a unit; see `mes order show`"
            )
    before = {"state": order.state.value, "lots": {lot.number: lot.status.value for lot in lots}}
    # A lot quality has already scrapped keeps that decision; the others never existed as material.
    lots = [lot for lot in lots if lot.status in (LotStatus.PLANNED, LotStatus.IN_PROCESS, LotStatus.ON_HOLD)]
    for lot in lots:
        lot.status, lot.updated_at = LotStatus.CANCELLED, now
        session.add(lot)
    order.state, order.ended_at = WorkOrderState.ABORTED, now
    session.add(order)
    record(
        session,
        actor=user.name,
        action="order.cancel",
        entity_type="work_order",
        entity_id=order.number,
        before=before,
        after={"state": order.state.value, "lots_cancelled": [lot.number for lot in lots],
               "steps_aborted": len(pending)},
        reason=why,
    )  # fmt: skip
    session.flush()
    done = cancellation(session, order)
    assert done is not None  # noqa: S101 - just recorded
    return OrderCancelled(order=order_public(session, order), cancellation=done,
                          lots_cancelled=[lot.number for lot in lots], steps_aborted=len(pending),
                          already=False)  # fmt: skip
