"""Append events to the audit trail and verify its hash chain.

Each event's hash is SHA-256 over the previous event's hash and the canonical
JSON of the event itself. ``prev_hash`` is unique, so two writers that raced for
the same chain head cannot fork the chain: the second one fails its insert and
its transaction rolls back (on PostgreSQL a transaction-level advisory lock makes
them queue instead).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, or_, select

from mes.audit.errors import AuditQueryInvalid
from mes.audit.models import AuditEvent
from mes.audit.schemas import AuditEventPublic, ChainVerification
from mes.base import utcnow

GENESIS_HASH = "0" * 64
_CHAIN_LOCK_KEY = 0x4D45_5341  # "MESA": any constant shared by every writer


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(prev_hash: str, event: AuditEvent) -> str:
    """The hash an event must carry, given the hash of the event before it."""
    body = {
        "occurred_at": event.occurred_at.isoformat(timespec="microseconds"),
        "actor": event.actor,
        "action": event.action,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "before": event.before,
        "after": event.after,
        "reason": event.reason,
    }
    return hashlib.sha256((prev_hash + _canonical(body)).encode("utf-8")).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (flushed, not committed)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})
    last = session.exec(select(AuditEvent.hash).order_by(col(AuditEvent.id).desc()).limit(1)).first()
    prev_hash = last or GENESIS_HASH
    event = AuditEvent(
        occurred_at=occurred_at or utcnow(),
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=json.loads(_canonical(before)) if before is not None else None,
        after=json.loads(_canonical(after)) if after is not None else None,
        reason=reason,
        prev_hash=prev_hash,
        hash="",
    )
    event.hash = event_hash(prev_hash, event)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    events: int
    first_broken_id: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None


def verify_chain(session: Session, batch_size: int = 5_000) -> ChainReport:
    """Walk the whole trail in id order and report the first event whose link is broken."""
    prev_hash = GENESIS_HASH
    count = 0
    last_id = 0
    while True:
        batch = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.id) > last_id)
            .order_by(col(AuditEvent.id))
            .limit(batch_size)
        ).all()
        if not batch:
            return ChainReport(events=count)
        for event in batch:
            count += 1
            assert event.id is not None  # noqa: S101 - rows read back from the table have ids
            last_id = event.id
            if event.prev_hash != prev_hash:
                return ChainReport(count, event.id, "its prev_hash does not match the event before it")
            if event.hash != event_hash(prev_hash, event):
                return ChainReport(count, event.id, "its content does not match its hash")
            prev_hash = event.hash


def event_public(event: AuditEvent) -> AuditEventPublic:
    return AuditEventPublic(
        id=event.id or 0,
        occurred_at=event.occurred_at,
        actor=event.actor,
        action=event.action,
        entity_type=event.entity_type,
        entity_id=event.entity_id,
        before=event.before,
        after=event.after,
        reason=event.reason,
        hash=event.hash,
    )


def list_events(
    session: Session,
    *,
    entity: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    action: str | None = None,
    entity_type: str | None = None,
    below_id: int | None = None,
    limit: int = 200,
) -> list[AuditEventPublic]:
    """Events newest first: about ``entity`` (its id; a lot's number also finds its intervals,
    ``LOT#ID``) of ``entity_type``, by ``actor``, of ``action`` (``lot.hold``; a prefix ending in a
    dot, ``lot.``, finds every action of its kind), at or after ``since`` and before ``until``
    (UTC), with an id below ``below_id``."""
    query = select(AuditEvent)
    if entity is not None:
        query = query.where(
            or_(
                col(AuditEvent.entity_id) == entity,
                col(AuditEvent.entity_id).startswith(f"{entity}#", autoescape=True),
            )
        )
    if entity_type is not None:
        query = query.where(AuditEvent.entity_type == entity_type)
    if action is not None:
        query = query.where(
            col(AuditEvent.action).startswith(action, autoescape=True)
            if action.endswith(".")
            else col(AuditEvent.action) == action
        )
    if actor is not None:  # names are recorded in their normal form (NFC, trimmed): so is the filter
        query = query.where(AuditEvent.actor == unicodedata.normalize("NFC", actor).strip())
    if since is not None:
        query = query.where(col(AuditEvent.occurred_at) >= since)
    if until is not None:
        query = query.where(col(AuditEvent.occurred_at) < until)
    if below_id is not None:
        query = query.where(col(AuditEvent.id) < below_id)
    rows = session.exec(query.order_by(col(AuditEvent.id).desc()).limit(limit)).all()
    return [event_public(e) for e in rows]


def chain_verification(session: Session) -> ChainVerification:
    """:func:`verify_chain` as a read model: a broken chain is an answer (``ok`` false), not an error."""
    report = verify_chain(session)
    return ChainVerification(
        ok=report.ok,
        events=report.events,
        first_broken_id=report.first_broken_id,
        problem=report.problem or None,
    )


_AGO = re.compile(r"^(?P<n>[0-9]{1,6})(?P<unit>[mhd])$")
_AGO_UNIT = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A time from ``2026-04-13``, ``2026-04-13T06:00`` (UTC unless it names its offset) or an age
    before ``now``: ``30m``, ``8h``, ``7d``."""
    value = text.strip()
    ago = _AGO.match(value)
    if ago is not None:
        return (now or utcnow()) - timedelta(**{_AGO_UNIT[ago["unit"]]: int(ago["n"])})
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AuditQueryInvalid(
            f"--since {text!r}: give an ISO 8601 date or time (2026-04-13, 2026-04-13T06:00Z) "
            "or an age (30m, 8h, 7d)"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
