"""Read models of stored recipe versions: a list row, one version with its lifecycle, signatures and
content, what an import did, and what changed between two versions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import Field

from mes.auth.signatures import SignaturePublic
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


class RecipeStatusChange(ReadModel):
    """One step of a version's lifecycle, as the audit trail recorded it."""

    action: str = Field(description="recipe.import, recipe.reimport, recipe.approve, recipe.release, …")
    status: RecipeStatus = Field(description="The status it left the version in.")
    by: str
    at: datetime
    reason: str


class RecipeDetail(RecipeSummary):
    """One version: who moved it through its lifecycle and when, the electronic signatures over its
    content hash, and its validated content."""

    source_path: str
    approved_by: str | None
    approved_at: datetime | None
    released_by: str | None
    released_at: datetime | None
    obsoleted_by: str | None
    obsoleted_at: datetime | None
    history: list[RecipeStatusChange] = Field(description="Lifecycle steps, oldest first.")
    signatures: list[SignaturePublic] = Field(description="Electronic signatures, oldest first.")
    content: Recipe


class ImportOutcome(enum.StrEnum):
    CREATED = "created"  # a new version, as a draft
    UNCHANGED = "unchanged"  # the same version with the same content: nothing written
    REPLACED = "replaced"  # a draft given new content


class RecipeImported(ReadModel):
    """What importing one recipe document did, and the version as it now is."""

    outcome: ImportOutcome
    recipe: RecipeDetail


class ClaimRuleCheck(ReadModel):
    """A claim rule of a version's product family and lot kind that applies to it: the claims of a
    seed the product falls under when the version realises the rule."""

    family: str = Field(description="The product family whose rule it is.")
    rule: str = Field(description="The rule's name, e.g. li-alloying-thin-film.")
    seed: str = Field(description="The seed file whose claims the rule stands for.")
    claims: str = Field(description="Claim numbers, e.g. 1-2 or 1, 8, 10.")
    realised: bool = Field(description="The version violates none of its family's claim rules.")
    problems: list[str] = Field(description="Each violation of this rule found now (FIELD: message).")


class RecipeChange(ReadModel):
    """One field path whose value differs; a side without the field has null."""

    path: str = Field(description="Field path, e.g. steps[0].setpoints.power_w")
    before: Any = Field(description="The value in the version compared against.")
    after: Any = Field(description="The value in the version asked about.")


class RecipeDiff(ReadModel):
    """What changed from ``against`` to ``ref`` (empty ``changes``: the same content)."""

    ref: str
    against: str
    ref_hash: str
    against_hash: str
    changes: list[RecipeChange]
