"""The line overview: a tile per unit with its state, job, progress and the newest value of each gauge
against its limits, moved by live values without a reload; stale values and lost links marked; the
demo's line on one 1280×800 screen."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from mes.api.app import create_app
from mes.auth.models import Role
from mes.base import utcnow
from mes.config import Settings
from mes.db import session_scope
from mes.execution.line_view import line_view
from tests.api.conftest import TestClient, make_callers
from tests.hmi import line_plant as plant
from tests.hmi.conftest import Hmi, shoot
from tests.hmi.line_plant import COATER, IDLE, SPUTTER, WINDER, Running
from tests.hmi.line_plant import live_hmi as live_hmi  # a fixture

TARGET_NM = 4000.0


@pytest.fixture
def running(engine: Engine) -> dict[str, Running]:
    return plant.build(engine)


def _scans(engine: Engine, run: Running, metres: float, first_seq: int = 1, target: float = TARGET_NM) -> int:
    """Scans of ``metres`` of band from ``first_seq`` on; the next seq."""
    count = round(metres / run.pitch_m)
    values = [plant.value_at(target, (first_seq + i) * run.pitch_m) for i in range(count)]
    plant.store_scans(engine, run, values, first_seq=first_seq)
    return first_seq + count


def _marker_left(page: Page, testid: str) -> str:
    return str(page.get_by_test_id(testid).locator("[data-part=marker]").evaluate("m => m.style.left"))


def test_each_unit_has_a_tile_with_state_job_progress_and_gauges(
    hmi: Hmi, engine: Engine, running: dict[str, Running]
) -> None:
    sputter, coater = running[SPUTTER], running[COATER]
    _scans(engine, sputter, 10.0)
    _scans(engine, coater, 4.0, target=20.0)
    plant.answer(engine)
    page = hmi.page(Role.OPERATOR)
    for unit in (SPUTTER, COATER, IDLE, WINDER):
        expect(page.get_by_test_id(f"tile-{unit}")).to_be_visible()
    expect(page.get_by_test_id(f"tile-state-{SPUTTER}")).to_have_text("Execute")
    expect(page.get_by_test_id(f"tile-lot-{SPUTTER}")).to_have_text(sputter.lot)
    expect(page.get_by_test_id(f"tile-lot-{SPUTTER}")).to_have_attribute("href", f"/lots/{sputter.lot}")
    expect(page.get_by_test_id(f"tile-recipe-{SPUTTER}")).to_have_text("capped-si-anode@1")
    expect(page.get_by_test_id(f"tile-step-{SPUTTER}")).to_contain_text("1/2 si-active")
    expect(page.get_by_test_id(f"tile-done-{SPUTTER}")).to_have_text("10.0 m")
    expect(page.get_by_test_id(f"tile-progress-{SPUTTER}")).to_contain_text("of 40.0 m")
    expect(page.get_by_test_id(f"tile-eta-{SPUTTER}")).to_be_visible()
    bar = page.get_by_test_id(f"tile-progress-{SPUTTER}").locator("[data-part=bar]")
    assert float(bar.evaluate("b => b.style.width").rstrip("%")) == pytest.approx(25.0, abs=0.1)
    gauge = page.get_by_test_id(f"tile-gauge-{SPUTTER}-xrf")
    expect(gauge.locator("[data-part=value]")).to_have_text(
        re.compile("^\\d\u202f\\d{3} nm$")
    )  # 1 nm, grouped
    expect(gauge).not_to_have_class(re.compile(r"\bstale\b"))
    expect(gauge.locator("[data-part=age]")).to_have_text(re.compile(r"^\d+ s$"))
    expect(gauge.locator(".control")).to_have_count(1)  # the control limits in force, inside the spec band
    expect(page.get_by_test_id(f"tile-gauge-{COATER}-beta").locator(".control")).to_have_count(0)  # none set
    # Both of the coater's gauges: coat weight measured, thickness not yet.
    expect(page.get_by_test_id(f"tile-gauge-{COATER}-beta").locator("[data-part=value]")).not_to_have_text(
        "—"
    )
    expect(
        page.get_by_test_id(f"tile-gauge-{COATER}-laser-caliper").locator("[data-part=value]")
    ).to_have_text("—")
    expect(
        page.get_by_test_id(f"tile-gauge-{COATER}-laser-caliper").locator("[data-part=marker]")
    ).to_be_hidden()
    expect(page.get_by_test_id(f"tile-idle-{IDLE}")).to_have_text("no job")
    # The demo's line fits one 1280×800 screen, without scrolling either way.
    page.set_viewport_size({"width": 1280, "height": 800})
    size = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    assert size[0] <= 1280 and size[1] <= 800, size
    shoot(page, "line-overview")


def test_a_live_value_moves_the_marker_and_the_number_without_a_reload(
    live_hmi: Hmi, engine: Engine, running: dict[str, Running]
) -> None:
    """The collector stores each poll's scans, then publishes the newest on Redis: the page follows."""
    sputter = running[SPUTTER]
    seq = _scans(engine, sputter, 1.0)
    page = live_hmi.page(Role.OPERATOR)
    page.evaluate("() => { window.testValues = []; window.mes.onValue((v) => window.testValues.push(v)); }")
    page.evaluate("() => { window.notReloaded = true; }")
    gauge = page.get_by_test_id(f"tile-gauge-{SPUTTER}-xrf")
    before = _marker_left(page, f"tile-gauge-{SPUTTER}-xrf")
    # mes web subscribes to Redis once a page follows the stream: publish until a value arrives.
    for attempt in range(40):
        seq = plant.publish(engine, sputter, [4150.0], first_seq=seq)
        try:
            expect(gauge.locator("[data-part=value]")).to_have_text("4\u202f150 nm", timeout=500)
            break
        except AssertionError:
            assert attempt < 39, "no live value reached the page"
    assert page.evaluate("() => window.testValues.some((v) => v.mean === 4150 && v.unit === 'sputter-1')")
    assert _marker_left(page, f"tile-gauge-{SPUTTER}-xrf") != before
    expect(gauge).not_to_have_class(re.compile(r"out-of-spec"))
    # Beyond the USL (4200 nm): red, the marker moved on, and so did the metres done.
    seq = plant.publish(engine, sputter, [4180.0, 4300.0], first_seq=seq)
    expect(gauge.locator("[data-part=value]")).to_have_text("4\u202f300 nm")
    expect(gauge).to_have_class(re.compile(r"out-of-spec"))
    expect(page.get_by_test_id(f"tile-done-{SPUTTER}")).to_have_text(f"{(seq - 2) * sputter.pitch_m:.1f} m")
    assert page.evaluate("() => window.notReloaded === true")
    shoot(page, "line-live-out-of-spec")


