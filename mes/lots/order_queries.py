"""Questions about work orders: list them, show one with its lots and their steps.

Each answer is a read model of :mod:`mes.lots.order_models`, built here from the rows in a fixed
number of statements, whatever the number of lots.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from mes.audit.models import AuditEvent
from mes.base import pk
from mes.equipment.models import EquipmentUnit
from mes.lots.errors import OrderInvalid, OrderNotFound
from mes.lots.models import Lot, StepRun, StepRunState, WorkOrder, WorkOrderState, job_order_state
from mes.lots.order_models import (
    OrderCancellation,
    OrderDetail,
    OrderLot,
    OrderProgress,
    OrderPublic,
    OrderStep,
    StepUnderway,
)
from mes.lots.order_progress import order_eta, steps_progress
from mes.recipes.errors import RecipeError
from mes.recipes.models import Recipe as RecipeRow
from mes.recipes.schema import Recipe
from mes.recipes.service import parse_ref, stored_recipe


def _public(order: WorkOrder, recipe: RecipeRow) -> OrderPublic:
    return OrderPublic(
        number=order.number,
        recipe=f"{recipe.name}@{recipe.version}",
        state=order.state,
        job_order_state=job_order_state(order.state),
        lots_requested=order.lots_requested,
        lots_created=order.lots_created,
        lot_size=order.lot_size,
        lot_size_unit="cells" if stored_recipe(recipe).produces.kind == "cell" else "m",
        priority=order.priority,
        created_by=order.created_by,
        created_at=order.created_at,
        started_at=order.started_at,
        ended_at=order.ended_at,
        idempotency_key=order.idempotency_key,
    )


def order_public(session: Session, order: WorkOrder) -> OrderPublic:
    recipe = session.get(RecipeRow, order.recipe_id)
    assert recipe is not None  # noqa: S101 - foreign key
    return _public(order, recipe)


def get_order(session: Session, number: str, *, lock: bool = False) -> WorkOrder:
    """The work order by its number (locked for update when ``lock``)."""
    if not number.strip():
        raise OrderInvalid("the work order number is empty: give one (see `mes order list`)")
    query = select(WorkOrder).where(WorkOrder.number == number)
    order = session.exec(query.with_for_update() if lock else query).first()
    if order is None:
        raise OrderNotFound(f"no work order {number} (see `mes order list`)")
    return order


def order_task_id(session: Session, number: str) -> int:
    """The row id the dispatch task takes for work order ``number`` (tasks take ids and re-read the
    row); a user never sees it: orders are named by number."""
    return pk(get_order(session, number))


def list_orders(
    session: Session,
    *,
    states: list[WorkOrderState] | None = None,
    recipe: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[OrderPublic]:
    """Newest orders first; only those in ``states``, of ``recipe`` (ID: any version, or ID@VERSION),
    created at or after ``since`` and before ``until``."""
    return order_page(session, states=states, recipe=recipe, since=since, until=until, limit=limit)[0]


def order_page(
    session: Session,
    *,
    states: list[WorkOrderState] | None = None,
    recipe: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    below: int | None = None,
    limit: int = 200,
) -> tuple[list[OrderPublic], list[int]]:
    """:func:`list_orders` continued below row id ``below`` (a page cursor), with each order's row id
    beside it for the next cursor (a cursor, not a name: orders are named by number)."""
    query = (
        select(WorkOrder, RecipeRow)
        .join(RecipeRow, col(RecipeRow.id) == col(WorkOrder.recipe_id))
        .order_by(col(WorkOrder.id).desc())
        .limit(limit)
    )
    if states:
        query = query.where(col(WorkOrder.state).in_(states))
    if recipe is not None:
        try:
            name, version = parse_ref(recipe)
        except RecipeError as exc:
            raise OrderInvalid(f"--recipe: {exc}") from exc
        query = query.where(RecipeRow.name == name)
        if version is not None:
            query = query.where(RecipeRow.version == version)
    if since is not None:
        query = query.where(col(WorkOrder.created_at) >= since)
    if until is not None:
        query = query.where(col(WorkOrder.created_at) < until)
    if below is not None:
        query = query.where(col(WorkOrder.id) < below)
    rows = session.exec(query).all()
    return [_public(order, row) for order, row in rows], [pk(order) for order, _ in rows]


def cancellation(session: Session, order: WorkOrder) -> OrderCancellation | None:
    """Who cancelled the order, when and why; None when it was not cancelled."""
    event = session.exec(
        select(AuditEvent)
        .where(
            AuditEvent.entity_type == "work_order",
            AuditEvent.entity_id == order.number,
            AuditEvent.action == "order.cancel",
        )
        .order_by(col(AuditEvent.id).desc())
        .limit(1)
    ).first()
    if event is None:
        return None
    return OrderCancellation(by=event.actor, at=event.occurred_at, reason=event.reason)


def order_detail(session: Session, number: str) -> OrderDetail:
    """The order, each of its lots with its status, and each lot's steps with the unit given to them,
    how far they got and when they should be done (:mod:`mes.lots.order_progress`)."""
    order = get_order(session, number)
    recipe_row = session.get(RecipeRow, order.recipe_id)
    assert recipe_row is not None  # noqa: S101 - foreign key
    lots = list(session.exec(select(Lot).where(Lot.work_order_id == order.id).order_by(col(Lot.id))).all())
    rows = session.exec(
        select(StepRun, EquipmentUnit.name)
        .join(EquipmentUnit, col(EquipmentUnit.id) == col(StepRun.equipment_unit_id), isouter=True)
        .where(col(StepRun.lot_id).in_([lot.id for lot in lots]))
        .order_by(col(StepRun.lot_id), col(StepRun.step_index))
    ).all()
    progress = steps_progress(session, lots, [step for step, _ in rows], stored_recipe(recipe_row))
    steps: dict[int, list[OrderStep]] = {}
    for step, unit in rows:
        made = progress.get(pk(step))
        steps.setdefault(step.lot_id, []).append(
            OrderStep(
                index=step.step_index,
                name=step.step_name,
                job_id=step.job_id,
                state=step.state,
                unit=unit,
                error=step.error,
                started_at=step.started_at,
                ended_at=step.ended_at,
                progress_m=made.progress_m if made else None,
                progress_source=made.source if made else None,
                eta=made.eta if made else None,
                pause_requested_at=step.pause_requested_at,
                unit_held_at=step.unit_held_at,
            )
        )
    return OrderDetail(
        **_public(order, recipe_row).model_dump(),
        lots=[
            OrderLot(
                number=lot.number,
                kind=lot.kind,
                status=lot.status,
                length_m=lot.length_m,
                steps=steps.get(lot.id or 0, []),
            )
            for lot in lots
        ],
        cancelled=cancellation(session, order),
        eta=order_eta([step for step, _ in rows], progress),
    )


UNDERWAY = (StepRunState.DISPATCHED, StepRunState.RUNNING, StepRunState.HELD)
NOT_STARTED = (StepRunState.PENDING, StepRunState.ABORTED)  # what cancelling an order leaves alone


def orders_progress(session: Session, numbers: Sequence[str]) -> dict[str, OrderProgress]:
    """How far each of the work orders ``numbers`` has got (an order not found is left out): three
    statements, and two per order for the metres (:func:`mes.lots.order_progress.steps_progress`)."""
    if not numbers:
        return {}
    orders = session.exec(
        select(WorkOrder, RecipeRow)
        .join(RecipeRow, col(RecipeRow.id) == col(WorkOrder.recipe_id))
        .where(col(WorkOrder.number).in_(list(numbers)))
    ).all()
    lots = list(
        session.exec(
            select(Lot).where(col(Lot.work_order_id).in_([pk(o) for o, _ in orders])).order_by(col(Lot.id))
        ).all()
    )
    rows = session.exec(
        select(StepRun, EquipmentUnit.name)
        .join(EquipmentUnit, col(EquipmentUnit.id) == col(StepRun.equipment_unit_id), isouter=True)
        .where(col(StepRun.lot_id).in_([pk(lot) for lot in lots]))
        .order_by(col(StepRun.lot_id), col(StepRun.step_index))
    ).all()
    recipes: dict[int, Recipe] = {}
    found: dict[str, OrderProgress] = {}
    for order, recipe_row in orders:
        own_lots = [lot for lot in lots if lot.work_order_id == order.id]
        lot_of = {pk(lot): lot for lot in own_lots}
        own = [(step, unit) for step, unit in rows if step.lot_id in lot_of]
        if pk(recipe_row) not in recipes:
            recipes[pk(recipe_row)] = stored_recipe(recipe_row)
        steps = [step for step, _ in own]
        progress = steps_progress(session, own_lots, steps, recipes[pk(recipe_row)])
        underway = []
        for step, unit in own:
            if step.state not in UNDERWAY:
                continue
            made = progress.get(pk(step))
            paused = step.pause_requested_at is not None or step.unit_held_at is not None
            underway.append(
                StepUnderway(
                    lot=lot_of[step.lot_id].number,
                    job_id=step.job_id,
                    name=step.step_name,
                    state=step.state,
                    unit=unit,
                    progress_m=made.progress_m if made else None,
                    length_m=lot_of[step.lot_id].length_m,
                    eta=made.eta if made else None,
                    paused=paused,
                )
            )
        found[order.number] = OrderProgress(
            number=order.number,
            steps_total=len(steps),
            steps_completed=sum(1 for s in steps if s.state == StepRunState.COMPLETED),
            steps_started=sum(1 for s in steps if s.state not in NOT_STARTED),
            underway=underway,
            eta=order_eta(steps, progress),
        )
    return found
