"""NaN and ±Inf lanes are missing measurements: spec checks, statistics, coverage, JSON output."""

from __future__ import annotations

import json
import math
import random
import re
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mes.base import dumps_json
from mes.equipment.models import EquipmentClass
from mes.quality.coverage import coverage, scan_measures
from mes.quality.spec import excursions, lane_statistics
from mes.sim.errors import FaultSpecError
from mes.sim.faults import parse_fault
from mes.sim.physics import Process

NAN, INF = math.nan, math.inf


def test_a_nan_first_lane_does_not_hide_an_excursion() -> None:
    [found] = excursions([(0.02, [NAN, 150, 150, 150])], 90, 110)
    assert (found.position_m, found.worst, found.kind, found.limit) == (0.02, 150, "usl", 110)
    # The same lanes in another order, as the issue found: the same answer.
    assert excursions([(0.02, [150, 150, 150, NAN])], 90, 110) == [found]
    assert excursions([(0.5, [NAN, -INF, INF])], 90, 110) == []  # nothing measured, nothing judged
    [low] = excursions([(1.0, [INF, 80, 100])], 90, 110)
    assert (low.kind, low.worst) == ("lsl", 80)


def test_statistics_are_over_finite_values_only() -> None:
    stats = lane_statistics([[100] * 4, [NAN] * 4, [NAN, 150, 150, 150], [100] * 4])
    assert stats is not None
    assert stats.n == 11
    assert (stats.minimum, stats.maximum) == (100, 150)
    assert stats.mean == pytest.approx(113.636, abs=5e-4)
    assert stats.stddev == pytest.approx(23.355, abs=5e-4)
    assert lane_statistics([[NAN, INF], [-INF]]) is None


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
lane = st.one_of(finite, st.sampled_from([NAN, INF, -INF]))
scans = st.lists(st.lists(lane, min_size=1, max_size=8), max_size=30)


@given(scans)
def test_statistics_never_nan_and_match_a_reference_on_finite_values(rows: list[list[float]]) -> None:
    values = [v for row in rows for v in row if math.isfinite(v)]
    stats = lane_statistics(rows)
    if not values:
        assert stats is None
        return
    assert stats is not None
    got = (stats.minimum, stats.mean, stats.maximum, stats.stddev)
    assert all(math.isfinite(x) for x in got)
    assert stats.n == len(values)
    assert (stats.minimum, stats.maximum) == (min(values), max(values))
    assert stats.mean == pytest.approx(statistics.fmean(values), rel=1e-9, abs=1e-6)
    reference_sd = statistics.stdev(values) if len(values) > 1 else 0.0
    assert stats.stddev == pytest.approx(reference_sd, rel=1e-6, abs=1e-6)


@given(scans, finite, finite)
def test_excursions_never_nan_and_match_a_reference_on_finite_values(
    rows: list[list[float]], a: float, b: float
) -> None:
    lsl, usl = min(a, b), max(a, b) + 1.0
    found = {e.position_m: e for e in excursions(((float(i), row) for i, row in enumerate(rows)), lsl, usl)}
    for i, row in enumerate(rows):
        values = [v for v in row if math.isfinite(v)]
        bad = [v for v in values if not lsl <= v <= usl]
        assert (float(i) in found) == bool(bad)
        if bad:
            e = found[float(i)]
            assert math.isfinite(e.worst) and e.worst in values
            assert e.worst == (max(values) if e.kind == "usl" else min(values))


def test_coverage_turns_long_gaps_into_unmeasured_stretches() -> None:
    pitch = 0.02
    positions = [round(i * pitch, 9) for i in range(501)]  # 0–10 m, every scan
    full = coverage(positions, pitch, 10.0, 2)
    assert (full.measured_m, full.unmeasured, full.meets(100)) == (10.0, (), True)
    # One or two missed scans are bridged; three are a hole of their own.
    few = [p for i, p in enumerate(positions) if i not in (100, 200, 201)]
    assert coverage(few, pitch, 10.0, 2).unmeasured == ()
    holed = [p for i, p in enumerate(positions) if not 300 <= i < 303]
    [(a, b)] = coverage(holed, pitch, 10.0, 2).unmeasured
    assert (a, b) == pytest.approx((6.0, 6.06))
    dead = coverage(positions[:301], pitch, 10.0, 2)  # the gauge died after 6 m
    [(a, b)] = dead.unmeasured
    assert (a, b) == pytest.approx((6.02, 10.0))
    assert dead.pct == pytest.approx(60.2) and not dead.meets(60.3) and dead.meets(60)
    nothing = coverage([], pitch, 10.0, 2)
    assert (nothing.measured_m, nothing.unmeasured, nothing.meets(50)) == (0.0, ((0.0, 10.0),), False)
    assert scan_measures([1.0, 2.0], 2) and not scan_measures([1.0, NAN], 2) and not scan_measures([1.0], 2)


def test_json_output_has_no_nan() -> None:
    text = dumps_json({"mean": NAN, "lanes": [1.0, INF, -INF], "n": 3, "nested": ({"sd": NAN},)})
    assert json.loads(text) == {"mean": None, "lanes": [1.0, None, None], "n": 3, "nested": [{"sd": None}]}
    assert "NaN" not in text and "Infinity" not in text


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_fault_parser_refuses_numbers_that_are_not_finite(value: str) -> None:
    with pytest.raises(FaultSpecError, match=f"step: pct={value!r} is not a finite number"):
        parse_fault(f"step,pct={value}")


def test_nan_fault_reads_nan_lanes_over_its_stretch_and_dead_gauge_stops() -> None:
    def coater(fault: str) -> Process:
        setpoints = {
            "gap_um": 180.0,
            "web_speed_m_min": 10.0,
            "pump_rate_ml_min": 540.0,
            "dryer_temp_c": 120.0,
        }
        return Process(
            EquipmentClass.COATER, "LiCoO2", setpoints, random.Random(1), faults=[parse_fault(fault)]
        )

    two = coater("nan,at_m=5,length_m=2,lanes=2")
    assert all(math.isfinite(v) for v in two.scan("coat_weight", 6, 4.98))
    assert [math.isnan(v) for v in two.scan("coat_weight", 6, 6.0)] == [True, True] + [False] * 4
    assert all(math.isfinite(v) for v in two.scan("coat_weight", 6, 7.02))
    every = coater("nan,at_m=5")  # lanes=0: every lane, for 1 m
    assert all(math.isnan(v) for v in every.scan("coat_weight", 6, 5.5))
    dead = coater("dead_gauge,at_m=3")
    assert not dead.gauge_dead(2.98) and dead.gauge_dead(3.0) and dead.gauge_dead(50.0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("drift,pct_per_100m=3,pct_per_100m=4", "pct_per_100m is given twice"),
        ("nan,length_m=-1", "length_m=-1 is negative"),
        ("nan,at_m=-1", "at_m=-1 is negative"),
        ("nan,lanes=2.5", "lanes=2.5 is not a whole number"),
        ("drift,repeat=maybe", "repeat='maybe'; give 1 or 0"),
    ],
)
def test_fault_parser_refuses_faults_that_would_never_fire(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=re.escape(message)):
        parse_fault(spec)
    assert parse_fault("step,pct=-5")["pct"] == -5.0  # a downward step is a fault like any other
