"""Read models of quality: alarms, stored control limits, charts, capability and the lot report.

Values are in the characteristic's unit, positions in metres along the band, times UTC.
Equipment units and lots appear by name and number, never by id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from mes.audit.schemas import AuditEventPublic
from mes.auth.signatures import SignaturePublic
from mes.base import ReadModel
from mes.lots.schemas import CharacteristicDetail, LayerDetail, LotDetail
from mes.lots.trace_models import BackwardNode, ForwardHit
from mes.quality import capability as cap
from mes.quality import spc
from mes.quality.models import AlarmPriority, AlarmState


class AlarmPublic(ReadModel):
    """An alarm as the operator's list shows it; ``condition`` is its tag (one open alarm per tag)."""

    id: int
    condition: str = Field(description="the alarm tag: the live condition, e.g. char:12:oos, step:7:held")
    priority: AlarmPriority
    state: AlarmState
    message: str
    lot: str | None
    unit: str | None = Field(description="equipment unit name")
    characteristic: str | None = Field(description="LAYER.CHARACTERISTIC the alarm is about")
    position_m: float | None
    raised_at: datetime
    cleared_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    shelved_by: str | None
    shelved_until: datetime | None = Field(description="set while the alarm is shelved")
    comment: str | None


class AlarmEventPublic(ReadModel):
    """One transition of an alarm's journal: who (a user, or ``system``), when, from and to which state."""

    at: datetime
    transition: str
    from_state: AlarmState | None
    to_state: AlarmState
    by: str
    comment: str | None


class AlarmDetail(AlarmPublic):
    journal: list[AlarmEventPublic]


class ControlLimitPublic(ReadModel):
    """Stored limits of the mean of each ``segment_m`` of band (an individuals chart of segment means)."""

    recipe: str = Field(description="ID@VERSION")
    unit: str
    layer: str
    characteristic: str
    chart: str
    segment_m: float
    center: float
    ucl: float
    lcl: float
    sigma: float
    rules: str
    run_length: int
    n_baseline: int
    source: str
    active: bool
    created_by: str
    created_at: datetime


class LimitsComputed(ReadModel):
    """Phase I's answer: the limits now stored, and how many baseline points violate the rules."""

    limit: ControlLimitPublic
    baseline_violations: int
    lots: int  # baseline lots
    segments: int  # charted points: complete segments of the baseline lots
    accepted: list[str] = []  # what the engineer confirmed: few lots, the violations listed


# --- charts and capability (``mes spc chart|capability --json``) ---------------------------------


class ViolationPublic(ReadModel):
    index: int
    rule: str
    points: list[int]


class SpreadChart(ReadModel):
    """The MR, R or S chart beside a Shewhart chart; violations are indexed like the main chart."""

    center: float
    ucl: float
    lcl: float
    values: list[float]
    violations: list[ViolationPublic]


class _Shewhart(ReadModel):
    phase: Literal["I", "II"]
    n: int
    subgroup_size: int
    center: float
    ucl: float
    lcl: float
    sigma: float = Field(description="σ of individual values")
    rules: str
    run_length: int | None
    violations: list[ViolationPublic]


class ImrChart(_Shewhart):
    chart: Literal["imr"]
    x: list[float]
    mr: SpreadChart


class XbarRChart(_Shewhart):
    chart: Literal["xbar-r"]
    xbar: list[float]
    range: SpreadChart


class XbarSChart(_Shewhart):
    chart: Literal["xbar-s"]
    xbar: list[float]
    s: SpreadChart


class EwmaChartPublic(ReadModel):
    # ``lambda`` is a Python keyword: the field is ``lambda_``, its JSON key ``lambda``.
    model_config = ConfigDict(serialize_by_alias=True, validate_by_alias=True, validate_by_name=True)

    chart: Literal["ewma"]
    phase: Literal["I", "II"]
    n: int
    center: float
    ucl: float = Field(description="steady-state limit")
    lcl: float
    sigma: float
    lambda_: float = Field(alias="lambda")
    L: float
    violations: list[ViolationPublic]
    ewma: list[float]
    ucl_points: list[float]
    lcl_points: list[float]


ChartPublic = Annotated[ImrChart | XbarRChart | XbarSChart | EwmaChartPublic, Field(discriminator="chart")]


class CapabilityPublic(ReadModel):
    """Cp/Cpk from the within σ, Pp/Ppk from the overall σ; Cp and Pp None with one spec limit."""

    n: int
    mean: float
    sigma_within: float
    sigma_overall: float
    within_method: str
    lsl: float | None
    usl: float | None
    cp: float | None
    cpk: float | None  # None with ``within_note``: the within σ is 0 while the values vary
    pp: float | None
    ppk: float
    warning: str | None
    within_note: str | None = None


def capability_public(result: cap.Capability) -> CapabilityPublic:
    return CapabilityPublic(**asdict(result))


