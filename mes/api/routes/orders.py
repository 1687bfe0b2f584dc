"""Work orders as ISA-95 job orders (OPC 10031-4): place, list, show, start, pause, resume, abort, cancel.

Every order shows the MES's own ``state`` beside the OPC 10031-4 ``job_order_state`` it is a
sub-state of (waiting → NotAllowedToStart, ready → AllowedToStart, running → Running, held and
suspended → Interrupted, completed and closed → Ended, aborted → Aborted).

Placing, starting and resuming an order hand work to the workers through the broker, and a worker
must find what it is told about: these routes commit their own transaction first and send after
it (as ``mes order create`` does), so they take no request transaction (:class:`RequireCommitted`).
A broker that does not take the message leaves the order saved: 202 Accepted, and the reconciler
sends it once the broker is back — do not repeat the request.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from mes.api.deps import Caller, DbSession, Require, RequireCommitted, engine_of, line_of
from mes.api.negotiation import Since, Until
from mes.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page
from mes.api.signing import Reason
from mes.auth.schemas import Principal
from mes.base import MAX_ROW_ID
from mes.db import session_scope
from mes.execution.order_control import abort_order, pause_order, resume_order
from mes.lots.job_orders import start_order
from mes.lots.models import WorkOrderState
from mes.lots.order_cancel import cancel_order
from mes.lots.order_models import OrderCancelled, OrderChanged, OrderDetail, OrderPlaced, OrderPublic
from mes.lots.order_queries import order_detail, order_page, order_task_id
from mes.lots.orders import IDEMPOTENCY_KEY_TTL, ROLES_ORDER, place_order
from workers.errors import BrokerUnreachable

log = logging.getLogger("mes.api")
router = APIRouter(tags=["orders"])
Committed = Annotated[Principal, Depends(RequireCommitted(*ROLES_ORDER))]
Steering = Annotated[Principal, Depends(Require(*ROLES_ORDER))]
NOT_SENT = (
    "saved, but the broker did not take the message now: the reconciler sends it once the broker is "
    "back. Do not send this request again"
)
KEY_HOURS = f"{IDEMPOTENCY_KEY_TTL.total_seconds() / 3600:g}"


class OrderIn(BaseModel):
    """What to make: ``lots`` lots of a released recipe version."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    recipe: str = Field(min_length=1, max_length=200, description="A released recipe version, ID@VERSION.")
    lots: int = Field(ge=1, le=1_000, strict=True, description="How many lots (1–1000).")
    lot_size: float | None = Field(
        None,
        gt=0,
        strict=True,
        description="Metres per electrode lot, cells per cell lot; absent: the recipe's.",
    )
    priority: int = Field(100, ge=-MAX_ROW_ID, le=MAX_ROW_ID, strict=True, description="Lower runs first.")
    start: bool = Field(
        True,
        strict=True,
        description="False: store the order (waiting, NotAllowedToStart) until `POST …/{number}:start`.",
    )


IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        # HTTP header values arrive as ISO 8859-1; printable ASCII is what reads the same everywhere.
        pattern=r"^[\x20-\x7e]+$",
        description=f"Your name for this request (required; printable ASCII). The same key with the same "
        f"body returns the order it made (200); with another body it is refused (422). Kept {KEY_HOURS} h.",
    ),
]


def _location(number: str) -> str:
    return f"/api/v1/orders/{number}"


def _send_dispatch(task_id: int, number: str) -> bool:
    """Hand the committed order to the dispatcher; False when the broker did not take it."""
    from workers.tasks import send_dispatch

    try:
        send_dispatch(task_id, number)
    except BrokerUnreachable as exc:
        log.warning("%s", exc)
        return False
    return True


@router.post(
    "/orders",
    response_model=OrderPlaced,
    status_code=201,
    summary="Place a work order (Idempotency-Key required)",
    responses={200: {"description": "Made before with this key"}, 202: {"description": "Saved, not sent"}},
)
def post_order(
    request: Request, response: Response, body: OrderIn, key: IdempotencyKey, caller: Committed
) -> OrderPlaced:
    """Make a work order of a released recipe version and hand it to the dispatcher (201, with its
    ``Location``). With ``"start": false`` it is only stored (NotAllowedToStart) until ``:start``.

    The ``Idempotency-Key`` header makes a retry safe: the same key with the same body answers 200 with
    the order it made, and makes nothing; with another body it is 422, naming the order. A key is kept
    24 h from its order's creation; after that it makes a new order (the old order gives it up, which
    the audit trail records). 202: the order is saved but the broker did not take it — the reconciler
    dispatches it; do not repeat. 409: the recipe is not released, or no unit can run a step of it."""
    with session_scope(engine_of(request)) as db:
        accepted = place_order(db, body.recipe, body.lots, by=caller.name, line=line_of(request),
                               priority=body.priority, lot_size=body.lot_size, idempotency_key=key,
                               start=body.start)  # fmt: skip
        task_id = order_task_id(db, accepted.order.number)
    order = accepted.order
    if not accepted.created:
        response.status_code = 200
        return OrderPlaced(order=order, created=False, sent=None,
                           detail=f"idempotency key {order.idempotency_key!r} made this order; nothing new "
                           "was made")  # fmt: skip
    response.headers["Location"] = _location(order.number)
    if not body.start:
        return OrderPlaced(order=order, created=True, sent=None,
                           detail="stored, not allowed to start: POST …:start starts it")  # fmt: skip
    if not _send_dispatch(task_id, order.number):
        response.status_code = 202
        return OrderPlaced(
            order=order, created=True, sent=False, detail=f"work order {order.number} {NOT_SENT}"
        )
    return OrderPlaced(order=order, created=True, sent=True, detail="saved and handed to the dispatcher")