def test_a_value_older_than_the_stale_limit_is_greyed_with_its_age(
    hmi: Hmi, engine: Engine, running: dict[str, Running]
) -> None:
    sputter = running[SPUTTER]
    plant.store_scans(engine, sputter, [4010.0], measured_at=utcnow() - timedelta(seconds=125))
    page = hmi.page(Role.OPERATOR)
    gauge = page.get_by_test_id(f"tile-gauge-{SPUTTER}-xrf")
    expect(gauge).to_have_class(re.compile(r"\bstale\b"))
    expect(gauge.locator("[data-part=age]")).to_have_text(re.compile(r"^2 min 0\d s$"))
    expect(gauge).to_have_attribute("title", re.compile("stale"))
    shoot(page, "line-stale-value")


def test_a_unit_whose_link_is_down_says_no_link(
    hmi: Hmi, engine: Engine, running: dict[str, Running]
) -> None:
    """The winder is out of service after a lost link and has not answered the collector since."""
    page = hmi.page(Role.OPERATOR)
    tile = page.get_by_test_id(f"tile-{WINDER}")
    expect(tile).to_have_attribute("data-link", "down")
    expect(tile).to_have_class(re.compile(r"no-link-unit"))
    expect(page.get_by_test_id(f"tile-no-link-{WINDER}")).to_contain_text("no link")
    expect(page.get_by_test_id(f"tile-no-link-{WINDER}")).to_contain_text("has not answered the collector")
    expect(page.get_by_test_id(f"tile-health-{WINDER}")).to_contain_text(plant.LINK_LOST)
    expect(page.get_by_test_id(f"tile-state-{WINDER}")).to_have_class(re.compile(r"\bwas\b"))  # as last read
    for unit in (SPUTTER, COATER, IDLE):
        expect(page.get_by_test_id(f"tile-{unit}")).to_have_attribute("data-link", "up")
        expect(page.get_by_test_id(f"tile-no-link-{unit}")).to_have_count(0)
    # Sputter-1 stops answering: within a refresh of the tiles, it says so too (no reload).
    plant.answer(engine, silent=(WINDER, SPUTTER))
    expect(page.get_by_test_id(f"tile-no-link-{SPUTTER}")).to_contain_text("no link", timeout=15_000)
    shoot(page, "line-no-link")


def test_with_the_collector_gone_every_unit_has_no_link(engine: Engine, running: dict[str, Running]) -> None:
    with session_scope(engine) as s:
        from mes.execution.models import ServiceHeartbeat

        beat = s.get(ServiceHeartbeat, "collector")
        assert beat is not None
        beat.beat_at = utcnow() - timedelta(minutes=5)
        s.add(beat)
    with session_scope(engine) as s:
        view = line_view(s)
    assert not view.collector_alive
    assert {u.name: u.link_up for u in view.units} == dict.fromkeys((COATER, SPUTTER, IDLE, WINDER), False)
    assert all("collector is not running" in (u.link_reason or "") for u in view.units)


def test_the_api_answers_the_same_read_model(
    db_url: str, engine: Engine, running: dict[str, Running]
) -> None:
    _scans(engine, running[SPUTTER], 2.0)
    callers = make_callers(engine)
    with TestClient(create_app(Settings(database_url=db_url), engine=engine)) as client:
        answer = client.get("/api/v1/line", headers=callers.bearer(Role.OPERATOR))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    tiles = {u["name"]: u for u in body["units"]}
    step = tiles[SPUTTER]["step"]
    assert (step["lot"], step["recipe"], step["index"], step["steps"]) == (
        running[SPUTTER].lot,
        "capped-si-anode@1",
        0,
        2,
    )
    assert step["progress_m"] == pytest.approx(2.0 - running[SPUTTER].pitch_m)
    [xrf] = step["gauges"]
    assert (xrf["gauge"], xrf["unit"], xrf["lsl"], xrf["usl"]) == ("xrf", "nm", 3800.0, 4200.0)
    assert tiles[WINDER]["link_up"] is False and tiles[WINDER]["healthy"] is False
    assert tiles[IDLE]["step"] is None
