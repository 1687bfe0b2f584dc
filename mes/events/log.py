"""Reading the event log: the events after an id, where a returning client starts, pruning.

The triggers write the log (:mod:`mes.events`); nothing here writes an event. Ids increase in
commit order, so "the events after N" is complete the moment it is read: an event committed later
has a larger id.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mes.equipment.models import EquipmentUnit
from mes.events.models import EventKind, EventLog
from mes.events.schemas import (
    AlarmChange,
    Gap,
    LotChange,
    OrderChange,
    ReplayPlan,
    StateEvent,
    StepChange,
    UnitChange,
)
from mes.execution.errors import UnitNotFound
from mes.lots.models import Lot, WorkOrder
from mes.lots.order_queries import get_order

PAGE = 500
_DETAIL: dict[EventKind, type[OrderChange | LotChange | StepChange | AlarmChange | UnitChange]] = {
    EventKind.ORDER: OrderChange,
    EventKind.LOT: LotChange,
    EventKind.STEP: StepChange,
    EventKind.ALARM: AlarmChange,
    EventKind.UNIT: UnitChange,
}


def newest_id(session: Session) -> int:
    """The id of the newest committed event; 0 when the log is empty."""
    return int(session.exec(select(sa.func.max(EventLog.id))).one() or 0)


def _public(row: EventLog, unit: str | None, lot: str | None, order: str | None) -> StateEvent:
    payload = dict(row.payload)
    if row.kind == EventKind.ALARM:
        payload["alarm_id"] = row.entity_id
    return StateEvent(
        id=row.id or 0,
        kind=row.kind,
        occurred_at=row.occurred_at,
        entity=row.entity,
        state=row.state,
        from_state=row.from_state,
        unit=unit,
        lot=lot,
        order=order,
        detail=_DETAIL[row.kind].model_validate(payload),
    )


def events_after(session: Session, after: int, limit: int = PAGE) -> list[StateEvent]:
    """The events with an id above ``after``, oldest first, at most ``limit``."""
    order_id = sa.func.coalesce(col(EventLog.order_id), col(Lot.work_order_id))
    rows = session.exec(
        select(EventLog, EquipmentUnit.name, Lot.number, WorkOrder.number)
        .outerjoin(EquipmentUnit, col(EquipmentUnit.id) == col(EventLog.unit_id))
        .outerjoin(Lot, col(Lot.id) == col(EventLog.lot_id))
        .outerjoin(WorkOrder, col(WorkOrder.id) == order_id)
        .where(col(EventLog.id) > after)
        .order_by(col(EventLog.id))
        .limit(limit)
    ).all()
    return [_public(row, unit, lot, order) for row, unit, lot, order in rows]


def replay_plan(session: Session, last_event_id: int | None, replay_max: int) -> ReplayPlan:
    """Where a client's stream starts: after its ``last_event_id`` when the log still holds every
    event since and there are at most ``replay_max`` of them, else after the newest with a gap.
    Without ``last_event_id`` it starts after the newest (nothing is replayed)."""
    newest = newest_id(session)
    if last_event_id is None:
        return ReplayPlan(start_after=newest, gap=None)

    def gap(reason: str, missed: int | None, exact: bool, message: str) -> ReplayPlan:
        return ReplayPlan(
            start_after=newest,
            gap=Gap(
                last_event_id=last_event_id,
                reason=reason,
                missed=missed,
                exact=exact,
                resume_after=newest,
                message=message + "; read the resources again",
            ),  # fmt: skip
        )

    if last_event_id > newest:
        return gap("unknown", None, False, f"the event log has no event {last_event_id} (newest: {newest})")
    oldest = session.exec(select(sa.func.min(EventLog.id)).where(col(EventLog.id) > 0)).one()
    if oldest is not None and last_event_id < oldest - 1:
        return gap(
            "pruned",
            newest - last_event_id,
            False,
            f"the events after {last_event_id} up to {oldest - 1} were deleted (MES_EVENTS_RETENTION_H)",
        )
    missed = session.exec(select(sa.func.count()).where(col(EventLog.id) > last_event_id)).one()
    if missed > replay_max:
        return gap(
            "window",
            missed,
            True,
            f"{missed} events since {last_event_id}, more than are replayed "
            f"(MES_EVENTS_REPLAY_MAX={replay_max})",
        )
    return ReplayPlan(start_after=last_event_id, gap=None)


def prune_events(session: Session, older_than: datetime) -> int:
    """Delete the events that occurred before ``older_than``, never the newest (its id is where every
    client's stream goes on from); returns how many."""
    newest = newest_id(session)
    result = session.execute(
        sa.delete(EventLog)
        .where(col(EventLog.occurred_at) < older_than, col(EventLog.id) > 0, col(EventLog.id) < newest)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def check_unit(session: Session, name: str) -> None:
    """Raise :class:`UnitNotFound` unless the MES knows unit ``name``."""
    if session.exec(select(EquipmentUnit.id).where(EquipmentUnit.name == name)).first() is None:
        known = ", ".join(session.exec(select(EquipmentUnit.name).order_by(col(EquipmentUnit.name))).all())
        raise UnitNotFound(f"no unit {name} (units: {known or 'none yet'}; see `mes unit list`)")


def order_lots(session: Session, number: str) -> set[str]:
    """The lot numbers of work order ``number`` so far (raises ``OrderNotFound``)."""
    order = get_order(session, number)
    return set(session.exec(select(Lot.number).where(Lot.work_order_id == order.id)).all())
