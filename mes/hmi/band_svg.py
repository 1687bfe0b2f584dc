"""The band map drawn as inline SVG: metres along the band across, lanes down, each cell coloured by
how far its worst value is from target (:func:`mes.lots.band_map.deviation`).

Colours follow the HMI guide: grey near target, a calm blue below and tan above that deepen in three
steps towards the spec limit, red beyond it; cells nobody measured and unmeasured intervals are
hatched; out-of-spec intervals are outlined (a shape, not only a colour) and labelled with their
status. Neighbouring cells of a lane in the same colour are one rectangle, so a calm lot is a few
dozen elements whatever its length. Positions are in the SVG's own units; ``data-x0`` and
``data-px-per-m`` on the ``<svg>`` map metres onto them (the tests use them to find the metres).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from markupsafe import Markup, escape

from mes.lots.band_map import deviation
from mes.lots.models import IntervalKind
from mes.lots.schemas import BandMap, IntervalPublic

WIDTH = 1200.0
LEFT, RIGHT, TOP, BOTTOM = 62.0, 26.0, 22.0, 30.0
MIN_OUTLINE = 3.0  # an interval of a centimetre on a kilometre still shows
# Steps of |deviation| (share of the spec on that side) and their classes; beyond 1: out of spec.
STEPS = (0.25, 0.5, 0.75, 1.0)


def cell_class(d: float) -> str:
    """``nd`` not measured, ``n0`` near target, ``m1``–``m3`` below, ``p1``–``p3`` above, ``oos``."""
    if not math.isfinite(d):
        return "nd"
    size = abs(d)
    if size > STEPS[-1]:
        return "oos"
    step = next(i for i, s in enumerate(STEPS) if size <= s)
    return "n0" if step == 0 else f"{'p' if d > 0 else 'm'}{step}"


def nice_step(span: float, ticks: int = 10) -> float:
    """A tick spacing of 1, 2 or 5 × 10^k giving about ``ticks`` ticks over ``span``."""
    raw = span / ticks if span > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    return float(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def _fmt(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.4g} {unit}"


def _tag(name: str, attrs: Mapping[str, object], inner: str = "") -> str:
    """``<name a="v"…>inner</name>`` with every attribute value escaped (numbers to 0.01 unit)."""
    shown = "".join(f' {k}="{escape(f"{v:.2f}" if isinstance(v, float) else v)}"' for k, v in attrs.items())
    return f"<{name}{shown}>{inner}</{name}>"


def _title(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def _cells(m: BandMap, x0: float, ppm: float, lane_h: float, key: str) -> list[str]:
    worst = np.asarray([[np.nan if v is None else v for v in lane] for lane in m.worst], dtype=np.float64)
    out = []
    for lane in range(m.lanes):
        values = worst[lane] if lane < worst.shape[0] else np.full(m.columns, np.nan)
        classes = [cell_class(d) for d in deviation(values, m.lsl, m.target, m.usl).tolist()]
        start = 0
        for c in range(1, m.columns + 1):
            if c < m.columns and classes[c] == classes[start]:
                continue
            kind, run = classes[start], values[start:c]
            a, b = m.start_m + start * m.column_m, m.start_m + c * m.column_m
            what = "not measured"
            if kind != "nd":
                far = run[int(np.nanargmax(np.abs(deviation(run, m.lsl, m.target, m.usl))))]
                what = f"worst {_fmt(float(far), m.unit)}"
            x, y = x0 + (a - m.start_m) * ppm, TOP + lane * lane_h
            attrs: dict[str, object] = {"class": f"cell {kind}", "x": x, "y": y, "width": (b - a) * ppm,
                                        "height": lane_h}  # fmt: skip
            if kind == "nd":
                attrs["fill"] = f"url(#hatch-{key})"
            out.append(_tag("rect", attrs, _title(f"lane {lane + 1}, {a:.2f}–{b:.2f} m: {what}")))
            start = c
    return out


def _interval(m: BandMap, i: IntervalPublic, x0: float, ppm: float, height: float, key: str) -> str:
    oos = i.kind == IntervalKind.OUT_OF_SPEC
    # An out-of-spec interval ends at its last bad scan, which measured one pitch of band.
    end = i.end_m + (m.pitch_m if oos else 0.0)
    x = x0 + (i.start_m - m.start_m) * ppm
    width = (end - i.start_m) * ppm
    if width < MIN_OUTLINE:
        x, width = x - (MIN_OUTLINE - width) / 2, MIN_OUTLINE
    box: dict[str, object] = {"x": x, "y": TOP, "width": width, "height": height}
    if not oos:
        box["fill"] = f"url(#hatch-{key})"
    extent = f"{i.start_m:.2f}–{i.end_m:.2f} m"
    title = f"interval {i.id}: {'out of spec' if oos else 'unmeasured'} {extent}, {i.status.value}"
    if oos:
        title += f", worst {_fmt(i.worst, m.unit)} beyond {i.limit_kind.upper()}"
    label = f"{'▲ ' if oos else ''}{extent} {i.status.value}"
    group = {"class": f"interval {'iv-oos' if oos else 'iv-gap'} {i.status.value}",
             "data-testid": f"band-interval-{i.id}", "data-interval-id": i.id, "data-kind": i.kind.value,
             "data-status": i.status.value, "data-start-m": repr(i.start_m),
             "data-end-m": repr(i.end_m)}  # fmt: skip
    inner = _title(title) + _tag("rect", box) + _tag("text", {"x": x, "y": TOP - 6}, str(escape(label)))
    return _tag("g", group, inner)


def _axes(m: BandMap, x0: float, ppm: float, lane_h: float, height: float) -> list[str]:
    out = []
    every = max(1, math.ceil(m.lanes / 12))
    for lane in range(0, m.lanes, every):
        where = {"class": "lane", "x": LEFT - 6, "y": TOP + (lane + 0.5) * lane_h + 4, "text-anchor": "end"}
        out.append(_tag("text", where, f"lane {lane + 1}"))
    step = nice_step(m.end_m - m.start_m)
    tick = math.ceil(m.start_m / step) * step
    while tick <= m.end_m + 1e-9:
        x = x0 + (tick - m.start_m) * ppm
        out.append(
            _tag("line", {"class": "tick", "x1": x, "x2": x, "y1": TOP + height, "y2": TOP + height + 5})
        )
        out.append(_tag("text", {"class": "tick", "x": x, "y": TOP + height + 18, "text-anchor": "middle"},
                        f"{tick:g} m"))  # fmt: skip
        tick += step
    return out


def band_map_svg(m: BandMap, intervals: Sequence[IntervalPublic], *, key: str, held: bool) -> Markup:
    """``m`` as an ``<svg>`` with ``intervals`` (those of its characteristic) drawn over it; ``key``
    makes its ids unique in the page; ``held``: the lot is on hold (a dashed frame)."""
    lane_h = max(8.0, min(20.0, 180.0 / max(1, m.lanes)))
    height = m.lanes * lane_h
    ppm = (WIDTH - LEFT - RIGHT) / max(m.end_m - m.start_m, 1e-9)
    x0 = LEFT
    name = f"{m.layer}.{m.characteristic}"
    box = f"0 0 {WIDTH:.0f} {TOP + height + BOTTOM:.0f}"
    svg = {"class": "band-map held" if held else "band-map", "viewBox": box,
           "role": "img", "aria-label": f"band map of {name}", "data-testid": f"band-map-{name}",
           "data-x0": repr(x0), "data-px-per-m": repr(ppm), "data-start-m": repr(m.start_m),
           "data-end-m": repr(m.end_m), "data-columns": m.columns, "data-column-m": repr(m.column_m),
           "data-hold": "lot" if held else "none"}  # fmt: skip
    hatch = _tag("pattern", {"id": f"hatch-{key}", "patternUnits": "userSpaceOnUse", "width": 6, "height": 6,
                             "patternTransform": "rotate(45)"},
                 _tag("rect", {"width": 6, "height": 6, "fill": "#f4f4f4"})
                 + _tag("line", {"x1": 0, "y1": 0, "x2": 0, "y2": 6, "stroke": "#8a8a8a",
                                 "stroke-width": 2}))  # fmt: skip
    frame = _tag(
        "rect", {"class": "frame", "x": x0, "y": TOP, "width": WIDTH - LEFT - RIGHT, "height": height}
    )
    inner = [
        _tag("defs", {}, hatch),
        _tag("g", {"class": "cells"}, "".join(_cells(m, x0, ppm, lane_h, key))),
        *_axes(m, x0, ppm, lane_h, height),
        frame,
        *(_interval(m, i, x0, ppm, height, key) for i in intervals),
    ]
    return Markup(_tag("svg", svg, "".join(inner)))  # noqa: S704 - every text and attribute is escaped
