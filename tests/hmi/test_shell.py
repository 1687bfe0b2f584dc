"""What every page has: the login page first, the alarm banner, the navigation, the link banner, and
the log-out; a page of a missing thing is an error page, not a traceback."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy.engine import Engine

from mes.auth.models import Role
from mes.db import session_scope
from mes.quality.alarms import raise_alarm
from mes.quality.models import AlarmPriority
from tests.hmi.conftest import Hmi, log_in, shoot


def test_a_page_asks_for_a_login_first_and_comes_back_to_it(hmi: Hmi) -> None:
    context = hmi.browser.new_context(base_url=hmi.base_url)
    hmi.contexts.append(context)
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(hmi.url("/login?next=/"))
    page.get_by_test_id("login-name").fill("operator-person")
    page.get_by_test_id("login-password").fill("wrong password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-problem")).to_contain_text("401")
    log_in(page, "operator-person", "api-test-password", "/")
    expect(page).to_have_url(hmi.url("/"))
    expect(page.get_by_test_id("who")).to_contain_text("operator")
    shoot(page, "line-empty")


def test_every_page_shows_the_alarm_banner_by_priority(hmi: Hmi) -> None:
    page = hmi.page(Role.OPERATOR)
    for priority in ("urgent", "high", "medium", "low"):
        expect(page.get_by_test_id(f"alarm-count-{priority}")).to_have_attribute("data-count", "0")


def test_log_out_ends_the_session(hmi: Hmi) -> None:
    page = hmi.page(Role.OPERATOR)
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(hmi.url("/login?next=/"))


def test_a_command_after_the_session_ended_elsewhere_goes_to_the_login(hmi: Hmi, engine: Engine) -> None:
    with session_scope(engine) as session:
        alarm = raise_alarm(session, "coater-1:down", "coater-1 does not answer", priority=AlarmPriority.LOW)
    page = hmi.page(Role.OPERATOR, "/alarms")
    other = page.context.new_page()  # another tab of the same browser logs out
    other.goto("/")
    other.get_by_test_id("logout").click()
    expect(other.get_by_test_id("login-form")).to_be_visible()
    page.get_by_test_id(f"ack-{alarm.id}").click()
    # Not a developer's "Not authenticated (401)" in the form: the login page, then back to the alarms.
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page).to_have_url(hmi.url("/login?next=%2Falarms"))
