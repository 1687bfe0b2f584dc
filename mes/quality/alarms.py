"""Alarms after ISA-18.2: raise, clear, acknowledge, shelve — each transition journalled.

States (``Alarm.state``) and the transitions between them::

                 raise                     acknowledge
    (none) ───────────────▶ ACTIVE_UNACK ───────────────▶ ACTIVE_ACK
                               │    ▲                         │
                         clear │    │ raise (returns)   clear │
                               ▼    │                         ▼
                           CLEARED_UNACK ──acknowledge──▶ NORMAL (closed)

Shelving is orthogonal: an open alarm can be shelved for at most
``MAX_SHELVE_S`` by a named user with a reason; it stays recorded but is out of
the operator's active list until the expiry (or an unshelve). Every transition
writes an :class:`AlarmEvent` with who, when and the comment; shelving is also
written to the audit trail because it hides an alarm from operators.

At most one alarm is open per live condition (a partial unique index); a raise of
a condition that is already active changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, or_, select

from mes.audit.service import record
from mes.auth.models import Role
from mes.auth.service import get_user, require_role
from mes.base import is_row_id, utcnow
from mes.quality.errors import AlarmError, AlarmInvalid, AlarmNotFound
from mes.quality.models import Alarm, AlarmEvent, AlarmPriority, AlarmState

SYSTEM = "system"
ALARM_TABLE: sa.Table = Alarm.__table__  # type: ignore[attr-defined]
_ATTEMPTS = 3
MAX_SHELVE_S = 8 * 3600  # a shift: a shelved alarm must come back before the next crew takes over
MIN_SHELVE_S = 60  # shelving is for a nuisance alarm while its cause is dealt with: a minute at least
ROLES_SHELVE = (Role.OPERATOR, Role.ENGINEER, Role.QUALITY, Role.ADMIN)
# Acknowledging (ISA-18.2: the operator has seen it) and unshelving are everyone's on the line.
ROLES_ACKNOWLEDGE = (Role.OPERATOR, Role.ENGINEER, Role.QUALITY, Role.ADMIN)
PRIORITY_RANK = {
    AlarmPriority.URGENT: 0,
    AlarmPriority.HIGH: 1,
    AlarmPriority.MEDIUM: 2,
    AlarmPriority.LOW: 3,
}


def _journal(
    session: Session,
    alarm: Alarm,
    transition: str,
    before: AlarmState | None,
    actor: str,
    comment: str | None = None,
    at: datetime | None = None,
) -> None:
    assert alarm.id is not None  # noqa: S101 - flushed before journalling
    session.add(
        AlarmEvent(
            alarm_id=alarm.id,
            transition=transition,
            from_state=before,
            to_state=alarm.state,
            actor=actor,
            comment=comment,
            occurred_at=at or utcnow(),
        )
    )


def _move(session: Session, alarm: Alarm, expected: AlarmState, **values: Any) -> bool:
    """Compare-and-set: apply ``values`` only if the alarm is still in ``expected``; reload it either way.

    The collector, a worker and an operator can act on one alarm at once; a plain
    read-then-write would let the later write undo the earlier transition.
    """
    moved = session.execute(
        sa.update(ALARM_TABLE)
        .where(ALARM_TABLE.c.id == alarm.id, ALARM_TABLE.c.state == expected)
        .values(**values)
        .returning(ALARM_TABLE.c.id)
    ).first()
    session.refresh(alarm)
    return moved is not None


def open_alarm(session: Session, condition: str) -> Alarm | None:
    return session.exec(select(Alarm).where(Alarm.condition == condition, col(Alarm.is_open))).first()


def raise_alarm(
    session: Session,
    condition: str,
    message: str,
    *,
    priority: AlarmPriority = AlarmPriority.HIGH,
    lot_id: int | None = None,
    unit_id: int | None = None,
    characteristic_id: int | None = None,
    position_m: float | None = None,
) -> Alarm:
    """Raise ``condition``: new alarm, or the open one returns to active; already active → unchanged."""
    for _ in range(_ATTEMPTS):
        current = open_alarm(session, condition)
        if current is None:
            break
        if current.state != AlarmState.CLEARED_UNACK:
            return current
        before = AlarmState.CLEARED_UNACK
        if _move(
            session, current, before, state=AlarmState.ACTIVE_UNACK, cleared_at=None, message=message[:500]
        ):
            _journal(session, current, "reraise", before, SYSTEM)
            session.flush()
            return current
        # Acknowledged (and so closed) meanwhile: the condition needs a new alarm.
    # Two processes (the collector and a worker) can raise the same condition at
    # once. INSERT … ON CONFLICT DO NOTHING on the partial unique index lets one
    # win and the other find its row, without a savepoint (SQLite's driver would
    # turn a first-statement savepoint into a commit of its own).
    now = utcnow()
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    result = session.execute(
        insert(ALARM_TABLE)
        .values(
            condition=condition,
            message=message[:500],
            priority=priority,
            state=AlarmState.ACTIVE_UNACK,
            is_open=True,
            lot_id=lot_id,
            equipment_unit_id=unit_id,
            characteristic_id=characteristic_id,
            position_m=position_m,
            raised_at=now,
        )
        .on_conflict_do_nothing(index_elements=["condition"], index_where=sa.text("is_open"))
        .returning(ALARM_TABLE.c.id)
    )
    inserted = result.first() is not None  # no row back: the other writer's alarm stands
    alarm = open_alarm(session, condition)
    assert alarm is not None  # noqa: S101 - inserted, or the other writer's row is committed
    if inserted:
        _journal(session, alarm, "raise", None, SYSTEM, at=now)
        session.flush()
    return alarm


def clear_alarm(session: Session, alarm: Alarm, actor: str = SYSTEM, comment: str | None = None) -> None:
    """The condition is no longer present: an acknowledged alarm closes, an unacknowledged one waits."""
    for _ in range(_ATTEMPTS):
        before = alarm.state
        if before == AlarmState.ACTIVE_ACK:
            changes: dict[str, Any] = {"state": AlarmState.NORMAL, "is_open": False}
        elif before == AlarmState.ACTIVE_UNACK:
            changes = {"state": AlarmState.CLEARED_UNACK}
        else:
            return
        if _move(session, alarm, before, cleared_at=utcnow(), **changes):
            _journal(session, alarm, "clear", before, actor, comment)
            session.flush()
            return
    raise AlarmError(f"alarm {alarm.id} kept changing while it was being cleared")


def clear_conditions(session: Session, prefixes: list[str], actor: str = SYSTEM) -> int:
    """Clear every open alarm whose condition starts with one of ``prefixes``; returns how many."""
    if not prefixes:
        return 0
    alarms = session.exec(
        select(Alarm).where(
            col(Alarm.is_open), or_(*(col(Alarm.condition).startswith(p, autoescape=True) for p in prefixes))
        )
    ).all()
    for alarm in alarms:
        clear_alarm(session, alarm, actor)
    return len(alarms)


def get_alarm(session: Session, alarm_id: int) -> Alarm:
    alarm = session.get(Alarm, alarm_id) if is_row_id(alarm_id) else None
    if alarm is None:
        raise AlarmNotFound(f"no alarm {alarm_id}")
    return alarm


def acknowledge(session: Session, alarm_id: int, *, by: str, comment: str | None = None) -> Alarm:
    """The operator has seen it: active → active-acknowledged; cleared → normal (closed)."""
    by = get_user(session, by).name
    alarm = get_alarm(session, alarm_id)
    for _ in range(_ATTEMPTS):
        before = alarm.state
        if before == AlarmState.ACTIVE_UNACK:
            changes: dict[str, Any] = {"state": AlarmState.ACTIVE_ACK}
        elif before == AlarmState.CLEARED_UNACK:
            changes = {"state": AlarmState.NORMAL, "is_open": False}
        else:
            raise AlarmError(f"alarm {alarm_id} is {before.value}: there is nothing to acknowledge")
        if comment:
            changes["comment"] = comment[:2000]
        now = utcnow()
        if _move(session, alarm, before, acknowledged_by=by, acknowledged_at=now, **changes):
            _journal(session, alarm, "acknowledge", before, by, comment, at=now)
            session.flush()
            return alarm
    raise AlarmError(f"alarm {alarm_id} kept changing while it was being acknowledged; try again")


def is_shelved(alarm: Alarm, now: datetime | None = None) -> bool:
    return alarm.shelved_until is not None and alarm.shelved_until > (now or utcnow())


def shelve(session: Session, alarm_id: int, *, by: str, duration_s: float, reason: str) -> Alarm:
    """Take an open alarm off the active list until ``now + duration_s`` (at most ``MAX_SHELVE_S``)."""
    if not reason.strip():
        raise AlarmInvalid("a reason is required to shelve an alarm")
    if not MIN_SHELVE_S <= duration_s <= MAX_SHELVE_S:
        raise AlarmInvalid(
            f"shelve for at least {MIN_SHELVE_S // 60} and at most {MAX_SHELVE_S // 60} minutes, "
            f"not {duration_s / 60:g} minutes"
        )
    user = get_user(session, by)
    require_role(user, ROLES_SHELVE, "shelve alarms")
    by = user.name
    alarm = get_alarm(session, alarm_id)
    if not alarm.is_open:
        raise AlarmError(
            f"alarm {alarm_id} is closed ({alarm.state.value}); only an open alarm can be shelved"
        )
    now = utcnow()
    alarm.shelved_by, alarm.shelved_until = by, now + timedelta(seconds=duration_s)
    session.add(alarm)
    session.flush()
    _journal(session, alarm, "shelve", alarm.state, by, reason, at=now)
    record(
        session,
        actor=by,
        action="alarm.shelve",
        entity_type="alarm",
        entity_id=str(alarm_id),
        after={"condition": alarm.condition, "shelved_until": alarm.shelved_until.isoformat()},
        reason=reason,
        occurred_at=now,
    )
    return alarm


def unshelve(session: Session, alarm_id: int, *, by: str, comment: str | None = None) -> Alarm:
    by = get_user(session, by).name
    alarm = get_alarm(session, alarm_id)
    if not is_shelved(alarm):
        raise AlarmError(f"alarm {alarm_id} is not shelved")
    alarm.shelved_until = None
    session.add(alarm)
    session.flush()
    _journal(session, alarm, "unshelve", alarm.state, by, comment)
    record(
        session,
        actor=by,
        action="alarm.unshelve",
        entity_type="alarm",
        entity_id=str(alarm_id),
        reason=comment or "",
    )
    return alarm


def expire_shelving(session: Session, now: datetime | None = None) -> int:
    """Return alarms whose shelving has run out to the active list; returns how many."""
    now = now or utcnow()
    expired = session.exec(
        select(Alarm).where(col(Alarm.shelved_until).is_not(None), col(Alarm.shelved_until) <= now)
    ).all()
    for alarm in expired:
        alarm.shelved_until = None
        session.add(alarm)
        session.flush()
        _journal(session, alarm, "shelve-expired", alarm.state, SYSTEM, at=now)
    session.flush()
    return len(expired)


def list_alarms(session: Session, *, include_closed: bool = False, limit: int = 500) -> list[Alarm]:
    """Open alarms (or all, newest first), most urgent first, shelved ones after the others."""
    query = select(Alarm)
    if not include_closed:
        query = query.where(col(Alarm.is_open))
    rows = list(session.exec(query.order_by(col(Alarm.raised_at).desc()).limit(limit)).all())
    now = utcnow()
    return sorted(rows, key=lambda a: (is_shelved(a, now), PRIORITY_RANK[a.priority]))


def journal(session: Session, alarm_id: int) -> list[AlarmEvent]:
    return list(
        session.exec(
            select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id).order_by(col(AlarmEvent.id))
        ).all()
    )
