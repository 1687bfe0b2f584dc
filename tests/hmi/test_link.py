"""The link to the server, in a real browser against a real ``mes web`` process: when the server is
killed the page says so within 5 s and disables its commands; when it is back the page catches up on
what happened meanwhile (Last-Event-ID) without a reload."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from playwright.sync_api import Browser, expect
from sqlalchemy.engine import Engine

from mes.auth.models import Role
from mes.db import session_scope
from mes.quality.alarms import raise_alarm
from mes.quality.models import AlarmPriority
from tests.api.conftest import PASSWORD, Callers, make_callers
from tests.api.server import start_web
from tests.hmi.conftest import log_in, shoot


def test_a_lost_server_is_shown_and_the_page_catches_up_when_it_is_back(
    db_url: str, engine: Engine, browser: Browser, tmp_path: Path
) -> None:
    make_callers(engine)
    env = {"MES_DATABASE_URL": db_url, "MES_EVENTS_POLL_S": "0.2"}
    web = start_web(env, tmp_path)
    port = int(web.base_url.rsplit(":", 1)[1])
    context = browser.new_context(base_url=web.base_url, viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        log_in(page, Callers.person(Role.OPERATOR), PASSWORD, "/")
        banner = page.get_by_test_id("link-banner")
        expect(page.get_by_test_id("alarm-count-high")).to_have_attribute("data-count", "0")
        expect(banner).to_be_hidden()
        page.evaluate("window.__notReloaded = true")

        # A second page with commands: the alarm list.
        with session_scope(engine) as session:
            alarm = raise_alarm(
                session, "coater-1:down", "coater-1 does not answer", priority=AlarmPriority.LOW
            )
            alarm_id = alarm.id
        alarms = context.new_page()
        alarms.goto("/alarms")
        expect(alarms.get_by_test_id(f"ack-{alarm_id}")).to_be_enabled()

        os.killpg(web.process.pid, signal.SIGKILL)  # no goodbye: a crash or a pulled cable
        web.process.wait(10)
        expect(banner).to_be_visible(timeout=5_000)
        expect(page.locator("body.no-link")).to_have_count(1)
        shoot(page, "link-lost")
        # Every command is disabled, and an opener of a command's form does not open.
        expect(alarms.get_by_test_id("link-banner")).to_be_visible(timeout=5_000)
        expect(alarms.get_by_test_id(f"ack-{alarm_id}")).to_be_disabled()
        alarms.get_by_test_id(f"shelve-{alarm_id}").click()
        expect(alarms.get_by_test_id(f"shelve-open-{alarm_id}")).not_to_have_attribute("open", "")
        expect(alarms.get_by_test_id(f"shelve-submit-{alarm_id}")).to_be_hidden()
        # While the server is away, something happens on the line.
        with session_scope(engine) as session:
            raise_alarm(session, "sputter-1:arc", "arc detected on sputter-1", priority=AlarmPriority.HIGH)

        web = start_web(env, tmp_path, port=port)
        expect(banner).to_be_hidden(timeout=15_000)
        expect(page.get_by_test_id("alarm-count-high")).to_have_attribute("data-count", "1")
        assert page.evaluate("window.__notReloaded") is True
        expect(alarms.get_by_test_id(f"ack-{alarm_id}")).to_be_enabled(timeout=15_000)
    finally:
        context.close()
        web.stop()
