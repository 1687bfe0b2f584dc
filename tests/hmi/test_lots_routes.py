"""The lots and SPC pages as routes (no browser): the login first, a missing lot or chart is an error
page with the API's status, a filter that cannot be read is said on the page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mes.auth.models import Role
from mes.config import Settings
from mes.db import session_scope
from mes.hmi.app import create_web_app
from mes.lots.models import Lot
from tests.api.conftest import TestClient, log_in, make_callers
from tests.quality.made_lots import CHARACTERISTIC, RECIPE, SUSPECT, UNIT, MadeLots, build


@pytest.fixture
def made(engine: Engine) -> MadeLots:
    return build(engine)


@pytest.fixture
def web(db_url: str, engine: Engine) -> Iterator[TestClient]:
    app = create_web_app(Settings(database_url=db_url), engine=engine)
    make_callers(engine)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


@pytest.mark.parametrize("path", ["/lots", f"/lots/{SUSPECT}", "/spc"])
def test_the_pages_ask_for_a_login_first(web: TestClient, path: str) -> None:
    answer = web.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/login?next={path}"


def test_a_missing_lot_or_chart_is_an_error_page_with_the_apis_status(web: TestClient) -> None:
    log_in(web, Role.OPERATOR)
    missing = web.get("/lots/WO-000000-NOSUCH-L01")
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"] and "no lot WO-000000-NOSUCH-L01" in missing.text
    chart = web.get("/spc", params={"lot": "WO-000000-NOSUCH-L01", "characteristic": CHARACTERISTIC})
    assert chart.status_code == 404 and 'data-testid="spc-problem"' in chart.text
    half = web.get("/spc", params={"recipe": RECIPE})
    assert half.status_code == 422 and "give a lot and a characteristic" in half.text
    unversioned = web.get("/spc", params={"recipe": "thin-composite-anode-carbon", "unit": UNIT,
                                          "characteristic": CHARACTERISTIC})  # fmt: skip
    assert unversioned.status_code == 422


def test_a_filter_that_cannot_be_read_is_said_above_the_list(web: TestClient, made: MadeLots) -> None:
    log_in(web, Role.OPERATOR)
    for query, said in (
        ("status=lost", "status 'lost': one of planned"),
        ("kind=spaceship", "kind 'spaceship'"),
        ("since=yesterday", "from 'yesterday': not a date and time"),
        ("cursor=nonsense", "not one this API handed out"),
        ("recipe=not a reference", "not a reference"),
    ):
        answer = web.get(f"/lots?{query}")
        assert answer.status_code == 422, query
        assert said in answer.text.replace("&#39;", "'"), query


def test_a_time_filter_is_read_in_the_plant_zone(db_url: str, engine: Engine, made: MadeLots) -> None:
    zone = "Pacific/Kiritimati"  # UTC+14: the same wall-clock time is 14 h apart in the two readings
    app = create_web_app(Settings(database_url=db_url, plant_time_zone=zone), engine=engine)
    make_callers(engine)
    with session_scope(engine) as s:
        made_at = s.exec(select(Lot.created_at).order_by(col(Lot.id).desc())).first()
    assert made_at is not None
    after = made_at + timedelta(minutes=1)
    with TestClient(app, base_url="http://127.0.0.1") as web:
        log_in(web, Role.OPERATOR)
        local = web.get(
            "/lots", params={"until": after.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")}
        )
        assert local.text.count('data-testid="lot-row"') == 5
        as_if_utc = web.get("/lots", params={"until": after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")})
        assert 'data-testid="lots-empty"' in as_if_utc.text  # 14 h before the lots were made
