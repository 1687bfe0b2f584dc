"""The control chart of a characteristic as the line judged it, for a person to look at.

The line charts the mean of each ``segment_m`` of band (:mod:`mes.execution.monitor`); this reads
the same points back, lot by lot, and judges each lot's points against the stored limits that were
in force when its layer was made (:func:`mes.quality.limits.limits_at`), with their rules. One lot
(:func:`lot_chart`) or the last lots of a recipe version on a unit (:func:`recipe_chart`); a run
rule never reaches across two lots, as the line's check never does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlmodel import Session, col, select

from mes.base import pk
from mes.equipment.models import EquipmentUnit
from mes.lots.models import Characteristic, GaugeScan, Layer, Lot, StepRun
from mes.lots.orders import get_lot
from mes.quality import spc
from mes.quality.errors import ChartNotFound, SpcError, SpcInvalid
from mes.quality.limits import DEFAULT_SEGMENT_M, limit_public, limits_at
from mes.quality.models import ControlLimit
from mes.quality.schemas import SpcChartPublic, SpcLotRun, SpcViolation
from mes.recipes.models import Recipe as RecipeRow
from mes.recipes.service import get_recipe

DEFAULT_LOTS = 5
MAX_LOTS = 20  # a 1,000 m lot at 0.5 m segments is 2,000 points: 40,000 on one chart at most


def _split(characteristic: str) -> tuple[str | None, str]:
    """``LAYER.CHARACTERISTIC`` → (layer, name); a name alone → (None, name)."""
    layer, dot, name = characteristic.rpartition(".")
    if not name.strip() or (dot and not layer.strip()):
        raise SpcInvalid(f"characteristic {characteristic!r}: give LAYER.CHARACTERISTIC")
    return (layer if dot else None), name


_Made = tuple[Lot, Layer, Characteristic, int | None]


def _layers_of(session: Session, lot: Lot, layer: str | None, name: str) -> list[_Made]:
    query = (
        select(Layer, Characteristic, StepRun.equipment_unit_id)
        .join(Characteristic, col(Characteristic.layer_id) == col(Layer.id))
        .outerjoin(StepRun, col(StepRun.id) == col(Layer.step_run_id))
        .where(Layer.lot_id == lot.id, Characteristic.name == name)
    )
    if layer is not None:
        query = query.where(Layer.name == layer)
    return [
        (lot, lay, char, unit_id)
        for lay, char, unit_id in session.exec(query.order_by(col(Layer.layer_index)))
    ]


def lot_chart(session: Session, number: str, characteristic: str) -> SpcChartPublic:
    """The chart of ``characteristic`` (``LAYER.NAME``, or ``NAME`` when one layer has it) of lot
    ``number``. Raises :class:`LotNotFound`, :class:`ChartNotFound`, :class:`SpcInvalid`."""
    layer, name = _split(characteristic)
    lot = get_lot(session, number)
    found = _layers_of(session, lot, layer, name)
    if not found:
        raise ChartNotFound(f"lot {lot.number} has no characteristic {characteristic}")
    if len(found) > 1:
        which = ", ".join(f"{lay.name}.{name}" for _, lay, _, _ in found)
        raise SpcInvalid(
            f"characteristic {name!r} of lot {lot.number} is in more than one layer: give {which}"
        )
    return _chart(session, found)


def recipe_chart(
    session: Session, recipe: str, unit: str, characteristic: str, lots: int = DEFAULT_LOTS
) -> SpcChartPublic:
    """The chart of ``characteristic`` (``LAYER.NAME``) over the last ``lots`` lots made with
    ``recipe`` (``ID@VERSION``) whose layer was made on ``unit``, oldest first. Raises
    :class:`ChartNotFound`, :class:`SpcInvalid` and the recipe reference's errors."""
    if not 1 <= lots <= MAX_LOTS:
        raise SpcInvalid(f"lots must be 1 to {MAX_LOTS}, not {lots}")
    layer, name = _split(characteristic)
    if layer is None:
        raise SpcInvalid(f"characteristic {characteristic!r}: give LAYER.CHARACTERISTIC")
    row = get_recipe(session, recipe, version_required=True)
    machine = session.exec(select(EquipmentUnit).where(EquipmentUnit.name == unit)).first()
    if machine is None:
        raise ChartNotFound(f"no equipment unit {unit!r}")
    newest = session.exec(
        select(Lot, Layer, Characteristic)
        .join(Layer, col(Layer.lot_id) == col(Lot.id))
        .join(StepRun, col(StepRun.id) == col(Layer.step_run_id))
        .join(Characteristic, col(Characteristic.layer_id) == col(Layer.id))
        .where(
            Lot.recipe_id == row.id,
            StepRun.equipment_unit_id == machine.id,
            Layer.name == layer,
            Characteristic.name == name,
        )
        .order_by(col(Lot.id).desc())
        .limit(lots)
    ).all()
    if not newest:
        raise ChartNotFound(f"no lot made with {row.name}@{row.version} has {layer}.{name} made on {unit}")
    return _chart(session, [(lot, lay, char, machine.id) for lot, lay, char in reversed(newest)])


