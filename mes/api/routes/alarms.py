"""Alarms (ISA-18.2): the active list and the history, one alarm with its journal, acknowledge,
shelve, unshelve, and the list as CSV."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from mes.api.deps import Caller, DbSession, Require
from mes.api.negotiation import CSV_RESPONSE, Since, Until, csv_response
from mes.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, encode_cursor, page
from mes.api.signing import FreeText
from mes.auth.schemas import Principal
from mes.quality import alarms
from mes.quality.alarm_views import (
    acknowledge_alarm,
    alarm_detail,
    alarms_csv,
    find_alarms,
    shelve_alarm,
    unshelve_alarm,
)
from mes.quality.models import AlarmPriority, AlarmState
from mes.quality.schemas import AlarmDetail, AlarmPublic

router = APIRouter(tags=["alarms"])

MAX_CSV_ROWS = 10_000
ShelveRoles = Annotated[Principal, Depends(Require(*alarms.ROLES_SHELVE))]
AckRoles = Annotated[Principal, Depends(Require(*alarms.ROLES_ACKNOWLEDGE))]


class AlarmFilters(BaseModel):
    """The filters the list and its CSV share."""

    history: bool = False
    state: list[AlarmState] = []
    priority: list[AlarmPriority] = []
    condition: str | None = None
    lot: str | None = None
    unit: str | None = None
    acknowledged_by: str | None = None
    shelved: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filters(
    history: Annotated[
        bool, Query(description="Closed alarms too (the history); default: open ones.")
    ] = False,
    state: Annotated[list[AlarmState] | None, Query(description="Only alarms in these states.")] = None,
    priority: Annotated[list[AlarmPriority] | None, Query(description="Only these priorities.")] = None,
    condition: Annotated[
        str | None,
        Query(max_length=200, description="Only tags starting with this, e.g. `char:` or `step:7:`."),
    ] = None,
    lot: Annotated[str | None, Query(max_length=64, description="Only alarms about this lot.")] = None,
    unit: Annotated[
        str | None, Query(max_length=64, description="Only alarms of this equipment unit (its name).")
    ] = None,
    acknowledged_by: Annotated[
        str | None,
        Query(max_length=64, description="Only alarms this user acknowledged."),
    ] = None,
    shelved: Annotated[
        bool | None, Query(description="true: only alarms shelved now; false: only those not shelved.")
    ] = None,
    since: Since = None,
    until: Until = None,
) -> AlarmFilters:
    return AlarmFilters(history=history, state=state or [], priority=priority or [], condition=condition,
                        lot=lot, unit=unit, acknowledged_by=acknowledged_by, shelved=shelved, since=since,
                        until=until)  # fmt: skip


Filters = Annotated[AlarmFilters, Depends(_filters)]


def _find(db: DbSession, f: AlarmFilters, cursor: str | None, limit: int) -> list[AlarmPublic]:
    below = decode_cursor(cursor)
    return find_alarms(db, history=f.history, states=f.state, priorities=f.priority, condition=f.condition,
                       lot=f.lot, unit=f.unit, acknowledged_by=f.acknowledged_by, shelved=f.shelved,
                       since=f.since, until=f.until, below_id=below, limit=limit)  # fmt: skip


@router.get("/alarms", response_model=Page[AlarmPublic], summary="Alarms: the active list or the history")
def list_alarms(
    request: Request,
    response: Response,
    db: DbSession,
    _caller: Caller,
    filters: Filters,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[AlarmPublic]:
    """Open alarms newest first (``history=true``: closed ones too); ``since``/``until`` bound when
    they were raised; ``unit``, ``acknowledged_by`` and ``shelved`` narrow it further.
    ``shelved_until`` is set while an alarm is shelved. Any logged-in user.
    422: an unknown state or priority, a malformed time or cursor."""
    items = _find(db, filters, cursor, limit + 1)
    return page(items, [a.id for a in items], limit, request, response)


@router.get(
    "/alarms.csv",
    response_class=Response,
    responses=CSV_RESPONSE,
    summary="Alarms as CSV, for a spreadsheet",
)
def list_alarms_csv(
    request: Request,
    db: DbSession,
    _caller: Caller,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=MAX_CSV_ROWS, description="Rows (1–10000).")] = 1_000,
    cursor: Cursor = None,
) -> Response:
    """The list with the same filters, one row per alarm under a header (``mes alarm list --csv``):
    tag, priority, state, lot, unit, characteristic, position, times in ISO 8601 UTC, who
    acknowledged or shelved it, message. Newest first; when more rows follow, a ``Link: <…>;
    rel="next"`` header gives the next part. Any logged-in user."""
    items = _find(db, filters, cursor, limit + 1)
    answer = csv_response(alarms_csv(items[:limit]), "alarms.csv")
    if len(items) > limit:
        url = request.url.include_query_params(cursor=encode_cursor(items[limit - 1].id), limit=limit)
        answer.headers["Link"] = f'<{url}>; rel="next"'
    return answer


@router.get("/alarms/{alarm_id}", response_model=AlarmDetail, summary="One alarm with its journal")
def get_alarm(alarm_id: int, db: DbSession, _caller: Caller) -> AlarmDetail:
    """The alarm and every transition of it: who (a user, or ``system``), when, from and to which
    state, with the comment. Any logged-in user. 404: no such alarm."""
    return alarm_detail(db, alarm_id)


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: FreeText | None = Field(default=None, description="Kept in the alarm's journal.")


class ShelveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: float = Field(
        ge=alarms.MIN_SHELVE_S / 60,
        le=alarms.MAX_SHELVE_S / 60,
        allow_inf_nan=False,
        strict=True,
        description="How long (at least a minute, at most a shift: 480).",
    )
    reason: FreeText = Field(description="Why; kept in the journal and the audit trail.")


@router.post("/alarms/{alarm_id}:ack", response_model=AlarmDetail, summary="Acknowledge an alarm")
def post_ack(alarm_id: int, db: DbSession, caller: AckRoles, body: AckIn | None = None) -> AlarmDetail:
    """The operator has seen it: active → active acknowledged; cleared → normal (closed). Any
    logged-in user; the journal records who. 404: no such alarm; 409: nothing to acknowledge."""
    return acknowledge_alarm(db, alarm_id, by=caller.name, comment=body.comment if body else None)


@router.post("/alarms/{alarm_id}:shelve", response_model=AlarmDetail, summary="Shelve an alarm for a while")
def post_shelve(alarm_id: int, body: ShelveIn, db: DbSession, caller: ShelveRoles) -> AlarmDetail:
    """Take an open alarm off the active list for ``minutes`` (it comes back by itself), with a
    reason; audited, since it hides an alarm from operators. Every role may (operator, engineer,
    quality, admin). 404: no such alarm; 409: the alarm is closed; 422: no reason, minutes outside
    (0, 480]."""
    return shelve_alarm(db, alarm_id, by=caller.name, minutes=body.minutes, reason=body.reason)


@router.post("/alarms/{alarm_id}:unshelve", response_model=AlarmDetail, summary="Return a shelved alarm")
def post_unshelve(alarm_id: int, db: DbSession, caller: AckRoles, body: AckIn | None = None) -> AlarmDetail:
    """Return a shelved alarm to the active list now; audited. Any logged-in user. 404: no such
    alarm; 409: it is not shelved."""
    return unshelve_alarm(db, alarm_id, by=caller.name, comment=body.comment if body else None)
