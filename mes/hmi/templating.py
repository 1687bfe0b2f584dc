"""Jinja2 for the operator pages: the template folder, and the filters every page formats with.

Times on screen are in the plant's zone (``MES_PLANT_TIME_ZONE``) with UTC in the tooltip; durations
read ``1 h 05 min``; numbers carry their unit at the resolution the HMI guide gives (ISA-101 practice:
thickness to 1 nm, coat weight to 0.1 g/m², tension to 1 N).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from mes.auth.schemas import Principal
from mes.hmi.deps import api_permissions

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

# Decimal places by the unit of a value (HMI guide: "Values"); a unit not listed gets 2 significant
# decimals below 10, 1 below 100, else none.
DECIMALS_BY_UNIT = {"nm": 0, "µm": 1, "um": 1, "g/m²": 1, "g/m2": 1, "N": 0, "m": 1, "m/min": 1, "W": 0,
                    "kW": 2, "Pa": 2, "mm": 2, "°C": 1, "%": 1, "s": 0, "mg/cm²": 2}  # fmt: skip
# How the recipes' unit names (mes.recipes.schema.Unit, a count's "1") read on screen.
UNIT_TEXT = {
    "um": "µm",
    "mg_cm2": "mg/cm²",
    "g_m2": "g/m²",
    "g_cc": "g/cm³",
    "ohm_sq": "Ω/□",
    "pct": "%",
    "1": "",
}


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def local_time(at: datetime | None, zone: str, *, seconds: bool = True) -> Markup:
    """``<time>`` in the plant's zone, UTC (ISO 8601) in its title and ``datetime``; "—" for None."""
    if at is None:
        return Markup('<span class="none">—</span>')
    utc = _aware(at).astimezone(UTC)
    local = utc.astimezone(ZoneInfo(zone))
    shown = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    iso = utc.isoformat().replace("+00:00", "Z")
    return Markup('<time datetime="{0}" title="{0} UTC">{1}</time>').format(iso, shown)


def duration(seconds: float | None) -> str:
    """``1 h 05 min``, ``4 min 10 s``, ``12 s``; "—" for None or not a number."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    total = round(max(0.0, seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def unit_text(unit: str | None) -> str:
    """A unit as a person reads it: ``mg_cm2`` → ``mg/cm²``, ``um`` → ``µm``; a count has none."""
    return UNIT_TEXT.get(unit or "", unit or "")


def decimals_for(unit: str | None, value: float | None = None) -> int:
    if unit in DECIMALS_BY_UNIT:
        return DECIMALS_BY_UNIT[unit]
    if value is None or not math.isfinite(value):
        return 2
    size = abs(value)
    return 2 if size < 10 else 1 if size < 100 else 0


def number(value: float | None, unit: str | None = None, places: int | None = None) -> str:
    """A value at its unit's resolution, with the unit; "—" for None and NaN (never "nan")."""
    if value is None or not math.isfinite(value):
        return "—"
    digits = decimals_for(unit, value) if places is None else places
    text = f"{value:,.{digits}f}".replace(",", "\u202f")  # a narrow space groups thousands
    return f"{text} {unit}" if unit else text


def render(request: Request, name: str, caller: Principal | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:  # fmt: skip
    """A page (or fragment) for ``caller``: the template gets ``caller``, ``can(method, path)`` and
    the settings it formats with."""
    settings = request.app.state.settings
    permissions = api_permissions()

    def can(method: str, path: str) -> bool:
        return caller is not None and permissions.allows(caller.role, method, path)

    def at(value: datetime | None, seconds: bool = True) -> Markup:
        return local_time(value, settings.plant_time_zone, seconds=seconds)

    return templates.TemplateResponse(
        request,
        name,
        {"caller": caller, "can": can, "at": at, "zone": settings.plant_time_zone,
         "stale_after_s": settings.hmi_stale_after_s, **context},
        status_code=status_code,
    )  # fmt: skip


templates.env.filters["duration"] = duration
templates.env.filters["number"] = number
templates.env.filters["unit_text"] = unit_text
templates.env.globals["decimals_for"] = decimals_for
