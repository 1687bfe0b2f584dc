"""The driver against real simulators on loopback: states, limits, profiles, faults."""

from __future__ import annotations

import asyncio
import logging

import pytest
from asyncua import ua

from mes.equipment.commission import check_unit
from mes.equipment.errors import BadState, CommandRefused, LimitViolation, NodeMismatch
from mes.equipment.jobs import run_job
from mes.equipment.profile import Command, PackMLState
from tests.equipment.conftest import SimFactory

S = PackMLState
SPUTTER = {"power_w": 1500.0, "pressure_pa": 0.6, "ar_flow_sccm": 30.0, "substrate_temp_c": 25.0,
           "web_speed_m_min": 0.135, "passes": 10, "tension_n": 57.0}  # fmt: skip


@pytest.mark.parametrize("name", ["packml-sputter", "packml-coater", "packml-winder", "vendor-b-sputter"])
async def test_every_profile_entry_exists_on_its_simulator(sim_factory: SimFactory, name: str) -> None:
    async with sim_factory(name) as (_, driver):
        report = await check_unit(driver)
    assert [e for e in report.entries if not e.ok] == []
    assert report.state == S.STOPPED
    p = driver.profile
    methods = (len(p.commands.names) if p.commands.style == "method" else 0) + len(p.gauges) + 1
    assert len(report.entries) == len(driver.refs) + methods


async def test_state_machine_over_opc_ua(sim_factory: SimFactory) -> None:
    async with sim_factory("packml-sputter", time_scale=50) as (sim, driver):
        with pytest.raises(CommandRefused, match="Start refused"):
            await driver.command(Command.START)  # Stopped
        await driver.command(Command.RESET)
        assert await driver.wait_for_state({S.IDLE}, 5) == S.IDLE
        with pytest.raises(CommandRefused):
            await driver.command(Command.START)  # no job id written
        await driver.write_setpoints(SPUTTER)
        await driver.write_job("J-1", "Si", 1000.0)
        await driver.command(Command.START)
        assert await driver.wait_for_state({S.EXECUTE}, 5) == S.EXECUTE
        await driver.command(Command.HOLD)
        assert await driver.wait_for_state({S.HELD}, 5) == S.HELD
        with pytest.raises(CommandRefused):
            await driver.command(Command.SUSPEND)  # not from Held
        await driver.command(Command.UNHOLD)
        assert await driver.wait_for_state({S.EXECUTE}, 5) == S.EXECUTE
        await driver.command(Command.ABORT)
        assert await driver.wait_for_state({S.ABORTED}, 5) == S.ABORTED
        await driver.command(Command.CLEAR)
        assert await driver.wait_for_state({S.STOPPED}, 5) == S.STOPPED
        await driver.command(Command.RESET)
        await driver.wait_for_state({S.IDLE}, 5)
        with pytest.raises(CommandRefused):
            await driver.command(Command.START)  # J-1 ran already
        assert await driver.read_start_counts() == {"J-1": 1}
        assert sim.machine.state == S.IDLE


async def test_a_full_job_and_no_second_start(sim_factory: SimFactory) -> None:
    async with sim_factory("packml-sputter", time_scale=2000) as (_, driver):
        result = await run_job(driver, job_id="J-7", setpoints=SPUTTER, product="Si", length_m=5.0, timeout_s=30,
                               recipe=SPUTTER)  # fmt: skip
        assert result.complete
        assert result.states[-4:] == [S.STARTING, S.EXECUTE, S.COMPLETING, S.COMPLETE]
        assert result.process_values["position_m"] == pytest.approx(5.0)
        scans = await driver.read_scans("xrf", 1, 10_000)
        assert [s.seq for s in scans] == list(range(1, 502))  # 5 m at 1 cm pitch, both ends
        assert all(3800 < v < 4200 for s in scans for v in s.values)
        with pytest.raises(CommandRefused, match="job J-7 has run on this unit already"):
            await run_job(driver, job_id="J-7", setpoints=SPUTTER, product="Si", length_m=5.0, timeout_s=30)
        assert await driver.read_start_counts() == {"J-7": 1}


LIMIT_CASES = [
    ({"power_w": 7000.0}, None, "power_w: 7000 W is outside 10–6000 W"),
    ({"passes": 2.5}, None, "passes: 2.5 is not a whole number"),
    ({"pressure_pa": float("nan")}, None, "is not a finite number"),
    ({"voltage_v": 3.0}, None, "has no such setpoint"),
    ({}, {**SPUTTER, "power_w": 1400.0}, "power_w: 1500 differs from the recipe's 1400"),
]


