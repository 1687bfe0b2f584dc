"""The SQL statements of a genealogy trace, built once per shape and dialect and cached.

Both directions walk :class:`~mes.lots.models.GenealogyLink` with one recursive
CTE (:func:`forward_query`, and the first statement of :func:`backward_queries`);
the backward trace then reads the details of every lot found — layers and
characteristics, gauge-scan statistics, out-of-spec intervals — with one statement
per kind, each re-using the walk as a sub-query instead of a list of ids (no bind
parameter limit, no round trip per lot). On PostgreSQL the per-link reads of scans
and intervals are LATERAL joins, so that each is an index seek whatever the planner
guesses about the size of the walk. Values come in as bind parameters (``lot_id``,
``start_m``, ``end_m``, ``walk_depth``, ``max_depth``); the services that run these
statements are in :mod:`mes.lots.trace`.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from mes.equipment.models import EquipmentUnit
from mes.lots.models import Characteristic, GaugeScan, GenealogyLink, Layer, Lot, OosInterval, StepRun

LINK: sa.Table = GenealogyLink.__table__  # type: ignore[attr-defined]
LOT: sa.Table = Lot.__table__  # type: ignore[attr-defined]
LAYER: sa.Table = Layer.__table__  # type: ignore[attr-defined]
CHAR: sa.Table = Characteristic.__table__  # type: ignore[attr-defined]
SCAN: sa.Table = GaugeScan.__table__  # type: ignore[attr-defined]
OOS: sa.Table = OosInterval.__table__  # type: ignore[attr-defined]
STEP: sa.Table = StepRun.__table__  # type: ignore[attr-defined]
UNIT: sa.Table = EquipmentUnit.__table__  # type: ignore[attr-defined]

# An integer literal rendered inline: a bound 1 reaches PostgreSQL as smallint,
# and a recursive CTE refuses a column whose type differs between its two terms.
_ONE = sa.literal_column("1", sa.Integer)

# The statements are built once and take their values as bind parameters:
# building a recursive CTE over aliased tables costs more Python time than
# running it, and an unchanged statement also hits SQLAlchemy's compiled cache.
_LOT_ID = sa.bindparam("lot_id", type_=sa.Integer)
_START_M = sa.cast(sa.bindparam("start_m", type_=sa.Float), sa.Float)
_END_M = sa.cast(sa.bindparam("end_m", type_=sa.Float), sa.Float)
_WALK_DEPTH = sa.bindparam("walk_depth", type_=sa.Integer)  # levels the walk goes down
_MAX_DEPTH = sa.bindparam("max_depth", type_=sa.Integer)  # levels reported


def _forward_walk(interval: bool) -> sa.CTE:
    """Every link below lot ``:lot_id`` to ``:walk_depth`` levels, with the child lot's identity.

    With ``interval``, the first level keeps only links overlapping
    ``[:start_m, :end_m]`` and reports the overlapping metres.
    """
    first, child, parent = LINK.alias("first_link"), LOT.alias("first_child"), LOT.alias("first_parent")
    lo: sa.ColumnElement[Any] = first.c.parent_start_m
    hi: sa.ColumnElement[Any] = first.c.parent_end_m
    where = [first.c.parent_lot_id == _LOT_ID]
    if interval:
        where += [first.c.parent_start_m < _END_M, first.c.parent_end_m > _START_M]
        # The part of the link inside the asked interval (portable GREATEST / LEAST).
        lo = sa.case((first.c.parent_start_m > _START_M, first.c.parent_start_m), else_=_START_M)
        hi = sa.case((first.c.parent_end_m < _END_M, first.c.parent_end_m), else_=_END_M)
    # The lots are joined inside the walk, one primary-key probe per link found:
    # joined outside, PostgreSQL plans against its (much too high) estimate of
    # the walk's rows and hashes the whole lot table.
    walk = (
        sa.select(
            first.c.id.label("link_id"),
            first.c.parent_lot_id,
            first.c.child_lot_id,
            first.c.role,
            lo.label("start_m"),
            hi.label("end_m"),
            _ONE.label("depth"),
            parent.c.number.label("parent_number"),
            child.c.number,
            child.c.kind,
            child.c.status,
        )
        .select_from(first)
        .join(child, child.c.id == first.c.child_lot_id)
        .join(parent, parent.c.id == first.c.parent_lot_id)
        .where(*where)
        .cte("forward_walk", recursive=True)
    )
    step, child = LINK.alias("next_link"), LOT.alias("next_child")
    # UNION (not UNION ALL) with the depth bound: a cycle in bad data ends at
    # the depth limit instead of running forever, and diamonds do not multiply rows.
    return walk.union(
        sa.select(
            step.c.id,
            step.c.parent_lot_id,
            step.c.child_lot_id,
            step.c.role,
            step.c.parent_start_m,
            step.c.parent_end_m,
            walk.c.depth + _ONE,
            walk.c.number,  # the parent on this level is the child on the last
            child.c.number,
            child.c.kind,
            child.c.status,
        )
        .select_from(walk)
        .join(step, step.c.parent_lot_id == walk.c.child_lot_id)
        .join(child, child.c.id == step.c.child_lot_id)
        .where(walk.c.depth < _WALK_DEPTH)
    )


@functools.cache
def forward_query(interval: bool) -> sa.Select[Any]:
    walk = _forward_walk(interval)
    return sa.select(walk).where(walk.c.child_lot_id != _LOT_ID)


_PARENT_COLUMNS = ("number", "kind", "status", "length_m", "material", "supplier", "supplier_lot")


def _backward_walk() -> sa.CTE:
    """Every link above lot ``:lot_id`` to ``:walk_depth`` levels, with the parent lot's identity."""
    first, parent = LINK.alias("first_link"), LOT.alias("first_parent")
    walk = (
        sa.select(
            first.c.id.label("link_id"),
            first.c.parent_lot_id,
            first.c.child_lot_id,
            first.c.role,
            first.c.parent_start_m.label("start_m"),
            first.c.parent_end_m.label("end_m"),
            _ONE.label("depth"),
            *(parent.c[name] for name in _PARENT_COLUMNS),
        )
        .select_from(first)
        .join(parent, parent.c.id == first.c.parent_lot_id)
        .where(first.c.child_lot_id == _LOT_ID)
        .cte("backward_walk", recursive=True)
    )
    step, parent = LINK.alias("next_link"), LOT.alias("next_parent")
    return walk.union(
        sa.select(
            step.c.id,
            step.c.parent_lot_id,
            step.c.child_lot_id,
            step.c.role,
            step.c.parent_start_m,
            step.c.parent_end_m,
            walk.c.depth + _ONE,
            *(parent.c[name] for name in _PARENT_COLUMNS),
        )
        .select_from(walk)
        .join(step, step.c.child_lot_id == walk.c.parent_lot_id)
        .join(parent, parent.c.id == step.c.parent_lot_id)
        .where(walk.c.depth < _WALK_DEPTH)
    )


