"""Alarms (ISA-18.2) for the operator: the active list most urgent first, the shelved ones, one alarm
with its journal, and the history searched by time (plant time on the page, UTC to the services),
unit, priority and who acknowledged, with its CSV from the API under the same filters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from mes.api.deps import DbSession
from mes.api.pagination import Cursor, decode_cursor, encode_cursor
from mes.api.routes.alarms import MAX_CSV_ROWS
from mes.base import MAX_ROW_ID
from mes.events.log import newest_id
from mes.execution.units import list_unit_status
from mes.hmi.deps import PageCaller
from mes.hmi.plant_time import PlantTimeInvalid, plant_to_utc, utc_query
from mes.hmi.templating import render
from mes.quality.alarm_views import active_alarms, alarm_detail, alarm_summary, find_alarms
from mes.quality.alarms import MAX_SHELVE_S
from mes.quality.models import AlarmPriority

router = APIRouter(include_in_schema=False)

HISTORY_PAGE = 50
# Most urgent first, as the banner and the list show them.
PRIORITIES = (AlarmPriority.URGENT, AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW)
# What the shelve form offers (minutes); the API takes any up to a shift.
SHELVE_MINUTES = (15, 30, 60, 120, 240, 480)
Priorities = Annotated[list[AlarmPriority] | None, Query(description="Only these priorities.")]
Text = Annotated[str | None, Query(max_length=64)]
TypedTime = Annotated[str | None, Query(max_length=40)]


def _ordered(chosen: list[AlarmPriority] | None) -> list[AlarmPriority]:
    return [p for p in PRIORITIES if chosen and p in chosen]


@router.get("/alarms", response_class=HTMLResponse)
def alarms_page(
    request: Request,
    db: DbSession,
    caller: PageCaller,
    priority: Priorities = None,
    shelved: bool = False,
    unit: Text = None,
) -> HTMLResponse:
    """The active list (``shelved=true``: the shelved alarms instead), most urgent first; the banner's
    counts link here with ``?priority=`` and ``?shelved=true``. Redrawn on every alarm event."""
    chosen = _ordered(priority)
    alarms = active_alarms(db, priorities=chosen, unit=unit or None, shelved=shelved)
    return render(request, "alarms.html", caller, alarms=alarms, summary=alarm_summary(db), chosen=chosen,
                  shelved=shelved, unit=unit or None, priorities=PRIORITIES, shelve_minutes=SHELVE_MINUTES,
                  max_shelve_min=MAX_SHELVE_S // 60, since=newest_id(db), current_area="alarms",
                  level=[("Line", "/"), ("Alarms", None)])  # fmt: skip


@router.get("/alarms/history", response_class=HTMLResponse)
def alarm_history_page(
    request: Request,
    db: DbSession,
    caller: PageCaller,
    since: TypedTime = None,
    until: TypedTime = None,
    unit: Text = None,
    priority: Priorities = None,
    acknowledged_by: Text = None,
    lot: Text = None,
    cursor: Cursor = None,
) -> HTMLResponse:
    """Every alarm, open or closed, newest first, searched by when it was raised (typed in plant
    time), unit, priority, lot and who acknowledged it; paged; the CSV link asks the API for the same
    rows."""
    zone = request.app.state.settings.plant_time_zone
    start = plant_to_utc(since, zone, "since")
    end = plant_to_utc(until, zone, "until", upper=True)
    problems = [t for t in (start, end) if isinstance(t, PlantTimeInvalid)]
    chosen = _ordered(priority)
    filters: dict[str, Any] = {"unit": unit or None, "acknowledged_by": acknowledged_by or None,
                               "lot": lot or None}  # fmt: skip
    rows = []
    if not problems:
        assert not isinstance(start, PlantTimeInvalid) and not isinstance(end, PlantTimeInvalid)  # noqa: S101
        rows = find_alarms(db, history=True, priorities=chosen, since=start, until=end,
                           below_id=decode_cursor(cursor), limit=HISTORY_PAGE + 1, **filters)  # fmt: skip
    older = encode_cursor(rows[HISTORY_PAGE - 1].id) if len(rows) > HISTORY_PAGE else None
    typed = {"since": since or "", "until": until or "", **{k: v or "" for k, v in filters.items()}}
    query = [(k, v) for k, v in typed.items() if v] + [("priority", p.value) for p in chosen]
    api_query: list[tuple[str, str]] = [("history", "true")]
    api_query += [(k, v) for k, v in filters.items() if v] + [("priority", p.value) for p in chosen]
    for name, at in (("since", start), ("until", end)):
        if isinstance(at, datetime):
            api_query.append((name, utc_query(at) or ""))
    return render(request, "alarm_history.html", caller, alarms=rows[:HISTORY_PAGE], typed=typed,
                  chosen=chosen, priorities=PRIORITIES, problems=problems, cursor=cursor,
                  units=[u.name for u in list_unit_status(db)],
                  older_url=f"/alarms/history?{urlencode([*query, ('cursor', older)])}" if older else None,
                  newest_url=f"/alarms/history?{urlencode(query)}" if cursor else None,
                  csv_url=f"/api/v1/alarms.csv?{urlencode([*api_query, ('limit', str(MAX_CSV_ROWS))])}",
                  utc_bounds={"since": start if isinstance(start, datetime) else None,
                              "until": end if isinstance(end, datetime) else None},
                  current_area="alarms",
                  level=[("Line", "/"), ("Alarms", "/alarms"), ("History", None)])  # fmt: skip


@router.get("/alarms/{alarm_id}", response_class=HTMLResponse)
def alarm_page(
    request: Request, db: DbSession, caller: PageCaller, alarm_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
) -> HTMLResponse:
    """One alarm with its journal: every transition, who made it (a user, or ``system``) and the comment."""
    alarm = alarm_detail(db, alarm_id)
    return render(request, "alarm.html", caller, alarm=alarm, shelve_minutes=SHELVE_MINUTES,
                  max_shelve_min=MAX_SHELVE_S // 60, since=newest_id(db), current_area="alarms",
                  level=[("Line", "/"), ("Alarms", "/alarms"), (f"Alarm {alarm.id}", None)])  # fmt: skip
