"""Machines that do not behave: Bad statuses, unknown states, NaN, values a node cannot hold,
read-only nodes, statuses of a reconnecting session. Real simulators, real OPC UA."""

from __future__ import annotations

import asyncio
import math

import pytest
from asyncua import ua

from mes.equipment.errors import BadState, BadStatus, EncodingRefused, NodeMismatch, UnknownState
from mes.equipment.jobs import bring_to_idle, run_job
from mes.equipment.profile import DataType, PackMLState, Profile
from tests.equipment.conftest import SimFactory, profile
from tests.equipment.test_sim_driver import SPUTTER

S = PackMLState


def _with_setpoint(prof: Profile, name: str, **changes: object) -> Profile:
    """``prof`` with one setpoint entry changed. Built in code: such an entry may be one a
    profile file would be refused for (limits outside the data type's range)."""
    entry = prof.setpoints[name].model_copy(update=changes)
    return prof.model_copy(update={"setpoints": {**prof.setpoints, name: entry}})


async def test_bad_status_on_the_state_names_node_and_status(sim_factory: SimFactory) -> None:
    async with sim_factory("packml-sputter") as (_, driver):
        await driver.inject_fault("bad_status")  # state answers BadSensorFailure until the job ends
        await asyncio.sleep(0.2)
        with pytest.raises(BadStatus) as caught:
            await driver.read_state()
        error = caught.value
        assert (error.unit, error.status) == ("sputter-t", "BadSensorFailure")
        assert error.node == "state (ns=2;s=Sputter.Status.StateCurrent)"
        assert str(error) == (
            "sputter-t: read state at state (ns=2;s=Sputter.Status.StateCurrent): the unit answered BadSensorFailure"
        )


async def test_bad_status_on_a_process_value_ends_with_its_fault(sim_factory: SimFactory) -> None:
    async with sim_factory("packml-sputter") as (_, driver):
        await driver.inject_fault("bad_status,node=pv.power_w,status=BadOutOfService,seconds=0.5")
        await asyncio.sleep(0.2)
        with pytest.raises(
            BadStatus, match=r"pv.power_w \(ns=2;s=Sputter.PV.Power\): the unit answered BadOutOfService"
        ):
            await driver.read_values()
        await asyncio.sleep(0.6)
        assert set(await driver.read_values()) == set(driver.profile.process_values)


async def test_unknown_state_number(sim_factory: SimFactory) -> None:
    async with sim_factory("packml-sputter") as (_, driver):
        await driver.inject_fault("unknown_state,seconds=0.8")
        await asyncio.sleep(0.2)
        with pytest.raises(
            UnknownState, match="sputter-t: state state .* shows 999, which profile packml-sputter"
        ):
            await driver.read_state()
        # A transient unknown number is ridden out by a wait, not a fault.
        assert await driver.wait_for_state({S.STOPPED}, 5) == S.STOPPED


async def test_a_wait_holds_an_unknown_state_only_for_its_grace_and_sees_a_lost_job(
    sim_factory: SimFactory,
) -> None:
    async with sim_factory("packml-sputter") as (_, driver):
        # An unknown number that outlasts the grace is raised then, not at the (long) deadline.
        await driver.inject_fault("unknown_state,seconds=30")
        started = asyncio.get_running_loop().time()
        with pytest.raises(UnknownState):
            await driver.wait_for_state({S.COMPLETE}, 60, unknown_grace_s=0.5)
        assert asyncio.get_running_loop().time() - started < 10
    async with sim_factory("packml-sputter") as (_, driver):
        # A unit that shows another job (a power-cycled machine that lost ours) is no wait.
        with pytest.raises(BadState, match="no longer J-GONE: the job was lost"):
            await driver.wait_for_state({S.COMPLETE}, 60, job_id="J-GONE")


async def test_nan_and_non_numbers_are_unknown_states_and_missing_values(sim_factory: SimFactory) -> None:
    async with sim_factory("packml-sputter") as (sim, driver):
        for raw in (math.nan, math.inf, "Execute", None, 2.5):
            with pytest.raises(UnknownState):
                driver.state_of(raw)
        assert driver.state_of(2.0) == S.IDLE
        # No job runs, so the simulator leaves its process values alone: make one NaN.
        assert sim.server is not None and sim.space is not None
        nid = sim.space.variables["pv.power_w"]
        await sim.server.write_attribute_value(nid, ua.DataValue(ua.Variant(math.nan, ua.VariantType.Float)))
        values = await driver.read_values()
        assert "power_w" not in values  # missing, never NaN
        assert all(math.isfinite(v) for v in values.values())


