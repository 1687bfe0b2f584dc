"""The alarm pages' routes without a browser: plant time typed in a search taken to UTC (summer time
included), a page without a session goes to the login page, malformed filters are a page that says so."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from mes.auth.models import Role
from mes.config import Settings
from mes.hmi.app import create_web_app
from mes.hmi.plant_time import PlantTimeInvalid, plant_to_utc, utc_query, utc_to_plant_input
from tests.api.conftest import TestClient, log_in, make_callers

BERLIN = "Europe/Berlin"


@pytest.mark.parametrize(
    ("typed", "upper", "utc"),
    [
        ("2026-01-15T09:30", False, datetime(2026, 1, 15, 8, 30, tzinfo=UTC)),  # winter, UTC+1
        ("2026-07-15T09:30", False, datetime(2026, 7, 15, 7, 30, tzinfo=UTC)),  # summer, UTC+2
        ("2026-07-15T09:30:15", False, datetime(2026, 7, 15, 7, 30, 15, tzinfo=UTC)),
        # 02:30 on 25 October happens twice: a lower bound takes the first, an upper bound the second.
        ("2026-10-25T02:30", False, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        ("2026-10-25T02:30", True, datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
        ("2026-07-15T09:30+00:00", False, datetime(2026, 7, 15, 9, 30, tzinfo=UTC)),  # its own offset
    ],
)
def test_a_typed_plant_time_is_taken_to_utc(typed: str, upper: bool, utc: datetime) -> None:
    assert plant_to_utc(typed, BERLIN, "since", upper=upper) == utc


def test_a_plant_time_that_cannot_be_one_says_why() -> None:
    assert plant_to_utc(None, BERLIN, "since") is None
    assert plant_to_utc("  ", BERLIN, "since") is None
    skipped = plant_to_utc("2026-03-29T02:30", BERLIN, "since")
    assert skipped == PlantTimeInvalid("since", "2026-03-29T02:30 does not exist in Europe/Berlin "
                                                "(the clock skips it that night)")  # fmt: skip
    assert isinstance(plant_to_utc("yesterday", BERLIN, "until"), PlantTimeInvalid)
    early = plant_to_utc("0001-01-01T00:30", BERLIN, "since")
    assert isinstance(early, PlantTimeInvalid) and "outside the years" in early.message
    assert utc_to_plant_input(datetime(2026, 7, 15, 7, 30, tzinfo=UTC), BERLIN) == "2026-07-15T09:30"
    assert utc_query(datetime(2026, 7, 15, 7, 30, tzinfo=UTC)) == "2026-07-15T07:30:00Z"


@pytest.fixture
def web(db_url: str, engine: Engine) -> Iterator[TestClient]:
    make_callers(engine)
    app = create_web_app(Settings(database_url=db_url, plant_time_zone=BERLIN), engine=engine)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def test_the_alarm_pages_need_a_session_and_well_formed_filters(web: TestClient) -> None:
    for path in ("/alarms", "/alarms/history?unit=coater-1", "/alarms/1"):
        answer = web.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=/alarms")
    log_in(web, Role.OPERATOR)
    assert web.get("/alarms?priority=high&priority=urgent&shelved=true").status_code == 200
    for path, status, said in (
        ("/alarms?priority=loud", 422, "priority"),
        ("/alarms/history?cursor=nonsense", 422, "cursor"),
        ("/alarms/0", 422, "alarm_id"),
        ("/alarms/77", 404, "no alarm 77"),
    ):
        answer = web.get(path)
        assert answer.status_code == status, path
        assert answer.headers["content-type"].startswith("text/html")
        assert said in answer.text, path
    # A time that cannot be one is said on the page, which still answers (200) with the form.
    answer = web.get("/alarms/history?since=2026-03-29T02:30&until=soon")
    assert answer.status_code == 200
    assert "does not exist in Europe/Berlin" in answer.text and "is not a date and time" in answer.text
