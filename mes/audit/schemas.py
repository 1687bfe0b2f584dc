"""Read models of the audit trail."""

from __future__ import annotations

from datetime import datetime

from pydantic import JsonValue

from mes.base import ReadModel


class AuditEventPublic(ReadModel):
    """One event of the trail: who did what to which entity, when, why, and the state before and after.

    ``before`` and ``after`` are what the action recorded (free-form JSON objects, as stored and
    hashed); ``hash`` is the event's link in the chain (``mes audit verify``).
    """

    id: int
    occurred_at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, JsonValue] | None
    after: dict[str, JsonValue] | None
    reason: str
    hash: str


class ChainVerification(ReadModel):
    """The hash chain checked link by link from the first event: ``ok``, or the first event whose
    link is broken (``first_broken_id``) and how (``problem``). ``events`` counts those checked."""

    ok: bool
    events: int
    first_broken_id: int | None
    problem: str | None
