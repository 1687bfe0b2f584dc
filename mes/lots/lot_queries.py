"""Lots as a list is asked for: filtered, newest first, a page at a time below a row id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from mes.base import pk
from mes.lots.models import Lot, LotKind, LotStatus, WorkOrder
from mes.lots.report import lot_summaries
from mes.lots.schemas import LotSummary
from mes.recipes.models import Recipe as RecipeRow
from mes.recipes.service import parse_ref


def find_lots(
    session: Session,
    *,
    statuses: Sequence[LotStatus] = (),
    kinds: Sequence[LotKind] = (),
    recipe: str | None = None,
    order: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    below_id: int | None = None,
    limit: int = 50,
) -> tuple[list[LotSummary], list[int]]:
    """Lots newest first (by row id), with their row ids for the next page's cursor.

    Only those in ``statuses`` and of ``kinds`` (any when empty), made with ``recipe`` (ID: any
    version, or ID@VERSION), for work order ``order`` (its number), created at or after ``since``
    and before ``until`` (UTC), and with a row id below ``below_id``. At most ``limit`` lots.
    Raises :class:`~mes.recipes.errors.RecipeRefInvalid` for a recipe that cannot be a reference.
    """
    query = select(Lot)
    if statuses:
        query = query.where(col(Lot.status).in_(statuses))
    if kinds:
        query = query.where(col(Lot.kind).in_(kinds))
    if recipe is not None:
        name, version = parse_ref(recipe)
        versions = select(RecipeRow.id).where(RecipeRow.name == name)
        if version is not None:
            versions = versions.where(RecipeRow.version == version)
        query = query.where(col(Lot.recipe_id).in_(versions))
    if order is not None:
        query = query.where(col(Lot.work_order_id).in_(select(WorkOrder.id).where(WorkOrder.number == order)))
    if since is not None:
        query = query.where(col(Lot.created_at) >= since)
    if until is not None:
        query = query.where(col(Lot.created_at) < until)
    if below_id is not None:
        query = query.where(col(Lot.id) < below_id)
    lots = list(session.exec(query.order_by(col(Lot.id).desc()).limit(limit)).all())
    return lot_summaries(session, lots), [pk(lot) for lot in lots]
