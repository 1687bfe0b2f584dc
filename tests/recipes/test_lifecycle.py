"""Recipe lifecycle in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session, col, select

from mes.audit.models import AuditEvent
from mes.audit.service import verify_chain
from mes.auth.errors import AuthError
from mes.auth.models import Role
from mes.auth.service import create_user
from mes.auth.signatures import SignatureMeaning
from mes.db import session_scope
from mes.recipes import service
from mes.recipes.errors import LifecycleError, RecipeError, RecipeNotFound
from mes.recipes.load import load_recipe_text
from mes.recipes.models import RecipeStatus
from mes.recipes.schema import Recipe
from tests.recipes.helpers import text_of

PASSWORDS = {"erin": "engineer-pass", "quinn": "quality-pass", "otto": "operator-pass"}


def _recipe(text: str) -> Recipe:
    result = load_recipe_text(text)
    assert result.recipe is not None, result.issues
    return result.recipe


@pytest.fixture
def people(engine: Engine) -> Engine:
    with session_scope(engine) as session:
        create_user(session, "erin", Role.ENGINEER, PASSWORDS["erin"])
        create_user(session, "quinn", Role.QUALITY, PASSWORDS["quinn"])
        create_user(session, "otto", Role.OPERATOR, PASSWORDS["otto"])
    return engine


def _actions(session: Session) -> list[str]:
    return list(session.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))).all())


def test_full_lifecycle_is_audited(people: Engine) -> None:
    recipe = _recipe(text_of("capped-si-anode.yaml"))
    with session_scope(people) as session:
        row, what = service.import_recipe(
            session, recipe, by="erin", source_path="recipes/capped-si-anode.yaml"
        )
        assert (what, row.status) == ("created", RecipeStatus.DRAFT)
        assert row.content_hash == service.content_hash(recipe)
    with session_scope(people) as session:
        service.approve(session, "capped-si-anode@1", by="erin", reason="trials passed")
    with session_scope(people) as session:
        detail = service.release(
            session, "capped-si-anode@1", by="quinn", password=PASSWORDS["quinn"], reason="PPAP ok"
        )
        assert detail.released_by == "quinn"
        assert detail.released_at is not None
        assert service.require_released(session, "capped-si-anode@1").content_hash == detail.content_hash
        assert detail.content == recipe
        assert [s.meaning for s in detail.signatures] == [SignatureMeaning.APPROVAL]
        assert detail.signatures[0].content_sha256 == service.content_hash(recipe)
    with session_scope(people) as session:
        service.obsolete(session, "capped-si-anode@1", by="erin", reason="superseded")
    with session_scope(people) as session, pytest.raises(LifecycleError, match="only released recipes"):
        service.require_released(session, "capped-si-anode@1")
    with session_scope(people) as session:
        assert _actions(session) == [
            "recipe.import", "recipe.approve", "e-signature", "recipe.release", "recipe.obsolete"
        ]  # fmt: skip
        events = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
        assert [e.actor for e in events] == ["erin", "erin", "quinn", "quinn", "erin"]
        assert events[2].after is not None
        assert events[2].after["content_sha256"] == recipe_hash(events)
        assert events[2].after["meaning"] == "approval"
        assert events[3].reason == "PPAP ok"
        assert events[3].before == {"status": "approved", "content_hash": recipe_hash(events)}
        assert verify_chain(session).ok


def recipe_hash(events: Sequence[AuditEvent]) -> str:
    assert events[0].after is not None
    return str(events[0].after["content_hash"])


def test_reimport_is_idempotent_and_drafts_can_be_replaced(people: Engine) -> None:
    text = text_of("capped-si-anode.yaml")
    with session_scope(people) as session:
        service.import_recipe(session, _recipe(text), by="erin")
    with session_scope(people) as session:
        assert service.import_recipe(session, _recipe(text), by="erin")[1] == "unchanged"
    changed = _recipe(text.replace("power_w: 1500", "power_w: 1400"))
    with session_scope(people) as session:
        row, what = service.import_recipe(session, changed, by="erin")
        assert what == "replaced"
        assert row.content_hash == service.content_hash(changed)
        assert _actions(session) == ["recipe.import", "recipe.reimport"]


def test_content_is_frozen_once_approved(people: Engine) -> None:
    text = text_of("capped-si-anode.yaml")
    with session_scope(people) as session:
        service.import_recipe(session, _recipe(text), by="erin")
        service.approve(session, "capped-si-anode@1", by="erin", reason="ok")
    changed = _recipe(text.replace("power_w: 1500", "power_w: 1400"))
    with pytest.raises(LifecycleError, match="import it as version 2"), session_scope(people) as session:
        service.import_recipe(session, changed, by="erin")
    # The database refuses too, whoever asks.
    with pytest.raises(DatabaseError, match="frozen"), people.begin() as conn:
        conn.execute(sa.text("UPDATE recipe SET content = '{}', content_hash = 'x'"))


@pytest.mark.parametrize(
    ("by", "password", "error"),
    [
        ("erin", PASSWORDS["erin"], "needs the quality role"),
        ("otto", PASSWORDS["otto"], "needs the quality role"),
        ("quinn", "not-the-password", "unknown signer or wrong password"),
        # One message for a name that is no one's: a signature does not tell who exists.
        ("nobody", "whatever-pass", "unknown signer or wrong password"),
    ],
)
def test_release_needs_quality_and_the_password(people: Engine, by: str, password: str, error: str) -> None:
    with session_scope(people) as session:
        service.import_recipe(session, _recipe(text_of("cathode-lco.yaml")), by="erin")
        service.approve(session, "cathode-lco@1", by="erin", reason="ok")
    with pytest.raises(AuthError, match=error), session_scope(people) as session:
        service.release(session, "cathode-lco@1", by=by, password=password, reason="go")
    with session_scope(people) as session:
        assert service.get_recipe(session, "cathode-lco@1").status == RecipeStatus.APPROVED


def test_transitions_must_follow_the_order(people: Engine) -> None:
    with session_scope(people) as session:
        service.import_recipe(session, _recipe(text_of("cathode-lco.yaml")), by="erin")
    with (
        pytest.raises(LifecycleError, match="only a approved recipe can become released"),
        session_scope(people) as s,
    ):
        service.release(s, "cathode-lco@1", by="quinn", password=PASSWORDS["quinn"], reason="skip approval")
    with pytest.raises(LifecycleError, match="a reason is required"), session_scope(people) as s:
        service.approve(s, "cathode-lco@1", by="erin", reason="  ")
    with pytest.raises(AuthError, match="needs the engineer role"), session_scope(people) as s:
        service.approve(s, "cathode-lco@1", by="quinn", reason="ok")
    with pytest.raises(AuthError, match="import recipes"), session_scope(people) as s:
        service.import_recipe(s, _recipe(text_of("capped-si-anode.yaml")), by="otto")
    with (
        pytest.raises(LifecycleError, match="only released recipes can be dispatched"),
        session_scope(people) as s,
    ):
        service.require_released(s, "cathode-lco@1")


def test_references(people: Engine) -> None:
    assert service.parse_ref("capped-si-anode@12") == ("capped-si-anode", 12)
    assert service.parse_ref("capped-si-anode") == ("capped-si-anode", None)
    for bad in ("Capped", "x@0", "x@", "@1", "x@1@2", "x y"):
        with pytest.raises(RecipeError, match="not a recipe reference"):
            service.parse_ref(bad)
    with pytest.raises(RecipeError, match="expected ID@VERSION"):
        service.parse_ref("x", version_required=True)
    with session_scope(people) as session, pytest.raises(RecipeNotFound, match="no recipe nope@3"):
        service.get_recipe(session, "nope@3")


def test_newest_version_and_diff(people: Engine) -> None:
    text = text_of("capped-si-anode.yaml")
    v2 = text.replace("version: 1", "version: 2").replace("power_w: 1500", "power_w: 1350")
    with session_scope(people) as session:
        service.import_recipe(session, _recipe(text), by="erin")
        service.import_recipe(session, _recipe(v2), by="erin")
        newest = service.get_recipe(session, "capped-si-anode")
        assert newest.version == 2
        changes = service.diff(service.get_recipe(session, "capped-si-anode@1"), newest)
    assert changes == [("steps[0].setpoints.power_w", 1500.0, 1350.0), ("version", 1, 2)]


def test_tampering_is_found_by_verify(people: Engine) -> None:
    with session_scope(people) as session:
        service.import_recipe(session, _recipe(text_of("capped-si-anode.yaml")), by="erin")
        service.approve(session, "capped-si-anode@1", by="erin", reason="ok")
        service.obsolete(session, "capped-si-anode@1", by="erin", reason="gone")
        second = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()[1]
    # Behind the application's back: lift the guard, edit a reason, restore it.
    with people.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_change"))
            conn.execute(
                sa.text("UPDATE audit_event SET reason = 'edited' WHERE id = :id"), {"id": second.id}
            )
            conn.execute(sa.text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_change"))
        else:
            conn.execute(sa.text("DROP TRIGGER audit_event_no_update"))
            conn.execute(
                sa.text("UPDATE audit_event SET reason = 'edited' WHERE id = :id"), {"id": second.id}
            )
    with session_scope(people) as session:
        report = verify_chain(session)
    assert not report.ok
    assert report.first_broken_id == second.id
    assert "content does not match its hash" in report.problem
