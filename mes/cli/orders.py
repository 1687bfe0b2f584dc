"""``mes order create|list|show|cancel``: work orders."""

from __future__ import annotations

import typer

from mes.base import MAX_ROW_ID
from mes.cli.common import AsJson, database, finite, free_text, out, print_json, user_name
from mes.cli.tables import Column, ident, print_table, timestamp
from mes.config import get_settings
from mes.db import session_scope
from mes.equipment.line import load_line_for
from mes.lots.models import WorkOrderState
from mes.lots.order_cancel import cancel_order
from mes.lots.order_queries import list_orders, order_detail, order_task_id
from mes.lots.orders import place_order

order_app = typer.Typer(
    help="Work orders: ask the line to make lots of a released recipe; list, show, cancel them.",
    no_args_is_help=True,
)


@order_app.command("create")
def order_create(
    recipe: str = typer.Option(..., "--recipe", help="Released recipe version, ID@VERSION."),
    lots: int = typer.Option(1, "--lots", min=1, max=1_000, help="How many lots (1–1000)."),
    priority: int = typer.Option(
        100, "--priority", min=-MAX_ROW_ID, max=MAX_ROW_ID, help="Lower runs first."
    ),
    lot_size: float | None = typer.Option(
        None, "--lot-size", callback=finite, help="Metres per electrode lot / cells per cell lot."
    ),
    by: str = typer.Option(..., "--by", callback=user_name, help="Who orders (audit trail)."),
    idempotency_key: str | None = typer.Option(
        None,
        "--idempotency-key",
        help="Your name for this request: run again with it, and the order it made is shown, not made again.",
    ),
) -> None:
    """Create a work order and hand it to the dispatcher (the order is saved first)."""
    from mes.execution.scheduler import sync_units

    line = load_line_for(get_settings())
    with database() as engine, session_scope(engine) as session:
        sync_units(session, line)
        accepted = place_order(session, recipe, lots, by=by, line=line, priority=priority, lot_size=lot_size,
                               idempotency_key=idempotency_key)  # fmt: skip
        task_id = order_task_id(session, accepted.order.number)
    order = accepted.order
    what = f"{order.lots_requested} lot(s) of {order.recipe}"
    if not accepted.created:
        out.print(
            f"work order {order.number}: {what}, {order.state.value}: already made with idempotency key "
            f"{idempotency_key!r}; nothing new made"
        )
        return
    out.print(f"work order {order.number}: {what}, saved")
    from workers.tasks import send_dispatch

    send_dispatch(task_id, order.number)  # after the commit
    out.print(f"work order {order.number}: dispatched")


@order_app.command("list")
def order_list(
    state: list[WorkOrderState] = typer.Option([], "--state", help="Only orders in this state (repeatable)."),
    recipe: str | None = typer.Option(None, "--recipe", help="Only orders of this recipe, ID or ID@VERSION."),
    limit: int = typer.Option(200, "--limit", min=1, max=10_000),
    as_json: bool = AsJson,
) -> None:
    """Newest work orders first."""
    with database() as engine, session_scope(engine) as session:
        orders = list_orders(session, states=state, recipe=recipe, limit=limit)
    if as_json:
        print_json(orders)
        return
    columns = [
        ident("order"),
        ident("recipe"),
        Column("state"),
        Column("lots made/ordered", justify="right"),
        Column("priority", justify="right"),
        ident("by"),
        timestamp("created UTC"),
    ]
    rows = [
        [
            o.number,
            o.recipe,
            o.state.value,
            f"{o.lots_created}/{o.lots_requested}",
            str(o.priority),
            o.created_by,
            f"{o.created_at:%Y-%m-%d %H:%M:%S}",
        ]
        for o in orders
    ]
    print_table(columns, rows)


@order_app.command("show")
def order_show(number: str = typer.Argument(...), as_json: bool = AsJson) -> None:
    """One work order: its lots and their status, each lot's steps and the units they went to."""
    with database() as engine, session_scope(engine) as session:
        detail = order_detail(session, number)
    if as_json:
        print_json(detail)
        return
    out.print(f"order: {detail.number}")
    out.print(f"recipe: {detail.recipe}")
    out.print(f"state: {detail.state.value} ({detail.job_order_state.value})")
    size = f", {detail.lot_size:g} {detail.lot_size_unit} per lot" if detail.lot_size is not None else ""
    out.print(
        f"lots: {detail.lots_created} of {detail.lots_requested} made{size}, priority {detail.priority}"
    )
    out.print(f"created: {detail.created_at:%Y-%m-%d %H:%M:%S} by {detail.created_by}")
    if detail.idempotency_key is not None:
        out.print(f"idempotency key: {detail.idempotency_key}")
    if detail.cancelled is not None:
        c = detail.cancelled
        out.print(f"cancelled: {c.at:%Y-%m-%d %H:%M:%S} by {c.by}: {c.reason}")
    for lot in detail.lots:
        out.print(f"lot {lot.number} ({lot.kind.value}, {lot.length_m:g} m): {lot.status.value}")
        for step in lot.steps:
            where = f" on {step.unit}" if step.unit else ""
            error = f" — {step.error}" if step.error else ""
            made = f", {step.progress_m:g} of {lot.length_m:g} m" if step.progress_m is not None else ""
            out.print(
                f"  step {step.index} {step.name}: {step.state.value}{where} (job {step.job_id}){made}{error}"
            )


@order_app.command("cancel")
def order_cancel(
    number: str = typer.Argument(...),
    by: str = typer.Option(..., "--by", callback=user_name, help="Who cancels (audit trail)."),
    reason: str = typer.Option(..., "--reason", callback=free_text, help="Why (audit trail)."),
) -> None:
    """Cancel an order nothing of which has gone to a unit yet: its lots and pending steps with it."""
    with database() as engine, session_scope(engine) as session:
        done = cancel_order(session, number, by=by, reason=reason)
    c = done.cancellation
    if done.already:
        out.print(
            f"work order {number} is already cancelled (by {c.by} at {c.at:%Y-%m-%d %H:%M:%S}: {c.reason}); "
            "nothing changed"
        )
        return
    out.print(
        f"work order {number} cancelled: {len(done.lots_cancelled)} lot(s) cancelled, "
        f"{done.steps_aborted} pending step(s) aborted"
    )
