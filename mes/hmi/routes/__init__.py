"""Page routers, one module per area of the operator pages."""

from __future__ import annotations

from fastapi import APIRouter

from mes.hmi.routes import alarms, audit, line, lots, orders, recipes, session, spc


def pages_routers() -> list[APIRouter]:
    """Every router of the pages, in the order of the navigation bar."""
    return [session.router, line.router, lots.router, spc.router, alarms.router, orders.router,
            recipes.router, audit.router]  # fmt: skip
