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
from mes.auth.errors import SignatureRefused
from mes.auth.models import Role
from mes.auth.service import get_user, recorded_name, require_role
from mes.auth.signatures import SignatureMeaning, count_refused_signature, e_sign
from mes.base import utcnow
from mes.recipes.errors import LifecycleError, ReasonMissing, RecipeInvalid, RecipeNotFound, RecipeRefInvalid
from mes.recipes.load import load_recipe_text
from mes.recipes.models import Recipe as RecipeRow
from mes.recipes.models import RecipeStatus
from mes.recipes.queries import claim_checks, recipe_detail_of, recipe_summary, ref_of
from mes.recipes.queries import diff as diff
from mes.recipes.schema import Recipe
from mes.recipes.schemas import (
    ClaimRuleCheck,
    ImportOutcome,
    RecipeChange,
    RecipeDetail,
    RecipeDiff,
    RecipeImported,
    RecipeSummary,
)

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


def recipe_detail(session: Session, ref: str) -> RecipeDetail:
    """One version (the newest of ``ID`` when no version is given) with its lifecycle, signatures and
    content."""
    row = get_recipe(session, ref)
    return recipe_detail_of(session, row, stored_recipe(row))


def recipe_claims(session: Session, ref: str) -> list[ClaimRuleCheck]:
    """The claim rules a version (the newest of ``ID`` when no version is given) realises."""
    return claim_checks(stored_recipe(get_recipe(session, ref)))


def diff_versions(session: Session, ref: str, against: str, *, version_required: bool = False) -> RecipeDiff:
    """What changed from ``against`` to ``ref`` (each ``ID@VERSION``, or ``ID`` for its newest)."""
    row, other = (
        get_recipe(session, ref, version_required=version_required),
        get_recipe(session, against, version_required=version_required),
    )
    return RecipeDiff(
        ref=ref_of(row),
        against=ref_of(other),
        ref_hash=row.content_hash,
        against_hash=other.content_hash,
        changes=[RecipeChange(path=p, before=b, after=a) for p, b, a in diff(other, row)],
    )


def _state(row: RecipeRow) -> dict[str, Any]:
    return {"status": row.status.value, "content_hash": row.content_hash}


def import_recipe(
    session: Session, recipe: Recipe, *, by: str, source_path: str = ""
) -> tuple[RecipeRow, ImportOutcome]:
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
            return existing, ImportOutcome.UNCHANGED
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
        return existing, ImportOutcome.REPLACED
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
    return row, ImportOutcome.CREATED


def import_recipe_text(session: Session, text: str | bytes, *, by: str, source: str) -> RecipeImported:
    """Validate a recipe document and store it as a draft (:func:`import_recipe`). Every problem
    found is raised at once as :class:`RecipeInvalid`, located as ``source:LINE:COL``; nothing is
    checked against the database before the document is valid, except the role."""
    require_role(get_user(session, by), ROLES_IMPORT, "import recipes")
    loaded = load_recipe_text(text, source)
    if loaded.recipe is None or loaded.issues:
        raise RecipeInvalid(loaded.issues)
    row, outcome = import_recipe(session, loaded.recipe, by=by, source_path=source)
    return RecipeImported(outcome=outcome, recipe=recipe_detail_of(session, row, loaded.recipe))


def _check_transition(
    row: RecipeRow, *, to: RecipeStatus, allowed_from: tuple[RecipeStatus, ...], reason: str
) -> None:
    ref, (verb, _) = ref_of(row), _TRANSITIONS[to]
    if not reason.strip():
        raise ReasonMissing(f"a reason is required to {verb} {ref}")
    if row.status not in allowed_from:
        wanted = " or ".join(s.value for s in allowed_from)
        raise LifecycleError(f"{ref} is {row.status}; only a {wanted} recipe can become {to}")


def _transition(
    session: Session,
    row: RecipeRow,
    *,
    actor: str,
    to: RecipeStatus,
    allowed_from: tuple[RecipeStatus, ...],
    reason: str,
) -> RecipeDetail:
    _check_transition(row, to=to, allowed_from=allowed_from, reason=reason)
    verb, column = _TRANSITIONS[to]
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
        entity_id=ref_of(row),
        before=before,
        after=_state(row),
        reason=reason,
        occurred_at=now,
    )
    return recipe_detail_of(session, row, stored_recipe(row))


def approve(session: Session, ref: str, *, by: str, reason: str) -> RecipeDetail:
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


_RELEASE_FROM = (RecipeStatus.APPROVED,)


def release(
    session: Session,
    ref: str,
    *,
    by: str,
    password: str,
    reason: str,
    meaning: SignatureMeaning = SignatureMeaning.APPROVAL,
    requested_by: str | None = None,
) -> RecipeDetail:
    """Release for production: an electronic signature (quality role, the password re-entered, the
    meaning) over the version's content hash, recorded in the audit chain before the release.
    ``requested_by``: who sent the request, when not the signer (recorded with the signature)."""
    row = get_recipe(session, ref, version_required=True)
    _check_transition(row, to=RecipeStatus.RELEASED, allowed_from=_RELEASE_FROM, reason=reason)
    stored_recipe(row)  # the hash signed is the hash of what is stored
    user, _ = e_sign(
        session,
        name=by,
        password=password,
        roles=ROLES_RELEASE,
        doing="release recipes",
        meaning=meaning,
        reason=reason,
        signs="recipe.release",
        entity_type="recipe",
        entity_id=ref_of(row),
        content_sha256=row.content_hash,
        requested_by=requested_by,
    )
    return _transition(
        session,
        row,
        actor=user.name,
        to=RecipeStatus.RELEASED,
        allowed_from=_RELEASE_FROM,
        reason=reason,
    )


def obsolete(session: Session, ref: str, *, by: str, reason: str) -> RecipeDetail:
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


def record_refusal(
    session: Session, ref: str, *, actor: str, action: str, error: Exception, requested_by: str | None = None
) -> None:
    """Audit a refused transition (in its own transaction: the refused one rolled back); a refused
    signature also counts against its signer, as a failed login does. ``requested_by`` is who sent the
    request, when someone else than ``actor`` (a token relaying a person's signature)."""
    record(
        session,
        actor=recorded_name(actor),
        action=f"{action}.refused",
        entity_type="recipe",
        entity_id=ref[:128],
        after={"requested_by": requested_by} if requested_by and requested_by != actor else None,
        reason=str(error)[:2000],
    )
    if isinstance(error, SignatureRefused):
        count_refused_signature(session, actor)
