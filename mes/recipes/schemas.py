"""Read models of stored recipe versions: a list row and one version with its lifecycle and content."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from mes.base import ReadModel
from mes.recipes.models import RecipeStatus
from mes.recipes.schema import Recipe


class RecipeSummary(ReadModel):
    """One stored version; ``ref`` is how every command names it (``ID@VERSION``)."""

    ref: str = Field(description="ID@VERSION")
    name: str
    version: int
    title: str
    product_family: str
    status: RecipeStatus
    content_hash: str = Field(description="SHA-256 of the canonical JSON; what a lot records")
    created_by: str
    created_at: datetime


class RecipeDetail(RecipeSummary):
    """One version: who moved it through its lifecycle and when, and its validated content."""

    source_path: str
    approved_by: str | None
    approved_at: datetime | None
    released_by: str | None
    released_at: datetime | None
    obsoleted_by: str | None
    obsoleted_at: datetime | None
    content: Recipe
