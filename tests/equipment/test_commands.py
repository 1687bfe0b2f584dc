"""Every command is confirmed: a refused or ignored command raises CommandNotConfirmed, nothing starts."""

from __future__ import annotations

import pytest

from mes.equipment.errors import CommandNotConfirmed
from mes.equipment.jobs import bring_to_idle, run_job, start_once
from mes.equipment.profile import Command, PackMLState, Profile
from tests.equipment.conftest import SimFactory, profile, with_commands
from tests.equipment.test_sim_driver import SPUTTER

S = PackMLState


def _quick(name: str, **changes: object) -> Profile:
    """A profile whose commands must be confirmed within 1.5 s (the shipped default is 5 s)."""
    return with_commands(profile(name), confirm_timeout_s=1.5, **changes)


async def test_refused_start_on_a_method_machine_is_not_confirmed(sim_factory: SimFactory) -> None:
    # A method machine that refuses answers Good and does nothing: only the state tells.
    async with sim_factory("packml-sputter", prof=_quick("packml-sputter")) as (sim, driver):
        await driver.inject_fault("refuse,command=Start")
        with pytest.raises(CommandNotConfirmed) as caught:
            await run_job(driver, job_id="R-1", setpoints=SPUTTER, product="Si", length_m=2.0, timeout_s=30)
        message = str(caught.value)
        assert message.startswith("sputter-t: Start not confirmed within 1.5 s")
        assert "seen: state Idle, job 'R-1'" in message
        assert "start count 0" in message  # the simulator's start_counts for R-1
        assert sim.start_counts == {}
        assert sim.machine.state == S.IDLE
        assert await driver.read_start_counts() == {}


async def test_refused_start_on_a_packtags_machine_counts_as_refused(sim_factory: SimFactory) -> None:
    # Vendor B counts refusals: the driver stops waiting as soon as the counter rises.
    async with sim_factory("vendor-b-sputter") as (sim, driver):
        await bring_to_idle(driver, 10, lambda _s: None)
        await driver.write_setpoints(SPUTTER)
        await driver.write_job("R-2", "Si", 2.0)
        await driver.inject_fault("refuse,command=Start")
        with pytest.raises(
            CommandNotConfirmed, match=r"sputter-t: Start refused by the unit \(refused count 0 → 1\)"
        ):
            await start_once(driver, "R-2")
        assert sim.start_counts == {}
        assert sim.refused_count == 1
        assert await driver.read_state() == S.IDLE
        assert await driver.read_counter("cmd.start_counter") == 0
        # The fault refused once; the job now starts, confirmed by the counter, and only once.
        assert await start_once(driver, "R-2") in {S.STARTING, S.EXECUTE}
        assert sim.start_counts == {"R-2": 1}


async def test_refused_start_without_counters_waits_the_profiles_time(sim_factory: SimFactory) -> None:
    prof = _quick("vendor-b-sputter", start_counter=None, refused_counter=None)
    prof = prof.model_copy(update={"start_counts": None})
    async with sim_factory("vendor-b-sputter", prof=prof) as (sim, driver):
        await driver.inject_fault("refuse,command=Start,times=0")
        with pytest.raises(CommandNotConfirmed, match="Start not confirmed within 1.5 s.*seen: state Idle"):
            await run_job(driver, job_id="R-3", setpoints=SPUTTER, product="Si", length_m=2.0, timeout_s=30)
        assert sim.start_counts == {}
        assert sim.machine.state == S.IDLE


@pytest.mark.parametrize("name", ["packml-sputter", "vendor-b-sputter"])
async def test_refused_reset_is_not_confirmed(sim_factory: SimFactory, name: str) -> None:
    async with sim_factory(name, prof=_quick(name)) as (sim, driver):
        await driver.inject_fault("refuse,command=Reset")
        with pytest.raises(CommandNotConfirmed, match="sputter-t: Reset .*state Stopped"):
            await driver.command(Command.RESET)
        assert sim.machine.state == S.STOPPED
        assert await driver.command(Command.RESET) in {S.RESETTING, S.IDLE}  # refused once only


@pytest.mark.parametrize(("name", "spec"), [("packml-sputter", "Hold"), ("vendor-b-sputter", "4")])
async def test_refused_hold_is_not_confirmed(sim_factory: SimFactory, name: str, spec: str) -> None:
    # The fault names the command by name or by its PackTags CntrlCmd number (Hold = 4).
    async with sim_factory(name, prof=_quick(name), time_scale=50) as (sim, driver):
        await bring_to_idle(driver, 10, lambda _s: None)
        await driver.write_setpoints(SPUTTER)
        await driver.write_job("H-1", "Si", 500.0)
        await start_once(driver, "H-1")
        await driver.wait_for_state({S.EXECUTE}, 10)
        await driver.inject_fault(f"refuse,command={spec}")
        with pytest.raises(CommandNotConfirmed, match="sputter-t: Hold .*state Execute, job 'H-1'"):
            await driver.command(Command.HOLD)
        assert sim.machine.state == S.EXECUTE
        assert await driver.command(Command.ABORT) in {S.ABORTING, S.ABORTED}
        assert sim.start_counts == {"H-1": 1}


async def test_every_command_is_confirmed_by_its_state(sim_factory: SimFactory) -> None:
    async with sim_factory("vendor-b-sputter", time_scale=50) as (_, driver):
        assert await driver.command(Command.RESET) in {S.RESETTING, S.IDLE}
        await driver.wait_for_state({S.IDLE}, 10)
        await driver.write_setpoints(SPUTTER)
        await driver.write_job("C-1", "Si", 500.0)
        assert await driver.command(Command.START, job_id="C-1") in {S.STARTING, S.EXECUTE}
        await driver.wait_for_state({S.EXECUTE}, 10)
        assert await driver.command(Command.SUSPEND) in {S.SUSPENDING, S.SUSPENDED}
        await driver.wait_for_state({S.SUSPENDED}, 10)
        assert await driver.command(Command.UNSUSPEND) in {S.UNSUSPENDING, S.EXECUTE}
        await driver.wait_for_state({S.EXECUTE}, 10)
        assert await driver.command(Command.HOLD) in {S.HOLDING, S.HELD}
        await driver.wait_for_state({S.HELD}, 10)
        assert await driver.command(Command.UNHOLD) in {S.UNHOLDING, S.EXECUTE}
        assert await driver.command(Command.STOP) in {S.STOPPING, S.STOPPED}
        await driver.wait_for_state({S.STOPPED}, 10)
        assert await driver.command(Command.ABORT) in {S.ABORTING, S.ABORTED}
        await driver.wait_for_state({S.ABORTED}, 10)
        assert await driver.command(Command.CLEAR) in {S.CLEARING, S.STOPPED}
        assert await driver.read_counter("cmd.refused_counter") == 0
