"""The Vendor C coater as a plain OPC UA client sees it: address space, PackTags v3, faults.

A real node-opcua server (another OPC UA stack than ours), shared by the tests
of this module and brought back to Idle before each, and asyncua's own client,
not the MES driver: these tests pin the peer that the end-to-end tests and the
commissioning of its profile rely on. Counters carry over, so tests compare
differences.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from asyncua import ua

from tests.peers import vendor_c_peer
from tests.peers.vendor_c_client import (
    ABORT,
    ABORTED,
    ABORTING,
    CLEAR,
    CLEARING,
    COMPLETE,
    COMPLETING,
    EXECUTE,
    HELD,
    HOLD,
    HOLDING,
    IDLE,
    RESET,
    RESETTING,
    SI_ACTIVE,
    START,
    STARTING,
    STOP,
    STOPPED,
    STOPPING,
    SUSPEND,
    SUSPENDED,
    SUSPENDING,
    UNHOLD,
    UNHOLDING,
    UNSUSPEND,
    UNSUSPENDING,
    Coater,
    coater,
    wait_for,
    watch_states,
)
from tests.peers.vendor_c_peer import NAMESPACE_URI, PEER_DIR, VendorCUnavailable, vendor_c_machine

TIME_SCALE = 1000.0  # 0.135 m/min × 1000 = 2.25 m/s of band


async def sample_gauge(c: Coater, until_state: int) -> list[tuple[float, list[float]]]:
    """(LengthDone m, lanes µm) read together every 10 ms from Execute until the state is reached.

    Reads from before Execute are left out: until the Start is acted on they show the last job.
    """
    samples: list[tuple[float, list[float]]] = []

    async def probe() -> int:
        position, lanes, state = await c.client.read_values(
            [c.nodes["length_done"], c.nodes["lanes"], c.nodes["state"]]
        )
        if state in (EXECUTE, COMPLETING, COMPLETE):
            samples.append((position, list(lanes)))
        return int(state)

    await wait_for(probe, lambda state: state == until_state, f"state {until_state}", limit=3000)
    return samples


def finite(lanes: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in lanes)


async def test_browse_finds_a_packtags_coater_with_no_product_id(idle_coater: Coater) -> None:
    c = idle_coater
    types = {name: vt.name for name, vt in c.types.items()}
    assert types == {
        "state": "Int32",
        "cntrl_cmd": "Int32",
        "change_request": "Boolean",
        "starts": "UInt32",
        "refused": "Int16",
        "batch_id": "String",
        "roll_length": "Float",
        "power": "Float",
        "pressure": "Float",
        "web_speed": "Float",
        "passes": "UInt16",
        "tension": "Float",
        "drum_temp": "Float",
        "argon": "Float",
        "length_done": "Double",
        "actual_power": "Float",
        "lanes": "Double",
        "sim_fault": "String",
    }
    ns = await c.client.get_namespace_index(NAMESPACE_URI)
    assert c.nodes["state"].nodeid == ua.NodeId("SC700.PackTags.Status.StateCurrent", ns)
    # Everything below the machine, by browse name: what a commissioning engineer gets.
    names: set[str] = set()
    frontier = [await c.client.nodes.objects.get_child([f"{ns}:VendorC", f"{ns}:SC700"])]
    while frontier:
        node = frontier.pop()
        for child in await node.get_children():
            names.add((await child.read_browse_name()).Name)
            frontier.append(child)
    assert {"StateCurrent", "CntrlCmd", "CmdChangeRequest", "BatchId", "RollLength", "Lanes"} <= names
    lowered = {n.lower() for n in names}
    assert not {n for n in lowered if "productid" in n}
    dims = await c.nodes["lanes"].read_attribute(ua.AttributeIds.ArrayDimensions)
    assert dims.Value.Value == [8]
    units = await c.nodes["lanes"].get_child("0:EngineeringUnits")
    assert (await units.read_value()).DisplayName.Text == "µm"
    power_units = await c.nodes["power"].get_child("0:EngineeringUnits")
    assert (await power_units.read_value()).DisplayName.Text == "kW"
    # The stack wants the exact variant type, and the machine its range.
    with pytest.raises(ua.uaerrors.BadTypeMismatch):
        await c.nodes["power"].write_value(1.5)
    with pytest.raises(ua.uaerrors.BadOutOfRange):
        await c.write("power", 12.0)


async def test_a_job_runs_idle_to_complete_in_packtags_numbers_and_lands_in_spec(idle_coater: Coater) -> None:
    c = idle_coater
    starts, refused = await c.read("starts"), await c.read("refused")
    await c.start_job("SI-0001", 2.0, SI_ACTIVE)
    samples = await sample_gauge(c, COMPLETE)
    assert await c.read("starts") == starts + 1
    assert await c.read("change_request") is False
    assert await c.read("length_done") == pytest.approx(2.0)
    positions = [p for p, _ in samples]
    assert positions == sorted(positions) and positions[-1] == pytest.approx(2.0)
    scans = {tuple(lanes) for p, lanes in samples if p > 0.05}
    assert len(scans) > 20  # the gauge updated as the band moved
    thickness_nm = [v * 1000 for scan in scans for v in scan]  # µm on the wire
    assert 3800 < min(thickness_nm) and max(thickness_nm) < 4200  # capped-si-anode si-active
    await c.command(RESET)
    assert (await watch_states(c, IDLE))[-2:] == [RESETTING, IDLE]
    assert await c.read("refused") == refused


async def test_the_start_sequence_is_seen_state_by_state(idle_coater: Coater) -> None:
    c = idle_coater
    await c.start_job("SI-0002", 1.0, SI_ACTIVE)
    states = await watch_states(c, COMPLETE)
    assert states in (
        [IDLE, STARTING, EXECUTE, COMPLETING, COMPLETE],
        [STARTING, EXECUTE, COMPLETING, COMPLETE],
    )
    assert (IDLE, STARTING, EXECUTE, COMPLETING, COMPLETE) == (4, 3, 6, 16, 17)  # PackTags v3, not OPC 30050


async def test_a_batch_that_has_run_is_refused_and_the_machine_stays_idle(idle_coater: Coater) -> None:
    c = idle_coater
    await c.start_job("SI-0003", 0.5, SI_ACTIVE)
    await watch_states(c, COMPLETE)
    await c.command(RESET)
    await watch_states(c, IDLE)
    starts, refused = await c.read("starts"), await c.read("refused")
    await c.command(START)  # the same BatchId is still written
    await wait_for(lambda: c.read("refused"), lambda n: n == refused + 1, "the refusal counted")
    assert await c.read("change_request") is False
    assert await c.read("state") == IDLE
    assert await c.read("starts") == starts


async def test_hold_unhold_stop_reset_abort_clear_follow_packtags(idle_coater: Coater) -> None:
    c = idle_coater
    await c.start_job("SI-0004", 500.0, SI_ACTIVE)
    await watch_states(c, EXECUTE)
    await c.command(HOLD)
    assert (await watch_states(c, HELD))[-2:] == [HOLDING, HELD]
    held_at = await c.read("length_done")
    assert 0 < held_at < 500
    assert await c.read("actual_power") == 0.0
    await c.command(UNHOLD)
    assert (await watch_states(c, EXECUTE))[-2:] == [UNHOLDING, EXECUTE]
    await wait_for(lambda: c.read("length_done"), lambda m: m > held_at, "the band moving again")
    await c.command(SUSPEND)
    assert (await watch_states(c, SUSPENDED))[-2:] == [SUSPENDING, SUSPENDED]
    await c.command(UNSUSPEND)
    assert (await watch_states(c, EXECUTE))[-2:] == [UNSUSPENDING, EXECUTE]
    await c.command(STOP)
    assert (await watch_states(c, STOPPED))[-2:] == [STOPPING, STOPPED]
    refused = await c.read("refused")
    await c.command(START)  # not from Stopped
    await wait_for(lambda: c.read("refused"), lambda n: n == refused + 1, "Start refused in Stopped")
    await c.command(RESET)
    await watch_states(c, IDLE)
    await c.command(ABORT)
    assert (await watch_states(c, ABORTED))[-2:] == [ABORTING, ABORTED]
    await c.command(CLEAR)
    assert (await watch_states(c, STOPPED))[-2:] == [CLEARING, STOPPED]


async def test_refuse_start_fault_from_the_command_line_never_starts_and_counts_the_refusal() -> None:
    with vendor_c_machine(time_scale=TIME_SCALE, faults="refuse_start") as endpoint:
        async with coater(endpoint) as c:
            await c.start_job("SI-0005", 0.5, SI_ACTIVE)
            await wait_for(lambda: c.read("refused"), lambda n: n == 1, "the refusal counted")
            assert await c.read("change_request") is False
            # Five reads spread over more than an acting state: a Start that took would have left Idle.
            states = []
            for _ in range(5):
                states.append(await c.read("state"))
                await asyncio.sleep(0.1)
            assert states == [IDLE] * 5
            assert await c.read("starts") == 0
            assert await c.read("sim_fault") == "refuse_start"
            await c.write("sim_fault", "")  # cleared at run time, the same job starts
            await c.command(START)
            await watch_states(c, EXECUTE)
            assert await c.read("starts") == 1


async def test_nan_gauge_makes_all_lanes_nan_over_its_metres(idle_coater: Coater) -> None:
    c = idle_coater
    await c.write("sim_fault", "nan_gauge,at_m=0.5,length_m=0.5")
    await c.start_job("SI-0006", 1.5, SI_ACTIVE)
    samples = await sample_gauge(c, COMPLETE)
    nan_at = [p for p, lanes in samples if all(math.isnan(v) for v in lanes)]
    assert nan_at and 0.5 <= min(nan_at) and max(nan_at) < 1.1
    assert all(finite(lanes) for p, lanes in samples if p < 0.5)
    assert all(finite(lanes) for p, lanes in samples if p > 1.1)


async def test_bad_status_state_answers_bad_sensor_failure_then_recovers(idle_coater: Coater) -> None:
    c = idle_coater
    await c.write("sim_fault", "bad_status_state,seconds=1")
    with pytest.raises(ua.uaerrors.BadSensorFailure):
        await c.read("state")
    value = await c.nodes["state"].read_data_value(raise_on_bad_status=False)
    assert value.StatusCode.value == ua.StatusCodes.BadSensorFailure
    assert await c.read("change_request") is False  # other nodes stay good

    async def status() -> int:
        dv = await c.nodes["state"].read_data_value(raise_on_bad_status=False)
        return int(dv.StatusCode.value)

    await wait_for(status, lambda s: s == ua.StatusCodes.Good, "the state good again", limit=500)
    assert await c.read("state") == IDLE
    assert await c.read("sim_fault") == ""  # expired faults leave the specification


async def test_unknown_state_shows_99_for_a_while_then_the_true_state(idle_coater: Coater) -> None:
    c = idle_coater
    await c.start_job("SI-0007", 200.0, SI_ACTIVE)
    await watch_states(c, EXECUTE)
    await c.write("sim_fault", "unknown_state,seconds=0.75")
    states = await watch_states(c, EXECUTE)
    assert states == [99, EXECUTE]


async def test_dead_gauge_stops_updating_while_the_band_runs_on(idle_coater: Coater) -> None:
    c = idle_coater
    await c.write("sim_fault", "dead_gauge,at_m=0.5")
    await c.start_job("SI-0008", 1.5, SI_ACTIVE)
    samples = await sample_gauge(c, COMPLETE)
    before = {tuple(lanes) for p, lanes in samples if 0.05 < p < 0.45}
    after = {tuple(lanes) for p, lanes in samples if p > 0.55}
    assert len(before) > 5
    assert len(after) == 1  # the last scan before 0.5 m, frozen
    assert samples[-1][0] == pytest.approx(1.5)


async def test_an_invalid_fault_is_answered_bad_and_changes_nothing(idle_coater: Coater) -> None:
    c = idle_coater
    await c.write("sim_fault", "dead_gauge,at_m=3")
    for bad in ["bogus", "nan_gauge,at_m=nan,length_m=1", "nan_gauge,at_m=1", "dead_gauge,at_m=-1"]:
        with pytest.raises(ua.uaerrors.BadInvalidArgument):
            await c.write("sim_fault", bad)
    assert await c.read("sim_fault") == "dead_gauge,at_m=3"
    assert await c.read("state") == IDLE


def test_an_invalid_fault_on_the_command_line_is_one_line_and_exit_2() -> None:
    proc = subprocess.run(
        ["node", str(PEER_DIR / "server.js"), "--port", "4999", "--faults", "nan_gauge,at_m=inf,length_m=1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "vendor-c server: --faults: nan_gauge: at_m=inf is not a non-negative finite number"
    ]
    with pytest.raises(VendorCUnavailable, match="exited with 2"), vendor_c_machine(faults="stuck"):
        pass


def test_without_node_modules_the_fixture_says_to_run_make_test(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(vendor_c_peer, "PEER_DIR", tmp_path)
    with pytest.raises(VendorCUnavailable, match=r"run `make test`"), vendor_c_machine():
        pass
