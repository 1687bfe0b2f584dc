"""The audit trail: its events, filtered, and a check of its hash chain.

Reading the trail is for the quality and admin roles: it holds every user's actions, refused
logins with the addresses they came from and the issue of API tokens, which the line has no need
to read. What a lot's record needs from it (holds, dispositions, signatures) comes with the lot.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from mes.api.deps import DbSession, Require
from mes.api.negotiation import CSV_RESPONSE, FormatQuery, Since, Until, csv_response, wants_csv
from mes.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, encode_cursor, page
from mes.audit.export import events_csv
from mes.audit.schemas import AuditEventPublic, ChainVerification
from mes.audit.service import chain_verification, list_events
from mes.auth.models import Role
from mes.auth.schemas import Principal

router = APIRouter(tags=["audit"])

ROLES_READ_AUDIT = (Role.QUALITY, Role.ADMIN)
Auditor = Annotated[Principal, Depends(Require(*ROLES_READ_AUDIT))]
MAX_CSV_ROWS = 10_000


class AuditFilters(BaseModel):
    """The filters the list and its CSV share."""

    actor: str | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filters(
    actor: Annotated[
        str | None, Query(max_length=64, description="Only events by this user (or system).")
    ] = None,
    action: Annotated[
        str | None,
        Query(max_length=64, description="`lot.hold`; a prefix ending in a dot (`lot.`) finds all."),
    ] = None,
    entity_type: Annotated[
        str | None, Query(max_length=64, description="`lot`, `recipe`, `alarm`, …")
    ] = None,
    entity_id: Annotated[
        str | None, Query(max_length=128, description="A lot number (with its intervals), ID@VERSION, …")
    ] = None,
    since: Since = None,
    until: Until = None,
) -> AuditFilters:
    return AuditFilters(actor=actor, action=action, entity_type=entity_type, entity_id=entity_id,
                        since=since, until=until)  # fmt: skip


Filters = Annotated[AuditFilters, Depends(_filters)]


def _find(db: DbSession, f: AuditFilters, cursor: str | None, limit: int) -> list[AuditEventPublic]:
    return list_events(db, entity=f.entity_id, entity_type=f.entity_type, actor=f.actor, action=f.action,
                       since=f.since, until=f.until, below_id=decode_cursor(cursor), limit=limit)  # fmt: skip


def _csv(request: Request, events: list[AuditEventPublic], limit: int) -> Response:
    answer = csv_response(events_csv(events[:limit]), "audit.csv")
    if len(events) > limit:
        url = request.url.include_query_params(cursor=encode_cursor(events[limit - 1].id), limit=limit)
        answer.headers["Link"] = f'<{url}>; rel="next"'
    return answer


@router.get(
    "/audit",
    response_model=Page[AuditEventPublic],
    responses=CSV_RESPONSE,
    summary="Audit events, newest first",
)
def list_audit(
    request: Request,
    response: Response,
    db: DbSession,
    _caller: Auditor,
    filters: Filters,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    fmt: FormatQuery = None,
) -> Page[AuditEventPublic] | Response:
    """Who did what to which entity, when and why, with the state before and after and each event's
    link in the hash chain; electronic signatures are ``e-signature`` events (printed name, meaning,
    content SHA-256). CSV (``?format=csv`` or ``Accept: text/csv``): the same page as rows, times ISO
    8601 UTC, ``before``/``after`` as JSON; ``/audit.csv`` takes up to 10000 rows at once. Quality and
    admin roles. 422: a malformed time or cursor."""
    events = _find(db, filters, cursor, limit + 1)
    if wants_csv(request, fmt):
        return _csv(request, events, limit)
    return page(events, [e.id for e in events], limit, request, response)


@router.get(
    "/audit.csv",
    response_class=Response,
    responses=CSV_RESPONSE,
    summary="Audit events as CSV, for a spreadsheet",
)
def list_audit_csv(
    request: Request,
    db: DbSession,
    _caller: Auditor,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=MAX_CSV_ROWS, description="Rows (1–10000).")] = 1_000,
    cursor: Cursor = None,
) -> Response:
    """The list with the same filters, one row per event under a header: id, time (ISO 8601 UTC),
    actor, action, entity, reason, before and after (JSON), hash. Newest first; when more rows follow,
    a ``Link: <…>; rel="next"`` header gives the next part. Quality and admin roles."""
    return _csv(request, _find(db, filters, cursor, limit + 1), limit)


@router.get("/audit/verify", response_model=ChainVerification, summary="Check the audit trail's hash chain")
def get_verify(db: DbSession, _caller: Auditor) -> ChainVerification:
    """Check every link from the first event: ``ok``, or the first event that breaks the chain and
    how (``mes audit verify``). A broken chain is an answer (200, ``ok`` false), not an error.
    Quality and admin roles."""
    return chain_verification(db)
