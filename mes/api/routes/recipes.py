"""Recipes: list, show, compare, import a YAML document as a draft, approve, release (signed),
obsolete. A version is named ``ID@VERSION``; ``ID`` alone is its newest version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from mes.api.bodies import yaml_document, yaml_request_body
from mes.api.deps import Caller, DbSession, Require, engine_of
from mes.api.errors import problem_responses
from mes.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page
from mes.api.signing import FreeText, Reason, SignatureIn, signer_must_be_caller
from mes.auth.schemas import Principal
from mes.db import session_scope
from mes.errors import MesError
from mes.recipes import queries, service
from mes.recipes.models import RecipeStatus
from mes.recipes.schemas import (
    ClaimRuleCheck,
    ImportOutcome,
    RecipeDetail,
    RecipeDiff,
    RecipeImported,
    RecipeSummary,
)

router = APIRouter(tags=["recipes"])

# What located problems of a posted document are reported against: "request body:12:5: …".
SOURCE = "request body"
RefPath = Annotated[
    str,
    Path(max_length=80, description="ID@VERSION, or ID for the newest version.", examples=["cathode-lco@1"]),
]
VersionPath = Annotated[str, Path(max_length=80, description="ID@VERSION.", examples=["cathode-lco@1"])]
Importer = Annotated[Principal, Depends(Require(*service.ROLES_IMPORT))]
Approver = Annotated[Principal, Depends(Require(*service.ROLES_APPROVE))]
Releaser = Annotated[Principal, Depends(Require(*service.ROLES_RELEASE))]
Obsoleter = Annotated[Principal, Depends(Require(*service.ROLES_OBSOLETE))]
CHANGE_PROBLEMS = problem_responses(401, 403, 404, 409, 422)


class ReleaseIn(BaseModel):
    """A release: why, and the electronic signature of the person with the quality role who decides."""

    model_config = ConfigDict(extra="forbid")

    reason: FreeText = Field(description="Why; kept in the audit trail with the signature.")
    signature: SignatureIn


@router.get("/recipes", response_model=Page[RecipeSummary], responses=problem_responses(401, 422),
            summary="Stored recipe versions, newest first")  # fmt: skip
def list_recipes(
    request: Request,
    response: Response,
    db: DbSession,
    _caller: Caller,
    status: Annotated[RecipeStatus | None, Query(description="Only versions in this status.")] = None,
    recipe_id: Annotated[
        str | None,
        Query(
            alias="id",
            pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
            description="Only the versions of this recipe ID.",
        ),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[RecipeSummary]:
    """Every stored version (any logged-in caller), newest first, in pages."""
    items, ids = queries.recipe_page(
        db, status=status, name=recipe_id, before=decode_cursor(cursor), limit=limit + 1
    )
    return page(items, ids, limit, request, response)


@router.get("/recipes/{ref}", response_model=RecipeDetail, responses=problem_responses(401, 404, 422),
            summary="One recipe version: lifecycle, signatures, content")  # fmt: skip
def get_recipe(ref: RefPath, db: DbSession, _caller: Caller) -> RecipeDetail:
    """One version (any logged-in caller): its status and who moved it there, the lifecycle from the
    audit trail, every electronic signature over its content hash, and the validated content.
    404: no such recipe or version; 422: not a recipe reference."""
    return service.recipe_detail(db, ref)


@router.get("/recipes/{ref}/claims", response_model=list[ClaimRuleCheck],
            responses=problem_responses(401, 404, 422),
            summary="The patent-claim rules a recipe version realises")  # fmt: skip
def get_recipe_claims(ref: RefPath, db: DbSession, _caller: Caller) -> list[ClaimRuleCheck]:
    """Each claim rule of the version's product family and lot kind that applies to it (seed file,
    claim numbers), checked now: ``realised`` when the version violates none, else each violation
    in ``problems``."""
    return service.recipe_claims(db, ref)


@router.get("/recipes/{ref}/diff", response_model=RecipeDiff, responses=problem_responses(401, 404, 422),
            summary="What changed between two recipe versions")  # fmt: skip
def get_recipe_diff(
    ref: RefPath,
    db: DbSession,
    _caller: Caller,
    against: Annotated[str, Query(max_length=80, description="ID@VERSION (or ID) to compare with.")],
) -> RecipeDiff:
    """Each field path whose value differs, with its value in ``against`` (``before``) and in
    ``ref`` (``after``); no changes: the same content."""
    return service.diff_versions(db, ref, against)


@router.post(
    "/recipes",
    status_code=201,
    response_model=RecipeImported,
    responses={
        200: {"description": "The version existed: unchanged, or a draft replaced.", "model": RecipeImported},
        **problem_responses(401, 403, 409, 413, 415, 422),
    },  # fmt: skip
    openapi_extra=yaml_request_body(
        "A recipe document (YAML 1.2), as in a recipe file.", {"$ref": "#/components/schemas/Recipe"}
    ),
    summary="Import a recipe document as a draft",
)
def post_recipe(
    request: Request,
    response: Response,
    db: DbSession,
    caller: Importer,
    document: Annotated[bytes, Depends(yaml_document)],
) -> RecipeImported:
    """Validate the YAML document in the body (``application/yaml``, ``text/yaml`` or
    ``application/x-yaml``, UTF-8, at most 1 MiB) and store it as a draft (engineer or admin).

    201 with ``Location`` when the version is new; 200 when it exists with the same content
    (nothing written) or is a draft now given new content. 422 lists every problem of the document
    in ``errors``, each with its line, column and field (``detail`` reads ``request body:LINE:COL:
    field: message``); 409: the version has left draft and its content differs (import it as a new
    version); 413: too large; 415: not YAML."""
    imported = service.import_recipe_text(db, document, by=caller.name, source=SOURCE)
    response.headers["Location"] = str(request.url_for("get_recipe", ref=imported.recipe.ref))
    if imported.outcome != ImportOutcome.CREATED:
        response.status_code = 200
    return imported


@router.post("/recipes/{ref}:approve", response_model=RecipeDetail, responses=CHANGE_PROBLEMS,
             summary="Approve a draft")  # fmt: skip
def post_approve(ref: VersionPath, body: Reason, db: DbSession, caller: Approver) -> RecipeDetail:
    """Approve a draft version (engineer), with the reason. 409: it is not a draft."""
    return service.approve(db, ref, by=caller.name, reason=body.reason)


@router.post("/recipes/{ref}:release", response_model=RecipeDetail, responses=CHANGE_PROBLEMS,
             summary="Release an approved version (electronic signature)")  # fmt: skip
def post_release(
    ref: VersionPath, body: ReleaseIn, request: Request, db: DbSession, caller: Releaser
) -> RecipeDetail:
    """Release an approved version for production. An electronic signature (21 CFR 11.200): a person
    with the quality role re-enters name and password and says what the signature means; it is
    recorded in the audit chain with the printed name, the time, the meaning and the version's
    content hash. A token alone never signs; a browser session signs only as its own person.

    403: the signature is refused (wrong password, a role that may not release, another person's
    name) — the refusal is audited; 409: the version is not approved (audited too)."""
    signature = body.signature
    try:
        signer_must_be_caller(caller, signature)
        return service.release(db, ref, by=signature.name, password=signature.password, reason=body.reason,
                               meaning=signature.meaning, requested_by=caller.name)  # fmt: skip
    except MesError as exc:
        # The refusal is kept although the request rolls back: end the request's transaction first
        # (it holds SQLite's write lock, and on PostgreSQL perhaps the audit chain's), then record it.
        db.rollback()
        with session_scope(engine_of(request)) as s:
            service.record_refusal(s, ref, actor=signature.name, action="recipe.release", error=exc,
                                   requested_by=caller.name)  # fmt: skip
        raise


@router.post("/recipes/{ref}:obsolete", response_model=RecipeDetail, responses=CHANGE_PROBLEMS,
             summary="Withdraw a version")  # fmt: skip
def post_obsolete(ref: VersionPath, body: Reason, db: DbSession, caller: Obsoleter) -> RecipeDetail:
    """Withdraw a version (engineer or quality), with the reason; it can no longer be ordered.
    409: it is obsolete already."""
    return service.obsolete(db, ref, by=caller.name, reason=body.reason)