async def test_limit_violations_write_nothing(sim_factory: SimFactory) -> None:
    async with sim_factory("packml-sputter") as (_, driver):
        await driver.write_setpoints(SPUTTER)
        before = await driver.read_setpoints()
        for change, recipe, message in LIMIT_CASES:
            wanted = {**SPUTTER, "tension_n": 99.0, **change}
            with pytest.raises(LimitViolation, match=message):
                await driver.write_setpoints(wanted, recipe)
            assert await driver.read_setpoints() == before  # not even the valid tension_n was written


async def test_writes_use_the_profiles_exact_types(sim_factory: SimFactory) -> None:
    async with sim_factory("packml-sputter") as (_, driver):
        await driver.write_setpoints({"passes": 7, "power_w": 1234.5})
        assert driver.client is not None
        passes = driver.client.get_node(driver.nodes["sp.passes"])
        assert await passes.read_data_type_as_variant_type() == ua.VariantType.UInt16
        assert await passes.read_value() == 7


async def test_a_second_vendor_profile_needs_no_code(sim_factory: SimFactory) -> None:
    async with sim_factory("vendor-b-sputter", time_scale=2000) as (sim, driver):
        assert driver.profile.commands.style == "packtags"
        assert driver.client is not None
        raw = await driver.client.get_node(driver.nodes["state"]).read_value()
        assert raw == 14  # vendor B numbers Stopped 14
        result = await run_job(
            driver, job_id="B-1", setpoints=SPUTTER, product="Si", length_m=2.0, timeout_s=30
        )
        assert result.complete
        assert await driver.client.get_node(driver.nodes["state"]).read_value() == 5  # Complete
        assert sim.start_counts == {"B-1": 1}
        scans = await driver.read_scans("xrf", 1)
        assert scans[-1].seq == 201


async def test_missing_nodes_are_reported_not_crashed(sim_factory: SimFactory) -> None:
    async with sim_factory("vendor-b-sputter") as (_, driver):
        driver.unresolved["sp.power_w"] = (
            "vendor-b: no node at browse path Line/Coater/Recipe/Nope (BadNoMatch)"
        )
        with pytest.raises(NodeMismatch, match="BadNoMatch"):
            await driver.write_setpoints({"power_w": 100.0})


async def test_runtime_faults(sim_factory: SimFactory) -> None:
    async with sim_factory("packml-sputter", time_scale=500) as (sim, driver):
        await driver.inject_fault("web_break,at_m=0.5")
        result = await run_job(
            driver, job_id="F-1", setpoints=SPUTTER, product="Si", length_m=3.0, timeout_s=30
        )
        assert result.final_state == S.ABORTED
        await driver.inject_fault("stuck")
        with pytest.raises(BadState, match="still Clearing"):
            await run_job(driver, job_id="F-2", setpoints=SPUTTER, product="Si", length_m=3.0, timeout_s=3)
        await driver.command(Command.ABORT)
        await driver.wait_for_state({S.ABORTED}, 5)
        await driver.inject_fault("drop")
        await asyncio.sleep(0.1)
        assert await driver.read_state() == S.ABORTED  # the driver got its link back
        assert await driver.read_start_counts() == {"F-1": 1}


async def test_a_failing_tick_is_one_traceback_not_one_per_tick(
    sim_factory: SimFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # A simulator bug cannot be produced on demand: the tick is replaced by one that fails
    # for a while, then works again.
    caplog.set_level(logging.WARNING, logger="mes.sim.unit")
    async with sim_factory("packml-sputter", connect=False) as (sim, _):
        real, calls, enough = sim._tick, 0, asyncio.Event()

        async def flaky(dt_s: float) -> None:
            nonlocal calls
            calls += 1
            if calls >= 25:
                enough.set()
            if calls <= 20:
                raise RuntimeError("physics blew up")
            await real(dt_s)

        sim._tick = flaky  # type: ignore[method-assign]
        await asyncio.wait_for(enough.wait(), 30)
    records = [r for r in caplog.records if r.name == "mes.sim.unit"]
    # Expected: one line with the traceback when the ticks start failing (not 20), one when they work.
    assert [r.exc_info is not None for r in records] == [True, False], [r.getMessage() for r in records]
    assert "physics blew up" in str(records[0].exc_info)
    assert "ticking again" in records[1].getMessage()
