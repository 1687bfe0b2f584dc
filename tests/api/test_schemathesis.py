"""Every operation of the API's own OpenAPI document, fuzzed with schemathesis: no request may give a
5xx, and every response must be what the document says (status, content type and body schema).

The app runs in process on a small plant (:mod:`tests.read_model_plant`) on each backend. Each
operation is called with a token of a role it admits (the roles its ``Require`` declares), so that
generated requests get past authentication and reach the route's own checks; each generated case is
sent a second time with the plant's real identifiers in its path and a valid signature in its body,
so that the 2xx answers of existing things are checked too, not only 404s and 422s. New routes are
covered as they are added: nothing here names one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import schemathesis
from fastapi import FastAPI
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from mes.api.app import API, create_app, included_routers
from mes.api.deps import Require
from mes.auth.models import Role
from mes.config import Settings
from mes.db import make_engine
from mes.demo import QUALITY
from tests.api.broker import celery_broker
from tests.api.conftest import Callers, make_callers
from tests.lots.conftest import REDIS_DB
from tests.lots.harness import ROOT
from tests.read_model_plant import HELD_BY_SIGNATURE, ORDER, RECIPE, Plant
from tests.services import ServiceUrls

HTTP_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"})

CHECKS = [not_a_server_error, response_schema_conformance]
MAX_EXAMPLES = 20  # per operation and mode (valid, invalid): every validator reached, minutes in all
# A token acts as this role when a route admits it (quality signs, engineers own recipes).
ROLE_PREFERENCE = (Role.QUALITY, Role.ENGINEER, Role.OPERATOR)
CONFIG = schemathesis.Config.from_dict(
    {
        # Event streams never end: judge the first event (`ready`, or `gap`), then hang up.
        "max-stream-events": 1,
        "request-timeout": 10,
    }
)


@dataclass(frozen=True)
class FuzzTarget:
    app: FastAPI
    callers: Callers
    plant: Plant
    roles: dict[tuple[str, str], frozenset[Role]]

    def headers_for(self, case: Case[Any]) -> dict[str, str]:
        """A bearer token of a role the operation admits (none admits only admins: any token, then)."""
        admitted = self.roles.get((case.method.upper(), case.path), frozenset())
        role = next((r for r in ROLE_PREFERENCE if r in admitted), ROLE_PREFERENCE[0])
        return self.callers.bearer(role)

    def known_values(self, case: Case[Any]) -> tuple[dict[str, Any], Any] | None:
        """The case's path parameters with the plant's identifiers, and its body with a signature that
        is accepted and a recipe that is released; None when there is nothing to substitute."""
        resource = case.path.removeprefix(API).strip("/").split("/")[0].split(":")[0]
        known = {
            "orders": ORDER,
            "lots": HELD_BY_SIGNATURE,
            "recipes": RECIPE,
            "units": "sputter-1",
            "alarms": str(self.plant.step_alarm),
            "intervals": str(self.plant.interval),
            "tokens": "operator-token",
            "users": Callers.person(Role.OPERATOR),
        }.get(resource)
        path = dict.fromkeys(case.path_parameters or {}, known) if known is not None else {}
        body = case.body
        if not isinstance(body, dict):
            return ({**(case.path_parameters or {}), **path}, body) if path else None
        known_fields: dict[str, Any] = {}
        signature = body.get("signature")
        if isinstance(signature, dict):
            known_fields["signature"] = {**signature, "name": QUALITY, "password": self.plant.password}
        if isinstance(body.get("recipe"), str):
            known_fields["recipe"] = RECIPE  # released in the plant: an order can be placed
        if not path and not known_fields:
            return None
        body = {**body, **known_fields}
        return {**(case.path_parameters or {}), **path}, body


def _declared_roles() -> dict[tuple[str, str], frozenset[Role]]:
    """(method, path) → the roles the route's ``Require`` dependency admits, read from the API's
    routers (FastAPI 0.16x mounts an included router as one lazy route: the app's own ``routes`` list
    none of them, and every operation was fuzzed with an operator's token)."""
    roles: dict[tuple[str, str], frozenset[Role]] = {}
    for route in (r for router in included_routers() for r in router.routes):
        if not isinstance(route, APIRoute):
            continue
        pending, found = list(route.dependant.dependencies), frozenset[Role]()
        while pending:
            dependency = pending.pop()
            if isinstance(dependency.call, Require):
                found |= dependency.call.roles
            pending.extend(dependency.dependencies)
        for method in route.methods or ():
            roles[(method, API + route.path_format)] = found
    assert any(roles.values()), "no route declares a role: the routes were not found"
    return roles


@pytest.fixture(scope="module")
def fuzz_target(read_model_plant: tuple[str, Plant], services: ServiceUrls) -> Iterator[FuzzTarget]:
    url, plant = read_model_plant
    engine = make_engine(url)
    settings_ = Settings(database_url=url, line_config=ROOT / "deploy" / "line.yaml")
    app = create_app(settings_, engine=engine)
    # The suite's own Redis database, emptied after: no worker reads it.
    broker = services.redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    with celery_broker(broker):
        yield FuzzTarget(app, make_callers(engine), plant, _declared_roles())
    redis.Redis.from_url(broker).flushdb()
    engine.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzz_target: FuzzTarget) -> BaseSchema:
    return schemathesis.openapi.from_asgi(f"{API}/openapi.json", fuzz_target.app, config=CONFIG)


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation the app documents (no database needed to list them)."""
    document = create_app(Settings(database_url="sqlite://")).openapi()
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item
            if method.upper() in HTTP_METHODS]  # fmt: skip


# Collected from the app itself: a route added to it is fuzzed without a change here.
# (schemathesis.pytest.from_fixture would do this, but it sets a node attribute pytest 9 no longer has.)
@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda v: str(v))
def test_no_server_error_and_every_response_as_documented(
    method: str, path: str, api_schema: BaseSchema, fuzz_target: FuzzTarget
) -> None:
    operation = api_schema[path][method]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def calls(case: Case[Any]) -> None:
            headers = fuzz_target.headers_for(case)
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)
            known = fuzz_target.known_values(case)
            if known is not None:
                case.path_parameters, case.body = known
                response = case.call(headers=headers)
                case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            calls()
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise
            # Nothing of this operation can be made invalid (no parameters, no body).


def test_the_document_says_every_error_is_a_problem() -> None:
    document = create_app(Settings(database_url="sqlite://")).openapi()
    problem = {"$ref": "#/components/schemas/Problem"}
    login = document["paths"][f"{API}/login"]["post"]["responses"]
    assert login["422"]["content"] == {"application/problem+json": {"schema": problem}}
    for path_item in document["paths"].values():
        for operation in path_item.values():
            assert (
                operation["responses"]["default"]["content"]["application/problem+json"]["schema"] == problem
            )
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["schemas"]["Problem"]["required"] == [
        "type", "title", "status", "detail", "instance"
    ]  # fmt: skip
