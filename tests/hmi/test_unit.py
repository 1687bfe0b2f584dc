"""The unit page (level 2): trends of the gauges that keep a bounded window and page back through the
stored scans, setpoints sent against actual values, the job history, and giving an out-of-service unit
back to scheduling."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy.engine import Engine

from mes.auth.models import Role
from mes.config import Settings
from mes.db import session_scope
from mes.execution.units import unit_status
from mes.hmi.app import create_web_app
from tests.api.conftest import make_callers
from tests.api.server import serve
from tests.hmi import line_plant as plant
from tests.hmi.conftest import Hmi, shoot
from tests.hmi.line_plant import IDLE, SPUTTER, WINDER, Running
from tests.hmi.line_plant import live_hmi as live_hmi  # a fixture

WINDOW = 600


@pytest.fixture
def running(engine: Engine) -> dict[str, Running]:
    return plant.build(engine)


@pytest.fixture
def embedded_hmi(db_url: str, engine: Engine, browser: Browser) -> Iterator[Hmi]:
    """The embedded default: no Redis anywhere (a filesystem broker), so no live process values."""
    callers = make_callers(engine)
    settings = Settings(database_url=db_url, broker_url="filesystem://", result_backend="")
    with serve(create_web_app(settings, engine=engine)) as base_url:
        found = Hmi(base_url, callers, browser, [])
        yield found
        for context in found.contexts:
            context.close()


def _window(trend: Locator) -> tuple[int, float, float, str]:
    """(points, first metre, last metre, mode) of a trend, as its element says."""
    points, first, last, mode = trend.evaluate(
        "t => [t.dataset.points, t.dataset.firstM, t.dataset.lastM, t.dataset.mode]"
    )
    return int(points), float(first), float(last), str(mode)


def _stored(engine: Engine, run: Running, scans: int) -> int:
    values = [plant.value_at(4000.0, i * run.pitch_m) for i in range(scans)]
    if scans > 110:
        values[100:110] = [4300.0] * 10  # out of spec at 1.00–1.09 m
    plant.store_scans(engine, run, values)
    return scans + 1


def _until_live(page: Page, engine: Engine, run: Running, seq: int, **process: float) -> int:
    """Publish one value a time until the page has received one (mes web subscribes to Redis once a page
    follows the stream); the next seq."""
    page.evaluate("() => { window.testSeen = 0; window.mes.onValue(() => window.testSeen++); }")
    for _ in range(40):
        seq = plant.publish(engine, run, [4010.0], first_seq=seq, process=process or None)
        try:
            page.wait_for_function("() => window.testSeen > 0", timeout=500)
            return seq
        except Exception:  # noqa: BLE001, S112 - playwright's TimeoutError: not subscribed yet
            continue
    raise AssertionError("no live value reached the page")


def test_a_trend_keeps_a_bounded_window_however_many_values_come(
    live_hmi: Hmi, engine: Engine, running: dict[str, Running]
) -> None:
    sputter = running[SPUTTER]
    seq = _stored(engine, sputter, 1500)
    page = live_hmi.page(Role.OPERATOR, f"/units/{SPUTTER}")
    trend = page.get_by_test_id("trend-xrf")
    expect(trend).to_have_attribute("data-points", str(WINDOW))
    points, first, last, mode = _window(trend)
    assert (points, mode) == (WINDOW, "live")
    assert last == pytest.approx(14.99) and first == pytest.approx(9.0)
    expect(page.get_by_test_id("trend-status-xrf")).to_contain_text("live · 600 scans")
    expect(page.get_by_test_id("control-limits-xrf")).to_have_text("3\u202f900 nm – 4\u202f100 nm")
    seq = _until_live(page, engine, sputter, seq)
    for _ in range(80):
        seq = plant.publish(engine, sputter, [4020.0], first_seq=seq)
    expect(trend).to_have_attribute("data-last-m", f"{round((seq - 2) * sputter.pitch_m, 9):g}")
    points, first, last, _ = _window(trend)
    assert points == WINDOW and first > 9.0
    assert page.locator("canvas").count() >= 1
    shoot(page, "unit-trend-live")


def test_paging_back_loads_older_points_from_the_scans_api(
    hmi: Hmi, engine: Engine, running: dict[str, Running]
) -> None:
    _stored(engine, running[SPUTTER], 1500)
    page = hmi.page(Role.OPERATOR, f"/units/{SPUTTER}")
    trend = page.get_by_test_id("trend-xrf")
    expect(trend).to_have_attribute("data-points", str(WINDOW))
    page.get_by_test_id("trend-older-xrf").click()
    expect(trend).to_have_attribute("data-mode", "history")
    expect(trend).to_have_attribute("data-first-m", "3")
    points, first, last, mode = _window(trend)
    assert (points, first, mode) == (WINDOW, 3.0, "history") and last == pytest.approx(8.99)
    expect(page.get_by_test_id("trend-status-xrf")).to_contain_text("history · 600 scans · 3.00–8.99 m")
    page.get_by_test_id("trend-older-xrf").click()  # the start of the roll: the 300 scans before 3 m
    expect(trend).to_have_attribute("data-first-m", "0")
    assert _window(trend)[0] == 300
    expect(page.get_by_test_id("trend-older-xrf")).to_be_disabled()
    shoot(page, "unit-trend-history")  # the out-of-spec stretch at 1 m in red
    page.get_by_test_id("trend-newer-xrf").click()
    expect(trend).to_have_attribute("data-first-m", "3")
    page.get_by_test_id("trend-live-xrf").click()
    expect(trend).to_have_attribute("data-mode", "live")
    assert _window(trend)[1] == pytest.approx(9.0)


def test_setpoints_sent_against_the_actual_values_the_collector_read(
    live_hmi: Hmi, engine: Engine, running: dict[str, Running]
) -> None:
    sputter = running[SPUTTER]
    seq = _stored(engine, sputter, 50)
    page = live_hmi.page(Role.OPERATOR, f"/units/{SPUTTER}")
    expect(page.get_by_test_id("setpoint-power_w").locator("[data-part=sent]")).to_have_text("1\u202f500 W")
    expect(page.get_by_test_id("setpoint-web_speed_m_min").locator("[data-part=sent]")).to_have_text(
        "0.135 m/min"
    )
    expect(page.get_by_test_id("setpoint-passes").locator("[data-part=sent]")).to_have_text("10")
    expect(page.get_by_test_id("actual-power_w")).to_have_text("waiting for the unit")
    process = {"power_w": 1488.0, "pressure_pa": 0.61, "web_speed_m_min": 0.1349, "tension_n": 57.4,
               "position_m": 0.5}  # fmt: skip
    _until_live(page, engine, sputter, seq, **process)
    expect(page.get_by_test_id("actual-power_w")).to_have_text("1\u202f488 W")
    expect(page.get_by_test_id("setpoint-power_w").locator("[data-part=deviation]")).to_have_text("-0.8 %")
    expect(page.get_by_test_id("actual-pressure_pa")).to_have_text("0.61 Pa")
    expect(page.get_by_test_id("actual-ar_flow_sccm")).to_have_text("not measured by this unit")
    expect(page.get_by_test_id("process-position_m")).to_contain_text("0.50")
    shoot(page, "unit-setpoints-actual")


def test_without_a_live_channel_the_actual_values_say_not_measured(
    embedded_hmi: Hmi, engine: Engine, running: dict[str, Running]
) -> None:
    _stored(engine, running[SPUTTER], 50)
    page = embedded_hmi.page(Role.OPERATOR, f"/units/{SPUTTER}")
    expect(page.get_by_test_id("actual-not-measured")).to_be_visible()
    expect(page.get_by_test_id("actual-power_w")).to_have_text("not measured")


def test_the_job_history_is_newest_first_paged_with_links_to_lots(
    hmi: Hmi, engine: Engine, running: dict[str, Running]
) -> None:
    made = plant.jobs_done(engine, IDLE, 12)
    page = hmi.page(Role.OPERATOR, f"/units/{IDLE}")
    rows = page.get_by_test_id("jobs").locator("tbody tr")
    expect(rows).to_have_count(10)
    newest_job, newest_lot = made[-1]
    expect(rows.first).to_have_attribute("data-testid", f"job-{newest_job}")
    expect(page.get_by_test_id(f"job-lot-{newest_job}")).to_have_attribute("href", f"/lots/{newest_lot}")
    expect(page.get_by_test_id("unit-latest-job")).to_be_visible()  # idle: its latest job is shown
    shoot(page, "unit-job-history")
    page.get_by_test_id("jobs-older").click()
    expect(rows).to_have_count(2)
    expect(rows.last).to_have_attribute("data-testid", f"job-{made[0][0]}")
    expect(page.get_by_test_id("jobs-older")).to_have_count(0)
    page.get_by_test_id("jobs-newest").click()
    expect(rows).to_have_count(10)


def test_an_engineer_gives_an_out_of_service_unit_back_to_scheduling(
    hmi: Hmi, engine: Engine, running: dict[str, Running]
) -> None:
    operator = hmi.page(Role.OPERATOR, f"/units/{WINDER}")
    expect(operator.get_by_test_id("tile-health-winder-1")).to_contain_text("out of service")
    expect(operator.get_by_test_id("set-healthy-form")).to_have_count(0)  # not the operator's to do
    page = hmi.page(Role.ENGINEER, f"/units/{WINDER}")
    page.get_by_test_id("set-healthy").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("set-healthy-problem")).to_contain_text("422")  # no reason given
    page.get_by_test_id("set-healthy-reason").fill("winder gateway replaced, link checked")
    page.get_by_test_id("set-healthy").click()
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text("back to scheduling")
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("tile-health-winder-1")).to_have_count(0)
    expect(page.get_by_test_id("set-healthy-form")).to_have_count(0)
    with session_scope(engine) as s:
        assert unit_status(s, WINDER).healthy
