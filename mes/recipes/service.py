"""Recipe lifecycle in the database: import (draft) → approve → release → obsolete.

Services flush, never commit: the caller owns the transaction. Every transition
is an audit event with who, when and why. A version's content is frozen once it
leaves draft (the service refuses, and a database trigger backs that up).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from sqlmodel import Session, col, select

from mes.audit.service import record
from mes.auth.models import Role
from mes.auth.service import get_user, recorded_name, require_role, sign
from mes.base import utcnow
from mes.recipes.errors import LifecycleError, ReasonMissing, RecipeNotFound, RecipeRefInvalid
from mes.recipes.models import Recipe as RecipeRow
from mes.recipes.models import RecipeStatus
from mes.recipes.schema import Recipe
from mes.recipes.schemas import RecipeDetail, RecipeSummary

_REF = re.compile(r"^(?P<name>[a-z0-9][a-z0-9-]{0,62})(?:@(?P<version>[1-9][0-9]{0,8}))?$")

ROLES_IMPORT = (Role.ENGINEER, Role.ADMIN)
ROLES_APPROVE = (Role.ENGINEER,)
ROLES_RELEASE = (Role.QUALITY,)
ROLES_OBSOLETE = (Role.ENGINEER, Role.QUALITY)
# target status → (verb, column prefix of who/when)
_TRANSITIONS = {
    RecipeStatus.APPROVED: ("approve", "approved"),
    RecipeStatus.RELEASED: ("release", "released"),
    RecipeStatus.OBSOLETE: ("obsolete", "obsoleted"),
}


def canonical_json(recipe: Recipe) -> str:
    """The recipe as canonical JSON: sorted keys, no spaces; what the hash is taken of."""
    return json.dumps(
        recipe.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def content_hash(recipe: Recipe) -> str:
    return hashlib.sha256(canonical_json(recipe).encode("utf-8")).hexdigest()


def parse_ref(text: str, *, version_required: bool = False) -> tuple[str, int | None]:
    """``"capped-si-anode@2"`` → ``("capped-si-anode", 2)``."""
    match = _REF.match(text.strip())
    if match is None or (version_required and match["version"] is None):
        form = "ID@VERSION" if version_required else "ID or ID@VERSION"
        raise RecipeRefInvalid(f"{text!r} is not a recipe reference; expected {form}, e.g. capped-si-anode@1")
    return match["name"], int(match["version"]) if match["version"] else None


def get_recipe(session: Session, ref: str, *, version_required: bool = False) -> RecipeRow:
    """The row for ``ID@VERSION``, or the newest version of ``ID``."""
    name, version = parse_ref(ref, version_required=version_required)
    query = select(RecipeRow).where(RecipeRow.name == name)
    if version is not None:
        query = query.where(RecipeRow.version == version)
    row = session.exec(query.order_by(col(RecipeRow.version).desc())).first()
    if row is None:
        raise RecipeNotFound(f"no recipe {ref} in the database (see `mes recipe list`)")
    return row


def list_recipes(session: Session) -> list[RecipeSummary]:
    """Every stored version, by name and version."""
    rows = session.exec(select(RecipeRow).order_by(col(RecipeRow.name), col(RecipeRow.version))).all()
    return [recipe_summary(row) for row in rows]


def released_recipes(session: Session) -> list[tuple[str, Recipe]]:
    """``(ID@VERSION, validated content)`` of every released version, by name and version."""
    rows = session.exec(
        select(RecipeRow)
        .where(RecipeRow.status == RecipeStatus.RELEASED)
        .order_by(col(RecipeRow.name), col(RecipeRow.version))
    ).all()
    return [(f"{row.name}@{row.version}", stored_recipe(row)) for row in rows]


def recipe_summary(row: RecipeRow) -> RecipeSummary:
    return RecipeSummary(
        ref=f"{row.name}@{row.version}",
        name=row.name,
        version=row.version,
        title=row.title,
        product_family=row.product_family,
        status=row.status,
        content_hash=row.content_hash,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def recipe_detail(session: Session, ref: str) -> RecipeDetail:
    """One version (the newest of ``ID`` when no version is given) with its lifecycle and content."""
    row = get_recipe(session, ref)
    return RecipeDetail(
        **recipe_summary(row).model_dump(),
        source_path=row.source_path,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        released_by=row.released_by,
        released_at=row.released_at,
        obsoleted_by=row.obsoleted_by,
        obsoleted_at=row.obsoleted_at,
        content=stored_recipe(row),
    )


def _state(row: RecipeRow) -> dict[str, Any]:
    return {"status": row.status.value, "content_hash": row.content_hash}


def import_recipe(
    session: Session, recipe: Recipe, *, by: str, source_path: str = ""
) -> tuple[RecipeRow, str]:
    """Store a validated recipe as a draft. Returns the row and what happened:

    ``created``; ``unchanged`` (same version, same content: nothing written);
    ``replaced`` (a draft re-imported with new content). Changed content for a
    version that has left draft is refused: it needs a new version number.
    """
    user = get_user(session, by)
    require_role(user, ROLES_IMPORT, "import recipes")
    digest = content_hash(recipe)
    ref = f"{recipe.id}@{recipe.version}"
    existing = session.exec(
        select(RecipeRow).where(RecipeRow.name == recipe.id, RecipeRow.version == recipe.version)
    ).first()
    if existing is not None:
        if existing.content_hash == digest:
            return existing, "unchanged"
        if existing.status != RecipeStatus.DRAFT:
            raise LifecycleError(
                f"{ref} is {existing.status} and its content cannot change; import it as version "
                f"{recipe.version + 1} instead"
            )
        before = _state(existing)
        existing.content, existing.content_hash = canonical_json(recipe), digest
        existing.title, existing.product_family = recipe.title, recipe.product_family.value
        existing.source_path = source_path
        session.add(existing)
        session.flush()
        record(
            session,
            actor=user.name,
            action="recipe.reimport",
            entity_type="recipe",
            entity_id=ref,
            before=before,
            after=_state(existing),
            reason=f"imported from {source_path}",
        )
        return existing, "replaced"
    row = RecipeRow(
        name=recipe.id,
        version=recipe.version,
        title=recipe.title,
        product_family=recipe.product_family.value,
        content=canonical_json(recipe),
        content_hash=digest,
        source_path=source_path,
        created_by=user.name,
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor=user.name,
        action="recipe.import",
        entity_type="recipe",
        entity_id=ref,
        after=_state(row),
        reason=f"imported from {source_path}",
    )
    return row, "created"


def _transition(
    session: Session,
    row: RecipeRow,
    *,
    actor: str,
    to: RecipeStatus,
    allowed_from: tuple[RecipeStatus, ...],
    reason: str,
) -> RecipeRow:
    ref = f"{row.name}@{row.version}"
    verb, column = _TRANSITIONS[to]
    if not reason.strip():
        raise ReasonMissing(f"a reason is required to {verb} {ref}")
    if row.status not in allowed_from:
        wanted = " or ".join(s.value for s in allowed_from)
        raise LifecycleError(f"{ref} is {row.status}; only a {wanted} recipe can become {to}")
    before = _state(row)
    now = utcnow()
    row.status = to
    setattr(row, f"{column}_by", actor)
    setattr(row, f"{column}_at", now)
    session.add(row)
    session.flush()
    record(
        session,
        actor=actor,
        action=f"recipe.{verb}",
        entity_type="recipe",
        entity_id=ref,
        before=before,
        after=_state(row),
        reason=reason,
        occurred_at=now,
    )
    return row


def approve(session: Session, ref: str, *, by: str, reason: str) -> RecipeRow:
    row = get_recipe(session, ref, version_required=True)
    user = get_user(session, by)
    require_role(user, ROLES_APPROVE, "approve recipes")
    return _transition(
        session,
        row,
        actor=user.name,
        to=RecipeStatus.APPROVED,
        allowed_from=(RecipeStatus.DRAFT,),
        reason=reason,
    )


def release(session: Session, ref: str, *, by: str, password: str, reason: str) -> RecipeRow:
    """Release for production; needs the quality role and the password (electronic signature)."""
    row = get_recipe(session, ref, version_required=True)
    user = sign(session, by, password, ROLES_RELEASE, "release recipes")
    return _transition(
        session,
        row,
        actor=user.name,
        to=RecipeStatus.RELEASED,
        allowed_from=(RecipeStatus.APPROVED,),
        reason=reason,
    )


def obsolete(session: Session, ref: str, *, by: str, reason: str) -> RecipeRow:
    row = get_recipe(session, ref, version_required=True)
    user = get_user(session, by)
    require_role(user, ROLES_OBSOLETE, "obsolete recipes")
    return _transition(
        session,
        row,
        actor=user.name,
        to=RecipeStatus.OBSOLETE,
        allowed_from=(RecipeStatus.DRAFT, RecipeStatus.APPROVED, RecipeStatus.RELEASED),
        reason=reason,
    )


def require_released(session: Session, ref: str) -> RecipeRow:
    """The row of a released version: the only kind that may be dispatched."""
    row = get_recipe(session, ref, version_required=True)
    if row.status != RecipeStatus.RELEASED:
        raise LifecycleError(
            f"{row.name}@{row.version} is {row.status}; only released recipes can be dispatched"
        )
    return row


# Parsed, hash-checked recipes by (row id, content hash). A version's content never
# changes once it has left draft (and a changed draft has a new hash), so an entry
# can never go stale; it saves a parse and a hash on every scheduling and step move.
_PARSED: dict[tuple[int | None, str], Recipe] = {}


def stored_recipe(row: RecipeRow) -> Recipe:
    """The validated model of a stored version, checked against its hash."""
    key = (row.id, row.content_hash)
    cached = _PARSED.get(key)
    if cached is not None:
        return cached
    recipe = Recipe.model_validate_json(row.content)
    if content_hash(recipe) != row.content_hash:
        raise LifecycleError(
            f"{row.name}@{row.version}: stored content does not match its hash {row.content_hash}"
        )
    if len(_PARSED) > 1_000:
        _PARSED.clear()
    _PARSED[key] = recipe
    return recipe


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


def record_refusal(session: Session, ref: str, *, actor: str, action: str, error: Exception) -> None:
    """Audit a refused transition (in its own transaction: the refused one rolled back)."""
    record(
        session,
        actor=recorded_name(actor),
        action=f"{action}.refused",
        entity_type="recipe",
        entity_id=ref,
        reason=str(error),
    )
