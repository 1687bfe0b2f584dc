"""What a user types reaches the database only when it can mean what was typed: ids beyond any row,
numbers that are not quantities, names and keys typed with stray spaces, control characters in free
text. Each case was found by trying the product as a new user; run through the installed ``mes``."""

from __future__ import annotations

from pathlib import Path

import pytest

from mes.auth.models import Role
from mes.auth.service import create_user
from mes.db import make_engine, session_scope
from tests.test_cli import assert_one_line_error, run_mes

PASSWORD = "quality-pw-1"


@pytest.fixture
def env(db_url: str) -> dict[str, str]:
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        create_user(session, "quinn", Role.QUALITY, PASSWORD)
    engine.dispose()
    return {"MES_DATABASE_URL": db_url}


@pytest.mark.parametrize("row_id", ["3000000000", "99999999999999999999999"])
def test_an_id_beyond_any_row_is_not_found(env: dict[str, str], row_id: str, tmp_path: Path) -> None:
    # Expected: "no alarm N" / "no step N" (exit 1); before: an internal error (exit 70) — SQLite's
    # OverflowError, or PostgreSQL's "integer out of range" with the SQL statement printed.
    assert_one_line_error(
        run_mes("alarm", "ack", row_id, "--by", "quinn", env=env, cwd=tmp_path), f"no alarm {row_id}"
    )
    assert_one_line_error(run_mes("step", "show", row_id, env=env, cwd=tmp_path), f"no step {row_id}")
    release = run_mes("lot", "receive", "--kind", "separator", "--material", "PE", "--supplier", "Acme",
                      "--supplier-lot", "S5", "--length-m", "10", "--by", "quinn", env=env, cwd=tmp_path)  # fmt: skip
    assert release.returncode == 0, release
    number = release.stdout.split()[1]
    result = run_mes("lot", "release", number, "--interval", row_id, "--by", "quinn", "--reason", "checked",
                     "--password-stdin", env=env, cwd=tmp_path, stdin=PASSWORD)  # fmt: skip
    assert_one_line_error(result, f"no interval {row_id}")


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    "args",
    [
        ("lot", "receive", "--kind", "separator", "--material", "PE", "--supplier", "Acme", "--supplier-lot", "S5",
         "--length-m", "inf", "--by", "quinn"),
        ("lot", "receive", "--kind", "separator", "--material", "PE", "--supplier", "Acme", "--supplier-lot", "S5",
         "--length-m", "10", "--width-mm", "nan", "--by", "quinn"),
        ("order", "create", "--recipe", "cathode-lco@1", "--lots", "1", "--lot-size", "inf", "--by", "quinn"),
        ("order", "create", "--recipe", "cathode-lco@1", "--priority", "99999999999999999999", "--by", "quinn"),
    ],
)  # fmt: skip
def test_a_number_that_is_no_quantity_is_a_usage_error(
    env: dict[str, str], args: tuple[str, ...], tmp_path: Path
) -> None:
    # Expected: exit 2 naming the option; before: `--length-m inf` received a lot "inf m" long (exit 0),
    # and a huge priority was an internal error.
    result = run_mes(*args, env=env, cwd=tmp_path)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    [named] = [a for a in args if a in ("--length-m", "--width-mm", "--lot-size", "--priority")][-1:]
    assert named in result.stderr, result.stderr


@pytest.mark.parametrize("backend", ["sqlite"])
def test_control_characters_in_free_text_are_refused(env: dict[str, str], tmp_path: Path) -> None:
    # Expected: exit 2 naming the character; before: stored, and `mes audit list` printed the escape
    # sequence raw (it recoloured the terminal).
    base = (
        "lot",
        "receive",
        "--kind",
        "separator",
        "--material",
        "PE",
        "--supplier",
        "Acme",
        "--length-m",
        "10",
    )
    for option, value, code in (
        ("--supplier-lot", "S\tX", "U+0009"),
        ("--supplier-lot", "S5\x1b[31m", "U+001B"),
    ):
        result = run_mes(*base, option, value, "--by", "quinn", env=env, cwd=tmp_path)
        assert result.returncode == 2, result
        assert code in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_name_typed_with_a_stray_space_is_the_user_everywhere(env: dict[str, str], tmp_path: Path) -> None:
    received = run_mes("lot", "receive", "--kind", "separator", "--material", "PE", "--supplier", "Acme",
                       "--supplier-lot", "S5", "--length-m", "10", "--by", "quinn ", env=env, cwd=tmp_path)  # fmt: skip
    assert received.returncode == 0, received
    # Expected: the audit filter finds quinn's events typed either way; before: `--user 'quinn '` found none.
    for typed in ("quinn", "quinn "):
        events = run_mes("audit", "list", "--user", typed, "--json", env=env, cwd=tmp_path)
        assert events.returncode == 0, events
        assert '"actor": "quinn"' in events.stdout, (typed, events.stdout)
    # Expected: a name that cannot be one is a usage error before anything is looked up.
    empty = run_mes("alarm", "ack", "1", "--by", "  ", env=env, cwd=tmp_path)
    assert empty.returncode == 2 and "user name cannot be empty" in empty.stderr, empty
