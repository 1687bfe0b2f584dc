"""Where a live-variable gauge's samples are placed along the band, on another vendor's server.

Vendor C (node-opcua) samples each monitored item about every 50 ms and sends a
publish's changes grouped by item, so the web position last *received* is often a
sampling interval older than the gauge value it is read with. Positioned that way,
scans one 0.01 m pitch apart landed 0.007–0.019 m apart and a healthy gauge read as
missed scans. Positioned by the server's timestamps, they land a whole number of
pitches apart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mes.equipment.driver import UnitDriver
from mes.equipment.gauges import GaugeSampler, position_at
from mes.equipment.jobs import run_job
from mes.equipment.profile import PackMLState, UnitConfig, load_profile
from tests.peers.vendor_c_peer import vendor_c_machine

PROFILE = Path(__file__).resolve().parents[2] / "recipes" / "profiles" / "vendor-c-sputter.yaml"
CARBON = {"power_w": 2500.0, "pressure_pa": 0.4, "ar_flow_sccm": 80.0, "substrate_temp_c": 25.0,
          "web_speed_m_min": 0.394, "passes": 6.0, "tension_n": 40.0}  # fmt: skip
PITCH_M = 0.01


def test_position_at_is_taken_by_time_and_carried_at_speed() -> None:
    track = [(10.05, 0.5), (10.0, 0.4)]  # received out of order: time decides
    assert position_at(track, 10.075) == pytest.approx(0.55)  # 2 m/s carried 25 ms on
    assert position_at(track, 10.02) == 0.4  # one sample before: no speed to carry it with
    assert position_at(track, 9.9) is None  # nothing that old
    assert position_at([(10.0, 0.4), (10.05, 0.4)], 10.2) == pytest.approx(0.4)  # stopped: stays
    assert position_at([(10.0, 2.0), (10.05, 0.0)], 10.06) == 0.0  # a new job: never carried backwards
    assert position_at(track, 20.0) == 0.5  # long after the last sample: not carried


async def test_vendor_c_scans_are_placed_a_whole_number_of_pitches_apart() -> None:
    # × 25: 0.16 m/s of band, one scan every ≈ 60 ms; the machine's 10 ms tick places a scan within
    # 1.6 mm after its pitch boundary.
    with vendor_c_machine(time_scale=25.0, pitch_m=PITCH_M, rate_um=0.01313) as endpoint:
        profile = load_profile(PROFILE)
        config = UnitConfig(name="sputter-c", equipment_class="sputter", endpoint=endpoint, profile=PROFILE)
        driver = UnitDriver(config, profile, timeout_s=2.0, retry_s=5.0)
        await driver.connect()
        try:
            sampler = GaugeSampler(driver)
            await sampler.start()
            result = await run_job(driver, job_id="P-1", setpoints=CARBON, length_m=1.5, timeout_s=60.0)
            assert result.final_state == PackMLState.COMPLETE
            await asyncio.sleep(0.3)
            positions = [s.position_m for s in sampler.drain() if s.job_id == "P-1"]
            assert len(positions) > 100  # of 150 scans
            assert all(p is not None for p in positions)
            steps = [b - a for a, b in zip(positions, positions[1:], strict=False)]  # type: ignore[operator]
            off = [d for d in steps if d < PITCH_M - 0.004 or abs(d - round(d / PITCH_M) * PITCH_M) > 0.004]
            # Placing by the last position received put 12 of 149 off (8 %). By the server's
            # timestamps none are on an idle machine; a sample whose position came more than
            # 0.25 s earlier (a starved process, the suite's other tests) falls back to the last
            # received position, so allow that to happen rarely (≤ 2 %).
            assert len(off) <= 0.02 * len(steps), (len(off), len(steps), off[:10])
        finally:
            await driver.disconnect()
