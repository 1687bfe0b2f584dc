"""``mes audit …``: check the audit trail."""

from __future__ import annotations

import typer

from mes.audit.errors import AuditChainBroken
from mes.audit.service import verify_chain
from mes.cli.common import database, out
from mes.db import session_scope

app = typer.Typer(help="The append-only audit trail.", no_args_is_help=True)


@app.command()
def verify() -> None:
    """Check every link of the hash chain; report the first broken one (exit 1)."""
    with database() as engine, session_scope(engine) as session:
        report = verify_chain(session)
    if not report.ok:
        raise AuditChainBroken(f"audit event {report.first_broken_id} breaks the chain: {report.problem}")
    out.print(f"audit trail intact: {report.events} event(s)")
