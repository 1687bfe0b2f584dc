"""``mes user …``: the people who operate, engineer, release and administer."""

from __future__ import annotations

import typer
from rich.table import Table
from sqlmodel import col, select

from mes.auth.models import Role, User
from mes.auth.service import create_user
from mes.cli.common import PasswordStdin, database, out, read_password
from mes.db import session_scope

app = typer.Typer(help="Users and roles.", no_args_is_help=True)


@app.command()
def add(
    name: str = typer.Argument(..., help="Login name."),
    role: Role = typer.Option(..., "--role", help="operator, engineer, quality or admin."),
    full_name: str = typer.Option("", "--full-name"),
    password_stdin: bool = PasswordStdin,
) -> None:
    """Add a user; the password is prompted for (or read from stdin)."""
    password = read_password(password_stdin, f"adding {name}")
    with database() as engine, session_scope(engine) as session:
        create_user(session, name, role, password, full_name)
    out.print(f"user {name} added ({role.value})")


@app.command("list")
def list_() -> None:
    """List users and their roles."""
    with database() as engine, session_scope(engine) as session:
        users = session.exec(select(User).order_by(col(User.name))).all()
    table = Table("name", "role", "full name", "active")
    for user in users:
        table.add_row(user.name, user.role.value, user.full_name, "yes" if user.active else "no")
    out.print(table)
