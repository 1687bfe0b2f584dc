"""Page routers, one module per area of the operator pages."""

from __future__ import annotations

from fastapi import APIRouter

from mes.hmi.routes import alarms, audit, line, orders, recipes, session


def pages_routers() -> list[APIRouter]:
    """Every router of the pages, in the order of the navigation bar."""
    return [session.router, line.router, alarms.router, orders.router, recipes.router, audit.router]
