"""``mes recipe`` as a user runs it, against SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from tests.recipes.helpers import RECIPES_DIR, line_of, set_value, text_of
from tests.test_cli import run_mes


def test_validate_shipped_recipes() -> None:
    result = run_mes("recipe", "validate", str(RECIPES_DIR))
    assert result.returncode == 0, result.stdout
    assert "6 valid, 0 invalid" in result.stdout


def test_validate_reports_every_problem_and_exits_1(tmp_path: Path) -> None:
    text = text_of("capped-si-anode.yaml")
    line = line_of(text, ("steps", 0, "setpoints", "power_w"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(set_value(text, line, "power_w", "20000").replace("version: 1", "version: 0"))
    good = RECIPES_DIR / "cathode-lco.yaml"
    result = run_mes("recipe", "validate", str(good), str(bad), str(tmp_path / "missing.yaml"))
    assert result.returncode == 1
    assert f"{good}: ok" in result.stdout
    assert (
        f"{bad}:{line}:16: steps[0].setpoints.power_w: 20000 W is outside the sputter class limits"
        in result.stdout
    )
    assert f"{bad}:5:10: version: Input should be greater than or equal to 1" in result.stdout
    assert f"{tmp_path / 'missing.yaml'}:1:1: (file): cannot read: No such file or directory" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_validate_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nversion: 1\nnope: 1\n")
    result = run_mes("recipe", "validate", "--json", str(bad))
    assert result.returncode == 1
    issues = json.loads(result.stdout)
    assert {
        "path": str(bad),
        "line": 3,
        "column": 1,
        "field": "nope",
        "message": "unknown key 'nope'",
    } in issues
    assert all(set(i) == {"path", "line", "column", "field", "message"} for i in issues)
    ok = run_mes("recipe", "validate", "--json", str(RECIPES_DIR))
    assert (ok.returncode, json.loads(ok.stdout)) == (0, [])


def test_schema_command_prints_the_committed_schema() -> None:
    result = run_mes("recipe", "schema")
    assert result.returncode == 0
    committed = json.loads((RECIPES_DIR / "schema" / "recipe.schema.json").read_text())
    assert json.loads(result.stdout) == committed


def test_lifecycle_through_the_cli(empty_db_url: str, tmp_path: Path) -> None:
    env = {"MES_DATABASE_URL": empty_db_url}

    def mes(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        result = run_mes(*args, env=env, cwd=tmp_path, stdin=stdin)
        assert "Traceback" not in result.stderr
        return result.returncode, result.stdout, result.stderr

    unmigrated = mes("recipe", "list")
    assert unmigrated[0] == 1 and "mes db upgrade" in unmigrated[2]
    assert mes("db", "upgrade")[0] == 0
    assert (
        mes("user", "add", "erin", "--role", "engineer", "--password-stdin", stdin="engineer-pass\n")[0] == 0
    )
    assert (
        mes("user", "add", "quinn", "--role", "quality", "--password-stdin", stdin="quality-pass\n")[0] == 0
    )

    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\n")
    code, _, err = mes("recipe", "import", str(RECIPES_DIR), str(bad), "--by", "erin")
    assert code == 1 and f"{bad}:1:1: steps: required field is missing" in err
    assert "capped-si-anode" not in mes("recipe", "list")[1]  # all or nothing

    code, out, _ = mes("recipe", "import", str(RECIPES_DIR), "--by", "erin")
    assert code == 0 and out.count(": created (draft") == 6
    assert "capped-si-anode@1: unchanged" in mes("recipe", "import", str(RECIPES_DIR / "capped-si-anode.yaml"),
                                                  "--by", "erin")[1]  # fmt: skip
    assert mes("recipe", "approve", "capped-si-anode@1", "--by", "erin", "--reason", "trials ok")[0] == 0
    code, _, err = mes("recipe", "release", "capped-si-anode@1", "--by", "quinn", "--reason", "go",
                       "--password-stdin", stdin="guess\n")  # fmt: skip
    assert code == 1 and "wrong password" in err
    code, _, err = mes("recipe", "release", "capped-si-anode@1", "--by", "quinn", "--reason", "go")
    assert code == 2 and "--password-stdin" in err  # no password to read: a usage error (it was 1)
    code, out, _ = mes("recipe", "release", "capped-si-anode@1", "--by", "quinn", "--reason", "PPAP ok",
                       "--password-stdin", stdin="quality-pass\n")  # fmt: skip
    assert code == 0 and "released by quinn" in out

    code, out, _ = mes("recipe", "show", "capped-si-anode@1", "--json")
    shown = json.loads(out)
    assert (shown["status"], shown["released_by"], shown["content"]["id"]) == (
        "released",
        "quinn",
        "capped-si-anode",
    )
    assert "power_w: 1500.0" in mes("recipe", "show", "capped-si-anode")[1]
    assert "released" in mes("recipe", "list")[1]

    code, _, err = mes("recipe", "show", "nope@1")
    assert code == 1 and err.strip() == "mes: error: no recipe nope@1 in the database (see `mes recipe list`)"
    code, _, err = mes("recipe", "approve", "capped-si-anode@1", "--by", "erin", "--reason", "again")
    assert code == 1 and "capped-si-anode@1 is released" in err

    v2 = tmp_path / "v2.yaml"
    v2.write_text(
        text_of("capped-si-anode.yaml")
        .replace("version: 1", "version: 2")
        .replace("passes: 10", "passes: 11")
    )
    assert mes("recipe", "import", str(v2), "--by", "erin")[0] == 0
    code, out, _ = mes("recipe", "diff", "capped-si-anode@1", "capped-si-anode@2")
    assert code == 0 and "steps[0].setpoints.passes: 10 → 11" in out and "version: 1 → 2" in out
    assert (
        mes("recipe", "obsolete", "capped-si-anode@1", "--by", "quinn", "--reason", "replaced by v2")[0] == 0
    )

    code, out, _ = mes("audit", "verify")
    # 7 imports, approve, the wrong-password refusal, the signature, release, obsolete
    assert code == 0 and "audit trail intact: 12 event(s)" in out