def _segments(
    session: Session, characteristic_id: int, segment_m: float
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """Each segment's index ``floor(position / segment_m)``, the mean of its scans' lane means and its
    scan count, in band order, as :func:`mes.quality.limits.segment_means` forms them, added up by the
    database: a 1,000 m lot is 100,000 scans and 2,000 segments, and 20 lots are charted at once."""
    ratio = col(GaugeScan.position_m) / segment_m
    whole = sa.cast(ratio, sa.Integer)  # truncated (SQLite) or rounded (PostgreSQL): floored below
    key = (whole - sa.case((ratio < whole, 1), else_=0)).label("segment")
    rows = session.execute(
        select(key, sa.func.sum(GaugeScan.mean_value), sa.func.count())
        # A scan with no finite lane has no mean (NULL): nothing measured, nothing charted.
        .where(col(GaugeScan.characteristic_id) == characteristic_id, col(GaugeScan.mean_value).is_not(None))
        .group_by(key)
        .order_by(key)
    ).all()
    keys = np.asarray([k for k, _, _ in rows], dtype=np.int64)
    sums = np.asarray([t for _, t, _ in rows], dtype=np.float64)
    counts = np.asarray([n for _, _, n in rows], dtype=np.int64)
    return keys, sums / np.maximum(counts, 1), counts


def _in_force(session: Session, made: _Made) -> ControlLimit | None:
    lot, layer, char, unit_id = made
    if lot.recipe_id is None or unit_id is None:
        return None
    return limits_at(session, lot.recipe_id, unit_id, layer.name, char.name, layer.closed_at)


def _chart(session: Session, made: Sequence[_Made]) -> SpcChartPublic:
    recipes = {r.id: f"{r.name}@{r.version}" for r in session.exec(select(RecipeRow))}
    units = {u.id: u.name for u in session.exec(select(EquipmentUnit))}
    first_lot, first_layer, first_char, first_unit = made[-1]  # the newest lot's spec heads the chart
    runs: list[SpcLotRun] = []
    starts: list[float] = []
    means: list[float] = []
    counts: list[int] = []
    violations: list[SpcViolation] = []
    for entry in made:
        lot, layer, char, unit_id = entry
        limits = _in_force(session, entry)
        segment_m = limits.segment_m if limits is not None else DEFAULT_SEGMENT_M
        keys, values, sizes = _segments(session, pk(char), segment_m)
        first, note = len(means), None
        public = None
        if limits is not None and lot.recipe_id is not None and unit_id is not None:
            public = limit_public(limits, recipes.get(lot.recipe_id, "?"), units.get(unit_id, "?"))
        if limits is not None and values.size:
            try:
                fixed = spc.ControlLimits(limits.center, limits.ucl, limits.lcl, limits.sigma)
                chart = spc.imr(values, limits=fixed, rules=limits.rules, run_length=limits.run_length)
            except SpcError as exc:
                note = f"stored control limits unusable: {exc}"
            else:
                for v in chart.violations:
                    at = float(keys[v.index]) * segment_m
                    violations.append(
                        SpcViolation(
                            index=first + v.index,
                            rule=v.rule,
                            meaning=spc.RULE_TEXT.get(v.rule, ""),
                            points=[first + p for p in v.points],
                            lot=lot.number,
                            start_m=at,
                            end_m=at + segment_m,
                        )  # fmt: skip
                    )
        elif limits is None:
            note = "no control limits were in force: spec limits only"
        runs.append(SpcLotRun(lot=lot.number, first=first, count=int(values.size), segment_m=segment_m,
                              layer_closed_at=layer.closed_at, limits=public, note=note))  # fmt: skip
        starts += (keys.astype(np.float64) * segment_m).tolist()
        means += values.tolist()
        counts += sizes.astype(int).tolist()
    return SpcChartPublic(
        recipe=recipes.get(first_lot.recipe_id) if first_lot.recipe_id is not None else None,
        unit=units.get(first_unit) if first_unit is not None else None,
        layer=first_layer.name,
        characteristic=first_char.name,
        value_unit=first_char.unit,
        lsl=first_char.lsl,
        target=first_char.target,
        usl=first_char.usl,
        lots=runs,
        start_m=starts,
        mean=means,
        scans=counts,
        violations=violations,
    )
