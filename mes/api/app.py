"""The FastAPI application: ``create_app()`` builds it, ``mes web`` serves it under uvicorn.

The database engine is made in the lifespan (in the serving process, after any fork), not at import.
The interactive docs at ``/api/v1/docs`` load Swagger UI from the ``swagger-ui-bundle`` package, never
from a CDN: the plant LAN has no internet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

import mes
from mes.api import errors
from mes.api.limits import BodyLimit
from mes.api.routes import alarms as alarm_routes
from mes.api.routes import audit as audit_routes
from mes.api.routes import events as event_routes
from mes.api.routes import lots as lot_routes
from mes.api.routes import orders as order_routes
from mes.api.routes import recipes as recipe_routes
from mes.api.routes import session as session_routes
from mes.api.routes import spc as spc_routes
from mes.api.routes import units as unit_routes
from mes.config import Settings, get_settings
from mes.db import make_engine

API = "/api/v1"
DOCS_ASSETS = f"{API}/docs/assets"
# No request body of this API comes near this (the largest is a recipe's YAML): more is refused with 413
# before it is read into memory.
MAX_BODY_BYTES = 2 * 1024 * 1024


def _docs_page() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=f"{API}/openapi.json",
        title="MES API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
    )


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The app for ``settings`` (default: the environment's). With ``engine`` given (tests), the app
    uses it and leaves it open; otherwise it makes its own at start and disposes of it at stop."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = engine is None
        app.state.engine = engine or make_engine(
            settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
        )
        try:
            yield
        finally:
            hub = getattr(app.state, "events", None)
            if hub is not None:
                await hub.stop()
                app.state.events = None
            if own:
                app.state.engine.dispose()

    app = FastAPI(
        title="MES API",
        version=mes.__version__,
        summary="Orders, lots, recipes, units, alarms and the audit trail of electrode and cell lines.",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    if engine is not None:
        app.state.engine = engine
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    for router in included_routers():
        app.include_router(router, prefix=API)
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
    app.add_api_route(f"{API}/docs", _docs_page, include_in_schema=False, response_class=HTMLResponse)
    app.add_api_route(f"{API}/health", _health, include_in_schema=False)
    return app


def _health() -> dict[str, str]:
    return {"status": "ok", "version": mes.__version__}


def included_routers() -> list[APIRouter]:
    """Every router of the API, in the order the docs list them (each mounted under :data:`API`)."""
    return [session_routes.router, *_resource_routers()]


def _resource_routers() -> list[APIRouter]:
    """The resource routers."""
    return [order_routes.router, lot_routes.router, alarm_routes.router, audit_routes.router,
            recipe_routes.router, unit_routes.router, spc_routes.router, event_routes.router]  # fmt: skip
