"""Level 1, the line overview: a tile per unit (PackML state, its job, health, last values)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from mes.api.deps import DbSession
from mes.events.log import newest_id
from mes.execution.units import list_unit_status
from mes.hmi.deps import PageCaller
from mes.hmi.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def line_overview(request: Request, db: DbSession, caller: PageCaller) -> HTMLResponse:
    """Every unit at once (it fits one 1280×800 screen); live values follow by SSE from the event
    position the page was drawn at, so nothing between drawing and connecting is missed."""
    return render(request, "line.html", caller, units=list_unit_status(db), since=newest_id(db),
                  level=[("Line", None)])  # fmt: skip
