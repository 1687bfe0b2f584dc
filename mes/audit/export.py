"""The audit trail for a spreadsheet: one row per event under a header row.

Times are ISO 8601 in UTC to the second (``2026-04-13T06:00:00Z``); ``before`` and ``after`` are the
recorded JSON objects, compact, with their keys sorted. Reasons are typed by people: a cell that a
spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@`` or a tab) gets a
leading apostrophe, as in the MES's other CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from mes.audit.schemas import AuditEventPublic

AUDIT_COLUMNS = (
    "id",
    "occurred_at",
    "actor",
    "action",
    "entity_type",
    "entity_id",
    "reason",
    "before",
    "after",
    "hash",
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _iso_utc(value: datetime) -> str:
    at = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def _json(value: dict[str, Any] | None) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


def events_csv(events: Iterable[AuditEventPublic]) -> str:
    """The events, in the order given, as CSV text (``\\n`` line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(AUDIT_COLUMNS)
    for e in events:
        row = [e.id, _iso_utc(e.occurred_at), _text(e.actor), e.action, e.entity_type, _text(e.entity_id)]
        writer.writerow([*row, _text(e.reason), _json(e.before), _json(e.after), e.hash])
    return buffer.getvalue()
