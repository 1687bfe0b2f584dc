"""Level 1, the line overview (a tile per unit), and level 2, a unit: its job, trends of its gauges,
setpoints against actual values, and its job history.

Both pages draw :mod:`mes.execution.line_view`'s read models (``GET /api/v1/line`` answers the same);
live values follow by SSE from the event position the page was drawn at, so nothing between drawing
and connecting is missed. The trends read the stored scans from ``GET /api/v1/lots/{number}/scans``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from mes.api.deps import DbSession, settings_of
from mes.api.pagination import decode_cursor, encode_cursor
from mes.base import utcnow
from mes.events.log import newest_id
from mes.execution.line_view import line_view, unit_jobs, unit_view
from mes.hmi.deps import PageCaller
from mes.hmi.templating import decimals_for, render, templates

router = APIRouter(include_in_schema=False)

JOBS_PER_PAGE = 10
TREND_POINTS = 600  # a trend keeps this many points in the browser, live or paged back


def setpoint_places(value: float, unit: str) -> int:
    """Decimals to show a setpoint as it was sent: its unit's resolution, or more when the value has
    them (a sputter web speed of 0.135 m/min), at most 4."""
    text = f"{value:.4f}".rstrip("0")
    return max(decimals_for(unit, value), len(text.split(".")[1]) if "." in text else 0)


templates.env.globals["setpoint_places"] = setpoint_places
UnitName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


@router.get("/", response_class=HTMLResponse)
def line_overview(request: Request, db: DbSession, caller: PageCaller) -> HTMLResponse:
    """Every unit at once (it fits one 1280×800 screen for the demo's line)."""
    view = line_view(db)
    return render(request, "line.html", caller, line=view, now=view.at, since=newest_id(db),
                  current_area="line", level=[("Line", "/")])  # fmt: skip


@router.get("/units/{name}", response_class=HTMLResponse)
def unit_page(
    request: Request,
    name: UnitName,
    db: DbSession,
    caller: PageCaller,
    jobs: Annotated[str | None, Query(max_length=100, description="the job history's page")] = None,
) -> HTMLResponse:
    """One unit: its step (the current one, else its latest), trends, setpoints and job history."""
    detail = unit_view(db, name)
    items, ids = unit_jobs(db, name, before=decode_cursor(jobs), limit=JOBS_PER_PAGE + 1)
    older = encode_cursor(ids[JOBS_PER_PAGE - 1]) if len(items) > JOBS_PER_PAGE else None
    live_url, _ = settings_of(request).live_values
    return render(request, "unit.html", caller, unit=detail, jobs=items[:JOBS_PER_PAGE], older_jobs=older,
                  paged=jobs is not None, process_live=bool(live_url), trend_points=TREND_POINTS,
                  now=utcnow(), since=newest_id(db), current_area="line",
                  level=[("Line", "/"), (name, f"/units/{name}")])  # fmt: skip