def chart_public(
    result: spc.ControlChart | spc.EwmaChart,
) -> ImrChart | XbarRChart | XbarSChart | EwmaChartPublic:
    data = result.to_dict()
    if isinstance(result, spc.EwmaChart):
        return EwmaChartPublic.model_validate(data)
    if result.chart == "imr":
        return ImrChart.model_validate(data)
    return (XbarRChart if result.chart == "xbar-r" else XbarSChart).model_validate(data)


# --- the control chart of a characteristic as the line judged it (``GET /spc/chart``) -------------


class SpcLotRun(ReadModel):
    """The points of one lot on a chart (``first`` … ``first + count − 1``) and the stored limits
    they are judged by: those in force when the layer closed (the active ones while it is made)."""

    lot: str
    first: int
    count: int
    segment_m: float = Field(description="metres of band a point averages")
    layer_closed_at: datetime | None
    limits: ControlLimitPublic | None = Field(description="None: no limits were in force")
    note: str | None = Field(default=None, description="why the points were not judged, when not")


class SpcViolation(ReadModel):
    """A run rule that fired at point ``index`` (``points``: every point of the pattern), where."""

    index: int
    rule: str
    meaning: str
    points: list[int]
    lot: str
    start_m: float
    end_m: float


class SpcChartPublic(ReadModel):
    """An individuals chart of segment means of one characteristic, lot after lot in the order they
    were made, as the line's SPC check charts it (:mod:`mes.execution.monitor`): point ``i`` is the
    mean of the scans' lane means over ``[start_m[i], start_m[i] + segment_m)`` of its lot, judged
    by its lot's limits and rules. Values in ``value_unit``; ``unit`` is the equipment unit."""

    recipe: str | None = Field(description="ID@VERSION")
    unit: str | None = Field(description="equipment unit that made the layer")
    layer: str
    characteristic: str
    value_unit: str
    lsl: float
    target: float
    usl: float
    lots: list[SpcLotRun]
    start_m: list[float]
    mean: list[float]
    scans: list[int]
    violations: list[SpcViolation]


# --- the lot report -------------------------------------------------------------------------------


class Unavailable(ReadModel):
    """Why a statistic could not be computed (too few scans, no variation, …)."""

    error: str


class LaneLimits(ReadModel):
    center: float
    ucl: float
    lcl: float


class CrossWebRange(ReadModel):
    """The cross-web range (max − min over lanes) of the scans: mean, largest and where it was."""

    mean: float
    max: float
    at_m: float


class WebProfilePublic(ReadModel):
    """Mean of each lane (the cross-web profile) and each lane's down-web I-MR limits."""

    lane_means: list[float]
    cross_web_range: CrossWebRange
    down_web: list[LaneLimits]


class Segment(ReadModel):
    """Scans whose position falls in ``[start_m, end_m)``: the down-web profile, one point a segment."""

    start_m: float
    end_m: float
    scans: int
    mean: float
    min: float
    max: float


class CharacteristicQuality(CharacteristicDetail):
    """A characteristic with its capability, web profile, down-web segments and the control limits
    it was watched with. Only scans with every lane measured count (``scans_left_out`` the others).
    """

    scans_left_out: int
    capability: CapabilityPublic | Unavailable
    web_profile: WebProfilePublic | Unavailable
    segment_m: float
    segments: list[Segment]
    control_limits: ControlLimitPublic | None


class CharacteristicCapability(ReadModel):
    """Capability of one characteristic of a lot and the control limits it was watched with (the
    report's, without its web profile and segments); ``unit`` is the characteristic's."""

    layer: str
    characteristic: str
    unit: str
    scans_left_out: int
    capability: CapabilityPublic | Unavailable
    control_limits: ControlLimitPublic | None


class LayerQuality(LayerDetail):
    characteristics: Sequence[CharacteristicQuality]


class Genealogy(ReadModel):
    backward: BackwardNode
    forward: list[ForwardHit]


class LotRecord(LotDetail):
    """A lot as the API shows it: the record ``mes lot show`` prints (why it is held, steps, layers
    with their statistics, intervals, inputs), genealogy both ways, and every electronic signature
    recorded over it (printed name, time, meaning, the SHA-256 of what was signed), oldest first."""

    genealogy: Genealogy
    signatures: list[SignaturePublic]


class LotReport(LotDetail):
    """What a customer or an auditor asks for: the lot's record with quality's view of every layer,
    its alarms with their journal, every disposition from the audit trail, and genealogy both ways."""

    layers: Sequence[LayerQuality]
    alarms: list[AlarmDetail]
    dispositions: list[AuditEventPublic]
    genealogy: Genealogy


class AlarmSummary(ReadModel):
    """What the alarm banner of every operator page shows: open alarms per priority (shelved ones
    apart), and how many of them nobody has acknowledged yet (those flash)."""

    open_by_priority: dict[AlarmPriority, int] = Field(description="open and not shelved, per priority")
    unacknowledged_by_priority: dict[AlarmPriority, int] = Field(
        description="of those, not acknowledged (ISA-18.2 unacknowledged: active or cleared)"
    )
    shelved: int = Field(description="open alarms shelved at the moment")
