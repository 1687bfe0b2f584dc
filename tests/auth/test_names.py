"""One user per name however it is typed; one password however it is typed.

"zoë" with a precomposed ë (NFC) and with e + U+0308 (NFD) look the same and are
one user; "erin " is erin; an empty name or one with control characters is
refused as bad input (exit code 2). Passwords are compared in their NFKC form.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mes.audit.models import AuditEvent
from mes.auth.errors import AuthError
from mes.auth.models import Role, User
from mes.auth.service import create_user, get_user, password_matches, sign
from mes.cli.app import exit_code
from mes.db import make_engine, session_scope
from mes.errors import DatabaseError, MesError
from mes.migrate import upgrade
from mes.quality import alarms
from mes.recipes import service as recipes
from mes.recipes.load import load_recipe_text
from tests.recipes.helpers import text_of
from tests.test_cli import run_mes

ZOE_NFC = unicodedata.normalize("NFC", "zoë")
ZOE_NFD = unicodedata.normalize("NFD", "zoë")
PW_NFC = unicodedata.normalize("NFC", "crème brûlée")
PW_NFD = unicodedata.normalize("NFD", "crème brûlée")


def test_the_two_forms_differ() -> None:
    assert ZOE_NFC != ZOE_NFD and len(ZOE_NFD) == 4 and PW_NFC != PW_NFD


@pytest.mark.parametrize(
    ("first", "second"), [(ZOE_NFC, ZOE_NFD), (ZOE_NFD, ZOE_NFC), ("erin", "erin "), ("erin", "\terin\n")]
)
def test_a_name_in_another_form_is_the_same_user(engine: Engine, first: str, second: str) -> None:
    with session_scope(engine) as session:
        create_user(session, first, Role.ENGINEER, "engineer-pw")
    with session_scope(engine) as session, pytest.raises(AuthError, match="exists already"):
        create_user(session, second, Role.ENGINEER, "another-pw")  # before: a second user
    with session_scope(engine) as session:
        assert get_user(session, second).name == unicodedata.normalize("NFC", first).strip()
        assert [u.name for u in session.exec(select(User)).all()] == [
            unicodedata.normalize("NFC", first).strip()
        ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "a user name cannot be empty"),
        ("   ", "a user name cannot be empty"),
        ("er\tin", "contains U+0009"),
        ("erin\x00", "contains U+0000"),
        ("er\nin", "contains U+000A"),
        ("er\x7fin", "contains U+007F"),
        ("er\u200bin", "contains U+200B (ZERO WIDTH SPACE)"),
        ("erin\u202e", "contains U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("e" * 65, "at most 64 characters, not 65"),
    ],
)
def test_names_that_cannot_be_user_names_are_bad_input(engine: Engine, name: str, message: str) -> None:
    with session_scope(engine) as session:
        create_user(session, "erin", Role.ENGINEER, "engineer-pw")
    # before: stored (PostgreSQL: a driver error for NUL and for 65 characters), or "no active user"
    with session_scope(engine) as session, pytest.raises(AuthError, match=re.escape(message)) as added:
        create_user(session, name, Role.ENGINEER, "engineer-pw")
    with session_scope(engine) as session, pytest.raises(AuthError, match=re.escape(message)) as looked_up:
        get_user(session, name)
    assert exit_code(added.value) == exit_code(looked_up.value) == 2


def test_a_password_set_in_one_form_signs_in_another(engine: Engine) -> None:
    with session_scope(engine) as session:
        create_user(session, ZOE_NFC, Role.QUALITY, PW_NFC)
    with session_scope(engine) as session:
        # before: "signature refused: wrong password"
        assert sign(session, ZOE_NFD, PW_NFD, [Role.QUALITY], "release").name == ZOE_NFC
        assert sign(
            session, ZOE_NFC, "ｃｒèｍｅ ｂｒûｌéｅ", [Role.QUALITY], "release"
        )  # fullwidth: NFKC folds
        with pytest.raises(AuthError, match="wrong password"):
            sign(session, ZOE_NFC, "creme brulee", [Role.QUALITY], "release")


def _hash_as_typed(password: str) -> str:
    """A hash as it was made before passwords were normalised: of the characters as typed."""
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${2**14}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def test_a_hash_of_a_password_as_typed_still_signs_and_is_renewed(engine: Engine) -> None:
    with session_scope(engine) as session:
        user = create_user(session, "quinn", Role.QUALITY, "placeholder-pw")
        user.password_hash = _hash_as_typed(PW_NFD)
    with session_scope(engine) as session:
        # until its first use only the form it was set with signs
        assert not password_matches(PW_NFC, get_user(session, "quinn").password_hash)
        sign(session, "quinn", PW_NFD, [Role.QUALITY], "release")
    with session_scope(engine) as session:
        assert sign(session, "quinn", PW_NFC, [Role.QUALITY], "release").name == "quinn"
        assert not password_matches("wrong-password", get_user(session, "quinn").password_hash)


def test_every_lookup_by_name_goes_through_the_normal_form(engine: Engine) -> None:
    with session_scope(engine) as session:
        create_user(session, "erin", Role.ENGINEER, "engineer-pw")
        create_user(session, ZOE_NFC, Role.QUALITY, PW_NFC)
        alarm = alarms.raise_alarm(session, "coater-1:gap", "gap drifting")
        alarm_id = alarm.id or 0
    loaded = load_recipe_text(text_of("capped-si-anode.yaml"))
    assert loaded.recipe is not None
    with session_scope(engine) as session:
        recipes.import_recipe(session, loaded.recipe, by=" erin")
        recipes.approve(session, "capped-si-anode@1", by="erin ", reason="trials passed")
        row = recipes.release(session, "capped-si-anode@1", by=ZOE_NFD, password=PW_NFD, reason="PPAP")
        assert (row.approved_by, row.released_by) == ("erin", ZOE_NFC)  # before: "erin ", zoë in NFD
        alarms.acknowledge(session, alarm_id, by=f"{ZOE_NFD} ", comment="seen")
    with session_scope(engine) as session:
        actors = session.exec(select(AuditEvent.actor).order_by(col(AuditEvent.id))).all()
        assert set(actors) == {"erin", ZOE_NFC}
        acked = alarms.get_alarm(session, alarm_id)
        assert acked.acknowledged_by == ZOE_NFC


def test_a_refused_signature_with_a_name_that_is_no_name_is_audited_in_bounds(engine: Engine) -> None:
    with session_scope(engine) as session:
        recipes.record_refusal(session, "x@1", actor="e" * 70, action="recipe.release", error=MesError("no"))
        recipes.record_refusal(
            session, "x@1", actor=f"{ZOE_NFD} ", action="recipe.release", error=MesError("no")
        )
    with session_scope(engine) as session:
        actors = session.exec(select(AuditEvent.actor).order_by(col(AuditEvent.id))).all()
        assert actors == ["'" + "e" * 63, ZOE_NFC]  # before: a PostgreSQL error for the first


def test_the_command_line_refuses_a_bad_name_with_exit_code_2(empty_db_url: str, tmp_path: Path) -> None:
    engine = make_engine(empty_db_url)
    upgrade(engine)
    engine.dispose()
    env = {"MES_DATABASE_URL": empty_db_url}
    for name, message in (("", "a user name cannot be empty"), ("er\tin", "contains U+0009")):
        result = run_mes("user", "add", name, "--role", "engineer", "--password-stdin", env=env, cwd=tmp_path,
                         stdin="engineer-pw\n")  # fmt: skip
        assert result.returncode == 2, result  # before: 0, the user was added
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("mes: error: ") and message in line


def test_the_migration_puts_stored_names_in_their_normal_form(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    upgrade(engine, "0005")
    with engine.begin() as conn:
        for name in (ZOE_NFD, "erin ", "otto", ""):
            conn.execute(
                sa.text("INSERT INTO app_user (name, full_name, password_hash, role, active, created_at) "
                        "VALUES (:n, '', 'x', 'operator', true, CURRENT_TIMESTAMP)"), {"n": name}
            )  # fmt: skip
    upgrade(engine)
    with engine.connect() as conn:
        names = conn.execute(sa.text("SELECT name FROM app_user ORDER BY id")).scalars().all()
    engine.dispose()
    assert names == [ZOE_NFC, "erin", "otto", ""]


def test_the_migration_stops_at_names_that_become_one(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    upgrade(engine, "0005")
    with engine.begin() as conn:
        for name in ("erin", "erin ", ZOE_NFC, ZOE_NFD):
            conn.execute(
                sa.text("INSERT INTO app_user (name, full_name, password_hash, role, active, created_at) "
                        "VALUES (:n, '', 'x', 'operator', true, CURRENT_TIMESTAMP)"), {"n": name}
            )  # fmt: skip
    with pytest.raises(DatabaseError) as info:
        upgrade(engine)
    engine.dispose()
    assert "'erin': id 1 'erin', id 2 'erin '" in str(info.value)
    assert f"{ZOE_NFC!r}: id 3 {ZOE_NFC!r}, id 4 {ZOE_NFD!r}" in str(info.value)


@given(st.text(max_size=80))
def test_the_normal_form_is_stable_and_says_the_same_for_every_form(text: str) -> None:
    from mes.auth.errors import InvalidUserName
    from mes.auth.service import normal_name

    try:
        name = normal_name(text)
    except InvalidUserName:
        for form in ("NFC", "NFD"):
            with pytest.raises(InvalidUserName):
                normal_name(unicodedata.normalize(form, text))
        return
    assert name == name.strip() and name and len(name) <= 64
    assert unicodedata.is_normalized("NFC", name)
    assert normal_name(name) == name
    assert normal_name(unicodedata.normalize("NFD", text)) == name
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in name)
