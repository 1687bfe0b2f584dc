"""What a genealogy trace returns: frozen dataclasses, JSON-ready through ``dataclasses.asdict``.

Lengths are metres from the start of the parent roll; values are in the
characteristic's unit. Lots are named by number, never by row id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mes.lots.models import IntervalKind, IntervalStatus, LayerResult, LotKind, LotStatus


@dataclass(frozen=True)
class LotRef:
    """Identity of one lot as a trace shows it; ``length_m`` in metres."""

    number: str
    kind: LotKind
    status: LotStatus
    length_m: float
    material: str
    supplier: str | None
    supplier_lot: str | None


@dataclass(frozen=True)
class ForwardHit:
    """A lot holding metres ``[start_m, end_m]`` of ``parent_number`` that descend from the traced lot.

    ``depth`` 1 is a direct child of the traced lot; deeper hits contain all of
    their parent (a child's metres do not map back onto its parent's), so their
    metres are the whole link. One hit per genealogy link reached.
    """

    number: str
    kind: LotKind
    status: LotStatus
    role: str
    parent_number: str
    start_m: float
    end_m: float
    depth: int


@dataclass(frozen=True)
class ScanStats:
    """Gauge scans of one characteristic inside the used metres.

    ``mean_value`` is the mean of the scans' lane means, each scan weighted
    equally (every scan of a characteristic has the same lanes, so this is the
    mean of all values); min / max are over every lane. None when no scan falls
    inside.
    """

    n_scans: int = 0
    n_values: int = 0
    min_value: float | None = None
    mean_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class CharacteristicTrace:
    """Spec (lsl / target / usl in ``unit``) and the statistics of the used metres only."""

    name: str
    unit: str
    lsl: float
    target: float
    usl: float
    result: LayerResult
    stats: ScanStats


@dataclass(frozen=True)
class LayerTrace:
    """A layer of an input lot; ``unit`` is the equipment unit (by name) that made it."""

    name: str
    material: str
    method: str
    result: LayerResult
    characteristics: list[CharacteristicTrace]
    unit: str | None = None


@dataclass(frozen=True)
class IntervalTrace:
    """An out-of-spec or unmeasured interval ``[start_m, end_m]`` (metres of its lot) in the used metres.

    An unmeasured one has no worst value or limit (None, ``limit_kind`` ``none``).
    """

    characteristic: str
    start_m: float
    end_m: float
    worst_value: float | None
    limit_value: float | None
    limit_kind: str
    status: IntervalStatus
    kind: IntervalKind = IntervalKind.OUT_OF_SPEC


@dataclass
class BackwardNode:
    """One lot in a backward trace tree.

    The root is the traced lot (no role, no metres, no details: ``mes lot show``
    has its own layers). Every other node is an input reached through a link:
    ``role`` and the metres ``[start_m, end_m]`` of this lot that went into the
    node above, with the layers, statistics and intervals of those metres only.
    ``cycle`` marks a lot already on the path (not expanded again);
    ``truncated`` marks a node at the depth limit whose own inputs were left out.
    """

    lot: LotRef
    depth: int = 0
    role: str | None = None
    start_m: float | None = None
    end_m: float | None = None
    layers: list[LayerTrace] = field(default_factory=list)
    intervals: list[IntervalTrace] = field(default_factory=list)
    parents: list[BackwardNode] = field(default_factory=list)
    cycle: bool = False
    truncated: bool = False
