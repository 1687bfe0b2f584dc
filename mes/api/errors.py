"""Every error of every layer as an RFC 9457 problem (``application/problem+json``), here and nowhere else.

The status follows the same hierarchy the command line maps to exit codes (``mes.cli.app.EXIT_CODES``):
a value that cannot be used (exit 2) is 422, a thing that does not exist is 404, a refusal of the
current state (exit 1) is 409, a broker that did not take what was saved (exit 75) is 503 with the
saved thing named. A bug is a 500 problem with an id to find it in the log, never a traceback.

A problem body::

    {"type": "https://mes.invalid/problems/order-refused", "title": "Order refused", "status": 409,
     "detail": "recipe CATHODE-A@3 is draft, not released", "instance": "/api/v1/orders",
     "errors": [{"loc": ["body", "lots"], "msg": "..."}]}       # 422 only

The OpenAPI document says so (:class:`Problem`): each operation's 422 and ``default`` responses.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from mes.auth.errors import AuthError, LoginThrottled, NotAuthenticated
from mes.errors import DatabaseError, InputError, MesError, NotFound
from mes.recipes.errors import RecipeInvalid
from workers.errors import BrokerUnreachable

log = logging.getLogger("mes.api")


class ApiError(MesError):
    """Base of the errors of the HTTP layer itself (not of a domain)."""


class CsrfRefused(ApiError):
    """A state-changing request made with a session cookie but without its CSRF token (HTTP 403)."""


class RoleRefused(ApiError):
    """The caller is authenticated but its role may not use this route (HTTP 403)."""


class CursorInvalid(ApiError, InputError):
    """A ``cursor`` query parameter this API did not hand out (HTTP 422)."""


class MediaTypeUnsupported(ApiError):
    """A request body in a media type the route does not read (HTTP 415)."""


class BodyTooLarge(ApiError):
    """A request body over the route's limit (HTTP 413); nothing of it was used."""


PROBLEM_JSON = "application/problem+json"
# RFC 9457 section 3.1.1: a type URI need not resolve; `.invalid` (RFC 6761) can never point anywhere.
PROBLEM_BASE = "https://mes.invalid/problems/"

# The first class an error is an instance of gives its status (order matters: a layer's invalid-input
# error is both its layer's error and an InputError, so InputError comes before the layer bases).
HTTP_STATUSES: tuple[tuple[type[MesError], int], ...] = (
    (NotAuthenticated, 401),
    (MediaTypeUnsupported, 415),
    (BodyTooLarge, 413),
    (LoginThrottled, 429),
    (BrokerUnreachable, 503),
    (DatabaseError, 503),
    (RecipeInvalid, 422),
    (InputError, 422),
    (NotFound, 404),
    (AuthError, 403),
    (CsrfRefused, 403),
    (RoleRefused, 403),
)
DEFAULT_STATUS = 409  # refused in the present state: the request was understood and is not wrong


def http_status(exc: MesError) -> int:
    """The HTTP status of an error of any layer."""
    return next((status for cls, status in HTTP_STATUSES if isinstance(exc, cls)), DEFAULT_STATUS)


def _slug(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _title(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).capitalize()


def problem(
    status: int,
    *,
    kind: str,
    title: str,
    detail: str,
    instance: str,
    errors: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors is not None:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _path(request: Request) -> str:
    return "".join(c for c in request.url.path if c.isprintable())


async def _mes_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MesError)  # noqa: S101 - registered for MesError only
    status = http_status(exc)
    name = type(exc).__name__
    headers: dict[str, str] = {}
    errors: list[dict[str, Any]] | None = None
    if isinstance(exc, LoginThrottled):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, NotAuthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="mes"'
    if isinstance(exc, RecipeInvalid):
        errors = [
            {"loc": ["body", *_field_loc(issue.field)], "field": issue.field, "line": issue.line,
             "column": issue.column, "msg": issue.message}
            for issue in exc.issues
        ]  # fmt: skip
    return problem(status, kind=_slug(name), title=_title(name), detail=str(exc), instance=_path(request),
                   errors=errors, headers=headers or None)  # fmt: skip


_FIELD_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _field_loc(field: str) -> list[str]:
    """``steps[0].layer.name`` → ``["steps", "0", "layer", "name"]``; the whole document (``(recipe)``,
    ``(file)``) is no part."""
    if not field or field.startswith("("):
        return []
    return [index or key for index, key in _FIELD_PART.findall(field)]


def _field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in errors]


