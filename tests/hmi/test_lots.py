"""The lots pages in a browser: the list with its filters and pages, a lot's band map with its
intervals where the scans put them, why it is held, signed hold / release / scrap by role, and the
report downloaded. Lots are made through the services (:mod:`tests.quality.made_lots`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from mes.auth.models import Role
from tests.api.conftest import PASSWORD, Callers
from tests.hmi.conftest import Hmi, shoot
from tests.quality.made_lots import BASELINE_1, BASELINE_2, CELL, OOS_M, PITCH_M, SUSPECT, MadeLots, build

MAP = "band-map-carbon-film.thickness"


@pytest.fixture
def made(engine: Engine) -> MadeLots:
    return build(engine)


def sign(page: Page, reason: str, password: str = PASSWORD) -> None:
    """Fill the open signature dialog and sign."""
    dialog = page.get_by_test_id("sign-dialog")
    expect(dialog).to_be_visible()
    page.get_by_test_id("sign-reason").fill(reason)
    page.get_by_test_id("sign-password").fill(password)
    page.get_by_test_id("sign-submit").click()


def test_the_list_shows_whole_lot_numbers_newest_first_filters_and_pages(hmi: Hmi, made: MadeLots) -> None:
    page = hmi.page(Role.OPERATOR, "/lots")
    rows = page.get_by_test_id("lot-row")
    expect(rows).to_have_count(5)  # the order's three lots, the cell, the demo's purchased separator
    expect(rows.nth(0)).to_have_attribute("data-lot", CELL)
    expect(page.get_by_test_id(f"lot-link-{SUSPECT}")).to_have_text(SUSPECT)  # never shortened
    expect(rows.nth(1).get_by_test_id("lot-status")).to_have_text("on hold")
    shoot(page, "lots-list")

    page.get_by_test_id("filter-status-on_hold").check()
    page.get_by_test_id("filter-apply").click()
    expect(page).to_have_url(re.compile(r"status=on_hold"))
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_have_attribute("data-lot", SUSPECT)

    page.goto("/lots?kind=separator")
    expect(rows).to_have_count(1)
    expect(page.get_by_test_id("filter-kind")).to_have_value("separator")
    page.goto("/lots?order=WO-260413-C4R8ON&since=2000-01-01T00:00")
    expect(rows).to_have_count(3)
    page.goto("/lots?since=2999-01-01T00:00")
    expect(page.get_by_test_id("lots-empty")).to_be_visible()

    page.goto("/lots?limit=2&kind=anode")
    expect(rows).to_have_count(2)
    page.get_by_test_id("lots-older").click()
    expect(page).to_have_url(re.compile(r"kind=anode.*cursor="))  # the filters stay
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_have_attribute("data-lot", BASELINE_1)
    expect(page.get_by_test_id("lots-older")).to_have_count(0)
    page.get_by_test_id("lots-newest").click()
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-lot", SUSPECT)

    page.goto("/lots?recipe=not a reference")
    expect(page.get_by_test_id("lots-problem")).to_contain_text("not a reference")


def test_the_band_map_outlines_the_out_of_spec_metres_and_hatches_the_unmeasured(
    hmi: Hmi, made: MadeLots
) -> None:
    page = hmi.page(Role.OPERATOR, f"/lots/{SUSPECT}")
    expect(page.get_by_test_id("lot-status")).to_have_attribute("data-status", "on_hold")
    band = page.get_by_test_id(MAP)
    expect(band).to_have_attribute("data-hold", "lot")
    expect(page.get_by_test_id("band-hold-carbon-film.thickness")).to_contain_text("on hold")
    x0, ppm = float(band.get_attribute("data-x0") or 0), float(band.get_attribute("data-px-per-m") or 0)

    oos = page.get_by_test_id(f"band-interval-{made.oos_interval}")
    expect(oos).to_have_attribute("data-kind", "out_of_spec")
    expect(oos).to_have_attribute("data-status", "held")
    assert float(oos.get_attribute("data-start-m") or 0) == pytest.approx(OOS_M[0])
    assert float(oos.get_attribute("data-end-m") or 0) == pytest.approx(OOS_M[1] - PITCH_M)
    outline = oos.locator("rect")
    # Drawn at its metres: from 12.00 m to the end of the last bad scan's centimetre (12.30 m).
    assert float(outline.get_attribute("x") or 0) == pytest.approx(x0 + OOS_M[0] * ppm, abs=0.01)
    assert float(outline.get_attribute("width") or 0) == pytest.approx((OOS_M[1] - OOS_M[0]) * ppm, abs=0.02)
    # … over the red cells (beyond spec), one run a lane, and nowhere else.
    red = band.locator("rect.cell.oos")
    expect(red).to_have_count(8)
    box, first = outline.bounding_box(), red.first.bounding_box()
    assert box is not None and first is not None
    # (the outline's box holds its 3-unit stroke: compare the middles, and the widths within the stroke)
    assert first["x"] + first["width"] / 2 == pytest.approx(box["x"] + box["width"] / 2, abs=1)
    assert first["width"] == pytest.approx(box["width"], abs=4)

    gap = page.get_by_test_id(f"band-interval-{made.unmeasured_interval}")
    expect(gap).to_have_attribute("data-kind", "unmeasured")
    expect(gap.locator("rect")).to_have_attribute("fill", re.compile(r"url\(#hatch-"))
    hatched = band.locator("rect.cell.nd")
    expect(hatched).to_have_count(8)  # 16–17 m of every lane: nothing measured
    assert float(hatched.first.get_attribute("x") or 0) == pytest.approx(x0 + 16.0 * ppm, abs=0.01)

    reasons = page.get_by_test_id("hold-reason")
    expect(reasons.filter(has_text="did not measure enough of the roll")).to_have_count(1)
    expect(
        page.locator(f'[data-testid=hold-reason][data-interval-id="{made.oos_interval}"]')
    ).to_contain_text("nm beyond USL 600 nm")  # every number with its unit
    expect(page.get_by_test_id("cpk-carbon-film.thickness")).to_have_text(re.compile(r"^\d+\.\d\d$"))
    shoot(page, "lot-detail")


def test_an_operator_holds_a_lot_and_quality_releases_it_with_signatures(hmi: Hmi, made: MadeLots) -> None:
    qa = hmi.page(Role.QUALITY, f"/lots/{BASELINE_2}")  # open first: it follows the hold live
    expect(qa.get_by_test_id("lot-release")).to_have_count(0)  # a released lot is not released again
    op = hmi.page(Role.OPERATOR, f"/lots/{BASELINE_2}")
    expect(op.get_by_test_id("lot-status")).to_have_attribute("data-status", "released")
    expect(op.get_by_test_id("lot-release")).to_have_count(0)
    expect(op.get_by_test_id("lot-scrap")).to_have_count(0)
    op.get_by_test_id("lot-hold").click()
    expect(op.get_by_test_id("sign-meaning")).to_have_value("responsibility")
    expect(op.get_by_test_id("sign-meaning").locator("option[value=review]")).to_be_enabled()
    sign(op, "streaks seen at the unwinder")
    expect(op.get_by_test_id("lot-status")).to_have_attribute("data-status", "on_hold")
    held = op.get_by_test_id("hold-reason").filter(has_text="streaks seen at the unwinder")
    expect(held).to_contain_text(f"by {Callers.person(Role.OPERATOR)}")
    expect(held).to_contain_text("signed")
    expect(op.get_by_test_id("lot-release")).to_have_count(0)  # still not the operator's to release
    # The page does not offer it, and the API refuses it all the same.
    refused = op.evaluate(
        """([path, name, password]) => window.mes.send("POST", path, {reason: "try",
             signature: {name, password, meaning: "approval"}}).then(() => "sent", (p) => `${p.status} ${p.body.type}`)""",
        [f"/api/v1/lots/{BASELINE_2}:release", Callers.person(Role.OPERATOR), PASSWORD],
    )
    assert refused.startswith("403 ") and refused.endswith("role-refused"), refused

    expect(qa.get_by_test_id("lot-status")).to_have_attribute("data-status", "on_hold")  # no reload
    qa.get_by_test_id("lot-release").click()
    expect(qa.get_by_test_id("sign-meaning")).to_have_value("approval")
    # A release is signed as an approval only (the service's rule): the dialog offers no other meaning.
    meaning = qa.get_by_test_id("sign-meaning")
    expect(meaning.locator("option[value=review]")).to_be_disabled()
    expect(meaning.locator("option[value=responsibility]")).to_be_disabled()
    sign(qa, "streaks were on the interleaf only", password="not my password")
    problem = qa.get_by_test_id("sign-problem")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text("403")
    expect(qa.get_by_test_id("sign-dialog")).to_be_visible()  # still open, the password emptied
    expect(qa.get_by_test_id("sign-password")).to_have_value("")
    shoot(qa, "lot-signature-refused")
    qa.get_by_test_id("sign-password").fill(PASSWORD)
    qa.get_by_test_id("sign-submit").click()
    expect(qa.get_by_test_id("sign-dialog")).to_be_hidden()
    expect(qa.get_by_test_id("lot-status")).to_have_attribute("data-status", "released")
    signatures = qa.get_by_test_id("signature")
    expect(signatures).to_have_count(2)
    expect(signatures.nth(0)).to_have_attribute("data-signs", "lot.hold")
    expect(signatures.nth(1)).to_have_attribute("data-signs", "lot.release")
    expect(signatures.nth(1)).to_contain_text("Quality Person")
    shoot(qa, "lot-released")


def test_quality_releases_one_held_interval_which_an_operator_may_not(hmi: Hmi, made: MadeLots) -> None:
    op = hmi.page(Role.OPERATOR, f"/lots/{SUSPECT}")
    expect(op.get_by_test_id(f"interval-row-{made.oos_interval}")).to_be_visible()
    expect(op.get_by_test_id(f"interval-{made.oos_interval}-release")).to_have_count(0)
    expect(op.get_by_test_id(f"interval-{made.oos_interval}-scrap")).to_have_count(0)

    qa = hmi.page(Role.QUALITY, f"/lots/{SUSPECT}")
    qa.get_by_test_id(f"interval-{made.oos_interval}-release").click()
    expect(qa.get_by_test_id("sign-dialog")).to_contain_text(f"interval {made.oos_interval}")
    sign(qa, "cross-section: within spec after all")
    expect(qa.get_by_test_id(f"interval-status-{made.oos_interval}")).to_have_text("released")
    expect(qa.get_by_test_id(f"band-interval-{made.oos_interval}")).to_have_attribute(
        "data-status", "released"
    )
    expect(qa.get_by_test_id("signature")).to_have_attribute("data-signs", "interval.release")


def test_genealogy_links_both_ways_and_the_report_downloads(hmi: Hmi, made: MadeLots, tmp_path: Path) -> None:
    page = hmi.page(Role.OPERATOR, f"/lots/{CELL}")
    expect(page.get_by_test_id(f"input-{BASELINE_1}")).to_contain_text("as anode, 0.00 m–0.65 m")
    page.get_by_test_id(f"input-{BASELINE_1}").get_by_role("link", name=BASELINE_1).click()
    expect(page.get_by_test_id("lot-number")).to_have_text(BASELINE_1)
    expect(page.get_by_test_id(f"output-{CELL}")).to_contain_text("0.00 m–0.65 m")
    page.get_by_test_id(f"output-{CELL}").get_by_role("link", name=CELL).click()
    expect(page.get_by_test_id("lot-number")).to_have_text(CELL)

    page.goto(f"/lots/{SUSPECT}")
    with page.expect_download() as info:
        page.get_by_test_id("report-csv").click()
    csv = info.value
    assert csv.suggested_filename == f"{SUSPECT}-report.csv"
    csv.save_as(tmp_path / "report.csv")
    text = (tmp_path / "report.csv").read_text()
    assert SUSPECT in text and "carbon-film" in text and text.startswith("#")
    with page.expect_download() as info:
        page.get_by_test_id("report-json").click()
    assert info.value.suggested_filename == f"{SUSPECT}-report.json"
    info.value.save_as(tmp_path / "report.json")
    assert f'"lot":"{SUSPECT}"' in (tmp_path / "report.json").read_text().replace(" ", "")
