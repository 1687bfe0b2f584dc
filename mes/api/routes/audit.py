"""The audit trail: its events, filtered, and a check of its hash chain.

Reading the trail is for the quality and admin roles: it holds every user's actions, refused
logins with the addresses they came from and the issue of API tokens, which the line has no need
to read. What a lot's record needs from it (holds, dispositions, signatures) comes with the lot.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from mes.api.deps import DbSession, Require
from mes.api.negotiation import Since, Until
from mes.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page
from mes.audit.schemas import AuditEventPublic, ChainVerification
from mes.audit.service import chain_verification, list_events
from mes.auth.models import Role
from mes.auth.schemas import Principal

router = APIRouter(tags=["audit"])

ROLES_READ_AUDIT = (Role.QUALITY, Role.ADMIN)
Auditor = Annotated[Principal, Depends(Require(*ROLES_READ_AUDIT))]


@router.get("/audit", response_model=Page[AuditEventPublic], summary="Audit events, newest first")
def list_audit(
    request: Request,
    response: Response,
    db: DbSession,
    _caller: Auditor,
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
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[AuditEventPublic]:
    """Who did what to which entity, when and why, with the state before and after and each event's
    link in the hash chain; electronic signatures are ``e-signature`` events (printed name, meaning,
    content SHA-256). Quality and admin roles. 422: a malformed time or cursor."""
    below = decode_cursor(cursor)
    events = list_events(db, entity=entity_id, entity_type=entity_type, actor=actor, action=action,
                         since=since, until=until, below_id=below, limit=limit + 1)  # fmt: skip
    return page(events, [e.id for e in events], limit, request, response)


@router.get("/audit/verify", response_model=ChainVerification, summary="Check the audit trail's hash chain")
def get_verify(db: DbSession, _caller: Auditor) -> ChainVerification:
    """Check every link from the first event: ``ok``, or the first event that breaks the chain and
    how (``mes audit verify``). A broken chain is an answer (200, ``ok`` false), not an error.
    Quality and admin roles."""
    return chain_verification(db)
