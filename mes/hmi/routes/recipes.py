"""Recipes: the stored versions with their lifecycle status, one version (steps, setpoints with their
units and allowed ranges, the claim rules it realises, who moved it through its lifecycle and when,
its signatures), two versions side by side, and the import page.

Every page reads through :mod:`mes.recipes.service` and :mod:`mes.recipes.queries`, as
``/api/v1/recipes`` does; import, approve, release (signed) and obsolete are sent by the browser to
``/api/v1/recipes`` itself, so the same roles, checks and audit apply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mes.api.deps import DbSession
from mes.api.errors import http_status
from mes.api.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor
from mes.errors import MesError
from mes.hmi.deps import PageCaller
from mes.hmi.templating import render
from mes.recipes import queries, service
from mes.recipes.models import RecipeStatus
from mes.recipes.schema import CharacteristicSpec, Recipe, Step, WinderStep
from mes.recipes.schemas import ImportOutcome, RecipeDetail
from mes.vocabulary import SETPOINT_MODELS, EquipmentClass, setpoint_limits, with_unit

router = APIRouter(include_in_schema=False)

LIST = "/recipes"
# How the recipe schema's units read on screen (the schema names them in ASCII).
UNIT_LABELS = {"nm": "nm", "um": "µm", "mm": "mm", "mg_cm2": "mg/cm²", "g_m2": "g/m²", "ohm_sq": "Ω/□",
               "pct": "%", "g_cc": "g/cm³"}  # fmt: skip
RecipeId = Annotated[str, Query(alias="id", pattern=r"^([a-z0-9][a-z0-9-]{0,62})?$", description="recipe ID")]
RefQuery = Annotated[str, Query(max_length=80, description="ID@VERSION, or ID for its newest version")]


def exact(value: float | int | None, unit: str = "") -> str:
    """A recipe's value as written (never rounded to a display resolution: it is what the unit is
    sent), with its unit; "—" for none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    text = f"{value:,}".replace(",", "\u202f")
    return with_unit(text, unit) if unit else text


@dataclass(frozen=True)
class SetpointRow:
    name: str
    value: str
    allowed: str
    what: str


@dataclass(frozen=True)
class CharacteristicRow:
    name: str
    unit: str
    target: str
    lsl: str
    usl: str
    gauge: str
    pitch: str
    lanes: int
    coverage: str
    max_gap_pitches: int


def setpoint_rows(step: Step) -> list[SetpointRow]:
    """Each setpoint of a step with its unit, the class's allowed range and what it sets."""
    equipment_class = EquipmentClass(step.equipment_class)
    fields = SETPOINT_MODELS[equipment_class].model_fields
    rows = []
    for name, value in step.setpoints.model_dump().items():
        limits = setpoint_limits(equipment_class, name)
        unit = limits[2] if limits else ""
        allowed = f"{exact(limits[0])} – {exact(limits[1], unit)}" if limits else "—"
        what = (fields[name].description or "") if name in fields else ""
        rows.append(SetpointRow(name, exact(value, unit), allowed, what))
    return rows


def characteristic_rows(specs: list[CharacteristicSpec]) -> list[CharacteristicRow]:
    rows = []
    for c in specs:
        unit = UNIT_LABELS.get(c.unit.value, c.unit.value)
        rows.append(CharacteristicRow(c.name.value, unit, exact(c.target, unit), exact(c.lsl, unit),
                                      exact(c.usl, unit), c.gauge, exact(c.pitch_m, "m"), c.lanes,
                                      exact(c.min_coverage_pct, "%"), c.max_gap_pitches))  # fmt: skip
    return rows


def _words(value: object) -> str:
    return str(getattr(value, "value", value)).replace("_", " ")


