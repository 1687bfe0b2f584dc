"""``mes unit list|show``: each unit's health, last known state, current step and freshness."""

from __future__ import annotations

import typer

from mes.cli.common import AsJson, database, out, print_json
from mes.cli.tables import Column, ident, print_table, text
from mes.db import session_scope
from mes.execution.units import UnitStatus, list_unit_status, unit_status


def _age(status: UnitStatus) -> str:
    return f"{status.last_value_age_s:.0f} s" if status.last_value_age_s is not None else "never"


def unit_list(as_json: bool = AsJson) -> None:
    """Units: last known PackML state, current step, health (and why not), age of the last value."""
    with database() as engine, session_scope(engine) as session:
        units = list_unit_status(session)
    if as_json:
        print_json(units)
        return
    columns = [
        ident("unit"),
        Column("class"),
        Column("state"),
        # The step holding the unit: its job id (which names its lot) is what `mes step …` takes.
        ident("job"),
        Column("step"),
        Column("healthy"),
        text("reason"),
        Column("last value", justify="right"),
    ]
    rows = [
        [
            u.name,
            u.equipment_class.value,
            u.state or "not seen",
            u.current_step.job_id if u.current_step else "",
            f"{u.current_step.step} ({u.current_step.state.value})" if u.current_step else "",
            "yes" if u.healthy else "NO",
            u.health_reason or "",
            _age(u),
        ]
        for u in units
    ]
    print_table(columns, rows)


def unit_show(
    name: str = typer.Argument(..., help="Unit name, as in the line file."), as_json: bool = AsJson
) -> None:
    """One unit: state, current step (lot, step), health and reason, last value age, endpoint, profile."""
    with database() as engine, session_scope(engine) as session:
        u = unit_status(session, name)
    if as_json:
        print_json(u)
        return
    seen = f" (read {u.state_seen_at:%Y-%m-%d %H:%M:%S})" if u.state_seen_at else ""
    out.print(f"unit: {u.name} ({u.equipment_class.value}), {u.endpoint}, profile {u.profile}")
    out.print(f"state: {u.state or 'not seen by the collector'}{seen}")
    step = u.current_step
    out.print(
        f"step: {step.lot} {step.step} ({step.state.value}, job {step.job_id})" if step else "step: none"
    )
    health = "healthy" if u.healthy else f"NOT healthy: {u.health_reason or 'no reason recorded'}"
    out.print(f"health: {health}" + ("" if u.enabled else " (disabled)"))
    out.print(f"last value: {_age(u)} ago" if u.last_value_at else "last value: never")
