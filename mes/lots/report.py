"""Read models of lots (list rows and the full record of one lot), built from the table rows here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlmodel import Session, col, func, select

from mes.base import pk
from mes.equipment.models import EquipmentUnit
from mes.lots.genealogy import parents_of
from mes.lots.holds import hold_reasons
from mes.lots.models import (
    Characteristic,
    GaugeScan,
    IntervalKind,
    IntervalStatus,
    Layer,
    LayerResult,
    Lot,
    OosInterval,
    StepRun,
    WorkOrder,
)
from mes.lots.schemas import (
    CharacteristicDetail,
    Coverage,
    InputLot,
    IntervalPublic,
    LayerDetail,
    LotDetail,
    LotSummary,
    StepRunPublic,
)
from mes.recipes.models import Recipe as RecipeRow

_NOT_JUDGED = (LayerResult.PENDING, LayerResult.INCOMPLETE)


def recipe_ref(session: Session, recipe_id: int | None) -> str | None:
    """``ID@VERSION`` of a stored recipe version; None for no recipe (a purchased lot)."""
    recipe = session.get(RecipeRow, recipe_id) if recipe_id is not None else None
    return f"{recipe.name}@{recipe.version}" if recipe else None


def unit_names(session: Session) -> dict[int, str]:
    """Every equipment unit's name by id: a line has a handful, so one query serves a whole answer."""
    return {u.id: u.name for u in session.exec(select(EquipmentUnit)) if u.id is not None}


def lot_summary(session: Session, lot: Lot) -> LotSummary:
    return lot_summaries(session, [lot])[0]


def lot_summaries(session: Session, lots: Sequence[Lot]) -> list[LotSummary]:
    """Summaries of ``lots``, in their order: three queries whatever their number."""
    ids = [pk(lot) for lot in lots]
    layers: dict[int, list[Layer]] = defaultdict(list)
    intervals: dict[int, list[OosInterval]] = defaultdict(list)
    if ids:
        for layer in session.exec(select(Layer).where(col(Layer.lot_id).in_(ids))):
            layers[layer.lot_id].append(layer)
        for interval in session.exec(select(OosInterval).where(col(OosInterval.lot_id).in_(ids))):
            intervals[interval.lot_id].append(interval)
    recipe_ids = {lot.recipe_id for lot in lots if lot.recipe_id is not None}
    recipes = {
        r.id: f"{r.name}@{r.version}"
        for r in (
            session.exec(select(RecipeRow).where(col(RecipeRow.id).in_(recipe_ids))) if recipe_ids else []
        )
    }
    return [_summary(lot, recipes, layers[pk(lot)], intervals[pk(lot)]) for lot in lots]


def _summary(
    lot: Lot, recipes: dict[int | None, str], layers: list[Layer], intervals: list[OosInterval]
) -> LotSummary:
    return LotSummary(
        lot=lot.number,
        kind=lot.kind,
        status=lot.status,
        recipe=recipes.get(lot.recipe_id) if lot.recipe_id is not None else None,
        length_m=lot.length_m,
        material=lot.material,
        supplier_lot=lot.supplier_lot,
        layers=len(layers),
        layers_out_of_spec=sum(1 for layer in layers if layer.result == LayerResult.OUT_OF_SPEC),
        # Not judged, or judged on less of the roll than the recipe requires: never good.
        layers_not_judged=sum(1 for layer in layers if layer.result in _NOT_JUDGED),
        intervals=len(intervals),
        intervals_unmeasured=sum(1 for i in intervals if i.kind == IntervalKind.UNMEASURED),
        intervals_held=sum(1 for i in intervals if i.status == IntervalStatus.HELD),
        created_at=lot.created_at,
    )


def step_public(step: StepRun, lot_number: str, units: dict[int, str]) -> StepRunPublic:
    return StepRunPublic(
        id=step.id or 0,
        job_id=step.job_id,
        lot=lot_number,
        step_index=step.step_index,
        step=step.step_name,
        state=step.state,
        unit=units.get(step.equipment_unit_id) if step.equipment_unit_id is not None else None,
        error=step.error,
        started_at=step.started_at,
        ended_at=step.ended_at,
    )


def coverage_of(char: Characteristic, length_m: float) -> Coverage:
    """Measured metres of ``length_m`` and their share [%]; None before the layer's close judged them."""
    measured = char.measured_m
    return Coverage(
        measured_m=measured,
        length_m=length_m,
        pct=100.0 * measured / length_m if measured is not None and length_m > 0 else None,
        min_coverage_pct=char.min_coverage_pct,
    )


