"""Celery tasks. They take ids, re-read and lock their row, and do nothing twice.

- ``dispatch_order(order_id)``: expand a work order into lots and schedule.
- ``advance_step(step_run_id, chain_token)``: move one step forward on its unit —
  prepare (gauge sequence numbers), Start, watch, complete — in short moves; a
  running step re-enqueues itself (no ETA), carrying the chain token so that a
  duplicated message is a no-op. A fault ends the step held with an alarm naming the
  cause; a lost link is retried within a budget counted on the step row (see
  ``docs/decisions/010-step-faults.md``).
- ``reconcile()`` (beat): re-chain stalled steps, expand orders whose message was
  lost, schedule, close finished orders; every few minutes, delete events older than
  ``MES_EVENTS_RETENTION_H`` from the event log.

Enqueueing always happens after the commit that made it necessary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from celery import Task
from kombu.exceptions import OperationalError
from sqlmodel import col, select

from mes.base import utcnow
from mes.config import get_settings, masked_url
from mes.db import session_scope
from mes.equipment.errors import ConnectionLost, EquipmentError, NodeMismatch, SecurityRefused
from mes.equipment.status import is_asyncua, translate
from mes.events.log import prune_events
from mes.execution.faults import (
    FAULT_ATTEMPTS,
    count_fault,
    count_link_failure,
    describe_fault,
)
from mes.execution.scheduler import (
    Enqueue,
    StepPlan,
    finish_orders,
    lease_holds,
    plan,
    schedule,
    stalled,
    sync_units,
    unit_queue,
)
from mes.execution.steps import Observation, act, record
from mes.lots.models import StepRunState, WorkOrder, WorkOrderState
from mes.lots.orders import expand_order
from mes.quality.alarms import expire_shelving
from workers.app import app
from workers.context import context
from workers.errors import BridgeTimeout, BrokerUnreachable

log = logging.getLogger(__name__)
MOVE_WINDOW_S = 5.0  # how long one move watches a running unit before handing over
MOVES_PER_TASK = 6
RETRY_AFTER_S = 2.0  # a short countdown: long ETAs are delivered again and again (FACTS)
PRUNE_EVENTS_EVERY_S = 300.0
_events_pruned_at: float | None = None  # monotonic time of this process's last pruning


def enqueue(items: list[Enqueue]) -> None:
    for item in items:
        advance_step.apply_async((item.step_run_id, item.chain_token), queue=item.queue)


# A command waits this long for a broker that does not answer, not kombu's default (about 5 s
# against a closed port, far longer against one that drops packets).
SEND_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}


def send_dispatch(order_id: int, number: str) -> None:
    """Hand a committed work order to the dispatcher; :class:`BrokerUnreachable` when the broker does
    not take it (the order stays; the reconciler expands it once the broker is back)."""
    _send(
        lambda: dispatch_order.apply_async((order_id,), queue="dispatch", retry_policy=SEND_RETRY_POLICY),
        f"work order {number} is saved but was not sent to the dispatcher",
        "dispatches it once the broker is back; do not create it again",
    )


def send_steps(items: list[Enqueue], what: str) -> None:
    """Hand committed step moves to their units' workers (a command's, e.g. ``mes step resume``);
    :class:`BrokerUnreachable` when the broker does not take them (the reconciler re-sends a step
    that stays dispatched or running without a move, once the broker is back)."""
    _send(
        lambda: [
            advance_step.apply_async(
                (i.step_run_id, i.chain_token), queue=i.queue, retry_policy=SEND_RETRY_POLICY
            )
            for i in items
        ],
        f"{what} is saved but was not sent to the unit's worker",
        "sends it once the broker is back; do not repeat the command",
    )


def _send(publish: Callable[[], object], saved: str, reconciler: str) -> None:
    try:
        publish()
    except (OperationalError, OSError) as exc:
        settings = get_settings()
        raise BrokerUnreachable(
            f"{saved}: the broker at MES_BROKER_URL {masked_url(settings.broker_url)} did not take it "
            f"({exc}). The reconciler {reconciler}"
        ) from exc


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


def _drop(unit: str) -> None:
    try:
        context().bridge.run(context().drop(unit), timeout_s=10)
    except Exception:  # noqa: BLE001 - best effort: a new link is made next time anyway
        log.warning("disconnecting %s failed; a new link is made next time", unit)


def _on_link_loss(current: StepPlan, exc: BaseException) -> Observation | None:
    """Count the failure on the row; the held observation once the budget is spent, else None."""
    settings = get_settings()
    with session_scope(context().engine) as session:
        budget = count_link_failure(
            session, current, attempts=settings.step_link_attempts, budget_s=settings.step_link_budget_s
        )
    if budget is None or not budget.spent:
        return None
    return Observation(
        "held",
        f"lost the link to {current.unit}: {budget.failures} attempts over {budget.seconds:.0f} s failed; "
        f"last: {exc}",
        unit_fault=True,
    )


def _on_unexpected(current: StepPlan, exc: BaseException) -> Observation | None:
    log.exception("step %s: move failed", current.step_run_id)
    with session_scope(context().engine) as session:
        faults = count_fault(session, current)
    if faults is None or faults < FAULT_ATTEMPTS:
        return None
    # The unit may still be running the job: it is taken out of service (and its lease freed
    # with the hold) so that no other step is sent to a machine in an unknown state.
    return Observation(
        "held",
        f"{current.unit}: the step task failed {faults} times in a row: {type(exc).__name__}: {exc}",
        unit_fault=True,
    )


def _observe(current: StepPlan) -> Observation | None:
    """One move on the unit; a fault becomes a held observation, a retry becomes None."""
    ctx = context()
    try:
        return ctx.bridge.run(_move(current), timeout_s=MOVE_WINDOW_S + 60)
    except Exception as raw:  # every fault ends held with an alarm, or is retried within a budget
        try:
            return _fault(current, raw)
        except Exception as broken:  # a fault in the handling must not kill the task without a trace
            return _on_unexpected(current, broken)


def _fault(current: StepPlan, raw: Exception) -> Observation | None:
    """What a failed move means: held (with the reason), waiting, or None for a retry."""
    # An asyncua error that escaped the driver is classified by the equipment layer's one table.
    exc = translate(raw, unit=current.unit, what="step move") if is_asyncua(raw) else raw
    if isinstance(exc, ConnectionLost | BridgeTimeout):
        _drop(current.unit)
        return _on_link_loss(current, exc)
    if isinstance(exc, EquipmentError):
        reason, unit_fault = describe_fault(current.unit, exc)
        if isinstance(exc, NodeMismatch | SecurityRefused):
            _drop(current.unit)  # the next link checks the unit again
            if current.state == StepRunState.DISPATCHED:
                # Found before anything was started (the profile does not match the machine,
                # or the session was refused): the lot is not at fault — the step goes back to
                # wait for another unit and this one is taken out of service with an alarm.
                return Observation("waiting", reason, unit_fault=True)
        return Observation("held", reason, unit_fault=unit_fault)
    _drop(current.unit)
    return _on_unexpected(current, exc)


@app.task(name="mes.advance_step", bind=True)
def advance_step(self: Task, step_run_id: int, chain_token: str) -> str:
    ctx = context()
    queue = self.request.delivery_info.get("routing_key") if self.request.delivery_info else None
    current: StepPlan | None = None
    for _ in range(MOVES_PER_TASK):
        with session_scope(ctx.engine) as session:
            current = plan(session, step_run_id)
            if current is None or current.chain_token != chain_token:
                return "stale"  # finished, or a newer chain owns this step
            if not lease_holds(session, current.unit_id, step_run_id, current.lease_token):
                log.error("step %s: unit lease lost; not commanding", step_run_id)
                return "no-lease"
        obs = _observe(current)
        if obs is None:
            # Not `self.retry(exc=…)`: once its retries are spent Celery re-raises exc itself
            # (celery #1099), and its count restarts with every new chain. The row counts.
            advance_step.apply_async(
                (step_run_id, chain_token), queue=queue or unit_queue(current.unit), countdown=RETRY_AFTER_S
            )
            return "retrying"
        try:
            with session_scope(ctx.engine) as session:
                items, go_on = record(session, current, obs, ctx.line)
        except Exception as exc:  # a record that cannot be written (bad data) must not loop silently
            held = _on_unexpected(current, exc)
            if held is None:
                advance_step.apply_async(
                    (step_run_id, chain_token),
                    queue=queue or unit_queue(current.unit),
                    countdown=RETRY_AFTER_S,
                )
                return "retrying"
            with session_scope(ctx.engine) as session:
                items, go_on = record(session, current, held, ctx.line)
            obs = held
        enqueue(items)
        if not go_on:
            return obs.kind
        if obs.kind == "running":
            break
    assert current is not None  # noqa: S101 - the loop ran at least once
    advance_step.apply_async((step_run_id, chain_token), queue=queue or unit_queue(current.unit))
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
        # Orders whose dispatch message was lost (or not yet taken). Locked as dispatch_order locks
        # them, skipping one a dispatch or a cancel holds: an expansion never overwrites a cancel.
        for order in session.exec(
            select(WorkOrder)
            .where(
                col(WorkOrder.state).in_((WorkOrderState.READY, WorkOrderState.RUNNING)),
                col(WorkOrder.lots_created) < col(WorkOrder.lots_requested),
            )
            .with_for_update(skip_locked=True)
        ).all():
            expand_order(session, order)
        items = stalled(session, get_settings().step_stale_after_s) + schedule(
            session, ctx.line, holder="reconciler"
        )
        running = session.exec(
            select(WorkOrder.id).where(
                col(WorkOrder.state).in_((WorkOrderState.RUNNING, WorkOrderState.HELD))
            )
        ).all()
        finish_orders(session, [i for i in running if i is not None])
        # A shelved alarm comes back on time even when nobody opens the alarm list.
        expire_shelving(session)
    enqueue(items)
    _prune_events()
    return len(items)


def _prune_events() -> None:
    """Every few minutes, the events older than MES_EVENTS_RETENTION_H (a client away longer is told
    it has a gap), in a transaction of their own."""
    global _events_pruned_at
    now = time.monotonic()
    if _events_pruned_at is not None and now - _events_pruned_at < PRUNE_EVENTS_EVERY_S:
        return
    _events_pruned_at = now
    keep = timedelta(hours=get_settings().events_retention_h)
    with session_scope(context().engine) as session:
        pruned = prune_events(session, utcnow() - keep)
    if pruned:
        log.info("event log: %d event(s) older than %s deleted", pruned, keep)
