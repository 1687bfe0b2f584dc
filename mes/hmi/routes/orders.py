"""Work orders for the operator: the list with each order's job order state (OPC 10031-4), its own
state, metres made and ETA; a new order from a released recipe; one order with its lots and steps.
Every change is a command sent to ``/api/v1/orders…`` by the page (static/hmi.js)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from mes.api.deps import DbSession
from mes.api.pagination import Cursor, decode_cursor, encode_cursor
from mes.api.routes.orders import NOT_SENT
from mes.events.log import newest_id
from mes.hmi.deps import PageCaller, api_permissions
from mes.hmi.templating import render
from mes.lots.models import WorkOrderState
from mes.lots.order_queries import order_detail, order_page, orders_progress
from mes.recipes.models import RecipeStatus
from mes.recipes.queries import recipe_page

router = APIRouter(include_in_schema=False)

ORDERS_PAGE = 50
RELEASED_SHOWN = 500  # the versions offered for a new order; a plant has far fewer released at once
OPEN_STATES = (WorkOrderState.WAITING, WorkOrderState.READY, WorkOrderState.RUNNING, WorkOrderState.HELD,
               WorkOrderState.SUSPENDED)  # fmt: skip
OrderNumber = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/orders", response_class=HTMLResponse)
def orders_page(
    request: Request,
    db: DbSession,
    caller: PageCaller,
    state: Annotated[list[WorkOrderState] | None, Query()] = None,
    cursor: Cursor = None,
) -> HTMLResponse:
    """Work orders newest first (``state`` narrows them; ``state=open`` is not a state: the chips send
    the open ones), each with how far it has got; the form for a new order when the role may place
    one. Redrawn on every order and step event."""
    items, ids = order_page(db, states=state, below=decode_cursor(cursor), limit=ORDERS_PAGE + 1)
    shown = items[:ORDERS_PAGE]
    query = [("state", s.value) for s in state or ()]
    older = encode_cursor(ids[ORDERS_PAGE - 1]) if len(items) > ORDERS_PAGE else None
    may_place = api_permissions().allows(caller.role, "POST", "/orders")
    released = recipe_page(db, status=RecipeStatus.RELEASED, limit=RELEASED_SHOWN)[0] if may_place else []
    return render(request, "orders.html", caller, orders=shown,
                  progress=orders_progress(db, [o.number for o in shown]), released=released,
                  states=list(WorkOrderState), chosen=state or [], open_states=OPEN_STATES,
                  older_url=f"/orders?{urlencode([*query, ('cursor', older)])}" if older else None,
                  newest_url=f"/orders?{urlencode(query)}" if cursor else None,
                  since=newest_id(db), current_area="orders",
                  level=[("Line", "/"), ("Orders", None)])  # fmt: skip


@router.get("/orders/{number}", response_class=HTMLResponse)
def order_page_one(
    request: Request,
    db: DbSession,
    caller: PageCaller,
    number: OrderNumber,
    sent: Annotated[str | None, Query(max_length=8)] = None,
) -> HTMLResponse:
    """One order: its state in both vocabularies, its lots and each lot's steps with their units, metres
    and ETA, and the commands its state allows. ``sent=false``: the command that led here was saved
    but the broker did not take it (an API answer 202), which the page says."""
    detail = order_detail(db, number)
    progress = orders_progress(db, [number])[number]
    return render(request, "order.html", caller, order=detail, progress=progress,
                  not_sent=f"Work order {number} {NOT_SENT}." if sent == "false" else None,
                  since=newest_id(db), current_area="orders",
                  level=[("Line", "/"), ("Orders", "/orders"), (f"Order {number}", None)])  # fmt: skip
