"""Faults a simulated unit shows at its OPC UA interface rather than in its process.

``refuse`` (a command is not acted on), ``unknown_state`` (the state variable shows a
number no profile maps) and ``bad_status`` (a node answers a Bad status): what a
commissioning engineer meets on a real machine, for the driver's tests.
"""

from __future__ import annotations

import logging
import math
import time

from asyncua import Server, ua

from mes.equipment.profile import PACKTAGS_COMMANDS, Command, Profile
from mes.sim.faults import Fault
from mes.sim.nodes import AddressSpace
from mes.sim.packml import PackMLMachine

log = logging.getLogger(__name__)


class NodeFaults:
    """Mixin of :class:`mes.sim.unit.SimUnit`: the node-level faults."""

    name: str
    profile: Profile
    machine: PackMLMachine
    armed: list[Fault]
    position_m: float
    server: Server | None
    space: AddressSpace | None
    _bad_nodes: dict[str, ua.DataValue]

    def _state_number(self) -> int:
        return self.profile.state_numbers[self.machine.state]

    def _refusing(self, command: Command) -> bool:
        """A ``refuse`` fault for ``command`` is armed and has refusals left; counts this one."""
        for fault in self.armed:
            if fault.kind != "refuse" or not _names(fault.text["command"], command, self.profile):
                continue
            if fault["times"] == 0 or fault.count < fault["times"]:
                fault.count += 1
                log.info("%s: %s refused (fault)", self.name, command)
                return True
        return False

    def _active(self, kind: str) -> list[Fault]:
        now = time.monotonic()
        found = []
        for fault in self.armed:
            if fault.kind != kind:
                continue
            if not fault.fired and (
                fault["at_m"] == 0 or (self.machine.executing and self.position_m >= fault["at_m"])
            ):
                fault.fired = True
                seconds = fault["seconds"]
                fault.until = now + seconds if seconds > 0 or kind != "bad_status" else math.inf
            if fault.fired and fault.until is not None and now < fault.until:
                found.append(fault)
        return found

    def _shown_state_number(self) -> int:
        unknown = self._active("unknown_state")
        return int(unknown[0]["number"]) if unknown else self._state_number()

    async def _node_faults(self) -> None:
        assert self.server is not None  # noqa: S101
        assert self.space is not None  # noqa: S101
        bad = {f.text["node"]: f.text["status"] for f in self._active("bad_status")}
        for key in [k for k in self._bad_nodes if k not in bad]:
            before = self._bad_nodes.pop(key)
            if key != "state":  # the state is published every tick anyway
                await self.server.write_attribute_value(self.space.variables[key], before)
        for key, name in bad.items():
            nid = self.space.variables.get(key)
            if nid is None or key in self._bad_nodes:
                continue
            self._bad_nodes[key] = self.server.read_attribute_value(nid)
            code = ua.StatusCode(getattr(ua.StatusCodes, name, ua.StatusCodes.BadSensorFailure))
            await self.server.write_attribute_value(nid, ua.DataValue(StatusCode=code))


def _names(spec: str, command: Command, profile: Profile) -> bool:
    """Whether a fault's ``command`` (a name, or a PackTags CntrlCmd number) is ``command``."""
    spec = spec.strip()
    if spec.lower() == command.value.lower():
        return True
    numbers = profile.commands.numbers if profile.commands.style == "packtags" else PACKTAGS_COMMANDS
    return spec.isdigit() and int(spec) == numbers.get(command)
