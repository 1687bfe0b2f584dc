"""``mes status``: one line per part of the MES, OK or FAIL with the cause."""

from __future__ import annotations

import asyncio

import typer

from mes.cli.common import out
from mes.cli.errors import SomethingDown
from mes.config import get_settings


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON only.")) -> None:
    """Database, broker, workers, collector, every unit: up or not, and why (exit 1 if any is down)."""
    from mes.status import system_status

    report = asyncio.run(system_status(get_settings()))
    if as_json:
        typer.echo(report.model_dump_json())
    else:
        width = max(len(c.name) for c in report.checks)
        for c in report.checks:
            out.print(f"{'OK' if c.ok else 'FAIL':<4}  {c.name:<{width}}  {c.detail}", markup=False)
    if not report.ok:
        failed = ", ".join(c.name for c in report.failed)
        raise SomethingDown(f"{len(report.failed)} of {len(report.checks)} checks failed: {failed}")