def _not_json(request: Request, errors: Sequence[Any]) -> str | None:
    """The media type of a body a JSON route could not read because it was not sent as JSON (FastAPI
    reads such a body as text and reports it as "not a valid dictionary"), else None."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method in ("GET", "HEAD") or media == "application/json" or media.endswith("+json"):
        return None
    body_errors = [e for e in errors if tuple(e.get("loc", ()))[:1] == ("body",)]
    whole_body = any(len(e.get("loc", ())) == 1 for e in body_errors)
    return (media or "none") if whole_body else None


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
    media = _not_json(request, exc.errors())
    if media is not None:
        return problem(415, kind="media-type-unsupported", title="Media type unsupported",
                       detail=f"the body is sent as {media}; this route reads application/json "
                       "(Content-Type: application/json)", instance=_path(request))  # fmt: skip
    errors = _field_errors(exc.errors())
    where = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return problem(422, kind="request-invalid", title="Request invalid", detail=where + more,
                   instance=_path(request), errors=errors)  # fmt: skip


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it only
    title = _title(re.sub(r"\W", "", str(exc.detail).title())) if exc.status_code >= 400 else "Error"
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, kind=f"http-{exc.status_code}", title=title or "Error",
                   detail=str(exc.detail), instance=_path(request), headers=headers)  # fmt: skip


async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
    """The database refused a value (PostgreSQL: text with NUL, a number out of its column's range): the
    input is wrong, and the transaction has been rolled back."""
    log.info("database refused a value on %s %s: %s", request.method, request.url.path, exc)
    return problem(422, kind="value-not-storable", title="Value not storable",
                   detail="a value of the request cannot be stored or compared by the database (a control "
                   "character such as U+0000, or a number out of range); nothing was changed",
                   instance=_path(request))  # fmt: skip


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    ref = secrets.token_hex(6)
    log.error("internal error %s on %s %s", ref, request.method, request.url.path, exc_info=exc)
    return problem(500, kind="internal", title="Internal error",
                   detail=f"an internal error (reference {ref} in the server log); nothing was changed",
                   instance=_path(request))  # fmt: skip


class FieldProblem(BaseModel):
    """Where a request was wrong: ``loc`` is the path to the field (``["body", "lots"]``); ``line`` and
    ``column`` locate it in a YAML body."""

    loc: list[str]
    msg: str
    line: int | None = None
    column: int | None = None


class Problem(BaseModel):
    """An RFC 9457 problem (``application/problem+json``): every error of this API is one."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldProblem] | None = None


_MEANINGS = {
    401: "No credential, or one expired or revoked.",
    403: "The caller's role may not do this, or a signature was refused.",
    404: "No such thing.",
    409: "Refused in the present state.",
    413: "The request body is too large.",
    415: "The request body is not in a media type this route reads.",
    422: "A value that cannot be used; `errors` lists each, located.",
}
DEFAULT_MEANING = "Refused or failed: the problem's `status` says how."


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}  # fmt: skip


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entries of the problems a route answers with (for ``responses=``).
    Every operation's ``default`` response is a problem anyway (:func:`install`)."""
    return {status: _problem_response(_MEANINGS[status]) for status in statuses}


def _document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Say in the OpenAPI document what the handlers answer: a problem, not FastAPI's default 422 body."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses and PROBLEM_JSON not in responses["422"].get("content", {}):
                responses["422"] = _problem_response(_MEANINGS[422])  # FastAPI's own, not what is sent
            responses.setdefault("default", _problem_response(DEFAULT_MEANING))
    if "HTTPValidationError" not in str(document.get("paths")):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    # How to authenticate, so that the docs page's "Authorize" takes a token (a session cookie works too).
    document["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "A token from `mes token create`."},
        "session": {"type": "apiKey", "in": "cookie", "name": "mes_session",
                    "description": "The cookie `POST /api/v1/login` sets (changes also need X-CSRF-Token)."},
    }  # fmt: skip
    document["security"] = [{"bearer": []}, {"session": []}]
    _any_of_discriminated(document)
    return document


def _any_of_discriminated(node: Any) -> None:
    """A tagged union (pydantic: ``oneOf`` with a ``discriminator``) as ``anyOf``: the discriminator
    picks the schema, but a validator that ignores it (JSON Schema has no such keyword) would find a
    recipe step valid under several step schemas and call ``oneOf`` violated."""
    if isinstance(node, dict):
        if "oneOf" in node and "discriminator" in node:
            node["anyOf"] = node.pop("oneOf")
        for value in node.values():
            _any_of_discriminated(value)
    elif isinstance(node, list):
        for value in node:
            _any_of_discriminated(value)


def install(app: FastAPI) -> None:
    """Register the one set of exception handlers, and document what they answer."""
    app.add_exception_handler(MesError, _mes_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sa_exc.DataError, _unstorable)
    app.add_exception_handler(Exception, _internal_error)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
