"""A stored work order (OPC 10031-4 ``Store``: ``waiting``, NotAllowedToStart) is started here.

Start hands it to the dispatcher: ``waiting`` → ``ready`` (AllowedToStart), audited with the reason;
the caller commits and then sends the dispatch message (``workers.tasks.send_dispatch``), as for an
order created with ``start``. Pause, resume and abort act on steps and units: they are
:mod:`mes.execution.order_control`'s. Services flush; the caller commits.
"""

from __future__ import annotations

from sqlmodel import Session

from mes.audit.service import record
from mes.auth.service import get_user
from mes.lots.errors import OrderInvalid, OrderRefused
from mes.lots.models import WorkOrderState, job_order_state
from mes.lots.order_models import OrderDetail
from mes.lots.order_queries import get_order, order_detail


def reason_given(reason: str, what: str) -> str:
    """The reason, trimmed; :class:`OrderInvalid` when there is none (it goes into the audit trail)."""
    why = reason.strip()
    if not why:
        raise OrderInvalid(f"--reason: say why the order is {what} (it goes into the audit trail)")
    return why


def refused(number: str, state: WorkOrderState, wanted: str) -> OrderRefused:
    """The refusal of a transition, naming the order's state in both vocabularies."""
    return OrderRefused(f"work order {number} is {state.value} ({job_order_state(state).value}): {wanted}")


def start_order(session: Session, number: str, *, by: str, reason: str) -> OrderDetail:
    """Allow a stored order to start: ``waiting`` → ``ready``, audited. Refused in any other state."""
    why = reason_given(reason, "started")
    user = get_user(session, by)
    order = get_order(session, number, lock=True)
    if order.state != WorkOrderState.WAITING:
        raise refused(number, order.state, "only a stored order (waiting, NotAllowedToStart) can be started")
    order.state = WorkOrderState.READY
    session.add(order)
    record(
        session,
        actor=user.name,
        action="order.start",
        entity_type="work_order",
        entity_id=order.number,
        before={"state": WorkOrderState.WAITING.value},
        after={"state": order.state.value},
        reason=why,
    )
    session.flush()
    return order_detail(session, number)
