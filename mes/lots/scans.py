"""Store gauge scans: batched, idempotent inserts (a scan stored twice is stored once)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from mes.lots.models import GaugeScan

SCAN_TABLE = GaugeScan.__table__  # type: ignore[attr-defined]


def finite_values(values: Iterable[float]) -> list[float]:
    """The lanes that are numbers (NaN and ±Inf are missing measurements, not values)."""
    return [v for v in values if math.isfinite(v)]


def scan_row(
    lot_id: int,
    layer_id: int,
    characteristic_id: int,
    seq: int,
    position_m: float,
    measured_at_unix: float,
    values: Sequence[float],
) -> dict[str, Any]:
    """A ``gauge_scan`` row; min / mean / max over the finite lanes, NULL when there is none.

    The lanes are stored as given (NaN included): coverage reads them back to
    find the metres nobody measured.
    """
    finite = finite_values(values)
    return {
        "lot_id": lot_id,
        "layer_id": layer_id,
        "characteristic_id": characteristic_id,
        "seq": seq,
        "position_m": position_m,
        "measured_at": datetime.fromtimestamp(measured_at_unix, UTC),
        "lane_values": list(values),
        "min_value": min(finite) if finite else None,
        "mean_value": sum(finite) / len(finite) if finite else None,
        "max_value": max(finite) if finite else None,
    }


def insert_scans(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Insert rows, skipping any (characteristic, seq) that is already stored.

    A row whose position is not a number (NaN, ±Inf) is left out: it says nothing
    about where it measured (and SQLite stores NaN as NULL, failing the batch), so
    its metres count as unmeasured at the layer's close.
    """
    batch = [r for r in rows if math.isfinite(r["position_m"])]
    if not batch:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(SCAN_TABLE).on_conflict_do_nothing(index_elements=["characteristic_id", "seq"])
    session.execute(stmt, batch)


def stored_seqs(session: Session, characteristic_id: int, low: int, high: int) -> set[int]:
    rows = session.execute(
        sa.select(SCAN_TABLE.c.seq).where(
            SCAN_TABLE.c.characteristic_id == characteristic_id,
            SCAN_TABLE.c.seq > low,
            SCAN_TABLE.c.seq <= high,
        )
    )
    return {int(r[0]) for r in rows}
