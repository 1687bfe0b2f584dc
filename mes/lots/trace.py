"""Genealogy trace: what went into a lot (backward) and where a lot's metres went (forward).

Both directions walk :class:`~mes.lots.models.GenealogyLink` with one recursive
CTE, so a trace costs the same few statements whether it finds three lots or
three thousand: one for the walk, then one per kind of detail (layers and
characteristics, gauge-scan statistics, out-of-spec intervals) for every lot
found. The statements are built in :mod:`mes.lots.trace_queries`.

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

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session

from mes.lots.errors import LotNotFound, TraceInvalid, TraceRefused
from mes.lots.models import (
    IntervalKind,
    IntervalStatus,
    LayerResult,
    Lot,
    LotKind,
    LotStatus,
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
from mes.lots.trace_queries import backward_queries, forward_query

DEFAULT_MAX_DEPTH = 10


def _lot_ref(lot: Any) -> LotRef:
    """From a :class:`Lot` or a row carrying the same columns."""
    return LotRef(
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
        raise TraceInvalid(f"trace depth {max_depth}: give 1 to 100 levels")


def check_interval(lot: Lot, start_m: float | None, end_m: float | None) -> None:
    """Refuse an interval ``[start_m, end_m]`` (metres) that is half given, empty or outside ``lot``."""
    if (start_m is None) != (end_m is None):
        raise TraceInvalid("give both the start and the end metre of the interval, or neither")
    if start_m is None or end_m is None:
        return
    if not start_m < end_m:
        raise TraceInvalid(f"interval {start_m:g}–{end_m:g} m is empty: the start must be before the end")
    if start_m < 0 or end_m > lot.length_m:
        raise TraceRefused(
            f"interval {start_m:g}–{end_m:g} m is not inside lot {lot.number} (0–{lot.length_m:g} m)"
        )


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
    for r in session.execute(forward_query(start_m is not None), params):
        known = best.get(r.link_id)
        if known is not None and known.depth <= r.depth:
            continue
        best[r.link_id] = ForwardHit(
            number=r.number,
            kind=LotKind(r.kind),
            status=LotStatus(r.status),
            role=r.role,
            parent_number=r.parent_number,
            start_m=float(r.start_m),
            end_m=float(r.end_m),
            depth=int(r.depth),
        )
    return sorted(
        best.values(), key=lambda h: (h.depth, h.number, h.start_m, h.end_m, h.parent_number, h.role)
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
    root = BackwardNode(lot=_lot_ref(_require_lot(session, lot_id)))
    walk_q, layers_q, stats_q, intervals_q = backward_queries(session.get_bind().dialect.name)
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

    def expand(node: BackwardNode, node_lot_id: int, path: frozenset[int]) -> None:
        """Add the inputs of ``node``, the lot with row id ``node_lot_id`` (ids stay in here)."""
        for r in sorted(into.get(node_lot_id, []), key=lambda r: (r.role, r.number, r.start_m)):
            if node.depth + 1 > max_depth:
                node.truncated = True
                return
            here = BackwardNode(
                lot=_lot_ref(r),
                depth=node.depth + 1,
                role=r.role,
                start_m=float(r.start_m),
                end_m=float(r.end_m),
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
                    for layer in layers.get(r.parent_lot_id, [])
                ],
                intervals=intervals.get(r.link_id, []),
            )
            node.parents.append(here)
            if r.parent_lot_id in path:
                here.cycle = True  # bad data: shown, not followed again
            else:
                expand(here, r.parent_lot_id, path | {r.parent_lot_id})

    expand(root, lot_id, frozenset({lot_id}))
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
