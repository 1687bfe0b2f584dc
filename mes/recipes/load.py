"""Recipe files: YAML text → validated :class:`~mes.recipes.schema.Recipe`.

Every problem is reported as ``PATH:LINE:COL: field.path: message``, all of them
at once: a structural error does not hide the checks of the pieces that are
valid, and the checks that need the whole recipe say that they did not run (see
:mod:`mes.yamldoc` for what is refused outright).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_core import ErrorDetails

from mes.recipes.checks import WHOLE_RECIPE_CHECKS, part_issues, semantic_issues
from mes.recipes.schema import Recipe
from mes.vocabulary import EquipmentClass, setpoint_limits, with_unit
from mes.yamldoc import Issue, Loc, parse_document, validate_document

__all__ = ["LoadResult", "load_recipe_file", "load_recipe_text", "parse_document"]


def _setpoint_message(error: ErrorDetails, loc: Loc, data: Any) -> str | None:
    """Out-of-range setpoints are named against their equipment class's limits."""
    if error["type"] not in ("greater_than_equal", "less_than_equal") or "setpoints" not in loc:
        return None
    steps = data.get("steps") if isinstance(data, dict) else None
    step = steps[loc[1]] if isinstance(steps, list) and isinstance(loc[1], int) else None
    cls = step.get("equipment_class") if isinstance(step, dict) else None
    if cls not in set(EquipmentClass) or not isinstance(loc[-1], str):
        return None
    limits = setpoint_limits(EquipmentClass(cls), loc[-1])
    if limits is None:
        return None
    low, high, unit = limits
    value, bounds = with_unit(repr(error.get("input")), unit), with_unit(f"{low:g}–{high:g}", unit)
    return f"{value} is outside the {cls} class limits {bounds}"


@dataclass
class LoadResult:
    path: str
    recipe: Recipe | None
    issues: list[Issue]

    @property
    def ok(self) -> bool:
        return not self.issues


def load_recipe_text(text: str | bytes, path: str = "<recipe>") -> LoadResult:
    """Validate recipe ``text``; never raises for bad input, returns every issue found."""
    recipe, issues = validate_document(
        text,
        path,
        Recipe,
        semantic=semantic_issues,
        message_hook=_setpoint_message,
        parts=part_issues,
        whole_checks=WHOLE_RECIPE_CHECKS,
    )
    return LoadResult(path, recipe, issues)


def load_recipe_file(path: Path) -> LoadResult:
    """Read and validate one recipe file; unreadable files are an issue, not an exception."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return LoadResult(str(path), None, [Issue(str(path), 1, 1, "(file)", f"cannot read: {exc.strerror}")])
    return load_recipe_text(raw, str(path))
