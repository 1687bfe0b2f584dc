"""``mes secret new``: a signing key for ``MES_SECRET_KEY`` that production accepts."""

from __future__ import annotations

import typer

from mes.config import new_secret_key

secret_app = typer.Typer(help="Secrets for the settings: make a new MES_SECRET_KEY.", no_args_is_help=True)


@secret_app.command("new")
def secret_new() -> None:
    """Print a new MES_SECRET_KEY (32 random bytes, URL-safe) and nothing else, for a pipe or a file."""
    # No settings are read: a key is what a host whose settings are refused needs first.
    typer.echo(new_secret_key())
