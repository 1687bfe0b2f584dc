"""``mes step list|show|resume|abort`` and ``mes unit set-healthy``: the ways back from a fault."""

from __future__ import annotations

import asyncio

import typer
from rich.text import Text

from mes.cli.common import AsJson, database, free_text, out, print_json, user_name
from mes.cli.tables import Column, ident, print_table, text
from mes.config import get_settings
from mes.db import session_scope
from mes.equipment.driver import UnitDriver
from mes.equipment.line import load_line_for
from mes.equipment.models import EquipmentUnit
from mes.execution.errors import StepRefused
from mes.execution.service import (
    UnitSeen,
    abort_step,
    get_step,
    list_steps,
    resume_step,
    set_unit_healthy,
    step_detail,
)
from mes.lots.models import StepRunState

step_app = typer.Typer(help="Step runs: list, show, resume or abort a held step.", no_args_is_help=True)
unit_app = typer.Typer(
    help="Equipment units: state, current step, health; set healthy again.", no_args_is_help=True
)


@step_app.command("list")
def step_list(
    state: list[StepRunState] = typer.Option([], "--state", help="Only steps in this state (repeatable)."),
    limit: int = typer.Option(200, "--limit", min=1, max=10_000),
    as_json: bool = AsJson,
) -> None:
    """Newest steps first, with their unit and error."""
    with database() as engine, session_scope(engine) as session:
        rows = list_steps(session, state, limit)
    if as_json:
        print_json(rows)
        return
    columns = [
        Column("id", justify="right"),
        ident("job"),
        ident("lot"),
        Column("step"),
        Column("state"),
        ident("unit"),
        text("error"),
    ]
    print_table(
        columns,
        [[str(r.id), r.job_id, r.lot, r.step, r.state.value, r.unit or "", r.error or ""] for r in rows],
    )


@step_app.command("show")
def step_show(ref: str = typer.Argument(..., help="Step id or job id."), as_json: bool = AsJson) -> None:
    """One step: state, unit and its health, error, link failures, evidence of running."""
    with database() as engine, session_scope(engine) as session:
        detail = step_detail(session, get_step(session, ref))
    if as_json:
        print_json(detail)
        return
    for key, value in detail.model_dump(mode="json").items():
        if value is not None:
            out.print(Text(f"{key}: {value}"))


async def _look(unit: str, job_id: str) -> UnitSeen:
    line = load_line_for(get_settings())
    driver = UnitDriver(line.unit(unit), line.profiles[unit], timeout_s=4.0, retry_s=4.0)
    await driver.connect()
    try:
        state, job = await driver.read_state(), await driver.read_job_id()
        started = job == job_id and (await driver.read_start_counts()).get(job_id, 0) > 0
        return UnitSeen(state, job, started)
    finally:
        await driver.disconnect()


@step_app.command("resume")
def step_resume(
    ref: str = typer.Argument(..., help="Step id or job id."),
    by: str = typer.Option(..., "--by", callback=user_name, help="Who resumes (audit trail)."),
    reason: str = typer.Option(..., "--reason", callback=free_text, help="Why (audit trail)."),
) -> None:
    """Resume a held step after checking its unit: still running its job → running; Idle → dispatched."""
    with database() as engine:
        with session_scope(engine) as session:
            step = get_step(session, ref)
            unit = session.get(EquipmentUnit, step.equipment_unit_id) if step.equipment_unit_id else None
            if unit is None:
                raise StepRefused(f"step {step.job_id} has no unit to resume on")
            unit_name, job_id = unit.name, step.job_id
        seen = asyncio.run(_look(unit_name, job_id))  # no transaction open while the unit answers
        with session_scope(engine) as session:
            item = resume_step(session, ref, seen, by=by, reason=reason)
            state = get_step(session, ref).state.value
    from workers.tasks import send_steps

    send_steps([item], f"step {job_id}'s resume")  # after the commit
    out.print(f"step {job_id} resumed: {state} on {unit_name} ({seen.state} with job {seen.job_id!r})")


@step_app.command("abort")
def step_abort(
    ref: str = typer.Argument(..., help="Step id or job id."),
    by: str = typer.Option(..., "--by", callback=user_name, help="Who aborts (audit trail)."),
    reason: str = typer.Option(..., "--reason", callback=free_text, help="Why (audit trail)."),
) -> None:
    """Abort a held step (and its lot's later steps); the lot stays on hold for quality to decide."""
    with database() as engine, session_scope(engine) as session:
        step = abort_step(session, ref, by=by, reason=reason)
        job_id = step.job_id
    out.print(f"step {job_id} aborted; its lot stays on hold")


@unit_app.command("set-healthy")
def unit_set_healthy(
    unit: str = typer.Argument(...),
    by: str = typer.Option(..., "--by", callback=user_name, help="Who (audit trail)."),
    reason: str = typer.Option(..., "--reason", callback=free_text, help="What was checked (audit trail)."),
) -> None:
    """Give a unit back to scheduling after its fault was looked at."""
    with database() as engine, session_scope(engine) as session:
        set_unit_healthy(session, unit, by=by, reason=reason)
    out.print(f"unit {unit} is healthy again; steps may be scheduled on it")