def characteristic_detail(session: Session, char: Characteristic, length_m: float) -> CharacteristicDetail:
    scans = session.exec(
        select(func.count()).select_from(GaugeScan).where(GaugeScan.characteristic_id == char.id)
    ).one()
    return CharacteristicDetail(
        name=char.name,
        unit=char.unit,
        target=char.target,
        lsl=char.lsl,
        usl=char.usl,
        gauge=char.gauge,
        lanes=char.lanes,
        pitch_m=char.pitch_m,
        result=char.result,
        scans=scans,
        values=char.n_values,
        min=char.min_value,
        mean=char.mean_value,
        max=char.max_value,
        stddev=char.stddev_value,
        coverage=coverage_of(char, length_m),
    )


def lot_detail(session: Session, lot: Lot) -> LotDetail:
    """The record of one lot. Holds name their cause from the record and the audit trail; the
    alarms raised for them are the quality layer's to add (:func:`mes.quality.lot_view.lot_view`)."""
    units = unit_names(session)
    steps = session.exec(
        select(StepRun).where(StepRun.lot_id == lot.id).order_by(col(StepRun.step_index))
    ).all()
    step_by_id = {s.id: s for s in steps}
    layer_rows = session.exec(
        select(Layer).where(Layer.lot_id == lot.id).order_by(col(Layer.layer_index))
    ).all()
    layers: list[LayerDetail] = []
    char_names: dict[int | None, tuple[str, str]] = {}
    for layer in layer_rows:
        chars = session.exec(
            select(Characteristic).where(Characteristic.layer_id == layer.id).order_by(col(Characteristic.id))
        ).all()
        char_names.update({c.id: (layer.name, c.name) for c in chars})
        step = step_by_id.get(layer.step_run_id)
        layers.append(
            LayerDetail(
                name=layer.name,
                material=layer.material,
                method=layer.method,
                result=layer.result,
                disposition_policy=layer.disposition_policy,
                unit=units.get(step.equipment_unit_id) if step and step.equipment_unit_id else None,
                job_id=step.job_id if step else None,
                closed_at=layer.closed_at,
                characteristics=[characteristic_detail(session, c, lot.length_m) for c in chars],
            )
        )
    interval_rows = session.exec(
        select(OosInterval).where(OosInterval.lot_id == lot.id).order_by(col(OosInterval.start_m))
    ).all()
    intervals = [
        IntervalPublic(
            id=i.id or 0,
            kind=i.kind,
            layer=char_names.get(i.characteristic_id, ("", ""))[0],
            characteristic=char_names.get(i.characteristic_id, ("", ""))[1],
            start_m=i.start_m,
            end_m=i.end_m,
            worst=i.worst_value,
            limit=i.limit_value,
            limit_kind=i.limit_kind,
            disposition=i.disposition,
            status=i.status,
            opened_at=i.opened_at,
            closed_at=i.closed_at,
            dispositioned_by=i.dispositioned_by,
            dispositioned_at=i.dispositioned_at,
        )
        for i in interval_rows
    ]
    order = session.get(WorkOrder, lot.work_order_id) if lot.work_order_id is not None else None
    step_views = [step_public(s, lot.number, units) for s in steps]
    return LotDetail(
        lot=lot.number,
        kind=lot.kind,
        status=lot.status,
        recipe=recipe_ref(session, lot.recipe_id),
        recipe_hash=lot.recipe_hash,
        order=order.number if order else None,
        length_m=lot.length_m,
        width_mm=lot.width_mm,
        material=lot.material,
        supplier=lot.supplier,
        supplier_lot=lot.supplier_lot,
        created_at=lot.created_at,
        layers_out_of_spec=sum(1 for layer in layer_rows if layer.result == LayerResult.OUT_OF_SPEC),
        layers_not_judged=sum(1 for layer in layer_rows if layer.result in _NOT_JUDGED),
        intervals_unmeasured=sum(1 for i in interval_rows if i.kind == IntervalKind.UNMEASURED),
        intervals_held=sum(1 for i in interval_rows if i.status == IntervalStatus.HELD),
        holds=hold_reasons(session, lot, step_views, layers, intervals),
        steps=step_views,
        layers=layers,
        intervals=intervals,
        inputs=[
            InputLot(
                role=link.role,
                lot=parent.number,
                kind=parent.kind,
                start_m=link.parent_start_m,
                end_m=link.parent_end_m,
                supplier=parent.supplier,
                supplier_lot=parent.supplier_lot,
            )
            for link, parent in parents_of(session, lot)
        ],
    )
