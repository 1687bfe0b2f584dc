"""A plain asyncua client for the Vendor C coater, as a commissioning engineer would write one.

Deliberately not the MES driver: the tests of the peer must show what the
machine does on the wire, not what our driver makes of it. Nodes are found by
browse path from the Objects folder in the namespace ``urn:vendor-c:sputter``.
"""

from __future__ import annotations

import asyncio
import functools
import operator
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from asyncua import Client, Node, ua

from tests.peers.vendor_c_peer import NAMESPACE_URI

# PackTags v3 (ISA-TR88.00.02-2015) state and command numbers, as the vendor documents them.
IDLE, STARTING, EXECUTE, COMPLETING, COMPLETE, RESETTING = 4, 3, 6, 16, 17, 15
STOPPED, STOPPING, ABORTING, ABORTED, CLEARING = 2, 7, 8, 9, 1
HOLDING, HELD, UNHOLDING = 10, 11, 12
SUSPENDED, SUSPENDING, UNSUSPENDING = 5, 13, 14
RESET, START, STOP, HOLD, UNHOLD, SUSPEND, UNSUSPEND, ABORT, CLEAR = 1, 2, 3, 4, 5, 6, 7, 8, 9

WAITING = {IDLE, EXECUTE, COMPLETE, STOPPED, ABORTED, HELD, SUSPENDED}
# the command that moves a waiting state one step towards Idle
NEXT_TOWARDS_IDLE = {
    EXECUTE: ABORT,
    HELD: ABORT,
    SUSPENDED: ABORT,
    COMPLETE: RESET,
    STOPPED: RESET,
    ABORTED: CLEAR,
}

PATHS = {
    "state": "PackTags/Status/StateCurrent",
    "cntrl_cmd": "PackTags/Command/CntrlCmd",
    "change_request": "PackTags/Command/CmdChangeRequest",
    "starts": "PackTags/Admin/StartsAccepted",
    "refused": "PackTags/Admin/CommandsRefused",
    "batch_id": "Product/BatchId",
    "roll_length": "Product/RollLength",
    "power": "Settings/CathodePower",
    "pressure": "Settings/ChamberPressure",
    "web_speed": "Settings/WebSpeed",
    "passes": "Settings/Passes",
    "tension": "Settings/WebTension",
    "drum_temp": "Settings/DrumTemperature",
    "argon": "Settings/ArgonFlow",
    "length_done": "Process/LengthDone",
    "actual_power": "Process/CathodePower",
    "lanes": "ThicknessGauge/Lanes",
    "sim_fault": "Diagnostics/SimFault",
}

# capped-si-anode's si-active step in the machine's units (kW, Pa, m/min, N, °C).
SI_ACTIVE = {
    "power": 1.5,
    "pressure": 0.6,
    "web_speed": 0.135,
    "passes": 10,
    "tension": 57.0,
    "drum_temp": 25.0,
    "argon": 0.08,
}


@dataclass
class Coater:
    """The coater's nodes by logical name, with the variant type each one wants."""

    client: Client
    nodes: dict[str, Node]
    types: dict[str, ua.VariantType]

    async def write(self, name: str, value: Any) -> None:
        """Write with the node's exact variant type (the stack refuses any other)."""
        await self.nodes[name].write_value(ua.DataValue(ua.Variant(value, self.types[name])))

    async def read(self, name: str) -> Any:
        return await self.nodes[name].read_value()

    async def command(self, cntrl_cmd: int) -> None:
        """PackTags: the command number, then the change request the machine acts on."""
        await self.write("cntrl_cmd", cntrl_cmd)
        await self.write("change_request", True)

    async def start_job(self, batch_id: str, roll_length_m: float, settings: dict[str, Any]) -> None:
        for name, value in settings.items():
            await self.write(name, value)
        await self.write("batch_id", batch_id)
        await self.write("roll_length", roll_length_m)
        await self.command(START)


async def find_node(client: Client, ns: int, path: str) -> Node:
    """The node at ``VendorC/SC700/<path>`` below Objects, each step in the vendor's namespace."""
    steps = [f"{ns}:{part}" for part in ["VendorC", "SC700", *path.split("/")]]
    return await client.nodes.objects.get_child(steps)


@asynccontextmanager
async def coater(endpoint: str) -> AsyncIterator[Coater]:
    client = Client(endpoint, timeout=4)
    await client.connect()
    try:
        ns = await client.get_namespace_index(NAMESPACE_URI)
        nodes = {name: await find_node(client, ns, path) for name, path in PATHS.items()}
        types = {name: await node.read_data_type_as_variant_type() for name, node in nodes.items()}
        yield Coater(client, nodes, types)
    finally:
        await client.disconnect()


async def wait_for(
    probe: Callable[[], Awaitable[Any]], until: Callable[[Any], bool], what: str, limit: int = 1000
) -> Any:
    """Poll ``probe`` every 10 ms until ``until`` holds; fail naming ``what`` after ``limit`` polls."""
    for _ in range(limit):
        value = await probe()
        if until(value):
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"never saw {what}; last value {value!r}")


async def bring_to_idle(c: Coater) -> None:
    """Clear the faults and drive the machine to Idle from wherever a previous test left it."""
    await c.write("sim_fault", "")
    for _ in range(10):
        state = await wait_for(lambda: c.read("state"), lambda s: s in WAITING, "a waiting state")
        if state == IDLE:
            return
        await c.command(NEXT_TOWARDS_IDLE[state])
        left = functools.partial(operator.ne, state)
        await wait_for(lambda: c.read("state"), left, f"leaving state {state}")
    raise AssertionError("the coater did not come back to Idle")


async def watch_states(c: Coater, until_state: int, limit: int = 2000) -> list[int]:
    """Every distinct state number read (in order) until ``until_state`` is seen."""
    seen: list[int] = []
    for _ in range(limit):
        state = await c.read("state")
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == until_state:
            return seen
        await asyncio.sleep(0.01)
    raise AssertionError(f"state {until_state} never reached; states seen {seen}")
