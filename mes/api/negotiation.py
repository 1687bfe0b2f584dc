"""What a list or a record is answered in: JSON, or CSV for a spreadsheet (``?format=csv`` or
``Accept: text/csv``), and the time filters lists share (``since``/``until``)."""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query, Request, Response
from pydantic import AfterValidator

CSV = "text/csv; charset=utf-8"
JSON = "application/json"
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV"}
}


class Format(enum.StrEnum):
    JSON = "json"
    CSV = "csv"


FormatQuery = Annotated[
    Format | None,
    Query(
        alias="format", description="json or csv; without it, the Accept header decides (JSON by default)."
    ),
]


def _quality(accept: str, kinds: tuple[str, ...]) -> tuple[float, int]:
    """The highest q the Accept header gives any of ``kinds``, and where the first such entry is."""
    best, first = 0.0, 1_000
    for index, entry in enumerate(accept.split(",")):
        kind, *params = (part.strip() for part in entry.split(";"))
        if kind.lower() not in kinds:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            best, first = max(best, q), min(first, index)
    return best, first


def wants_csv(request: Request, fmt: Format | None) -> bool:
    """CSV when ``format=csv``, or when the Accept header prefers ``text/csv`` to JSON (a higher q,
    or the same q and listed first); JSON otherwise."""
    if fmt is not None:
        return fmt == Format.CSV
    accept = request.headers.get("accept", "")
    csv_q, csv_at = _quality(accept, ("text/csv", "text/*"))
    json_q, json_at = _quality(accept, ("application/json", "application/*", "*/*"))
    return csv_q > json_q or (csv_q == json_q > 0 and csv_at < json_at)


def csv_response(text: str, filename: str) -> Response:
    """``text`` as ``text/csv`` (UTF-8), to be saved as ``filename`` (anything but letters, digits,
    dot, dash and underscore becomes an underscore)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    return Response(
        content=text.encode("utf-8"),
        media_type=CSV,
        headers={"Content-Disposition": f'attachment; filename="{safe}"'},
    )


def _utc(value: datetime | None) -> datetime | None:
    """A time without an offset is UTC (every time the MES stores is)."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before the calendar's first day in UTC
        raise ValueError("is outside the years 1 to 9999 once taken to UTC") from None


Since = Annotated[
    datetime | None,
    AfterValidator(_utc),
    Query(description="Only from this time on (ISO 8601; UTC unless it names its offset)."),
]
Until = Annotated[
    datetime | None,
    AfterValidator(_utc),
    Query(description="Only before this time (ISO 8601; UTC unless it names its offset)."),
]
