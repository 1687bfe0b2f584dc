"""The ``mes`` command line.

Errors of every layer are turned into one line on stderr and an exit code here,
in :func:`main`, and nowhere else: a user never sees a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

import mes
from mes.cli import audit as audit_cli
from mes.cli import equipment as equipment_cli
from mes.cli import lots as lots_cli
from mes.cli import orders as order_cli
from mes.cli import quality as quality_cli
from mes.cli import recipes as recipe_cli
from mes.cli import secret as secret_cli
from mes.cli import spc as spc_cli
from mes.cli import status as status_cli
from mes.cli import steps as step_cli
from mes.cli import tokens as token_cli
from mes.cli import units as unit_cli
from mes.cli import users as user_cli
from mes.cli import web as web_cli
from mes.cli.common import database, out
from mes.config import get_settings
from mes.db import describe, make_engine
from mes.errors import InputError, MesError
from mes.logs import configure as configure_logging
from workers.errors import BrokerUnreachable


def output_closed() -> NoReturn:
    """The reader of our output stopped reading (``mes … | head -1``): print nothing more, exit 141
    as a shell reports a command ended by SIGPIPE. Python ignores SIGPIPE, so a write fails with
    BrokenPipeError instead; stdout goes to /dev/null so that the flush at exit fails no more (the
    Python docs' note on SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise SystemExit(EXIT_OUTPUT_CLOSED)


class _Mes(TyperGroup):
    """The root command. click turns a BrokenPipeError into a silent exit 1 before :func:`main` sees it;
    here, around every command, it goes to :func:`output_closed`. (typer's help screens have a console
    of their own, which exits 1.)"""

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # what print() buffered fails here, not at the interpreter's exit
            return result
        except BrokenPipeError:
            output_closed()


app = typer.Typer(
    name="mes",
    cls=_Mes,
    help="Manufacturing execution for lithium-ion electrode and cell lines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema: apply migrations, check the connection.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(secret_cli.secret_app, name="secret")
app.add_typer(recipe_cli.app, name="recipe")
app.add_typer(user_cli.app, name="user")
app.add_typer(token_cli.token_app, name="token")
app.command("web")(web_cli.web)
app.add_typer(audit_cli.app, name="audit")
app.add_typer(equipment_cli.equipment_app, name="equipment")
app.add_typer(equipment_cli.certs_app, name="certs")
app.command("sim")(equipment_cli.sim)
app.add_typer(order_cli.order_app, name="order")
app.add_typer(lots_cli.lot_app, name="lot")
app.add_typer(step_cli.step_app, name="step")
app.add_typer(step_cli.unit_app, name="unit")
step_cli.unit_app.command("list")(unit_cli.unit_list)
step_cli.unit_app.command("show")(unit_cli.unit_show)
app.command("collector")(lots_cli.collector)
app.command("demo")(lots_cli.demo)
app.command("status")(status_cli.status)
app.add_typer(spc_cli.app, name="spc")
spc_cli.app.add_typer(quality_cli.limits_app, name="limits")
app.add_typer(quality_cli.alarm_app, name="alarm")
lots_cli.lot_app.command("hold")(quality_cli.lot_hold)
lots_cli.lot_app.command("release")(quality_cli.lot_release)
lots_cli.lot_app.command("scrap")(quality_cli.lot_scrap)
lots_cli.lot_app.command("report")(quality_cli.lot_report)


def _print_version(value: bool) -> None:
    if value:
        out.print(f"mes {mes.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the MES version and exit."
    ),
) -> None:
    """Manufacturing execution for lithium-ion electrode and cell lines."""


@app.command()
def version() -> None:
    """Print the MES version."""
    _print_version(True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to MES_DATABASE_URL (safe to run again)."""
    from mes.migrate import upgrade

    settings = get_settings()
    engine = make_engine(settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    if before == after:
        out.print(f"schema already at revision {after}; nothing to do")
    else:
        out.print(f"schema upgraded from {before or 'empty'} to revision {after}")


@db_app.command("check")
def db_check() -> None:
    """Connect to MES_DATABASE_URL and report its schema revision (exit 1 unless current)."""
    from mes.migrate import require_current

    with database(migrated=False) as engine:
        revision = require_current(engine)
        url = describe(engine.url)
    out.print(f"database {url}: schema at revision {revision} (current)")


# Exit codes, here and nowhere else (README, "Exit codes"): 0 done; 1 refused or failed (what was wrong
# and where, on one line); 2 a usage error (typer) or a value that cannot be used as it is (InputError);
# 70 internal error (a bug: EX_SOFTWARE); 75 what was asked is saved but not yet handed on — the broker
# did not take it and the reconciler will (EX_TEMPFAIL: do not repeat the command); 130 interrupted;
# 141 the reader of the output stopped reading (128 + SIGPIPE, as a shell reports it).
EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL, EXIT_SAVED_NOT_SENT, EXIT_INTERRUPTED = 1, 2, 70, 75, 130
EXIT_OUTPUT_CLOSED = 141
EXIT_CODES: tuple[tuple[type[MesError], int], ...] = (
    (BrokerUnreachable, EXIT_SAVED_NOT_SENT),
    (InputError, EXIT_USAGE),
)


def exit_code(exc: MesError) -> int:
    """The exit code of an error of any layer."""
    return next((code for cls, code in EXIT_CODES if isinstance(exc, cls)), EXIT_ERROR)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, map errors to exit codes."""
    configure_logging(debug=bool(os.environ.get("MES_DEBUG")))
    try:
        app(args=argv, prog_name="mes")
    except MesError as exc:
        typer.echo(f"mes: error: {exc}", err=True)
        sys.exit(exit_code(exc))
    except KeyboardInterrupt:
        typer.echo("mes: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:  # a write outside the command (the root's own), if any
        output_closed()
    except Exception as exc:
        # A bug, not a user error; still no traceback on the operator's screen
        # unless asked for.
        if os.environ.get("MES_DEBUG"):
            raise
        typer.echo(
            f"mes: internal error: {type(exc).__name__}: {exc} (set MES_DEBUG=1 for the traceback)",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":  # pragma: no cover
    main()
