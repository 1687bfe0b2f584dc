"""Recipe-layer errors and the issue record every recipe problem is reported as."""

from __future__ import annotations

from mes.errors import InputError, MesError, NotFound
from mes.yamldoc import Issue, Loc, field_path

__all__ = [
    "FormulaError",
    "Issue",
    "LifecycleError",
    "Loc",
    "RecipeError",
    "RecipeInvalid",
    "RecipeNotFound",
    "RecipeRefInvalid",
    "ReasonMissing",
    "field_path",
]


class RecipeError(MesError):
    """Base of the recipe layer's errors."""


class RecipeInvalid(RecipeError):
    """A recipe file has problems; ``issues`` lists every one of them."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class RecipeNotFound(RecipeError, NotFound):
    """No recipe (version) by that name in the database."""


class FormulaError(ValueError):
    """A formula that is not a plain empirical formula of known elements.

    A ValueError, not a :class:`RecipeError`: it is raised inside the schema's field
    validators, where pydantic turns a ValueError into an issue at the formula's
    ``file:line:col`` like any other field problem.
    """


class LifecycleError(RecipeError):
    """A lifecycle transition that is not allowed (wrong state, wrong role, changed content)."""


class RecipeRefInvalid(RecipeError, InputError):
    """Text that is not a recipe reference (``ID`` or ``ID@VERSION``) (exit 2)."""


class ReasonMissing(LifecycleError, InputError):
    """A lifecycle transition asked for without a reason (exit 2)."""
