"""Alarms as people read them: the lot by number, the unit by name, the characteristic by its layer.

Read models built from the alarm rows (:mod:`mes.quality.alarms` keeps the state machine), and
the spreadsheet form of the list: one row per alarm, ISO 8601 UTC timestamps.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from mes.base import utcnow
from mes.equipment.models import EquipmentUnit
from mes.lots.models import Characteristic, Layer, Lot
from mes.quality.alarms import (
    PRIORITY_RANK,
    acknowledge,
    get_alarm,
    is_shelved,
    journal,
    list_alarms,
    shelve,
    unshelve,
)
from mes.quality.csv_cells import iso_utc, metres, text
from mes.quality.models import Alarm, AlarmPriority, AlarmState
from mes.quality.schemas import AlarmDetail, AlarmEventPublic, AlarmPublic, AlarmSummary


def alarm_views(session: Session, alarms: Sequence[Alarm]) -> list[AlarmPublic]:
    """Read models of ``alarms``, in their order: three queries whatever their number."""
    lot_ids = {a.lot_id for a in alarms if a.lot_id is not None}
    char_ids = {a.characteristic_id for a in alarms if a.characteristic_id is not None}
    lots = (
        dict(session.exec(select(Lot.id, Lot.number).where(col(Lot.id).in_(lot_ids))).all())
        if lot_ids
        else {}
    )
    chars = {
        cid: f"{layer}.{name}"
        for cid, layer, name in session.exec(
            select(Characteristic.id, Layer.name, Characteristic.name)
            .join(Layer, col(Layer.id) == col(Characteristic.layer_id))
            .where(col(Characteristic.id).in_(char_ids))
        ).all()
    }
    units = {u.id: u.name for u in session.exec(select(EquipmentUnit))}
    return [
        AlarmPublic(
            id=a.id or 0,
            condition=a.condition,
            priority=a.priority,
            state=a.state,
            message=a.message,
            lot=lots.get(a.lot_id) if a.lot_id is not None else None,
            unit=units.get(a.equipment_unit_id) if a.equipment_unit_id is not None else None,
            characteristic=chars.get(a.characteristic_id) if a.characteristic_id is not None else None,
            position_m=a.position_m,
            raised_at=a.raised_at,
            cleared_at=a.cleared_at,
            acknowledged_by=a.acknowledged_by,
            acknowledged_at=a.acknowledged_at,
            shelved_by=a.shelved_by,
            shelved_until=a.shelved_until if is_shelved(a) else None,
            comment=a.comment,
        )
        for a in alarms
    ]


def alarm_list(session: Session, *, include_closed: bool = False) -> list[AlarmPublic]:
    """Open alarms (or all, newest 500), most urgent first, shelved ones after the others."""
    return alarm_views(session, list_alarms(session, include_closed=include_closed))


def alarm_summary(session: Session, now: datetime | None = None) -> AlarmSummary:
    """Counts of the open alarms for the alarm banner (one query over the open rows only)."""
    rows = session.exec(select(Alarm).where(col(Alarm.is_open))).all()
    open_by = dict.fromkeys(AlarmPriority, 0)
    unack_by = dict.fromkeys(AlarmPriority, 0)
    shelved = 0
    for alarm in rows:
        if is_shelved(alarm, now):
            shelved += 1
            continue
        open_by[alarm.priority] += 1
        if alarm.state in (AlarmState.ACTIVE_UNACK, AlarmState.CLEARED_UNACK):
            unack_by[alarm.priority] += 1
    return AlarmSummary(open_by_priority=open_by, unacknowledged_by_priority=unack_by, shelved=shelved)


def alarm_details(session: Session, alarms: Sequence[Alarm]) -> list[AlarmDetail]:
    """Read models of ``alarms`` with each one's journal."""
    return [
        AlarmDetail(
            **view.model_dump(),
            journal=[
                AlarmEventPublic(
                    at=j.occurred_at,
                    transition=j.transition,
                    from_state=j.from_state,
                    to_state=j.to_state,
                    by=j.actor,
                    comment=j.comment,
                )
                for j in journal(session, view.id)
            ],
        )
        for view in alarm_views(session, alarms)
    ]


def _filtered(
    query: SelectOfScalar[Alarm],
    *,
    priorities: Sequence[AlarmPriority] = (),
    unit: str | None = None,
    acknowledged_by: str | None = None,
    shelved: bool | None = None,
    now: datetime | None = None,
) -> SelectOfScalar[Alarm]:
    """``query`` narrowed by the filters the active list and the history share."""
    if priorities:
        query = query.where(col(Alarm.priority).in_(priorities))
    if unit is not None:
        query = query.where(
            col(Alarm.equipment_unit_id).in_(select(EquipmentUnit.id).where(EquipmentUnit.name == unit))
        )
    if (
        acknowledged_by is not None
    ):  # names are recorded in their normal form (NFC, trimmed): so is the filter
        query = query.where(Alarm.acknowledged_by == unicodedata.normalize("NFC", acknowledged_by).strip())
    if shelved is not None:
        moment = now or utcnow()
        on_shelf = col(Alarm.shelved_until).is_not(None) & (col(Alarm.shelved_until) > moment)
        query = query.where(on_shelf if shelved else ~on_shelf)
    return query


