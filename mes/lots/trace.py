"""Genealogy trace: what went into a lot (backward) and where a lot's metres went (forward).

Both directions walk :class:`~mes.lots.models.GenealogyLink` with one recursive
CTE, so a trace costs the same few statements whether it finds three lots or
three thousand: one for the walk, then one per kind of detail (layers and
characteristics, gauge-scan statistics, out-of-spec intervals) for every lot
found, each re-using the walk as a sub-query instead of a list of ids (no bind
parameter limit, no round trip per lot). On PostgreSQL the per-link reads of
scans and intervals are LATERAL joins, so that each is an index seek whatever
the planner guesses about the size of the walk.

Lengths are metres from the start of the parent roll. A link's metres
``[start_m, end_m]`` went into the child; two ranges overlap when
``a.start < b.end and a.end > b.start``, so ranges that only touch do not
(the same rule :func:`mes.lots.genealogy.usable_segments` reserves by).
Gauge scans count as inside a used range when ``start_m <= position_m < end_m``
so that adjacent cells share no scan.

These are read-only services: they take the caller's session, flush nothing and
return dataclasses (``dataclasses.asdict`` gives plain dicts for JSON).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from mes.equipment.models import EquipmentUnit
from mes.lots.errors import ExecutionError, LotNotFound
from mes.lots.models import (
    Characteristic,
    GaugeScan,
    GenealogyLink,
    IntervalKind,
    IntervalStatus,
    Layer,
    LayerResult,
    Lot,
    LotKind,
    LotStatus,
    OosInterval,
    StepRun,
)
from mes.lots.trace_models import (
    BackwardNode,
    CharacteristicTrace,
    ForwardHit,
    IntervalTrace,
    LayerTrace,
    LotRef,
    ScanStats,
)

LINK: sa.Table = GenealogyLink.__table__  # type: ignore[attr-defined]
LOT: sa.Table = Lot.__table__  # type: ignore[attr-defined]
LAYER: sa.Table = Layer.__table__  # type: ignore[attr-defined]
CHAR: sa.Table = Characteristic.__table__  # type: ignore[attr-defined]
SCAN: sa.Table = GaugeScan.__table__  # type: ignore[attr-defined]
OOS: sa.Table = OosInterval.__table__  # type: ignore[attr-defined]
STEP: sa.Table = StepRun.__table__  # type: ignore[attr-defined]
UNIT: sa.Table = EquipmentUnit.__table__  # type: ignore[attr-defined]

DEFAULT_MAX_DEPTH = 10
# An integer literal rendered inline: a bound 1 reaches PostgreSQL as smallint,
# and a recursive CTE refuses a column whose type differs between its two terms.
_ONE = sa.literal_column("1", sa.Integer)


class TraceRefused(ExecutionError):
    """A trace that cannot be run as asked (bad interval, bad depth, bad direction)."""


def _lot_ref(lot_id: int, lot: Any) -> LotRef:
    """From a :class:`Lot` or a row carrying the same columns."""
    return LotRef(
        id=lot_id,
        number=lot.number,
        kind=LotKind(lot.kind),
        status=LotStatus(lot.status),
        length_m=float(lot.length_m),
        material=lot.material,
        supplier=lot.supplier,
        supplier_lot=lot.supplier_lot,
    )


def _require_lot(session: Session, lot_id: int) -> Lot:
    lot = session.get(Lot, lot_id)
    if lot is None:
        raise LotNotFound(f"no lot with id {lot_id} (see `mes lot list`)")
    return lot


def _check_depth(max_depth: int) -> None:
    if not 1 <= max_depth <= 100:
        raise TraceRefused(f"trace depth {max_depth}: give 1 to 100 levels")


def check_interval(lot: Lot, start_m: float | None, end_m: float | None) -> None:
    """Refuse an interval ``[start_m, end_m]`` (metres) that is half given, empty or outside ``lot``."""
    if (start_m is None) != (end_m is None):
        raise TraceRefused("give both the start and the end metre of the interval, or neither")
    if start_m is None or end_m is None:
        return
    if not start_m < end_m:
        raise TraceRefused(f"interval {start_m:g}–{end_m:g} m is empty: the start must be before the end")
    if start_m < 0 or end_m > lot.length_m:
        raise TraceRefused(
            f"interval {start_m:g}–{end_m:g} m is not inside lot {lot.number} (0–{lot.length_m:g} m)"
        )


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
def _forward_query(interval: bool) -> sa.Select[Any]:
    walk = _forward_walk(interval)
    return sa.select(walk).where(walk.c.child_lot_id != _LOT_ID)


def forward(
    session: Session,
    lot_id: int,
    start_m: float | None = None,
    end_m: float | None = None,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> list[ForwardHit]:
    """Every lot holding any of metres ``[start_m, end_m]`` of lot ``lot_id`` (the whole lot if None).

    Direct children are the links whose parent range overlaps the interval (a
    link that only touches it does not), with the overlapping metres; each child
    is then followed whole, down to ``max_depth`` levels. Hits are ordered by
    depth, then lot number, then metres; the traced lot itself is never a hit
    (cycles in bad data end at the depth limit). Two statements, whatever the
    number of hits. Raises :class:`LotNotFound` and :class:`TraceRefused`.
    """
    _check_depth(max_depth)
    root = _require_lot(session, lot_id)
    check_interval(root, start_m, end_m)
    params = {"lot_id": lot_id, "start_m": start_m, "end_m": end_m, "walk_depth": max_depth}
    best: dict[int, ForwardHit] = {}
    for r in session.execute(_forward_query(start_m is not None), params):
        known = best.get(r.link_id)
        if known is not None and known.depth <= r.depth:
            continue
        best[r.link_id] = ForwardHit(
            lot_id=r.child_lot_id,
            number=r.number,
            kind=LotKind(r.kind),
            status=LotStatus(r.status),
            role=r.role,
            parent_lot_id=r.parent_lot_id,
            parent_number=r.parent_number,
            start_m=float(r.start_m),
            end_m=float(r.end_m),
            depth=int(r.depth),
            link_id=r.link_id,
        )
    return sorted(best.values(), key=lambda h: (h.depth, h.number, h.start_m, h.link_id))


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
def _backward_queries(dialect: str) -> tuple[sa.Select[Any], sa.Select[Any], sa.Select[Any], sa.Select[Any]]:
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


def backward(session: Session, lot_id: int, *, max_depth: int = DEFAULT_MAX_DEPTH) -> BackwardNode:
    """The tree of everything that went into lot ``lot_id``, down to ``max_depth`` levels of inputs.

    Each input node carries the metres ``[start_m, end_m]`` of its lot that were
    used, that lot's layers with each characteristic's spec and the statistics
    of the gauge scans inside those metres only, and the out-of-spec intervals
    overlapping them; then its own inputs (whole lot: a parent's metres do not
    map onto its inputs'). Five statements, whatever the size of the tree.
    Raises :class:`LotNotFound` and :class:`TraceRefused`.
    """
    _check_depth(max_depth)
    root = BackwardNode(lot=_lot_ref(lot_id, _require_lot(session, lot_id)))
    walk_q, layers_q, stats_q, intervals_q = _backward_queries(session.get_bind().dialect.name)
    # One level more than reported, only to tell which leaves have inputs left out.
    params = {"lot_id": lot_id, "walk_depth": max_depth + 1, "max_depth": max_depth}
    # A link reached along several paths comes back once per depth: keep one.
    links: dict[int, Any] = {}
    for r in session.execute(walk_q, params):
        if r.link_id not in links or r.depth < links[r.link_id].depth:
            links[r.link_id] = r
    if not links:
        return root
    layers = _layers(session.execute(layers_q, params))
    stats = {
        (r.link_id, r.char_id): ScanStats(
            n_scans=int(r.n_scans),
            n_values=int(r.n_bytes or 0) // 8,
            # NULL when every scan inside had no finite lane: unmeasured, not a number.
            min_value=_float_or_none(r.lo),
            mean_value=_float_or_none(r.mean),
            max_value=_float_or_none(r.hi),
        )
        for r in session.execute(stats_q, params)
    }
    intervals: dict[int, list[IntervalTrace]] = {}
    for r in session.execute(intervals_q, params):
        intervals.setdefault(r.link_id, []).append(
            IntervalTrace(
                characteristic=r.name,
                start_m=float(r.start_m),
                end_m=float(r.end_m),
                worst_value=_float_or_none(r.worst_value),
                limit_value=_float_or_none(r.limit_value),
                limit_kind=r.limit_kind,
                status=IntervalStatus(r.status),
                kind=IntervalKind(r.kind),
            )
        )
    into: dict[int, list[Any]] = {}
    for r in links.values():
        into.setdefault(r.child_lot_id, []).append(r)

    def expand(node: BackwardNode, path: frozenset[int]) -> None:
        for r in sorted(into.get(node.lot.id, []), key=lambda r: (r.role, r.number, r.start_m)):
            if node.depth + 1 > max_depth:
                node.truncated = True
                return
            ref = _lot_ref(r.parent_lot_id, r)
            here = BackwardNode(
                lot=ref,
                depth=node.depth + 1,
                role=r.role,
                start_m=float(r.start_m),
                end_m=float(r.end_m),
                link_id=r.link_id,
                layers=[
                    LayerTrace(
                        name=layer["name"],
                        material=layer["material"],
                        method=layer["method"],
                        result=layer["result"],
                        unit=layer["unit"],
                        characteristics=[
                            CharacteristicTrace(**c, stats=stats.get((r.link_id, cid), ScanStats()))
                            for cid, c in layer["characteristics"]
                        ],
                    )
                    for layer in layers.get(ref.id, [])
                ],
                intervals=intervals.get(r.link_id, []),
            )
            node.parents.append(here)
            if ref.id in path:
                here.cycle = True  # bad data: shown, not followed again
            else:
                expand(here, path | {ref.id})

    expand(root, frozenset({root.lot.id}))
    return root


def _layers(rows: Iterable[Any]) -> dict[int, list[dict[str, Any]]]:
    """Layers with their characteristics as ``(id, fields)``, per lot id."""
    by_lot: dict[int, list[dict[str, Any]]] = {}
    seen: dict[int, dict[str, Any]] = {}
    for r in rows:
        layer = seen.get(r.layer_id)
        if layer is None:
            layer = {
                "name": r.layer_name,
                "material": r.material,
                "method": r.method,
                "result": LayerResult(r.layer_result),
                "unit": r.unit_name,
                "characteristics": [],
            }
            seen[r.layer_id] = layer
            by_lot.setdefault(r.lot_id, []).append(layer)
        if r.char_id is not None:
            fields = {
                "name": r.name,
                "unit": r.unit,
                "lsl": r.lsl,
                "target": r.target,
                "usl": r.usl,
                "result": LayerResult(r.result),
            }
            layer["characteristics"].append((r.char_id, fields))
    return by_lot


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def walk_nodes(node: BackwardNode) -> list[BackwardNode]:
    """Every node of a backward tree, depth first, root first."""
    found = [node]
    for p in node.parents:
        found += walk_nodes(p)
    return found
