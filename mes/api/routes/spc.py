"""Statistical process control: the limits the line checks against, and the control chart of a
characteristic as the line judged it (per lot, or over the last lots of a recipe on a unit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mes.api.deps import Caller, DbSession
from mes.api.errors import problem_responses
from mes.quality.errors import SpcInvalid
from mes.quality.limits import list_limits
from mes.quality.schemas import ControlLimitPublic, SpcChartPublic
from mes.quality.spc_view import DEFAULT_LOTS, MAX_LOTS, lot_chart, recipe_chart

router = APIRouter(tags=["spc"])


@router.get("/spc/limits", response_model=list[ControlLimitPublic], responses=problem_responses(401),
            summary="The control limits in force")  # fmt: skip
def get_limits(db: DbSession, _caller: Caller) -> list[ControlLimitPublic]:
    """The active control limits (``mes spc limits``), by recipe, unit and layer: what the line checks
    each segment mean of a characteristic against. Any logged-in user."""
    return list_limits(db)


@router.get("/spc/chart", response_model=SpcChartPublic, responses=problem_responses(401, 404, 422),
            summary="The control chart of a characteristic")  # fmt: skip
def get_chart(
    db: DbSession,
    _caller: Caller,
    characteristic: Annotated[
        str,
        Query(
            min_length=1, max_length=200, description="LAYER.CHARACTERISTIC (with lot: or the name alone)."
        ),
    ],
    lot: Annotated[str | None, Query(min_length=1, max_length=64, description="One lot's chart.")] = None,
    recipe: Annotated[
        str | None, Query(max_length=200, description="ID@VERSION: the last lots made with it (with unit).")
    ] = None,
    unit: Annotated[
        str | None, Query(max_length=64, description="The equipment unit that made the layer (with recipe).")
    ] = None,
    lots: Annotated[
        int, Query(ge=1, le=MAX_LOTS, description=f"How many lots (1–{MAX_LOTS}).")
    ] = DEFAULT_LOTS,
) -> SpcChartPublic:
    """Segment means of a characteristic, lot after lot, each lot judged against the control limits
    in force when its layer was made (``lots[].limits``; none: spec limits only) with their run rules;
    ``violations`` are the rules that fired, where. Give ``lot``, or ``recipe`` and ``unit`` (the last
    ``lots`` lots made with that recipe version whose layer was made on that unit, oldest first).
    Any logged-in user. 404: no such lot, unit or characteristic; 422: neither or both ways asked."""
    if lot is not None:
        if recipe is not None or unit is not None:
            raise SpcInvalid("give lot, or recipe and unit: not both")
        return lot_chart(db, lot, characteristic)
    if recipe is None or unit is None:
        raise SpcInvalid("give lot, or recipe and unit")
    return recipe_chart(db, recipe, unit, characteristic, lots)