def _layers_query(used: sa.Subquery) -> sa.Select[Any]:
    """Layers with their characteristics of every lot in ``used``."""
    return (
        sa.select(
            LAYER.c.id.label("layer_id"),
            LAYER.c.lot_id,
            LAYER.c.name.label("layer_name"),
            LAYER.c.material,
            LAYER.c.method,
            LAYER.c.result.label("layer_result"),
            UNIT.c.name.label("unit_name"),
            CHAR.c.id.label("char_id"),
            CHAR.c.name,
            CHAR.c.unit,
            CHAR.c.lsl,
            CHAR.c.target,
            CHAR.c.usl,
            CHAR.c.result,
        )
        .outerjoin(CHAR, CHAR.c.layer_id == LAYER.c.id)
        .outerjoin(STEP, STEP.c.id == LAYER.c.step_run_id)
        .outerjoin(UNIT, UNIT.c.id == STEP.c.equipment_unit_id)
        .where(LAYER.c.lot_id.in_(sa.select(used.c.parent_lot_id)))
        .order_by(LAYER.c.lot_id, LAYER.c.layer_index, CHAR.c.name)
    )


def _scan_stats_query(used: sa.Subquery, dialect: str) -> sa.Select[Any]:
    """Statistics per (link id, characteristic id) of the scans inside each link's used metres."""
    inside = (
        SCAN.c.characteristic_id == CHAR.c.id,
        SCAN.c.position_m >= used.c.start_m,
        SCAN.c.position_m < used.c.end_m,
    )
    aggregates = (
        sa.func.count().label("n_scans"),
        # lane_values is packed float64: 8 bytes a lane on both backends.
        sa.func.sum(sa.func.length(SCAN.c.lane_values)).label("n_bytes"),
        sa.func.min(SCAN.c.min_value).label("lo"),
        sa.func.avg(SCAN.c.mean_value).label("mean"),
        sa.func.max(SCAN.c.max_value).label("hi"),
    )
    # Through layer and characteristic so that each range is one seek on the
    # (characteristic_id, position_m) index, not a read of the whole lot.
    ranges = (
        sa.select(used.c.link_id, CHAR.c.id.label("char_id"))
        .select_from(used)
        .join(LAYER, LAYER.c.lot_id == used.c.parent_lot_id)
        .join(CHAR, CHAR.c.layer_id == LAYER.c.id)
    )
    if dialect == "postgresql":
        # PostgreSQL does not turn join clauses from two outer tables into index
        # bounds: a plain join reads every scan of the characteristic and filters.
        # LATERAL hands it each range as constants, one bounded seek per range.
        per_range = sa.select(*aggregates).where(*inside).lateral("in_range")
        return ranges.add_columns(*per_range.c).join(per_range, sa.true()).where(per_range.c.n_scans > 0)
    return ranges.add_columns(*aggregates).join(SCAN, sa.and_(*inside)).group_by(used.c.link_id, CHAR.c.id)


