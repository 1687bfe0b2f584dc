"""Genealogy: which metres of which lots went into which lot.

Winding reserves, at dispatch, one contiguous stretch of usable band from a
released lot of each input — usable meaning not inside a held or scrapped
interval and not already consumed — and records it as a link
``parent [start_m, end_m] → child``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mes.base import pk
from mes.lots.models import (
    Characteristic,
    GenealogyLink,
    IntervalKind,
    IntervalStatus,
    Lot,
    LotKind,
    LotStatus,
    OosInterval,
)
from mes.recipes.models import Recipe as RecipeRow
from mes.recipes.schema import WinderStep

LOT_TABLE: sa.Table = Lot.__table__  # type: ignore[attr-defined]
BLOCKING = (IntervalStatus.HELD, IntervalStatus.SCRAPPED, IntervalStatus.OPEN)


def band_extent(interval: OosInterval, pitch_m: float, lot_length_m: float) -> tuple[float, float]:
    """The metres ``[start, end)`` an interval takes on the band: its last scan stands for one pitch.

    ``end_m`` is the position of the last bad scan, and a lone excursion has
    ``start_m == end_m``; the band it stands for runs one sampling pitch further.
    An unmeasured interval already bounds its band exactly.
    """
    if interval.kind == IntervalKind.UNMEASURED:
        return interval.start_m, min(interval.end_m, lot_length_m)
    end = min(interval.end_m + pitch_m, lot_length_m)
    return min(interval.start_m, max(0.0, end - pitch_m)), end


def lock_lot(session: Session, lot_id: int) -> None:
    """Take the lot's row for this transaction (a no-op update) and see its latest committed state.

    A hold of a lot or of its metres and a winding step reserving its metres must
    not interleave: whichever comes second sees what the first did. On SQLite the
    update takes the database's write lock, on PostgreSQL the row's lock.
    """
    session.execute(
        sa.update(LOT_TABLE).where(LOT_TABLE.c.id == lot_id).values(updated_at=LOT_TABLE.c.updated_at)
    )
    lot = session.get(Lot, lot_id)
    if lot is not None:
        session.refresh(lot)


def usable_segments(session: Session, lot: Lot) -> list[tuple[float, float]]:
    """Stretches ``[start_m, end_m]`` of ``lot`` that may still be consumed."""
    rows = session.exec(
        select(OosInterval, Characteristic.pitch_m)
        .join(Characteristic, col(Characteristic.id) == col(OosInterval.characteristic_id))
        .where(OosInterval.lot_id == lot.id, col(OosInterval.status).in_(BLOCKING))
    ).all()
    blocked = [band_extent(i, pitch_m, lot.length_m) for i, pitch_m in rows]
    blocked += [
        (g.parent_start_m, g.parent_end_m)
        for g in session.exec(select(GenealogyLink).where(GenealogyLink.parent_lot_id == lot.id)).all()
    ]
    segments = [(0.0, lot.length_m)]
    for start, end in sorted(blocked):
        nxt = []
        for a, b in segments:
            if end <= a or start >= b:
                nxt.append((a, b))
                continue
            if start > a:
                nxt.append((a, start))
            if end < b:
                nxt.append((end, b))
        segments = nxt
    return segments


def _candidates(session: Session, kind: LotKind, recipe_name: str | None) -> list[Lot]:
    query = select(Lot).where(Lot.kind == kind, Lot.status == LotStatus.RELEASED).order_by(col(Lot.id))
    if recipe_name is not None:
        query = query.join(RecipeRow, col(RecipeRow.id) == col(Lot.recipe_id)).where(
            RecipeRow.name == recipe_name
        )
    return list(session.exec(query).all())


def reserve_inputs(session: Session, cell_lot: Lot, step: WinderStep) -> bool:
    """Reserve every input of a winding step for ``cell_lot``; False (nothing written) if any is short."""
    if session.exec(select(GenealogyLink).where(GenealogyLink.child_lot_id == cell_lot.id)).first():
        return True  # reserved by an earlier dispatch of this step
    anode = next(c for c in step.winding.consumes if c.role == "anode")
    cells = cell_lot.length_m / anode.length_per_cell_m
    links: list[GenealogyLink] = []
    for need in step.winding.consumes:
        length = round(cells * need.length_per_cell_m * need.plies, 6)
        found = None
        for parent in _candidates(session, LotKind(need.role), need.recipe):
            lock_lot(session, pk(parent))
            if parent.status != LotStatus.RELEASED:
                continue  # held or scrapped since the candidates were read
            segment = next(((a, b) for a, b in usable_segments(session, parent) if b - a >= length), None)
            if segment is not None:
                found = GenealogyLink(
                    parent_lot_id=pk(parent),
                    parent_start_m=segment[0],
                    parent_end_m=segment[0] + length,
                    child_lot_id=pk(cell_lot),
                    role=need.role,
                )
                break
        if found is None:
            return False
        links.append(found)
    for link in links:
        session.add(link)
    session.flush()
    return True


def parents_of(session: Session, lot: Lot) -> list[tuple[GenealogyLink, Lot]]:
    rows = session.exec(
        select(GenealogyLink, Lot)
        .join(Lot, col(Lot.id) == col(GenealogyLink.parent_lot_id))
        .where(GenealogyLink.child_lot_id == lot.id)
        .order_by(col(GenealogyLink.id))
    ).all()
    return [(link, parent) for link, parent in rows]
