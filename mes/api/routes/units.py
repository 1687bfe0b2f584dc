"""Equipment units: PackML state, current job, health and freshness; the line at a glance; a unit's
job history; give a unit back to scheduling."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from mes.api.deps import Caller, DbSession, Require
from mes.api.errors import problem_responses
from mes.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page
from mes.api.signing import Reason
from mes.auth.schemas import Principal
from mes.execution.line_view import LineView, UnitJob, line_view, unit_jobs
from mes.execution.service import ROLES_SET_HEALTHY, set_unit_healthy
from mes.execution.units import UnitStatus, unit_status, unit_status_page
from mes.vocabulary import EquipmentClass

router = APIRouter(tags=["units"])

# The line file's unit names are identifiers; anything else (a NUL, a space) is no unit name.
NamePath = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Unit name, as in the line file.")
]
Maintainer = Annotated[Principal, Depends(Require(*ROLES_SET_HEALTHY))]


@router.get("/units", response_model=Page[UnitStatus], responses=problem_responses(401, 422),
            summary="Units: PackML state, current job, health, last value")  # fmt: skip
def list_units(
    request: Request,
    response: Response,
    db: DbSession,
    _caller: Caller,
    healthy: Annotated[
        bool | None, Query(description="Only healthy (true) or unhealthy (false) units.")
    ] = None,
    equipment_class: Annotated[EquipmentClass | None, Query(description="Only units of this class.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[UnitStatus]:
    """Every unit the MES knows (any logged-in caller), newest first: the PackML state the collector
    last read and when, the step holding the unit (its job id), whether it is healthy (and why not),
    and when it last sent a value."""
    items, ids = unit_status_page(
        db, healthy=healthy, equipment_class=equipment_class, before=decode_cursor(cursor), limit=limit + 1
    )
    return page(items, ids, limit, request, response)


@router.get("/units/{name}", response_model=UnitStatus, responses=problem_responses(401, 404, 422),
            summary="One unit")  # fmt: skip
def get_unit(name: NamePath, db: DbSession, _caller: Caller) -> UnitStatus:
    """One unit (any logged-in caller). 404: the MES knows no unit of that name."""
    return unit_status(db, name)


@router.get("/units/{name}/jobs", response_model=Page[UnitJob], responses=problem_responses(401, 404, 422),
            summary="A unit's job history: its step runs, newest first")  # fmt: skip
def list_unit_jobs(
    request: Request,
    response: Response,
    name: NamePath,
    db: DbSession,
    _caller: Caller,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[UnitJob]:
    """The step runs the unit was given (any logged-in caller), newest first: job id, lot, work order,
    recipe, step, state and times. 404: no such unit."""
    items, ids = unit_jobs(db, name, before=decode_cursor(cursor), limit=limit + 1)
    return page(items, ids, limit, request, response)


@router.get("/line", response_model=LineView, responses=problem_responses(401),
            summary="The line at a glance: every unit with its step, progress and newest values")  # fmt: skip
def get_line(db: DbSession, _caller: Caller) -> LineView:
    """What the line overview shows (any logged-in caller): each unit's PackML state, link (the
    collector's heartbeat and the unit's last answer) and health, and the step holding it — lot,
    work order, recipe ID@VERSION, step n of m, metres made and ETA, and the newest stored scan of each
    gauge of its layer with the spec limits and the control limits in force."""
    return line_view(db)


@router.post(
    "/units/{name}:set-healthy",
    response_model=UnitStatus,
    responses=problem_responses(401, 403, 404, 422),
    summary="Give a unit back to scheduling",
)
def post_set_healthy(name: NamePath, body: Reason, db: DbSession, caller: Maintainer) -> UnitStatus:
    """Mark a unit healthy again after its fault was looked at (engineer), with what was checked; its
    out-of-service alarm clears and steps may be scheduled on it. Audited. 404: no such unit."""
    return set_unit_healthy(db, name, by=caller.name, reason=body.reason)