def find_alarms(
    session: Session,
    *,
    history: bool = False,
    states: Sequence[AlarmState] = (),
    priorities: Sequence[AlarmPriority] = (),
    condition: str | None = None,
    lot: str | None = None,
    unit: str | None = None,
    acknowledged_by: str | None = None,
    shelved: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    below_id: int | None = None,
    limit: int = 50,
) -> list[AlarmPublic]:
    """Alarms newest first (by id): the open ones, or with ``history`` closed ones too; only those in
    ``states`` and of ``priorities`` (any when empty), whose tag starts with ``condition``, of lot
    ``lot`` (its number), of unit ``unit`` (its name), acknowledged by ``acknowledged_by`` (a user
    name; an alarm is acknowledged once), shelved now (``shelved`` True) or not (False), raised at or
    after ``since`` and before ``until`` (UTC), with an id below ``below_id``. At most ``limit``."""
    query = _filtered(select(Alarm), priorities=priorities, unit=unit, acknowledged_by=acknowledged_by,
                      shelved=shelved)  # fmt: skip
    if not history:
        query = query.where(col(Alarm.is_open))
    if states:
        query = query.where(col(Alarm.state).in_(states))
    if condition:
        query = query.where(col(Alarm.condition).startswith(condition, autoescape=True))
    if lot is not None:
        query = query.where(col(Alarm.lot_id).in_(select(Lot.id).where(Lot.number == lot)))
    if since is not None:
        query = query.where(col(Alarm.raised_at) >= since)
    if until is not None:
        query = query.where(col(Alarm.raised_at) < until)
    if below_id is not None:
        query = query.where(col(Alarm.id) < below_id)
    return alarm_views(session, list(session.exec(query.order_by(col(Alarm.id).desc()).limit(limit)).all()))


def active_alarms(
    session: Session,
    *,
    priorities: Sequence[AlarmPriority] = (),
    unit: str | None = None,
    shelved: bool = False,
    now: datetime | None = None,
    limit: int = 500,
) -> list[AlarmPublic]:
    """The operator's active list: open alarms not shelved (``shelved``: those shelved now instead),
    most urgent first and, within a priority, newest first (ISA-18.2: the alarm to act on first is at
    the top). Only ``priorities`` (any when empty) and of ``unit`` (its name) when given."""
    moment = now or utcnow()
    query = _filtered(select(Alarm).where(col(Alarm.is_open)), priorities=priorities, unit=unit,
                      shelved=shelved, now=moment)  # fmt: skip
    rows = list(session.exec(query.order_by(col(Alarm.raised_at).desc(), col(Alarm.id).desc()).limit(limit)))
    return alarm_views(session, sorted(rows, key=lambda a: PRIORITY_RANK[a.priority]))


def alarm_detail(session: Session, alarm_id: int) -> AlarmDetail:
    """One alarm with its journal. Raises :class:`AlarmNotFound`."""
    return alarm_details(session, [get_alarm(session, alarm_id)])[0]


def acknowledge_alarm(session: Session, alarm_id: int, *, by: str, comment: str | None = None) -> AlarmDetail:
    """:func:`mes.quality.alarms.acknowledge`, answered with the alarm and its journal."""
    return alarm_details(session, [acknowledge(session, alarm_id, by=by, comment=comment)])[0]


def shelve_alarm(session: Session, alarm_id: int, *, by: str, minutes: float, reason: str) -> AlarmDetail:
    """:func:`mes.quality.alarms.shelve` for ``minutes``, answered with the alarm and its journal."""
    return alarm_details(session, [shelve(session, alarm_id, by=by, duration_s=minutes * 60, reason=reason)])[
        0
    ]


def unshelve_alarm(session: Session, alarm_id: int, *, by: str, comment: str | None = None) -> AlarmDetail:
    """:func:`mes.quality.alarms.unshelve`, answered with the alarm and its journal."""
    return alarm_details(session, [unshelve(session, alarm_id, by=by, comment=comment)])[0]


ALARM_COLUMNS = (
    "id",
    "condition",
    "priority",
    "state",
    "lot",
    "unit",
    "characteristic",
    "position_m",
    "raised_at",
    "cleared_at",
    "acknowledged_by",
    "acknowledged_at",
    "shelved_by",
    "shelved_until",
    "message",
    "comment",
)


def alarms_csv(alarms: Iterable[AlarmPublic]) -> str:
    """One row per alarm under a header row; timestamps ISO 8601 UTC (``…Z``), metres to the centimetre."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ALARM_COLUMNS)
    for a in alarms:
        writer.writerow(
            [
                a.id,
                a.condition,
                a.priority.value,
                a.state.value,
                a.lot or "",
                a.unit or "",
                a.characteristic or "",
                metres(a.position_m),
                iso_utc(a.raised_at),
                iso_utc(a.cleared_at),
                text(a.acknowledged_by),
                iso_utc(a.acknowledged_at),
                text(a.shelved_by),
                iso_utc(a.shelved_until),
                text(a.message),
                text(a.comment),
            ]
        )
    return buffer.getvalue()
