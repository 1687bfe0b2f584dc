"""Recipe-layer errors and the issue record every recipe problem is reported as."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mes.errors import MesError

Loc = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Issue:
    """One problem in a recipe file, at ``path:line:column`` (1-based), on a field path."""

    path: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.field}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def field_path(loc: Loc) -> str:
    """``('steps', 0, 'layer', 'name')`` → ``steps[0].layer.name``; the root is ``(recipe)``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(recipe)"


class RecipeError(MesError):
    """Base of the recipe layer's errors."""


class RecipeInvalid(RecipeError):
    """A recipe file has problems; ``issues`` lists every one of them."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class RecipeNotFound(RecipeError):
    """No recipe (version) by that name in the database."""


class LifecycleError(RecipeError):
    """A lifecycle transition that is not allowed (wrong state, wrong role, changed content)."""
