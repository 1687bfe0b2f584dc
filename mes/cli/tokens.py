"""``mes token create|list|revoke``: API tokens for automation (shown once, stored hashed)."""

from __future__ import annotations

from datetime import datetime

import typer

from mes.auth.models import Role
from mes.auth.tokens import create_token, list_tokens, parse_expiry, revoke_token
from mes.cli.common import AsJson, database, out, print_json, user_name
from mes.cli.tables import Column, ident, print_table, timestamp
from mes.db import session_scope

token_app = typer.Typer(
    help="API tokens for automation: create (shown once), list, revoke.", no_args_is_help=True
)


@token_app.command("create")
def token_create(
    name: str = typer.Argument(..., callback=user_name, help="The token's name: the audit trail shows it."),
    role: Role = typer.Option(..., "--role", help="operator, engineer or quality."),
    expires: str = typer.Option("90d", "--expires", help="Lifetime: days or hours (90d, 12h; at most 366d)."),
    by: str = typer.Option(..., "--by", callback=user_name, help="The admin who makes it (audit trail)."),
    as_json: bool = AsJson,
) -> None:
    """Make a token and print it once: it is stored hashed and cannot be shown again."""
    lifetime = parse_expiry(expires)
    with database() as engine, session_scope(engine) as session:
        issued = create_token(session, name, role=role, expires=lifetime, by=by)
    if as_json:
        print_json(issued)
        return
    d = issued.detail
    typer.echo(issued.token)
    typer.echo(
        f"token {d.name} ({d.role.value}) expires {d.expires_at:%Y-%m-%d %H:%M} UTC; "
        "send it as 'Authorization: Bearer TOKEN'. It is not shown again.",
        err=True,
    )


def _minute(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M}" if at is not None else ""


@token_app.command("list")
def token_list(as_json: bool = AsJson) -> None:
    """Every token: role, who made it, when it expires, when it was last used, whether it is revoked."""
    with database() as engine, session_scope(engine) as session:
        tokens = list_tokens(session)
    if as_json:
        print_json(tokens)
        return
    columns = [ident("name"), Column("role"), Column("active"), ident("by"), timestamp("expires UTC"),
               timestamp("last used UTC"), timestamp("revoked UTC")]  # fmt: skip
    rows = [
        [t.name, t.role.value, "yes" if t.active else "no", t.created_by, _minute(t.expires_at),
         _minute(t.last_used_at), _minute(t.revoked_at)]
        for t in tokens
    ]  # fmt: skip
    print_table(columns, rows)


@token_app.command("revoke")
def token_revoke(
    name: str = typer.Argument(..., callback=user_name),
    by: str = typer.Option(..., "--by", callback=user_name, help="The admin who revokes it (audit trail)."),
) -> None:
    """Revoke a token: its next request is refused."""
    with database() as engine, session_scope(engine) as session:
        done = revoke_token(session, name, by=by)
    out.print(f"token {done.name} revoked at {done.revoked_at:%Y-%m-%d %H:%M:%S} UTC by {done.revoked_by}")
