"""Questions about work orders: list them, show one with its lots and their steps.

Each answer is a read model of :mod:`mes.lots.order_models`, built here from the rows in a fixed
number of statements, whatever the number of lots.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from mes.audit.models import AuditEvent
from mes.base import pk
from mes.equipment.models import EquipmentUnit
from mes.lots.errors import OrderInvalid, OrderNotFound
from mes.lots.models import Lot, StepRun, WorkOrder, WorkOrderState
from mes.lots.order_models import OrderCancellation, OrderDetail, OrderLot, OrderPublic, OrderStep
from mes.recipes.errors import RecipeError
from mes.recipes.models import Recipe as RecipeRow
from mes.recipes.service import parse_ref, stored_recipe


def _public(order: WorkOrder, recipe: RecipeRow) -> OrderPublic:
    return OrderPublic(
        number=order.number,
        recipe=f"{recipe.name}@{recipe.version}",
        state=order.state,
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
    limit: int = 200,
) -> list[OrderPublic]:
    """Newest orders first; only those in ``states``, of ``recipe`` (ID: any version, or ID@VERSION)."""
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
    return [_public(order, row) for order, row in session.exec(query).all()]


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
    """The order, each of its lots with its status, and each lot's steps with the unit given to them."""
    order = get_order(session, number)
    lots = session.exec(select(Lot).where(Lot.work_order_id == order.id).order_by(col(Lot.id))).all()
    rows = session.exec(
        select(StepRun, EquipmentUnit.name)
        .join(EquipmentUnit, col(EquipmentUnit.id) == col(StepRun.equipment_unit_id), isouter=True)
        .where(col(StepRun.lot_id).in_([lot.id for lot in lots]))
        .order_by(col(StepRun.lot_id), col(StepRun.step_index))
    ).all()
    steps: dict[int, list[OrderStep]] = {}
    for step, unit in rows:
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
            )
        )
    return OrderDetail(
        **order_public(session, order).model_dump(),
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
    )
