"""The subscription sampler of variable gauges against a running simulator: real values, never made up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mes.equipment.driver import UnitDriver
from mes.equipment.gauges import GaugeSampler, lanes_of, position_by_speed
from mes.equipment.jobs import run_job
from mes.equipment.profile import PackMLState, UnitConfig, load_profile
from mes.sim.faults import parse_fault
from mes.sim.unit import SimUnit
from tests.equipment.conftest import PROFILES
from tests.services import free_port

COATER = {"gap_um": 180.0, "web_speed_m_min": 10.0, "pump_rate_ml_min": 540.0, "dryer_temp_c": 120.0,
          "tension_n": 80.0}  # fmt: skip


def test_lanes_and_speed_positions() -> None:
    profile = load_profile(PROFILES / "packml-coater-live-gauges.yaml")
    gauge = profile.variable_gauges()["beta"]
    assert lanes_of(gauge, [7.0, 1.5, 0.0, 1, 2, 3, 4, 5, 6]) == [1, 2, 3, 4, 5, 6]
    assert lanes_of(gauge, [7.0, 1.5, 0.0, 1, 2]) is None  # too few lanes: not a sample
    microns = gauge.model_copy(
        update={"value": gauge.value.model_copy(update={"scale": 1000.0, "machine_unit": "um"})}
    )
    assert lanes_of(microns, [0, 0, 0, 1.5, 2, 3, 4, 5, 6.25]) == [
        1500,
        2000,
        3000,
        4000,
        5000,
        6250,
    ]  # µm → nm
    assert position_by_speed(6.0, 100.0, 110.0) == pytest.approx(1.0)  # 6 m/min for 10 s
    assert position_by_speed(6.0, 100.0, 90.0) == 0.0


async def test_sampler_takes_real_samples_and_counts_what_it_could_not_keep(tmp_path: Path) -> None:
    ring_profile = load_profile(PROFILES / "packml-coater.yaml")  # the machine keeps every scan: our witness
    live = PROFILES / "packml-coater-live-gauges.yaml"
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    sim = SimUnit("coater-t", ring_profile, endpoint, time_scale=200, seed=5)
    await sim.start()
    driver = UnitDriver(UnitConfig(name="coater-t", equipment_class="coater", endpoint=endpoint, profile=live),
                        load_profile(live), timeout_s=2.0, retry_s=5.0)  # fmt: skip
    await driver.connect()
    small = UnitDriver(UnitConfig(name="coater-s", equipment_class="coater", endpoint=endpoint, profile=live),
                       load_profile(live), timeout_s=2.0, retry_s=5.0)  # fmt: skip
    await small.connect()
    try:
        sampler, overflowing = GaugeSampler(driver), GaugeSampler(small, max_buffered=5)
        await sampler.start()
        await overflowing.start()
        await asyncio.sleep(0.3)
        assert sampler.drain() == []  # the values the gauges had before we listened are not samples
        result = await run_job(driver, job_id="G-1", setpoints=COATER, product="LiCoO2", length_m=20.0,
                               timeout_s=60.0, on_state=lambda _s: None)  # fmt: skip
        assert result.final_state == PackMLState.COMPLETE
        await asyncio.sleep(0.5)
        samples = sampler.drain()
        beta = [s for s in samples if s.gauge == "beta"]
        assert len(beta) > 20
        made = {tuple(v): pos for _seq, pos, _t, v in sim.rings["beta"]}
        for s in beta:
            assert s.job_id == "G-1"
            assert tuple(s.values) in made  # a value the gauge measured, never an invented one
            assert s.position_m is not None and 0.0 <= s.position_m - made[tuple(s.values)] <= 2.0
        assert len({tuple(s.values) for s in beta}) == len(beta)  # none twice
        assert len(overflowing.drain()) == 5
        assert overflowing.lost > len(beta) // 2  # the rest were counted as lost, not kept
    finally:
        await small.disconnect()
        await driver.disconnect()
        await sim.stop()


async def test_a_dropped_link_leaves_a_gap_and_no_repeated_value(tmp_path: Path) -> None:
    ring_profile = load_profile(PROFILES / "packml-coater.yaml")
    live = PROFILES / "packml-coater-live-gauges.yaml"
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    sim = SimUnit(
        "coater-d", ring_profile, endpoint, time_scale=100, seed=5, faults=[parse_fault("drop,at_m=8")]
    )
    await sim.start()
    driver = UnitDriver(UnitConfig(name="coater-d", equipment_class="coater", endpoint=endpoint, profile=live),
                        load_profile(live), timeout_s=2.0, retry_s=20.0)  # fmt: skip
    await driver.connect()
    try:
        sampler = GaugeSampler(driver)
        await sampler.start()
        result = await run_job(driver, job_id="D-1", setpoints=COATER, product="LiCoO2", length_m=25.0,
                               timeout_s=90.0, on_state=lambda _s: None)  # fmt: skip
        assert result.final_state == PackMLState.COMPLETE
        await asyncio.sleep(0.5)
        beta = [s for s in sampler.drain() if s.gauge == "beta"]
        made = {tuple(v): pos for _seq, pos, _t, v in sim.rings["beta"]}
        assert all(tuple(s.values) in made for s in beta)  # real values only
        assert len({tuple(s.values) for s in beta}) == len(beta)  # none repeated across the reconnect
        positions = [made[tuple(s.values)] for s in beta]
        assert positions == sorted(positions)
        assert positions[0] < 8.0 < positions[-1]  # sampled before and after the drop
    finally:
        await driver.disconnect()
        await sim.stop()