async def test_a_value_its_data_type_cannot_hold_is_refused_before_any_write(sim_factory: SimFactory) -> None:
    prof = _with_setpoint(profile("packml-sputter"), "substrate_temp_c", data_type=DataType.UINT16, min=-10.0)
    async with sim_factory("packml-sputter", prof=prof) as (_, driver):
        await driver.write_setpoints({**SPUTTER, "substrate_temp_c": 25})
        before = await driver.read_setpoints()
        with pytest.raises(EncodingRefused, match="sputter-t:substrate_temp_c: -10 does not fit a UInt16"):
            await driver.write_setpoints({**SPUTTER, "tension_n": 99.0, "substrate_temp_c": -10})
        assert await driver.read_setpoints() == before  # not even tension_n
        assert before["substrate_temp_c"] == 25


async def test_a_node_of_another_type_on_the_server_is_refused_before_any_write(
    sim_factory: SimFactory,
) -> None:
    async with sim_factory("packml-sputter") as (sim, driver):
        await driver.write_setpoints(SPUTTER)
        before = await driver.read_setpoints()
        driver.profile = _with_setpoint(driver.profile, "passes", data_type=DataType.INT32)
        with pytest.raises(
            NodeMismatch, match=r"sp.passes \(ns=2;s=Sputter.Setpoints.Passes\) is UInt16 on the server"
        ):
            await driver.write_setpoints({**SPUTTER, "power_w": 1700.0})
        assert await driver.read_setpoints() == before
        assert sim.machine.state == S.STOPPED


async def test_write_job_with_a_read_only_node_writes_nothing(sim_factory: SimFactory) -> None:
    async with sim_factory("packml-sputter") as (sim, driver):
        assert sim.server is not None and sim.space is not None
        await sim.server.get_node(sim.space.variables["job.length_m"]).set_writable(False)
        with pytest.raises(NodeMismatch, match=r"job.length_m \(ns=2;s=Sputter.Job.Length\) is not writable"):
            await run_job(driver, job_id="W-1", setpoints=SPUTTER, product="Si", length_m=2.0, timeout_s=10)
        assert await driver.read_job_id() == ""  # the id, written first, was not written either
        assert sim.start_counts == {}


async def test_a_profile_pointing_at_a_missing_node(sim_factory: SimFactory) -> None:
    async with sim_factory("packml-sputter", connect=False) as (sim, driver):
        driver.profile = _with_setpoint(driver.profile, "power_w", node="s=Sputter.Setpoints.Nope")
        await driver.connect()
        await bring_to_idle(driver, 10, lambda _s: None)
        with pytest.raises(BadStatus) as caught:
            await driver.write_setpoints(SPUTTER)
        assert caught.value.status == "BadNodeIdUnknown"
        assert caught.value.node == "sp.power_w (ns=2;s=Sputter.Setpoints.Nope)"
        assert sim._read("sp.tension_n") == 5.0  # still its first value (the minimum): nothing written
        assert sim.start_counts == {}


async def test_statuses_of_a_reconnecting_session_are_retried(sim_factory: SimFactory) -> None:
    async with sim_factory("packml-sputter") as (sim, driver):
        answers = iter([ua.UaStatusCodeError(ua.StatusCodes.BadUserAccessDenied),
                        ua.UaStatusCodeError(ua.StatusCodes.BadSessionIdInvalid),
                        ua.UaStatusCodeError(ua.StatusCodes.BadSecureChannelClosed)])  # fmt: skip

        async def flaky() -> str:
            answer = next(answers, None)
            if answer is not None:
                raise answer
            return "ok"

        assert await driver._retry("read", flaky) == "ok"
        # And for real: the server goes away and comes back while requests are in flight.
        reads: list[PackMLState] = []

        async def keep_reading() -> None:
            while len(reads) < 400:
                reads.append(await driver.read_state())
                await asyncio.sleep(0.005)

        reader = asyncio.create_task(keep_reading())
        await asyncio.sleep(0.1)
        await sim.restart_server(down_s=1.0)
        await asyncio.wait_for(reader, 30)
        assert set(reads) == {S.STOPPED}


def test_interface_faults_parse_names_and_numbers() -> None:
    from mes.sim.errors import FaultSpecError
    from mes.sim.faults import parse_fault

    refuse = parse_fault("refuse,command=Hold,times=0")
    assert (refuse.text, refuse.params) == ({"command": "Hold"}, {"times": 0.0})
    bad = parse_fault("bad_status,node=pv.power_w,status=BadOutOfService,seconds=2")
    assert bad.text == {"node": "pv.power_w", "status": "BadOutOfService"}
    assert bad["seconds"] == 2.0
    assert parse_fault("unknown_state").params == {"seconds": 1.0, "at_m": 0.0, "number": 999.0}
    with pytest.raises(FaultSpecError, match="it takes seconds, at_m, node, status"):
        parse_fault("bad_status,colour=1")


async def test_a_bad_fault_spec_over_opc_ua_is_bad_invalid_argument(sim_factory: SimFactory) -> None:
    """The simulator's InjectFault method answers a spec it cannot parse with BadInvalidArgument
    (it escaped into the server as an internal error before)."""
    async with sim_factory("packml-sputter") as (_, driver):
        with pytest.raises(BadStatus) as caught:
            await driver.inject_fault("no_such_fault")
        assert caught.value.status == "BadInvalidArgument"