def _intervals_query(used: sa.Subquery, dialect: str) -> sa.Select[Any]:
    """Out-of-spec intervals overlapping each link's used metres."""
    overlapping = (
        OOS.c.lot_id == used.c.parent_lot_id,
        OOS.c.start_m < used.c.end_m,
        OOS.c.end_m > used.c.start_m,
    )
    columns = (
        CHAR.c.name,
        OOS.c.start_m,
        OOS.c.end_m,
        OOS.c.worst_value,
        OOS.c.limit_value,
        OOS.c.limit_kind,
        OOS.c.status,
        OOS.c.kind,
    )
    if dialect == "postgresql":
        # Planned against the walk's row estimate (tens to hundreds), a plain join
        # reads the whole interval table until it holds tens of thousands of rows;
        # LATERAL makes it one (lot_id, start_m) index seek per link. OFFSET 0
        # keeps the planner from flattening the sub-query back into a join.
        found = (
            sa.select(*columns)
            .select_from(OOS)
            .join(CHAR, CHAR.c.id == OOS.c.characteristic_id)
            .where(*overlapping)
            .offset(0)
            .lateral("overlapping")
        )
        return (
            sa.select(used.c.link_id, *found.c)
            .select_from(used)
            .join(found, sa.true())
            .order_by(used.c.link_id, found.c.start_m, found.c.name)
        )
    return (
        sa.select(used.c.link_id, *columns)
        .select_from(used)
        .join(OOS, sa.and_(*overlapping))
        .join(CHAR, CHAR.c.id == OOS.c.characteristic_id)
        .order_by(used.c.link_id, OOS.c.start_m, CHAR.c.name)
    )


@functools.cache
def backward_queries(dialect: str) -> tuple[sa.Select[Any], sa.Select[Any], sa.Select[Any], sa.Select[Any]]:
    """The walk, then layers, scan statistics and intervals of every link it finds (reported levels)."""
    walk = _backward_walk()
    # Each detail statement runs the walk again as a sub-query rather than take
    # a list of ids: no bind-parameter limit, and still one statement per kind.
    used = (
        sa.select(walk.c.link_id, walk.c.parent_lot_id, walk.c.start_m, walk.c.end_m)
        .where(walk.c.depth <= _MAX_DEPTH)
        .distinct()
        .subquery("used")
    )
    return (
        sa.select(walk),
        _layers_query(used),
        _scan_stats_query(used, dialect),
        _intervals_query(used, dialect),
    )
