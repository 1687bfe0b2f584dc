"""The API in process (FastAPI's TestClient, for route unit tests) on each backend, with one user and
one token per role. End-to-end tests start ``mes web`` under uvicorn instead (``tests/api/server.py``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from mes.api.app import create_app
from mes.auth.models import Role
from mes.auth.service import create_user
from mes.auth.tokens import create_token
from mes.config import Settings
from mes.db import session_scope

with warnings.catch_warnings():  # starlette's TestClient warns that httpx is deprecated for it
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient as TestClient

PASSWORD = "api-test-password"  # noqa: S105 - a test user's password
ROLES = (Role.OPERATOR, Role.ENGINEER, Role.QUALITY, Role.ADMIN)


@dataclass(frozen=True)
class Callers:
    """A person (``<role>-person``, password :data:`PASSWORD`) and a token per role (admins have no
    token: a token never acts as an admin)."""

    tokens: dict[Role, str]

    def bearer(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    @staticmethod
    def person(role: Role) -> str:
        return f"{role.value}-person"


def make_callers(engine: Engine) -> Callers:
    tokens: dict[Role, str] = {}
    with session_scope(engine) as s:
        for role in ROLES:
            create_user(s, Callers.person(role), role, PASSWORD, full_name=f"{role.value.title()} Person")
        for role in ROLES:
            if role is not Role.ADMIN:
                issued = create_token(s, f"{role.value}-token", role=role, expires=timedelta(days=1),
                                      by=Callers.person(Role.ADMIN))  # fmt: skip
                tokens[role] = issued.token
    return Callers(tokens=tokens)


@pytest.fixture
def callers(engine: Engine) -> Callers:
    return make_callers(engine)


@pytest.fixture
def client(db_url: str, engine: Engine) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=db_url), engine=engine)
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def log_in(client: TestClient, role: Role) -> dict[str, str]:
    """Log a person in on ``client`` (the cookie stays on it); the CSRF header to send with changes."""
    response = client.post("/api/v1/login", data={"name": Callers.person(role), "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}
