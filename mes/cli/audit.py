"""``mes audit …``: read and check the audit trail."""

from __future__ import annotations

import typer

from mes.audit.errors import AuditChainBroken
from mes.audit.service import list_events, parse_since, verify_chain
from mes.cli.common import AsJson, database, out, print_json
from mes.cli.tables import Column, ident, print_table, text, timestamp
from mes.db import session_scope

app = typer.Typer(help="The append-only audit trail.", no_args_is_help=True)


@app.command("list")
def list_(
    entity: str | None = typer.Option(
        None,
        "--entity",
        help="Only events about this entity: a lot number (with its intervals), ID@VERSION, …",
    ),
    user: str | None = typer.Option(None, "--user", help="Only events by this user (or system)."),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only events at or after: 2026-04-13, 2026-04-13T06:00 (UTC), or 30m, 8h, 7d ago.",
    ),
    limit: int = typer.Option(200, "--limit", min=1, max=100_000),
    as_json: bool = AsJson,
) -> None:
    """Events newest first: who did what to which entity, when and why."""
    after = parse_since(since) if since is not None else None
    with database() as engine, session_scope(engine) as session:
        events = list_events(session, entity=entity, actor=user, since=after, limit=limit)
    if as_json:
        print_json(events)
        return
    columns = [
        Column("id", justify="right"),
        timestamp("at UTC"),
        ident("user"),
        Column("action"),
        ident("entity"),
        text("reason"),
    ]
    rows = [
        [str(e.id), f"{e.occurred_at:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.entity_id, e.reason]
        for e in events
    ]
    print_table(columns, rows)


@app.command()
def verify() -> None:
    """Check every link of the hash chain; report the first broken one (exit 1)."""
    with database() as engine, session_scope(engine) as session:
        report = verify_chain(session)
    if not report.ok:
        raise AuditChainBroken(f"audit event {report.first_broken_id} breaks the chain: {report.problem}")
    out.print(f"audit trail intact: {report.events} event(s)")
