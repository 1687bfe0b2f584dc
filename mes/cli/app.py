"""The ``mes`` command line.

Errors of every layer are turned into one line on stderr and an exit code here,
in :func:`main`, and nowhere else: a user never sees a traceback.

A command's module is imported when that command is run or its help is asked for, not before:
``mes lot list`` loads :mod:`mes.cli.lots` (and the lot commands of :mod:`mes.cli.quality`), not the
OPC UA driver of ``mes step`` nor the web application; ``mes --version`` loads none of them.
:data:`COMMANDS` names them in the order ``mes --help`` lists them, each with the line shown there
(``tests/test_cli_lazy.py`` checks these lines against the commands themselves).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, MutableMapping
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command_from_info, get_group_from_info

import mes
from mes.cli.console import out
from mes.errors import InputError, MesError
from mes.logs import configure as configure_logging
from workers.errors import BrokerUnreachable

if TYPE_CHECKING:
    from typer._click import Command, Context, HelpFormatter


def output_closed() -> NoReturn:
    """The reader of our output stopped reading (``mes … | head -1``): print nothing more, exit 141
    as a shell reports a command ended by SIGPIPE. Python ignores SIGPIPE, so a write fails with
    BrokenPipeError instead; stdout goes to /dev/null so that the flush at exit fails no more (the
    Python docs' note on SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise SystemExit(EXIT_OUTPUT_CLOSED)


# What a command is made from: a Typer of sub-commands (``mes lot …``) or one function (``mes web``).
Target = typer.Typer | Callable[..., Any]


def _web() -> Target:
    from mes.cli.web import web

    return web


def _sim() -> Target:
    from mes.cli.equipment import sim

    return sim


def _collector() -> Target:
    from mes.cli.lots import collector

    return collector


def _demo() -> Target:
    from mes.cli.lots import demo

    return demo


def _status() -> Target:
    from mes.cli.status import status

    return status


def _version() -> Target:
    return version


def _db() -> Target:
    from mes.cli.db import db_app

    return db_app


def _secret() -> Target:
    from mes.cli.secret import secret_app

    return secret_app


def _recipe() -> Target:
    from mes.cli.recipes import app as recipe_app

    return recipe_app


def _user() -> Target:
    from mes.cli.users import app as user_app

    return user_app


def _token() -> Target:
    from mes.cli.tokens import token_app

    return token_app


def _audit() -> Target:
    from mes.cli.audit import app as audit_app

    return audit_app


def _equipment() -> Target:
    from mes.cli.equipment import equipment_app

    return equipment_app


def _certs() -> Target:
    from mes.cli.equipment import certs_app

    return certs_app


def _order() -> Target:
    from mes.cli.orders import order_app

    return order_app


# The groups below take commands from another module. Each is put together once per process
# (``cache``): main() may run many times in one process (the tests), and a second ``command()`` on
# the same Typer would register the command twice.


@cache
def _lot() -> Target:
    from mes.cli import quality
    from mes.cli.lots import lot_app

    lot_app.command("hold")(quality.lot_hold)
    lot_app.command("release")(quality.lot_release)
    lot_app.command("scrap")(quality.lot_scrap)
    lot_app.command("report")(quality.lot_report)
    return lot_app


def _step() -> Target:
    from mes.cli.steps import step_app

    return step_app


@cache
def _unit() -> Target:
    from mes.cli import units
    from mes.cli.steps import unit_app

    unit_app.command("list")(units.unit_list)
    unit_app.command("show")(units.unit_show)
    return unit_app


@cache
def _spc() -> Target:
    from mes.cli.quality import limits_app
    from mes.cli.spc import app as spc_app

    spc_app.add_typer(limits_app, name="limits")
    return spc_app


def _alarm() -> Target:
    from mes.cli.quality import alarm_app

    return alarm_app


# name: (how to load it, the line `mes --help` shows for it: the first paragraph of its help).
COMMANDS: dict[str, tuple[Callable[[], Target], str]] = {
    "web": (
        _web,
        "Serve the operator pages at / and the API at /api/v1 (docs at /api/v1/docs) until Ctrl-C.",
    ),
    "sim": (_sim, "Run a simulator for every unit of the line until Ctrl-C."),
    "collector": (_collector, "Collect gauge scans from every unit of the line until Ctrl-C."),
    "demo": (
        _demo,
        "Run the line on the embedded default: SQLite, filesystem broker, simulators, real workers, and\n"
        "the operator pages (their address is printed first).",
    ),
    "status": (
        _status,
        "Database, broker, workers, collector, every unit: up or not, and why (exit 1 if any is down).",
    ),
    "version": (_version, "Print the MES version."),
    "db": (_db, "Database schema: apply migrations, check the connection."),
    "secret": (_secret, "Secrets for the settings: make a new MES_SECRET_KEY."),
    "recipe": (_recipe, "Recipes: validate, import, approve, release, compare."),
    "user": (_user, "Users and roles."),
    "token": (_token, "API tokens for automation: create (shown once), list, revoke."),
    "audit": (_audit, "The append-only audit trail."),
    "equipment": (_equipment, "Commission units: check a profile against a machine, run one job."),
    "certs": (_certs, "OPC UA certificates for the line."),
    "order": (
        _order,
        "Work orders: ask the line to make lots of a released recipe; list, show, cancel them.",
    ),
    "lot": (_lot, "Lots: list, show, receive purchased material."),
    "step": (_step, "Step runs: list, show, resume or abort a held step."),
    "unit": (_unit, "Equipment units: state, current step, health; set healthy again."),
    "spc": (_spc, "Statistical process control: control charts and capability."),
    "alarm": (_alarm, "Alarms (ISA-18.2): list, acknowledge, shelve."),
}


def make_command(name: str, target: Target) -> Command:
    """The click command of ``target``, made as ``app.add_typer(target, name=name)`` or
    ``app.command(name)(target)`` would have made it."""
    scratch = typer.Typer()
    if isinstance(target, typer.Typer):
        scratch.add_typer(target, name=name)
        return get_group_from_info(
            scratch.registered_groups[0],
            pretty_exceptions_short=app.pretty_exceptions_short,
            suggest_commands=app.suggest_commands,
            rich_markup_mode=app.rich_markup_mode,
        )
    scratch.command(name)(target)
    return get_command_from_info(
        scratch.registered_commands[0],
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
    )


class _Commands(MutableMapping[str, "Command"]):
    """The root's sub-commands by name, in :data:`COMMANDS` order; each made when first looked up.
    The names are known without importing anything (``mes --help``, "Did you mean …?")."""

    def __init__(self, added: MutableMapping[str, Command]) -> None:
        self.made: dict[str, Command] = dict(added)
        self._names = [*COMMANDS, *(name for name in added if name not in COMMANDS)]

    def __getitem__(self, name: str) -> Command:
        if name not in self.made:
            if name not in COMMANDS:
                raise KeyError(name)
            self.made[name] = make_command(name, COMMANDS[name][0]())
        return self.made[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self.made[name] = command
        if name not in self._names:
            self._names.append(name)

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self.made.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class _Mes(TyperGroup):
    """The root command. Its sub-commands are loaded when resolved (:class:`_Commands`); its own help
    lists them from :data:`COMMANDS` without loading them.

    click turns a BrokenPipeError into a silent exit 1 before :func:`main` sees it; here, around every
    command, it goes to :func:`output_closed`. (typer's help screens have a console of their own, which
    exits 1.)"""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands)
        self._listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)  # the names only: TyperGroup's would make every command

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        made = isinstance(self.commands, _Commands) and cmd_name in self.commands.made
        if self._listing and not made and cmd_name in COMMANDS:
            return TyperCommand(name=cmd_name, help=COMMANDS[cmd_name][1])  # its line in the list, no more
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

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


def version() -> None:
    """Print the MES version."""
    _print_version(True)


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
