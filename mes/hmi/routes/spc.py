"""SPC (level 3): the control chart of a characteristic, per lot or over the last lots of a recipe on a
unit, with the limits in force and the rule violations marked (``GET /api/v1/spc/chart``'s answer
drawn with uPlot); with nothing asked, the limits in force, each a link to its chart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mes.api.deps import DbSession
from mes.api.errors import http_status
from mes.errors import MesError
from mes.events.log import newest_id
from mes.hmi.deps import PageCaller
from mes.hmi.templating import render
from mes.quality.limits import list_limits
from mes.quality.schemas import SpcChartPublic
from mes.quality.spc_view import DEFAULT_LOTS, MAX_LOTS, lot_chart, recipe_chart

router = APIRouter(include_in_schema=False)
Text = Annotated[str | None, Query(max_length=200)]


@router.get("/spc", response_class=HTMLResponse)
def spc_page(
    request: Request,
    db: DbSession,
    caller: PageCaller,
    characteristic: Text = None,
    lot: Annotated[str | None, Query(max_length=64)] = None,
    recipe: Text = None,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    lots: Annotated[int, Query(ge=1, le=MAX_LOTS)] = DEFAULT_LOTS,
) -> HTMLResponse:
    """The chart asked for (``lot`` + ``characteristic``, or ``recipe`` + ``unit`` + ``characteristic``
    + ``lots``); a question the chart cannot answer is said above the form, with the API's status."""
    chart: SpcChartPublic | None = None
    problem, code = None, 200
    asked = {"characteristic": characteristic or "", "lot": lot or "", "recipe": recipe or "",
             "unit": unit or "", "lots": lots}  # fmt: skip
    try:
        if lot and characteristic:
            chart = lot_chart(db, lot, characteristic)
        elif recipe and unit and characteristic:
            chart = recipe_chart(db, recipe, unit, characteristic, lots)
        elif lot or recipe or unit or characteristic:
            problem, code = "give a lot and a characteristic, or a recipe, a unit and a characteristic", 422
    except MesError as exc:
        problem, code = str(exc), http_status(exc)
    level = [("Line", "/"), ("SPC", "/spc" if chart else None)]
    if chart is not None:
        level.append((f"{chart.layer}.{chart.characteristic}" + (f" of {lot}" if lot else ""), None))
    return render(request, "spc.html", caller, status_code=code, chart=chart, asked=asked, problem=problem,
                  limits=list_limits(db), max_lots=MAX_LOTS, since=newest_id(db), current_area="spc",
                  level=level)  # fmt: skip
