"""What a simulated unit shows on its OPC UA nodes, and how it reads what clients wrote.

:class:`NodePublisher` is a mixin of :class:`mes.sim.unit.SimUnit`: every tick it
publishes the machine's state, counters, process values and the newest gauge scans
in the machine's own units and data types; when the server comes back after a
restart it restores the job's nodes. A node held by a ``bad_status`` fault
(:class:`~mes.sim.node_faults.NodeFaults`) is left alone.
"""

from __future__ import annotations

import json
from typing import Any

from asyncua import ua

from mes.equipment.profile import to_machine
from mes.sim import nodes
from mes.sim.node_faults import NodeFaults
from mes.sim.physics import Process

Scan = tuple[int, float, float, list[float]]  # seq, position_m, unix time, lane values


class NodePublisher(NodeFaults):
    """Mixin of :class:`mes.sim.unit.SimUnit`: node reads and writes, and what is published."""

    job: dict[str, Any]
    start_counts: dict[str, int]
    refused_count: int
    next_seq: dict[str, int]
    process: Process | None

    async def _restore_nodes(self) -> None:
        """A server that comes back shows the machine's job and setpoints, not blank nodes."""
        if not self.job:
            return
        await self._write("job.id", self.job["id"], self.profile.job.id.data_type)
        if self.profile.job.product is not None:
            await self._write("job.product", self.job["product"], self.profile.job.product.data_type)
        length = self.profile.job.length_m
        await self._write("job.length_m", to_machine(length, float(self.job["length_m"])), length.data_type)
        for name, value in self.job.get("setpoints", {}).items():
            entry = self.profile.setpoints[name]
            await self._write(f"sp.{name}", _cast(to_machine(entry, value), entry.data_type), entry.data_type)

    def _read(self, key: str) -> Any:
        assert self.server is not None  # noqa: S101
        assert self.space is not None  # noqa: S101
        return self.server.read_attribute_value(self.space.variables[key]).Value.Value

    async def _write(self, key: str, value: Any, data_type: str | None = None, array: bool = False) -> None:
        assert self.server is not None  # noqa: S101
        assert self.space is not None  # noqa: S101
        if key in self._bad_nodes:
            return  # a bad_status fault holds this node
        nid = self.space.variables[key]
        vt = (
            nodes.variant_type(data_type)
            if data_type
            else self.server.read_attribute_value(nid).Value.VariantType
        )
        variant = ua.Variant(value, vt, is_array=True) if array else ua.Variant(value, vt)
        await self.server.write_attribute_value(nid, ua.DataValue(variant))

    async def _publish_all(self, new_scans: dict[str, list[Scan]] | None = None) -> None:
        if self.server is None or self.space is None:
            return
        profile = self.profile
        await self._write("state", self._shown_state_number(), profile.state.data_type)
        if profile.commands.start_counter is not None:
            total = sum(self.start_counts.values())
            await self._write("cmd.start_counter", total, profile.commands.start_counter.data_type)
        if profile.commands.refused_counter is not None:
            count = self.refused_count
            await self._write("cmd.refused_counter", count, profile.commands.refused_counter.data_type)
        if profile.start_counts is not None:
            await self._write("start_counts", json.dumps(self.start_counts, sort_keys=True), "String")
        if self.process is not None:
            for name, value in self.process.process_values(self.position_m).items():
                if name in profile.process_values:
                    pv = profile.process_values[name]
                    await self._write(f"pv.{name}", _cast(to_machine(pv, value), pv.data_type))
        for gauge_id, gauge in profile.ring_buffer_gauges().items():
            await self._write(
                f"gauge.{gauge_id}.last_seq", self.next_seq[gauge_id] - 1, gauge.last_seq.data_type
            )
            scans = (new_scans or {}).get(gauge_id)
            if scans:
                seq, pos, t, values = scans[-1]
                lanes = [to_machine(gauge.latest, v) for v in values]
                await self._write(
                    f"gauge.{gauge_id}.latest", [float(seq), pos, t, *lanes], "Double", array=True
                )
        for gauge_id, vgauge in profile.variable_gauges().items():
            scans = (new_scans or {}).get(gauge_id)
            if scans:
                value, array = nodes.variable_gauge_value(vgauge, scans[-1])
                await self._write(f"gauge.{gauge_id}.value", value, vgauge.value.data_type, array=array)


def _cast(value: float, data_type: str) -> float | int:
    return value if data_type in ("Float", "Double") else round(value)
