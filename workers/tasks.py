"""Celery tasks. They take ids, re-read and lock their row, and do nothing twice.

- ``dispatch_order(order_id)``: expand a work order into lots and schedule.
- ``advance_step(step_run_id, chain_token)``: move one step forward on its unit —
  prepare (gauge sequence numbers), Start, watch, complete — in short moves; a
  running step re-enqueues itself (no ETA), carrying the chain token so that a
  duplicated message is a no-op.
- ``reconcile()`` (beat): re-chain stalled steps, expand orders whose message was
  lost, schedule, close finished orders.

Enqueueing always happens after the commit that made it necessary.
"""

from __future__ import annotations

import logging

from celery import Task
from celery.exceptions import MaxRetriesExceededError
from sqlmodel import col, select

from mes.config import get_settings
from mes.db import session_scope
from mes.equipment.errors import ConnectionLost, EquipmentError, NodeMismatch, SecurityRefused
from mes.lots.execution import (
    Enqueue,
    StepPlan,
    finish_orders,
    lease_holds,
    plan,
    schedule,
    stalled,
    sync_units,
)
from mes.lots.models import WorkOrder, WorkOrderState
from mes.lots.orders import expand_order
from mes.lots.steps import Observation, act, record
from mes.quality.alarms import expire_shelving
from workers.app import app
from workers.bridge import BridgeTimeout
from workers.context import context

log = logging.getLogger(__name__)
MOVE_WINDOW_S = 5.0  # how long one move watches a running unit before handing over
MOVES_PER_TASK = 6
LINK_RETRIES = 15  # × 2 s: a unit unreachable this long gets its step held with an alarm


def enqueue(items: list[Enqueue]) -> None:
    for item in items:
        advance_step.apply_async((item.step_run_id, item.chain_token), queue=item.queue)


@app.task(name="mes.ping", ignore_result=False)
def ping() -> str:
    """A trivial round trip through broker and worker (health checks, latency baseline)."""
    return "pong"


@app.task(name="mes.dispatch_order")
def dispatch_order(order_id: int) -> int:
    ctx = context()
    with session_scope(ctx.engine) as session:
        order = session.get(WorkOrder, order_id, with_for_update=True)
        if order is None or order.state not in (WorkOrderState.READY, WorkOrderState.RUNNING):
            return 0
        sync_units(session, ctx.line)
        lots = expand_order(session, order)
        items = schedule(session, ctx.line, holder=f"dispatch:{order_id}")
    enqueue(items)
    return len(lots)


@app.task(name="mes.advance_step", bind=True, max_retries=LINK_RETRIES)
def advance_step(self: Task, step_run_id: int, chain_token: str) -> str:
    ctx = context()
    for _ in range(MOVES_PER_TASK):
        with session_scope(ctx.engine) as session:
            current = plan(session, step_run_id)
            if current is None or current.chain_token != chain_token:
                return "stale"  # finished, or a newer chain owns this step
            if not lease_holds(session, current.unit_id, step_run_id, current.lease_token):
                log.error("step %s: unit lease lost; not commanding", step_run_id)
                return "no-lease"
        try:
            obs = ctx.bridge.run(_move(current), timeout_s=MOVE_WINDOW_S + 60)
        except (ConnectionLost, BridgeTimeout, NodeMismatch, SecurityRefused) as exc:
            try:
                ctx.bridge.run(ctx.drop(current.unit), timeout_s=10)
            except BridgeTimeout:
                log.warning(
                    "step %s: disconnecting %s timed out; a new link is made next time",
                    step_run_id,
                    current.unit,
                )
            try:
                raise self.retry(countdown=2.0, exc=exc)
            except MaxRetriesExceededError:
                obs = Observation("held", f"lost the link to {current.unit}: {exc}", unit_fault=True)
        except EquipmentError as exc:
            obs = Observation("held", str(exc), unit_fault=True)
        with session_scope(ctx.engine) as session:
            items, go_on = record(session, current, obs, ctx.line)
        enqueue(items)
        if not go_on:
            return obs.kind
        if obs.kind == "running":
            break
    advance_step.apply_async((step_run_id, chain_token), queue=self.request.delivery_info.get("routing_key"))
    return "continued"


async def _move(current: StepPlan) -> Observation:
    ctx = context()
    driver = await ctx.driver(current.unit)
    return await act(driver, current, window_s=MOVE_WINDOW_S)


@app.task(name="mes.reconcile")
def reconcile() -> int:
    ctx = context()
    with session_scope(ctx.engine) as session:
        sync_units(session, ctx.line)
        for order in session.exec(
            select(WorkOrder).where(col(WorkOrder.state).in_((WorkOrderState.READY, WorkOrderState.RUNNING)))
        ).all():
            if order.lots_created < order.lots_requested:
                expand_order(session, order)  # its dispatch message was lost
        items = stalled(session, get_settings().step_stale_after_s) + schedule(
            session, ctx.line, holder="reconciler"
        )
        running = session.exec(select(WorkOrder.id).where(WorkOrder.state == WorkOrderState.RUNNING)).all()
        finish_orders(session, [i for i in running if i is not None])
        # A shelved alarm comes back on time even when nobody opens the alarm list.
        expire_shelving(session)
    enqueue(items)
    return len(items)