@router.get("/orders", response_model=Page[OrderPublic], summary="Work orders, newest first")
def get_orders(
    request: Request,
    response: Response,
    db: DbSession,
    _caller: Caller,
    state: Annotated[
        list[WorkOrderState] | None, Query(description="Only orders in this state (repeatable).")
    ] = None,
    recipe: Annotated[
        str | None, Query(max_length=200, description="Recipe ID (any version) or ID@VERSION.")
    ] = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[OrderPublic]:
    """Work orders, newest first, each with its state and job order state; filtered by state, recipe
    and creation time; in pages (``next_cursor``, ``Link: rel="next"``)."""
    items, ids = order_page(db, states=state, recipe=recipe, since=since, until=until,
                            below=decode_cursor(cursor), limit=limit + 1)  # fmt: skip
    return page(items, ids, limit, request, response)


@router.get("/orders/{number}", response_model=OrderDetail, summary="One work order with its lots and steps")
def get_order_detail(number: str, db: DbSession, _caller: Caller) -> OrderDetail:
    """The order with its lots and each lot's steps: the unit given to it, its progress in metres (from
    what is recorded: the unit's Complete, or the furthest position a gauge of the step measured) and,
    for a running step, an ETA from the metres left and the recipe's speed setpoint (null when not
    known). The order's ETA is given only when every step left to run is running. 404: no such order."""
    return order_detail(db, number)


@router.post("/orders/{number}:start", response_model=OrderChanged, summary="Start a stored order")
def post_start(
    request: Request, response: Response, number: str, body: Reason, caller: Committed
) -> OrderChanged:
    """Allow a stored order (waiting, NotAllowedToStart) to start and hand it to the dispatcher;
    audited with the reason. 409 in any other state; 202 when saved but not sent (do not repeat)."""
    with session_scope(engine_of(request)) as db:
        start_order(db, number, by=caller.name, reason=body.reason)
        task_id = order_task_id(db, number)
    sent = _send_dispatch(task_id, number)
    if not sent:
        response.status_code = 202
    with session_scope(engine_of(request)) as db:
        detail = order_detail(db, number)
    said = "started: handed to the dispatcher" if sent else f"started; {NOT_SENT}"
    return OrderChanged(order=detail, sent=sent, detail=said)


@router.post("/orders/{number}:pause", response_model=OrderChanged, summary="Pause a running order")
def post_pause(number: str, body: Reason, db: DbSession, caller: Steering) -> OrderChanged:
    """Pause a running order (suspended, Interrupted): nothing more of it starts, and the worker of each
    running step holds its unit (PackML Hold, confirmed Held) within a few seconds — a step's
    ``pause_requested_at`` and ``unit_held_at`` show how far that got. A paused step is not a fault: it
    stays running, with its unit, and goes on when resumed. Audited with the reason; 409 unless running."""
    detail = pause_order(db, number, by=caller.name, reason=body.reason)
    return OrderChanged(
        order=detail, sent=None, detail="paused: the units of its running steps are being held"
    )


@router.post("/orders/{number}:resume", response_model=OrderChanged, summary="Resume a paused order")
def post_resume(
    request: Request, response: Response, number: str, body: Reason, caller: Committed
) -> OrderChanged:
    """Resume a paused order (running again): the worker of each paused step Unholds its unit
    (confirmed) and the roll goes on where it stopped; steps waiting for a unit are scheduled. Audited
    with the reason; 409 unless paused; 202 when a step move is saved but not sent (do not repeat)."""
    from workers.tasks import send_steps

    with session_scope(engine_of(request)) as db:
        detail, items = resume_order(db, number, by=caller.name, reason=body.reason, line=line_of(request))
    sent = True
    try:
        send_steps(items, f"work order {number} resume")
    except BrokerUnreachable as exc:
        log.warning("%s", exc)
        sent, response.status_code = False, 202
    said = "resumed: the units of paused steps are being unheld" if sent else f"resumed; {NOT_SENT}"
    return OrderChanged(order=detail, sent=sent if items else None, detail=said)


@router.post("/orders/{number}:abort", response_model=OrderChanged, summary="Abort an order")
def post_abort(number: str, body: Reason, db: DbSession, caller: Steering) -> OrderChanged:
    """Abort an order that has not ended (Aborted): steps waiting for a unit are aborted, held ones
    as `mes step abort` does, and the worker of each running step aborts its unit (PackML Abort,
    confirmed). Lots nothing of which was started are cancelled; the others go on hold for quality —
    nothing of an aborted order is released. Audited with the reason; 409 once the order has ended."""
    detail = abort_order(db, number, by=caller.name, reason=body.reason)
    return OrderChanged(order=detail, sent=None, detail="aborted: running steps' units are being aborted")


@router.post(
    "/orders/{number}:cancel", response_model=OrderCancelled, summary="Cancel an order before production"
)
def post_cancel(number: str, body: Reason, db: DbSession, caller: Steering) -> OrderCancelled:
    """Cancel an order none of whose steps has gone to a unit: its lots are cancelled, its pending steps
    aborted, the order Aborted; audited with the reason. Cancelling it again changes nothing and says who
    cancelled it (``already``). 409 once production has started (pause or abort it instead)."""
    return cancel_order(db, number, by=caller.name, reason=body.reason)
