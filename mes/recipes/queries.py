"""Questions about stored recipe versions, answered with read models: a page of the list, one
version with its lifecycle (from the audit trail) and signatures, and what changed between two.

Nothing here writes; :mod:`mes.recipes.service` builds its answers with these.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from mes.audit.models import AuditEvent
from mes.auth.signatures import signatures_of
from mes.base import pk
from mes.recipes.errors import field_path
from mes.recipes.models import Recipe as RecipeRow
from mes.recipes.models import RecipeStatus
from mes.recipes.rules import claim_rules
from mes.recipes.schema import Recipe
from mes.recipes.schemas import ClaimRuleCheck, RecipeDetail, RecipeStatusChange, RecipeSummary

ENTITY = "recipe"
LIFECYCLE_ACTIONS = (
    "recipe.import",
    "recipe.reimport",
    "recipe.approve",
    "recipe.release",
    "recipe.obsolete",
)


def ref_of(row: RecipeRow) -> str:
    return f"{row.name}@{row.version}"


def recipe_summary(row: RecipeRow) -> RecipeSummary:
    return RecipeSummary(
        ref=ref_of(row),
        name=row.name,
        version=row.version,
        title=row.title,
        product_family=row.product_family,
        status=row.status,
        content_hash=row.content_hash,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def history(session: Session, ref: str) -> list[RecipeStatusChange]:
    """The lifecycle steps of one version, oldest first, as the audit trail holds them."""
    events = session.exec(
        select(AuditEvent)
        .where(
            AuditEvent.entity_type == ENTITY,
            AuditEvent.entity_id == ref,
            col(AuditEvent.action).in_(LIFECYCLE_ACTIONS),
        )
        .order_by(col(AuditEvent.id))
    ).all()
    return [
        RecipeStatusChange(
            action=e.action,
            status=RecipeStatus((e.after or {})["status"]),
            by=e.actor,
            at=e.occurred_at,
            reason=e.reason,
        )  # fmt: skip
        for e in events
        if (e.after or {}).get("status") in set(RecipeStatus)
    ]


def recipe_detail_of(session: Session, row: RecipeRow, content: Recipe) -> RecipeDetail:
    """The detail of ``row``, whose validated (hash-checked) content is ``content``."""
    ref = ref_of(row)
    return RecipeDetail(
        **recipe_summary(row).model_dump(),
        source_path=row.source_path,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        released_by=row.released_by,
        released_at=row.released_at,
        obsoleted_by=row.obsoleted_by,
        obsoleted_at=row.obsoleted_at,
        history=history(session, ref),
        signatures=signatures_of(session, ENTITY, ref),
        content=content,
    )


def claim_checks(content: Recipe) -> list[ClaimRuleCheck]:
    """The claim rules of a version's product family and lot kind that apply to it, each realised
    unless some claim rule is violated (checked now, against the rules of this release)."""
    checked = claim_rules(content)
    realised = not any(found for _, found in checked)
    return [
        ClaimRuleCheck(
            family=rule.family.value,
            rule=rule.name,
            seed=rule.seed,
            claims=rule.claims,
            realised=realised,
            problems=[f"{field_path(loc)}: {message}" for loc, message in found],
        )
        for rule, found in checked
    ]


def recipe_page(
    session: Session,
    *,
    status: RecipeStatus | None = None,
    name: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> tuple[list[RecipeSummary], list[int]]:
    """Up to ``limit`` stored versions, newest first (below row id ``before`` when given), with their
    row ids (the API's cursor), optionally only those of one status or one recipe ID."""
    query = select(RecipeRow)
    if status is not None:
        query = query.where(RecipeRow.status == status)
    if name is not None:
        query = query.where(RecipeRow.name == name)
    if before is not None:
        query = query.where(col(RecipeRow.id) < before)
    rows = session.exec(query.order_by(col(RecipeRow.id).desc()).limit(limit)).all()
    return [recipe_summary(row) for row in rows], [pk(row) for row in rows]


def flat_fields(content: Recipe) -> dict[str, Any]:
    """Every field of a version's content by field path (``steps[0].setpoints.gap_um``), in the
    document's order: the lines a diff compares."""
    return _flatten(content.model_dump(mode="json"))


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}[{i}]"))
        return out or {prefix: []}
    return {prefix: value}


def diff(a: RecipeRow, b: RecipeRow) -> list[tuple[str, Any, Any]]:
    """Field paths whose values differ between two stored versions: (path, value in a, value in b)."""
    flat_a, flat_b = _flatten(json.loads(a.content)), _flatten(json.loads(b.content))
    missing = object()
    changes = []
    for path in sorted(flat_a.keys() | flat_b.keys()):
        va, vb = flat_a.get(path, missing), flat_b.get(path, missing)
        if va != vb:
            changes.append((path, None if va is missing else va, None if vb is missing else vb))
    return changes
