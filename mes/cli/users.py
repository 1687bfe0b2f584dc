"""``mes user …``: the people who operate, engineer, release and administer."""

from __future__ import annotations

import typer

from mes.auth.models import Role
from mes.auth.service import create_user, list_users
from mes.cli.common import AsJson, PasswordStdin, database, free_text, out, print_json, read_password
from mes.cli.tables import Column, ident, print_table
from mes.db import session_scope

app = typer.Typer(help="Users and roles.", no_args_is_help=True)


@app.command()
def add(
    name: str = typer.Argument(..., help="Login name."),
    role: Role = typer.Option(..., "--role", help="operator, engineer, quality or admin."),
    full_name: str = typer.Option("", "--full-name", callback=free_text),
    password_stdin: bool = PasswordStdin,
) -> None:
    """Add a user; the password is prompted for (or read from stdin)."""
    password = read_password(password_stdin, f"adding {name}")
    with database() as engine, session_scope(engine) as session:
        create_user(session, name, role, password, full_name)
    out.print(f"user {name} added ({role.value})")


@app.command("list")
def list_(as_json: bool = AsJson) -> None:
    """List users and their roles."""
    with database() as engine, session_scope(engine) as session:
        users = list_users(session)
    if as_json:
        print_json(users)
        return
    columns = [ident("name"), Column("role"), Column("full name"), Column("active")]
    print_table(columns, [[u.name, u.role.value, u.full_name, "yes" if u.active else "no"] for u in users])
