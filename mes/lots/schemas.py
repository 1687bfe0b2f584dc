"""Read models of the production record: what the services answer about lots and their steps.

Built from table rows in :mod:`mes.lots.report`; the CLI's ``--json`` prints them as they are.
Lengths along the band are metres from the start of the lot's roll (``*_m``), values are in
their characteristic's ``unit``, times are UTC. Equipment units appear by name, never by id.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

from pydantic import Field

from mes.base import ReadModel
from mes.lots.models import (
    Disposition,
    IntervalKind,
    IntervalStatus,
    LayerResult,
    LotKind,
    LotStatus,
    StepRunState,
)
from mes.lots.trace_models import ForwardHit


class LotSummary(ReadModel):
    """One lot as a list shows it: identity, recipe and how many layers and intervals are not good."""

    lot: str = Field(description="lot number")
    kind: LotKind
    status: LotStatus
    recipe: str | None = Field(description="ID@VERSION the lot was made with; None for a purchased lot")
    length_m: float
    material: str
    supplier_lot: str | None
    layers: int
    layers_out_of_spec: int
    layers_not_judged: int = Field(description="pending or incomplete: never good")
    intervals: int
    intervals_unmeasured: int
    intervals_held: int
    created_at: datetime


class StepRunPublic(ReadModel):
    """One recipe step of one lot and the unit (by name) it ran on."""

    id: int
    job_id: str
    lot: str
    step_index: int
    step: str = Field(description="the recipe step's name")
    state: StepRunState
    unit: str | None = Field(description="equipment unit name; None before it was scheduled")
    error: str | None
    started_at: datetime | None
    ended_at: datetime | None


class StepRunDetail(StepRunPublic):
    """A step with what a person needs before resuming or aborting it: its lot's status, its unit's
    health and why, link failures and faults in a row, and when the unit was first seen running it."""

    lot_status: LotStatus
    unit_healthy: bool | None
    unit_health_reason: str | None
    link_failures: int
    faults: int
    seen_running_at: datetime | None
    dispatched_at: datetime | None


class Coverage(ReadModel):
    """Measured metres of ``length_m`` and their share [%]; None before the layer's close judged them."""

    measured_m: float | None
    length_m: float
    pct: float | None
    min_coverage_pct: float


class CharacteristicDetail(ReadModel):
    """A measured property of a layer: spec (``lsl``/``target``/``usl`` in ``unit``) and statistics."""

    name: str
    unit: str
    target: float
    lsl: float
    usl: float
    gauge: str
    lanes: int
    pitch_m: float
    result: LayerResult
    scans: int
    values: int
    min: float | None
    mean: float | None
    max: float | None
    stddev: float | None
    coverage: Coverage


class LayerDetail(ReadModel):
    """A layer with the unit that made it (by name) and its characteristics."""

    name: str
    material: str
    method: str
    result: LayerResult
    disposition_policy: Disposition
    unit: str | None = Field(description="equipment unit that made the layer; None before its step ran")
    job_id: str | None = Field(description="the step run that made it")
    closed_at: datetime | None
    characteristics: Sequence[CharacteristicDetail]


class IntervalPublic(ReadModel):
    """A stretch ``[start_m, end_m]`` of the lot out of spec or unmeasured, and what was decided.

    An unmeasured one has no ``worst`` value or ``limit`` (``limit_kind`` ``none``).
    """

    id: int
    kind: IntervalKind
    layer: str
    characteristic: str
    start_m: float
    end_m: float
    worst: float | None
    limit: float | None
    limit_kind: str
    disposition: Disposition
    status: IntervalStatus
    opened_at: datetime
    closed_at: datetime | None
    dispositioned_by: str | None
    dispositioned_at: datetime | None


class InputLot(ReadModel):
    """Metres ``[start_m, end_m]`` of a parent lot that went into this one."""

    role: str
    lot: str
    kind: LotKind
    start_m: float
    end_m: float
    supplier: str | None
    supplier_lot: str | None


