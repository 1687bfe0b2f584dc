"""The audit journal (level 4, diagnostics): who did what to which entity, when and why, filtered as
``GET /api/v1/audit`` is, paged, with its CSV from the API. Quality and admin read it, as in the API;
anyone else gets a 403 page (the same refusal the API gives)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import JsonValue

from mes.api.deps import DbSession
from mes.api.errors import RoleRefused
from mes.api.pagination import Cursor, decode_cursor, encode_cursor
from mes.api.routes.audit import MAX_CSV_ROWS, ROLES_READ_AUDIT
from mes.audit.schemas import AuditEventPublic
from mes.audit.service import list_events
from mes.hmi.deps import PageCaller, api_permissions
from mes.hmi.plant_time import PlantTimeInvalid, plant_to_utc, utc_query
from mes.hmi.templating import render

router = APIRouter(include_in_schema=False)

AUDIT_PAGE = 50
# Suggestions for the filter fields (any value may be typed): the kinds of entity the MES records and
# the action prefixes (a prefix ending in a dot finds every action of its kind).
ENTITY_TYPES = ("lot", "oos_interval", "work_order", "step_run", "recipe", "alarm", "control_limit",
                "equipment_unit", "user", "api_token")  # fmt: skip
ACTION_KINDS = ("lot.", "order.", "step.", "recipe.", "alarm.", "spc.", "unit.", "token.", "user.",
                "login", "login.refused", "logout", "e-signature")  # fmt: skip
# Where an entity is shown (a lot's interval is ``LOT#ID``: its lot).
ENTITY_PAGES = {"lot": "/lots/{}", "oos_interval": "/lots/{}", "work_order": "/orders/{}",
                "recipe": "/recipes/{}", "alarm": "/alarms/{}"}  # fmt: skip
Text = Annotated[str | None, Query(max_length=64)]


def entity_url(event: AuditEventPublic) -> str | None:
    page = ENTITY_PAGES.get(event.entity_type)
    return page.format(event.entity_id.split("#", 1)[0]) if page else None


def _shown(value: JsonValue) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


def changes(event: AuditEventPublic) -> list[tuple[str, str | None, str | None]]:
    """What the event recorded, key by key: (key, before, after); None where a side does not have it."""
    before, after = event.before or {}, event.after or {}
    keys = list(before) + [k for k in after if k not in before]

    def side(values: dict[str, JsonValue], key: str) -> str | None:
        return _shown(values[key]) if key in values else None

    return [(k, side(before, k), side(after, k)) for k in keys]


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    db: DbSession,
    caller: PageCaller,
    actor: Text = None,
    action: Text = None,
    entity_type: Text = None,
    entity_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    cursor: Cursor = None,
) -> HTMLResponse:
    """The trail newest first, filtered by who, action (or its kind, ``lot.``), entity and time
    (typed in plant time); paged; the CSV link asks the API for the same events."""
    if not api_permissions().allows(caller.role, "GET", "/audit"):
        needed = " or ".join(sorted(r.value for r in ROLES_READ_AUDIT))
        raise RoleRefused(f"{caller.name} ({caller.role.value}) may not read the audit journal: it needs the "
                          f"{needed} role")  # fmt: skip
    zone = request.app.state.settings.plant_time_zone
    start = plant_to_utc(since, zone, "since")
    end = plant_to_utc(until, zone, "until", upper=True)
    problems = [t for t in (start, end) if isinstance(t, PlantTimeInvalid)]
    filters: dict[str, Any] = {"actor": actor or None, "action": action or None,
                               "entity_type": entity_type or None,
                               "entity_id": entity_id or None}  # fmt: skip
    events: list[AuditEventPublic] = []
    if not isinstance(start, PlantTimeInvalid) and not isinstance(end, PlantTimeInvalid):
        events = list_events(db, entity=filters["entity_id"], entity_type=filters["entity_type"],
                             actor=filters["actor"], action=filters["action"], since=start, until=end,
                             below_id=decode_cursor(cursor), limit=AUDIT_PAGE + 1)  # fmt: skip
    older = encode_cursor(events[AUDIT_PAGE - 1].id) if len(events) > AUDIT_PAGE else None
    typed = {"since": since or "", "until": until or "", **{k: v or "" for k, v in filters.items()}}
    query = [(k, v) for k, v in typed.items() if v]
    api_query = [(k, v) for k, v in filters.items() if v]
    for name, at in (("since", start), ("until", end)):
        if isinstance(at, datetime):
            api_query.append((name, utc_query(at) or ""))
    shown = events[:AUDIT_PAGE]
    return render(request, "audit.html", caller, events=shown, changes={e.id: changes(e) for e in shown},
                  links={e.id: entity_url(e) for e in shown}, typed=typed, problems=problems,
                  entity_types=ENTITY_TYPES, action_kinds=ACTION_KINDS,
                  utc_bounds={"since": start if isinstance(start, datetime) else None,
                              "until": end if isinstance(end, datetime) else None},
                  older_url=f"/audit?{urlencode([*query, ('cursor', older)])}" if older else None,
                  newest_url=f"/audit?{urlencode(query)}" if cursor else None,
                  csv_url=f"/api/v1/audit.csv?{urlencode([*api_query, ('limit', str(MAX_CSV_ROWS))])}",
                  current_area="audit", level=[("Line", "/"), ("Audit journal", None)])  # fmt: skip