@router.get(LIST, response_class=HTMLResponse)
def recipe_list(
    request: Request,
    db: DbSession,
    caller: PageCaller,
    status: Annotated[RecipeStatus | Literal[""] | None, Query(description="only this status")] = None,
    recipe_id: RecipeId = "",
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    """Every stored version, newest first, in pages (the filters of ``GET /api/v1/recipes``)."""
    chosen = status or None
    items, ids = queries.recipe_page(db, status=chosen, name=recipe_id or None, before=decode_cursor(cursor),
                                     limit=DEFAULT_LIMIT + 1)  # fmt: skip
    more = len(items) > DEFAULT_LIMIT
    older = None
    if more:
        query = {"status": chosen.value if chosen else "", "id": recipe_id,
                 "cursor": encode_cursor(ids[DEFAULT_LIMIT - 1])}  # fmt: skip
        older = "?" + urlencode({k: v for k, v in query.items() if v})
    return render(request, "recipes.html", caller, recipes=items[:DEFAULT_LIMIT], older=older,
                  statuses=list(RecipeStatus), status=chosen, recipe_id=recipe_id, current_area="recipes",
                  level=[("Line", "/"), ("Recipes", None)])  # fmt: skip


def _draft_text(detail: RecipeDetail, version: int) -> str:
    """A version's content as a recipe document numbered ``version``: where a new version starts."""
    content = detail.content.model_dump(mode="json")
    content["version"] = version
    head = f"# {detail.name}@{version}, from {detail.ref} (sha256 {detail.content_hash})\n"
    return head + yaml.safe_dump(content, sort_keys=False, allow_unicode=True, width=110)


@router.get(LIST + "/import", response_class=HTMLResponse)
def import_page(
    request: Request,
    db: DbSession,
    caller: PageCaller,
    start_from: Annotated[str, Query(alias="from", max_length=80)] = "",
) -> HTMLResponse:
    """A recipe document pasted or read from a file, sent to ``POST /api/v1/recipes``; every located
    problem the API finds is listed with its line, column and field. ``from``: start from the
    content of a stored version (a draft keeps its version number; any other gets the next one)."""
    text, origin = "", None
    if start_from:
        origin = service.recipe_detail(db, start_from)
        newest = queries.recipe_page(db, name=origin.name, limit=1)[0][0]
        version = origin.version if origin.status == RecipeStatus.DRAFT else newest.version + 1
        text = _draft_text(origin, version)
    return render(request, "recipe_import.html", caller, text=text, origin=origin, current_area="recipes",
                  level=[("Line", "/"), ("Recipes", LIST), ("Import", None)])  # fmt: skip


@dataclass(frozen=True)
class DiffLine:
    path: str
    a: str
    b: str
    change: Literal["changed", "added", "removed", ""]


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | int):
        return exact(value)
    if value == []:
        return "(none)"
    return str(value) if value != "" else "(empty)"


def _side_by_side(a: Recipe, b: Recipe, changed: set[str]) -> list[DiffLine]:
    """Every field of both versions in the document's order (a field only one has stands where it
    stands in it), each marked with how it changed from ``a`` to ``b``."""
    flat_a, flat_b = queries.flat_fields(a), queries.flat_fields(b)
    order = list(flat_a)
    at = 0
    for path in flat_b:
        if path in flat_a:
            at = order.index(path) + 1
        else:
            order.insert(at, path)
            at += 1
    lines = []
    for path in order:
        change: Literal["changed", "added", "removed", ""] = ""
        if path in changed:
            change = "added" if path not in flat_a else "removed" if path not in flat_b else "changed"
        lines.append(DiffLine(path, _shown(flat_a.get(path)), _shown(flat_b.get(path)), change))
    return lines


@router.get(LIST + "/diff", response_class=HTMLResponse)
def diff_page(
    request: Request,
    db: DbSession,
    caller: PageCaller,
    a: RefQuery = "",
    b: RefQuery = "",
    show: Literal["all", "changes"] = "all",
) -> HTMLResponse:
    """Two versions side by side: what ``GET /api/v1/recipes/{b}/diff?against={a}`` reports, marked
    on every field of both (``show=changes``: the changed fields only)."""
    context: dict[str, Any] = {"a": a, "b": b, "show": show, "diff": None, "problem": None,
                               "refs": [r.ref for r in queries.recipe_page(db, limit=500)[0]]}  # fmt: skip
    status_code = 200
    if a and b:
        try:
            diff = service.diff_versions(db, b, a)
            left, right = service.recipe_detail(db, a), service.recipe_detail(db, b)
        except MesError as exc:
            context["problem"], status_code = str(exc), http_status(exc)
        else:
            lines = _side_by_side(left.content, right.content, {c.path for c in diff.changes})
            context.update(diff=diff, left=left, right=right,
                           lines=[x for x in lines if x.change or show == "all"])  # fmt: skip
    return render(request, "recipe_diff.html", caller, status_code=status_code, current_area="recipes",
                  level=[("Line", "/"), ("Recipes", LIST), ("Compare", None)], **context)  # fmt: skip


@router.get(LIST + "/{ref}", response_class=HTMLResponse)
def recipe_page(
    request: Request,
    db: DbSession,
    caller: PageCaller,
    ref: str,
    imported: Annotated[ImportOutcome | None, Query()] = None,
) -> HTMLResponse:
    """One version: what it makes, its steps and their setpoints, the claim rules it realises, its
    lifecycle and signatures, the other versions of the recipe, and the commands the caller's role
    may send in its status."""
    detail = service.recipe_detail(db, ref)
    versions = queries.recipe_page(db, name=detail.name, limit=100)[0]
    steps = [
        {"step": step, "setpoints": setpoint_rows(step),
         "characteristics": characteristic_rows(step.inspection if isinstance(step, WinderStep)
                                                else step.layer.characteristics)}
        for step in detail.content.steps
    ]  # fmt: skip
    return render(request, "recipe.html", caller, r=detail, claims=service.recipe_claims(db, detail.ref),
                  steps=steps, versions=versions, imported=imported, words=_words, exact=exact,
                  units=UNIT_LABELS, current_area="recipes",
                  level=[("Line", "/"), ("Recipes", LIST), (detail.ref, None)])  # fmt: skip
