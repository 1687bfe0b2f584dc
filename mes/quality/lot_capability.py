"""Capability of each characteristic of a lot, and the control limits it was watched with: the part
of the quality report (:mod:`mes.quality.report`) a lot's page shows beside its record, without the
web profile and down-web segments the report adds (they took most of its time on a long roll).

Both compute capability here, the same way: each scan with every lane measured is a subgroup of its
lanes (within σ from the cross-web spread), against every value of the layer (overall σ).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlmodel import Session

from mes.base import pk
from mes.lots.models import Characteristic, Layer, Lot, StepRun
from mes.lots.orders import get_lot
from mes.lots.report import recipe_ref, unit_names
from mes.lots.scan_queries import lot_characteristics, scan_grid
from mes.quality import capability as cap
from mes.quality import spc
from mes.quality.errors import SpcError
from mes.quality.limits import limit_public, limits_at
from mes.quality.models import ControlLimit
from mes.quality.schemas import CapabilityPublic, CharacteristicCapability, Unavailable, capability_public


@dataclass(frozen=True, eq=False)
class CompleteScans:
    """The scans of a characteristic with every lane a number, in gauge order (``grid``: scans ×
    lanes), how many were left out, and why none can be used (``problem``) when none can."""

    left_out: int
    positions: NDArray[np.float64]
    grid: NDArray[np.float64]
    problem: str | None = None


def complete_scans(session: Session, char: Characteristic) -> CompleteScans:
    """Only scans with every lane a number: a NaN lane is a missing value (coverage counts it), and a
    subgroup of the cross-web lanes with a hole in it is not a subgroup."""
    found = scan_grid(session, pk(char), order="seq")
    past_own = np.arange(found.values.shape[1]) >= found.widths[:, None]  # NaN padding, not a hole
    complete = (found.widths >= char.lanes) & (np.isfinite(found.values) | past_own).all(axis=1)
    left_out = int(found.widths.size - complete.sum())
    nowhere, empty = np.empty(0), np.empty((0, char.lanes))
    if not complete.any():
        return CompleteScans(left_out, nowhere, empty, "no scans with every lane measured")
    widths = set(found.widths[complete].tolist())
    if len(widths) != 1:
        return CompleteScans(left_out, nowhere, empty, "scans differ in lane count")
    width = widths.pop()
    return CompleteScans(left_out, found.positions[complete], found.values[complete][:, :width])


def capability_of(grid: NDArray[np.float64], char: Characteristic) -> CapabilityPublic | Unavailable:
    """Cp/Cpk/Pp/Ppk of a (scans × lanes) grid against the characteristic's spec limits."""
    lanes = grid.shape[1]
    size = lanes if spc.MIN_SUBGROUP <= lanes <= spc.MAX_SUBGROUP else 1
    try:
        return capability_public(cap.capability(grid.ravel(), lsl=char.lsl, usl=char.usl, subgroup_size=size))
    except SpcError as exc:
        return Unavailable(error=str(exc))


def limits_in_force(session: Session, lot: Lot, layer: Layer, char: Characteristic) -> ControlLimit | None:
    """The stored limits the layer was watched with: in force when it closed (the active ones while
    it is made); None for a lot without a recipe or a layer not made on a unit yet."""
    step = session.get(StepRun, layer.step_run_id) if layer.step_run_id else None
    if lot.recipe_id is None or step is None or step.equipment_unit_id is None:
        return None
    return limits_at(session, lot.recipe_id, step.equipment_unit_id, layer.name, char.name, layer.closed_at)


def lot_capabilities(session: Session, number: str) -> list[CharacteristicCapability]:
    """Capability and control limits of every characteristic of lot ``number``, in layer order.
    Raises :class:`LotNotFound`."""
    lot = get_lot(session, number)
    recipe = recipe_ref(session, lot.recipe_id)
    units = unit_names(session)
    rows = lot_characteristics(session, lot)
    out = []
    for layer, char in rows:
        scans = complete_scans(session, char)
        capability = Unavailable(error=scans.problem) if scans.problem else capability_of(scans.grid, char)
        limits = limits_in_force(session, lot, layer, char)
        public = None
        if limits is not None and recipe is not None:
            public = limit_public(limits, recipe, units.get(limits.equipment_unit_id, "?"))
        out.append(CharacteristicCapability(layer=layer.name, characteristic=char.name, unit=char.unit,
                                            scans_left_out=scans.left_out, capability=capability,
                                            control_limits=public))  # fmt: skip
    return out
