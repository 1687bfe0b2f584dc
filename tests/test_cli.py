"""The ``mes`` console script, run as a user runs it: a separate process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

import mes
from tests.services import free_port

MES = [str(Path(sys.executable).with_name("mes"))]


def run_mes(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``mes`` script with only the given MES_* variables set."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    full_env.update(env or {})
    return subprocess.run(
        [*MES, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=60, check=False,
        input=stdin if stdin is not None else "",
    )  # fmt: skip


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str, code: int = 1) -> None:
    """One line on stderr naming ``needles``; exit 1 (refused or failed), or ``code`` 2 (a usage error)."""
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_help_lists_the_commands() -> None:
    result = run_mes("--help")
    assert result.returncode == 0
    assert "version" in result.stdout
    assert "db" in result.stdout


def test_version() -> None:
    result = run_mes("version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"mes {mes.__version__}"


def test_version_option() -> None:
    # Expected: `mes --version` prints the same line as `mes version` and exits 0 (it was "No such option").
    result = run_mes("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"mes {mes.__version__}"


def test_db_upgrade_twice_then_check(db_url: str, empty_db_url: str, tmp_path: Path) -> None:
    env = {"MES_DATABASE_URL": empty_db_url}
    first = run_mes("db", "upgrade", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "upgraded from empty to revision" in first.stdout
    again = run_mes("db", "upgrade", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout
    check = run_mes("db", "check", env=env, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "(current)" in check.stdout


def test_default_database_is_a_sqlite_file_in_the_working_directory(tmp_path: Path) -> None:
    result = run_mes("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mes.db").exists()


def test_unmigrated_database(empty_db_url: str, tmp_path: Path) -> None:
    result = run_mes("db", "check", env={"MES_DATABASE_URL": empty_db_url}, cwd=tmp_path)
    assert_one_line_error(result, "MES_DATABASE_URL", "mes db upgrade")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://root@127.0.0.1/test", "sqlite or postgresql"),
        ("postgresql://postgres@127.0.0.1:5432/no_such_database_here", 'database "no_such_database_here"'),
        # check: the file does not exist (never created); upgrade: it cannot be created there
        ("sqlite:////no/such/directory/mes.db", "/no/such/directory/mes.db"),
    ],
)
def test_bad_database_url(url: str, needle: str, tmp_path: Path) -> None:
    for command in (("db", "check"), ("db", "upgrade")):
        result = run_mes(*command, env={"MES_DATABASE_URL": url}, cwd=tmp_path)
        assert_one_line_error(result, "MES_DATABASE_URL", needle)


def test_unreachable_server(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/mes"
    result = run_mes("db", "check", env={"MES_DATABASE_URL": url}, cwd=tmp_path)
    assert_one_line_error(result, "cannot connect to MES_DATABASE_URL", "refused")


def test_bad_setting(tmp_path: Path) -> None:
    result = run_mes("db", "check", env={"MES_ENVIRONMENT": "staging"}, cwd=tmp_path)
    assert_one_line_error(result, "MES_ENVIRONMENT")


def test_production_refuses_placeholder_secret(tmp_path: Path) -> None:
    env = {"MES_ENVIRONMENT": "production", "MES_DATABASE_URL": "postgresql://x@127.0.0.1/y"}
    result = run_mes("db", "check", env=env, cwd=tmp_path)
    assert_one_line_error(result, "MES_SECRET_KEY")


@pytest.mark.parametrize("source", ["environment", ".env file"])
@pytest.mark.parametrize(
    "command",
    [("db", "check"), ("collector",), ("sim", "--line", "line.yaml")],
    ids=["db", "collector", "sim"],
)
def test_production_refuses_a_weak_secret_in_every_process(
    command: tuple[str, ...], source: str, tmp_path: Path
) -> None:
    from tests.equipment.test_production_line import SECURED, write_line

    line = write_line(tmp_path / "line.yaml", {"sputter-1": SECURED})  # nothing else production refuses
    settings = {"MES_ENVIRONMENT": "production", "MES_SECRET_KEY": "x", "MES_LINE_CONFIG": str(line),
                "MES_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/never_created"}  # fmt: skip
    if source == ".env file":
        (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        settings = {}
    # Expected: exit 1, one line naming MES_SECRET_KEY and how to make one. Before: "x" was accepted
    # (db check went on to the database) and `mes sim --line` never read the settings and served.
    try:
        result = run_mes(*command, env=settings, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`mes {' '.join(command)}` ran in production with MES_SECRET_KEY=x")
    assert_one_line_error(result, "MES_SECRET_KEY is too weak", "mes secret new")


def test_secret_new_prints_a_key_production_accepts_and_nothing_else(tmp_path: Path) -> None:
    # Settings production refuses in the environment do not stop it: a new key is what such a host needs.
    env = {"MES_ENVIRONMENT": "production", "MES_SECRET_KEY": "x"}
    keys = [run_mes("secret", "new", env=env, cwd=tmp_path) for _ in range(2)]
    for result in keys:
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        # Expected: exactly one line, the key, 43 URL-safe characters (32 random bytes), for a pipe.
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}\n", result.stdout), result.stdout
    assert keys[0].stdout != keys[1].stdout
    key = keys[0].stdout.strip()
    env = {"MES_ENVIRONMENT": "production", "MES_SECRET_KEY": key,
           "MES_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/mes"}  # fmt: skip
    # …and production accepts it: the next refusal is the database that does not answer.
    assert_one_line_error(run_mes("db", "check", env=env, cwd=tmp_path), "cannot connect to MES_DATABASE_URL")


def test_unknown_command_is_a_usage_error() -> None:
    result = run_mes("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "argv",
    [("version",), ("recipe", "schema")],  # the rich console and typer.echo
    ids=" ".join,
)
def test_a_reader_that_stops_reading_ends_the_command_quietly(argv: tuple[str, ...], tmp_path: Path) -> None:
    """`mes … | head -1`: the reader is gone before the command writes (its first write fails)."""
    read, write = os.pipe()
    os.close(read)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    try:
        result = subprocess.run([*MES, *argv], stdout=write, stderr=subprocess.PIPE, text=True, env=env,
                                cwd=tmp_path, timeout=60, check=False)  # fmt: skip
    finally:
        os.close(write)
    # Expected: exit 141, as a shell reports a command ended by SIGPIPE, and nothing on stderr (it was
    # exit 1 with nothing said, which reads as a failure with no reason).
    assert (result.returncode, result.stderr) == (141, "")


@pytest.mark.parametrize(
    ("variable", "url", "needle"),
    [
        ("MES_LIVE_URL", "localhost:6379", "not a Redis URL"),
        ("MES_LIVE_URL", "redis://127.0.0.1:6379/x", "database number"),
        ("MES_BROKER_URL", "redis://127.0.0.1:abc/0", "port"),
    ],
)
def test_collector_refuses_a_malformed_redis_url(
    variable: str, url: str, needle: str, tmp_path: Path
) -> None:
    # Expected: one line naming the setting, exit 1 — not "internal error" (70), and not a collector
    # that runs on while the URL's database number is silently ignored.
    line = tmp_path / "line.yaml"
    line.write_text(
        "line: t\nunits:\n  - {name: sputter-1, equipment_class: sputter, "
        f"endpoint: 'opc.tcp://127.0.0.1:{free_port()}', "
        f"profile: {Path(mes.__file__).parent.parent / 'recipes/profiles/packml-sputter.yaml'}}}\n"
    )
    env = {"MES_LINE_CONFIG": str(line)}
    assert run_mes("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    result = run_mes("collector", env={**env, variable: url}, cwd=tmp_path)
    assert_one_line_error(result, variable, needle)


# Every command that reads the database goes through one check (mes.cli.common.database).
READ_COMMANDS = [
    ("lot", "list"),
    ("lot", "show", "L-1"),
    ("lot", "trace", "L-1", "--backward"),
    ("lot", "report", "L-1"),
    ("order", "list"),
    ("order", "show", "WO-1"),
    ("step", "list"),
    ("unit", "list"),
    ("alarm", "list"),
    ("audit", "verify"),
    ("recipe", "list"),
    ("user", "list"),
    ("spc", "limits", "list"),
    ("db", "check"),
]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_a_read_command_never_creates_a_database(command: tuple[str, ...], tmp_path: Path) -> None:
    # Expected: no file is made; one line names the absolute file and MES_DATABASE_URL, exit 1
    # (it made an empty ./mes.db and said only "run `mes db upgrade`").
    result = run_mes(*command, cwd=tmp_path)
    assert_one_line_error(result, str(tmp_path / "mes.db"), "MES_DATABASE_URL", "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_the_upgrade_hint_names_the_database(empty_db_url: str, tmp_path: Path) -> None:
    # Expected: "run `mes db upgrade`" says which database: the SQLite file's absolute path, or the
    # server's URL with its password masked.
    url = empty_db_url
    if url.startswith("sqlite"):
        (tmp_path / "empty.db").touch()  # a file that exists but has no schema
        named = str(tmp_path / "empty.db")
    else:
        with_password = make_url(url).set(password="s3cret")
        url = with_password.render_as_string(hide_password=False)
        named = with_password.set(drivername="postgresql").render_as_string(hide_password=True)
        assert ":***@" in named
    for command in (("lot", "list"), ("db", "check")):
        result = run_mes(*command, env={"MES_DATABASE_URL": url}, cwd=tmp_path)
        assert_one_line_error(result, named, "no MES schema", "run `mes db upgrade`")
        assert "s3cret" not in result.stderr
