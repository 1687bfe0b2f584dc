"""Lots: the list (level 2, filtered as ``GET /api/v1/lots`` filters) and one lot (level 3): why it is
held, a band map of each layer, statistics and capability, intervals, genealogy both ways, signatures,
the report to download, and the signed hold, release and scrap sent to the API."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from mes.api.deps import DbSession
from mes.api.errors import http_status
from mes.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from mes.errors import InputError, MesError
from mes.events.log import newest_id
from mes.hmi.band_svg import band_map_svg
from mes.hmi.deps import PageCaller
from mes.hmi.templating import render
from mes.lots.band_map import lot_band_maps
from mes.lots.lot_queries import find_lots
from mes.lots.models import LotKind, LotStatus
from mes.quality.disposition import DEFAULT_MEANING, MEANINGS, interval_decisions, lot_decisions
from mes.quality.lot_capability import lot_capabilities
from mes.quality.lot_view import lot_record

router = APIRouter(include_in_schema=False)

E = TypeVar("E", bound=enum.Enum)
Texts = Annotated[list[str] | None, Query(max_length=32)]
Text = Annotated[str | None, Query(max_length=200)]


def _choices(values: list[str] | None, kind: type[E], what: str) -> list[E]:
    chosen = []
    for value in values or ():
        if not value:
            continue  # "any" in a select
        try:
            chosen.append(kind(value))
        except ValueError:
            known = ", ".join(str(k.value) for k in kind)
            raise InputError(f"{what} {value!r}: one of {known}") from None
    return chosen


def _plant_time(value: str | None, zone: str, what: str) -> datetime | None:
    """A time typed in the plant's zone (``datetime-local``: no offset), as UTC; one with an offset as is."""
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{what} {value!r}: not a date and time (YYYY-MM-DDTHH:MM)") from None
    return (at.replace(tzinfo=ZoneInfo(zone)) if at.tzinfo is None else at).astimezone(UTC)


@router.get("/lots", response_class=HTMLResponse)
def lots_page(
    request: Request,
    db: DbSession,
    caller: PageCaller,
    status: Texts = None,
    kind: Texts = None,
    recipe: Text = None,
    order: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """Lots newest first with the list's filters; "older" pages on with the API's cursor."""
    zone = request.app.state.settings.plant_time_zone
    chosen = {"status": [s for s in status or () if s], "kind": [k for k in kind or () if k],
              "recipe": recipe or "", "order": order or "", "since": since or "",
              "until": until or ""}  # fmt: skip
    items, older, problem, code = [], None, None, 200
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    newest = "/lots?" + urlencode(query) if cursor is not None else None
    try:
        found, ids = find_lots(
            db,
            statuses=_choices(status, LotStatus, "status"),
            kinds=_choices(kind, LotKind, "kind"),
            recipe=recipe or None,
            order=order or None,
            since=_plant_time(since, zone, "from"),
            until=_plant_time(until, zone, "before"),
            below_id=decode_cursor(cursor),
            limit=limit + 1,
        )
        items = found[:limit]
        if len(found) > limit:
            older = "/lots?" + urlencode([*query, ("cursor", encode_cursor(ids[limit - 1]))])
    except MesError as exc:
        problem, code = str(exc), http_status(exc)
    return render(request, "lots.html", caller, status_code=code, lots=items, chosen=chosen, older=older,
                  newest=newest, problem=problem, statuses=list(LotStatus), kinds=list(LotKind),
                  since=newest_id(db), current_area="lots",
                  level=[("Line", "/"), ("Lots", None)])  # fmt: skip


@router.get("/lots/{number}", response_class=HTMLResponse)
def lot_page(
    request: Request,
    db: DbSession,
    caller: PageCaller,
    number: Annotated[str, Path(min_length=1, max_length=64)],
) -> HTMLResponse:
    """One lot: its record (the API's ``GET /lots/{number}``: holds, layers, intervals, genealogy,
    signatures), each characteristic's capability and limits, and its band maps."""
    record = lot_record(db, number)
    capabilities = {(c.layer, c.characteristic): c for c in lot_capabilities(db, number)}
    held = record.status == LotStatus.ON_HOLD
    drawn = []
    for n, m in enumerate(lot_band_maps(db, number).maps):
        mine = [i for i in record.intervals if (i.layer, i.characteristic) == (m.layer, m.characteristic)]
        drawn.append((m, band_map_svg(m, mine, key=str(n), held=held)))
    return render(request, "lot.html", caller, lot=record, maps=drawn, capabilities=capabilities,
                  decisions=lot_decisions(record.status), interval_decisions=interval_decisions,
                  since=newest_id(db), current_area="lots",
                  meanings={d.value: " ".join(m.value for m in MEANINGS[d]) for d in MEANINGS},
                  default_meaning={d.value: m.value for d, m in DEFAULT_MEANING.items()},
                  level=[("Line", "/"), ("Lots", "/lots"), (record.lot, None)])  # fmt: skip
