"""What every ``mes`` sub-command needs: the database, the console, a password."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.engine import Engine

from mes.base import dumps_json, normal_text
from mes.cli.console import out as out  # the commands' console, where they have always found it
from mes.config import get_settings
from mes.db import make_engine, require_database
from mes.errors import InputError

AsJson = typer.Option(False, "--json", help="Print JSON (and nothing else) on stdout.")

# Characters a typed value may not hold: control (Cc: escape sequences, tab, NUL), invisible format
# (Cf: bidi overrides, zero-width) and line/paragraph separators. Printed back in a list or the audit
# trail they would recolour a terminal or make one text look like another.


def free_text(value: str | None) -> str | None:
    """typer callback for a reason, comment, supplier lot…: trimmed, NFC, and printable (exit 2 if not)."""
    if value is None:
        return None
    try:
        return normal_text(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def user_name(value: str) -> str:
    """typer callback for ``--by``: the user name in the form it is stored (NFC, trimmed), so that what
    is echoed and looked up is what is recorded; a name that cannot be one is a usage error (exit 2)."""
    from mes.auth.errors import InvalidUserName
    from mes.auth.service import normal_name

    try:
        return normal_name(value)
    except InvalidUserName as exc:
        raise typer.BadParameter(str(exc)) from None


def finite(value: float | None) -> float | None:
    """typer callback for a number: ``inf`` and ``nan`` are not quantities (exit 2)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def print_json(value: BaseModel | Sequence[BaseModel] | Any) -> None:
    """Print a read model (or a list of them) as JSON: exactly ``model_dump(mode="json")``.

    Anything else (a trace's dataclasses) goes through pydantic's serializer of its type. NaN and
    ±Inf are written as null: JSON has no NaN.
    """
    data: Any
    if isinstance(value, BaseModel):
        data = value.model_dump(mode="json")
    elif isinstance(value, Sequence) and all(isinstance(v, BaseModel) for v in value):
        data = [v.model_dump(mode="json") for v in value]
    else:
        data = TypeAdapter(type(value)).dump_python(value, mode="json")
    typer.echo(dumps_json(data, indent=2))


@contextmanager
def database(*, migrated: bool = True) -> Iterator[Engine]:
    """An engine on MES_DATABASE_URL, checked to exist (never created here: only `mes db upgrade` makes a
    database) and to be at the current schema revision."""
    from mes.migrate import require_current

    settings = get_settings()
    require_database(settings.database_url)
    engine = make_engine(settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        if migrated:
            require_current(engine)
        yield engine
    finally:
        engine.dispose()


def read_password(from_stdin: bool, what: str) -> str:
    """The password, from one line of stdin or a hidden prompt; never from an argument."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise InputError(f"{what}: --password-stdin given but standard input is empty")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InputError(f"{what} needs the password: type it at the prompt or pass --password-stdin")
    password: str = typer.prompt("Password", hide_input=True)
    return password


PasswordStdin = typer.Option(
    False, "--password-stdin", help="Read the password from the first line of stdin."
)
