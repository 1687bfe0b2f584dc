"""The audit journal's route without a browser: who may read it (as in the API), a page without a
session goes to the login page, and the CSV link carries the page's filters in UTC."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from mes.auth.models import Role
from mes.config import Settings
from mes.hmi.app import create_web_app
from tests.api.conftest import TestClient, log_in, make_callers


@pytest.fixture
def web(db_url: str, engine: Engine) -> Iterator[TestClient]:
    make_callers(engine)
    app = create_web_app(Settings(database_url=db_url, plant_time_zone="Europe/Berlin"), engine=engine)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def test_the_journal_is_read_by_quality_and_admin_only(web: TestClient) -> None:
    answer = web.get("/audit", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/login?next=/audit")
    for role in (Role.OPERATOR, Role.ENGINEER):
        log_in(web, role)
        refused = web.get("/audit?actor=system")
        assert refused.status_code == 403
        assert "may not read the audit journal" in refused.text
        assert 'data-testid="audit-table"' not in refused.text
        assert web.get("/api/v1/audit").status_code == 403  # the API agrees
    for role in (Role.QUALITY, Role.ADMIN):
        log_in(web, role)
        assert web.get("/audit").status_code == 200


def test_the_csv_link_asks_the_api_for_the_same_events_in_utc(web: TestClient) -> None:
    log_in(web, Role.QUALITY)
    page = web.get("/audit?actor=system&action=lot.&since=2026-07-15T09:30&until=2026-07-15T18:00")
    assert page.status_code == 200
    href = html.unescape(page.text.split('data-testid="audit-csv"')[0].rsplit('href="', 1)[1].split('"')[0])
    assert href == ("/api/v1/audit.csv?actor=system&action=lot.&since=2026-07-15T07%3A30%3A00Z"
                    "&until=2026-07-15T16%3A00%3A00Z&limit=10000")  # fmt: skip
    answer = web.get(href)
    assert answer.status_code == 200 and answer.text.startswith("id,occurred_at,actor,action")
