"""ISA-18.2 alarm states, shelving and the journal, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from mes.audit.models import AuditEvent
from mes.audit.service import verify_chain
from mes.auth.errors import AuthError
from mes.auth.models import Role
from mes.auth.service import create_user
from mes.base import utcnow
from mes.db import session_scope
from mes.quality import alarms
from mes.quality.errors import AlarmError
from mes.quality.models import Alarm, AlarmPriority, AlarmState


@pytest.fixture
def users(engine: Engine) -> Engine:
    with session_scope(engine) as session:
        create_user(session, "op", Role.OPERATOR, "operator-pw")
        create_user(session, "qa", Role.QUALITY, "quality-pw")
    return engine


def _raise(engine: Engine, condition: str = "sputter-1:arc") -> int:
    with session_scope(engine) as session:
        alarm = alarms.raise_alarm(session, condition, "arc burst", priority=AlarmPriority.HIGH)
        assert alarm.id is not None
        return alarm.id


def _state(engine: Engine, alarm_id: int) -> tuple[AlarmState, bool]:
    with session_scope(engine) as session:
        alarm = session.get(Alarm, alarm_id)
        assert alarm is not None
        return alarm.state, alarm.is_open


def _transitions(engine: Engine, alarm_id: int) -> list[tuple[str, str | None, str, str]]:
    with session_scope(engine) as session:
        return [
            (j.transition, j.from_state.value if j.from_state else None, j.to_state.value, j.actor)
            for j in alarms.journal(session, alarm_id)
        ]


def test_acknowledged_then_cleared_alarm_closes(users: Engine) -> None:
    first = _raise(users)
    assert _raise(users) == first  # the same live condition: no duplicate
    with session_scope(users) as session:
        alarms.acknowledge(session, first, by="op", comment="looking at the cathode")
    assert _state(users, first) == (AlarmState.ACTIVE_ACK, True)
    with session_scope(users) as session:
        alarm = alarms.open_alarm(session, "sputter-1:arc")
        assert alarm is not None
        alarms.clear_alarm(session, alarm)
    assert _state(users, first) == (AlarmState.NORMAL, False)
    assert _transitions(users, first) == [
        ("raise", None, "active_unack", "system"),
        ("acknowledge", "active_unack", "active_ack", "op"),
        ("clear", "active_ack", "normal", "system"),
    ]
    assert _raise(users) != first  # the condition came back: a new alarm


def test_cleared_unacknowledged_alarm_returns_and_needs_acknowledging(users: Engine) -> None:
    alarm_id = _raise(users)
    with session_scope(users) as session:
        assert alarms.clear_conditions(session, ["sputter-1:"]) == 1
    assert _state(users, alarm_id) == (AlarmState.CLEARED_UNACK, True)
    assert _raise(users) == alarm_id  # returns while still unacknowledged: the same alarm
    assert _state(users, alarm_id) == (AlarmState.ACTIVE_UNACK, True)
    with session_scope(users) as session:
        alarms.clear_conditions(session, ["sputter-1:"])
        alarms.acknowledge(session, alarm_id, by="qa")
    assert _state(users, alarm_id) == (AlarmState.NORMAL, False)
    assert [t[0] for t in _transitions(users, alarm_id)] == [
        "raise",
        "clear",
        "reraise",
        "clear",
        "acknowledge",
    ]
    with session_scope(users) as session, pytest.raises(AlarmError, match="nothing to acknowledge"):
        alarms.acknowledge(session, alarm_id, by="qa")


def test_clear_prefix_does_not_reach_other_characteristics(users: Engine) -> None:
    one = _raise(users, "char:1:oos")
    twelve = _raise(users, "char:12:oos")
    with session_scope(users) as session:
        alarms.clear_conditions(session, ["char:1:"])
    assert _state(users, one)[0] == AlarmState.CLEARED_UNACK
    assert _state(users, twelve)[0] == AlarmState.ACTIVE_UNACK


def test_acknowledge_needs_a_known_user_and_alarm(users: Engine) -> None:
    alarm_id = _raise(users)
    with session_scope(users) as session, pytest.raises(AuthError, match="no active user"):
        alarms.acknowledge(session, alarm_id, by="nobody")
    with session_scope(users) as session, pytest.raises(AlarmError, match="no alarm 999"):
        alarms.acknowledge(session, 999, by="op")


def test_shelving_hides_until_expiry_and_is_audited(users: Engine) -> None:
    loud = _raise(users, "winder-1:tension")
    other = _raise(users, "coater-1:gap")
    with session_scope(users) as session:
        alarms.shelve(session, loud, by="op", duration_s=600, reason="sensor replaced, recalibrating")
        listed = [a.id for a in alarms.list_alarms(session)]
        assert listed == [other, loud]  # shelved ones go last
        assert alarms.is_shelved(session.get(Alarm, loud))  # type: ignore[arg-type]
    with session_scope(users) as session:
        assert alarms.expire_shelving(session, utcnow() + timedelta(seconds=5)) == 0
        assert alarms.expire_shelving(session, utcnow() + timedelta(seconds=601)) == 1
    assert [t[0] for t in _transitions(users, loud)] == ["raise", "shelve", "shelve-expired"]
    with session_scope(users) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "alarm.shelve")).all()
        assert [(e.actor, e.reason) for e in events] == [("op", "sensor replaced, recalibrating")]
        assert verify_chain(session).ok


@pytest.mark.parametrize(
    ("duration_s", "reason", "match"),
    [
        (0, "why", "at least 1 and at most 480 minutes"),
        # Expected: a minute at least (0.001 minutes was taken: a shelve of 60 ms, audited).
        (0.06, "why", "at least 1 and at most 480 minutes, not 0.001 minutes"),
        (8 * 3600 + 1, "why", "at most"),
        # Expected: the duration as asked, in minutes (it said "not 36000 s" for --minutes 600).
        (600 * 60, "why", "at most 480 minutes, not 600 minutes"),
        (60, " ", "reason is required"),
    ],
)
def test_shelving_is_bounded_and_needs_a_reason(
    users: Engine, duration_s: float, reason: str, match: str
) -> None:
    alarm_id = _raise(users)
    with session_scope(users) as session, pytest.raises(AlarmError, match=match):
        alarms.shelve(session, alarm_id, by="op", duration_s=duration_s, reason=reason)


def test_closed_alarm_cannot_be_shelved_and_unshelve_needs_shelving(users: Engine) -> None:
    alarm_id = _raise(users)
    with session_scope(users) as session:
        alarms.acknowledge(session, alarm_id, by="op")
        alarms.clear_conditions(session, ["sputter-1:"])
    with session_scope(users) as session, pytest.raises(AlarmError, match="closed"):
        alarms.shelve(session, alarm_id, by="op", duration_s=60, reason="noise")
    with session_scope(users) as session, pytest.raises(AlarmError, match="not shelved"):
        alarms.unshelve(session, alarm_id, by="op")


def test_unshelve_returns_the_alarm(users: Engine) -> None:
    alarm_id = _raise(users)
    with session_scope(users) as session:
        alarms.shelve(session, alarm_id, by="op", duration_s=60, reason="noise")
    with session_scope(users) as session:
        alarms.unshelve(session, alarm_id, by="qa", comment="back")
        assert not alarms.is_shelved(alarms.get_alarm(session, alarm_id))
    assert _transitions(users, alarm_id)[-1] == ("unshelve", "active_unack", "active_unack", "qa")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_concurrent_raises_of_one_condition_make_one_alarm(users: Engine) -> None:
    """Two writers (collector and worker) raise at once: one inserts, the other finds its row."""
    barrier = threading.Barrier(2)
    ids: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with session_scope(users) as session:
                barrier.wait(5)
                alarm = alarms.raise_alarm(session, "coater-1:gap", "gap drift")
                assert alarm.id is not None
                ids.append(alarm.id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors, errors
    with session_scope(users) as session:
        rows = session.exec(select(Alarm).where(Alarm.condition == "coater-1:gap")).all()
    assert len(rows) == 1


def test_an_acknowledge_racing_a_clear_ends_closed(users: Engine) -> None:
    """The operator's screen shows the alarm active; the layer closes before the click lands."""
    alarm_id = _raise(users)
    with session_scope(users) as operator:
        seen = alarms.get_alarm(operator, alarm_id)
        assert seen.state == AlarmState.ACTIVE_UNACK  # read, not yet acknowledged
        with session_scope(users) as line:
            alarms.clear_conditions(line, ["sputter-1:"])
        acked = alarms.acknowledge(operator, alarm_id, by="op")
        assert (acked.state, acked.is_open) == (AlarmState.NORMAL, False)
    assert _state(users, alarm_id) == (AlarmState.NORMAL, False)
    assert [t[0] for t in _transitions(users, alarm_id)] == ["raise", "clear", "acknowledge"]