class HoldSource(enum.StrEnum):
    """What put a lot (or metres of it) on hold."""

    SIGNED = "signed"  # a person's signed hold (mes lot hold)
    SYSTEM = "system"  # the line: a layer's disposition, unjudged metres, an unfinished route
    BLOCKED = "blocked"  # made from material that was put on hold or scrapped
    STEP = "step"  # a step fault held or failed a step, or a person aborted one
    INTERVAL = "interval"  # held metres of the lot (the lot itself may go on)


class HoldReason(ReadModel):
    """Why a lot, or an interval of it, is on hold: what, who and when, and whether it was signed.

    ``alarm_ids`` are the open alarms raised for the same cause (see ``mes alarm list``).
    """

    source: HoldSource
    what: str
    by: str | None
    at: datetime | None
    signed: bool
    unit: str | None = None
    job_id: str | None = None
    layer: str | None = None
    characteristic: str | None = None
    interval_id: int | None = None
    alarm_ids: list[int] = Field(default_factory=list)


class LotDetail(ReadModel):
    """Everything the record holds about one lot: holds, steps, layers, intervals, inputs."""

    lot: str
    kind: LotKind
    status: LotStatus
    recipe: str | None
    recipe_hash: str | None
    order: str | None = Field(description="the work order's number; None for a purchased lot")
    length_m: float
    width_mm: float | None
    material: str
    supplier: str | None
    supplier_lot: str | None
    created_at: datetime
    layers_out_of_spec: int
    layers_not_judged: int
    intervals_unmeasured: int
    intervals_held: int
    holds: Sequence[HoldReason] = Field(description="why the lot or metres of it are on hold now")
    steps: Sequence[StepRunPublic]
    layers: Sequence[LayerDetail]
    intervals: Sequence[IntervalPublic]
    inputs: Sequence[InputLot]


class ForwardTrace(ReadModel):
    """Every lot made from metres ``[start_m, end_m]`` of ``lot`` (the whole lot when both are None)."""

    lot: str
    start_m: float | None
    end_m: float | None
    hits: list[ForwardHit]


class ScanPublic(ReadModel):
    """One cross-web scan of a gauge at ``position_m``: every lane (None where the gauge gave no
    number: NaN or ±Inf) and min / mean / max over the lanes that are numbers (None when none is)."""

    seq: int = Field(description="the gauge's own sequence number")
    position_m: float
    measured_at: datetime
    lanes: list[float | None]
    min: float | None
    mean: float | None
    max: float | None


class LotScans(ReadModel):
    """The scans of one characteristic of a lot with ``start_m <= position_m < end_m``, in position
    order; values in ``unit``. ``end_m`` None: to the end of the lot."""

    lot: str
    layer: str
    characteristic: str
    unit: str
    lsl: float
    target: float
    usl: float
    lanes: int
    pitch_m: float
    start_m: float
    end_m: float | None
    count: int
    scans: list[ScanPublic]


class BandMap(ReadModel):
    """One characteristic of a layer as a map of the band: ``columns`` bins of ``column_m`` metres
    along it (from ``start_m``), one row per lane across it.

    ``worst[lane][column]`` is the value of that lane in that bin furthest from ``target`` (as a
    share of the spec on its side: a short excursion is never averaged away), ``mean`` the mean of
    the lane's values there; None where the bin holds no number of that lane (not measured).
    ``scans[column]`` counts the bin's scans. Values in ``unit``.
    """

    layer: str
    characteristic: str
    unit: str
    lsl: float
    target: float
    usl: float
    lanes: int
    pitch_m: float
    start_m: float
    end_m: float
    column_m: float
    columns: int
    scans: list[int]
    worst: list[list[float | None]]
    mean: list[list[float | None]]


class LotBandMaps(ReadModel):
    """Every characteristic of every layer of a lot, in layer order, as :class:`BandMap`."""

    lot: str
    length_m: float
    maps: list[BandMap]
