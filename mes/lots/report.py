"""Read models of lots for the CLI (and later the HMI/API): list rows and a full lot view."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, func, select

from mes.lots.genealogy import parents_of
from mes.lots.models import (
    Characteristic,
    GaugeScan,
    IntervalKind,
    Layer,
    LayerResult,
    Lot,
    OosInterval,
    StepRun,
)
from mes.recipes.models import Recipe as RecipeRow


def lot_summary(session: Session, lot: Lot) -> dict[str, Any]:
    layers = session.exec(select(Layer).where(Layer.lot_id == lot.id)).all()
    intervals = session.exec(select(OosInterval).where(OosInterval.lot_id == lot.id)).all()
    recipe = session.get(RecipeRow, lot.recipe_id) if lot.recipe_id else None
    return {
        "lot": lot.number,
        "kind": lot.kind.value,
        "status": lot.status.value,
        "recipe": f"{recipe.name}@{recipe.version}" if recipe else None,
        "length_m": lot.length_m,
        "material": lot.material,
        "layers": len(layers),
        "layers_out_of_spec": sum(1 for layer in layers if layer.result == LayerResult.OUT_OF_SPEC),
        # Not judged, or judged on less of the roll than the recipe requires: never good.
        "layers_not_judged": sum(
            1 for layer in layers if layer.result in (LayerResult.PENDING, LayerResult.INCOMPLETE)
        ),
        "intervals": len(intervals),
        "intervals_unmeasured": sum(1 for i in intervals if i.kind == IntervalKind.UNMEASURED),
        "intervals_held": sum(1 for i in intervals if i.status.value == "held"),
        "supplier_lot": lot.supplier_lot,
    }


def lot_detail(session: Session, lot: Lot) -> dict[str, Any]:
    out = lot_summary(session, lot)
    out["recipe_hash"] = lot.recipe_hash
    out["supplier"] = lot.supplier
    out["steps"] = [
        {
            "index": s.step_index,
            "name": s.step_name,
            "state": s.state.value,
            "job_id": s.job_id,
            "unit_id": s.equipment_unit_id,
            "started_at": _iso(s.started_at),
            "ended_at": _iso(s.ended_at),
            "error": s.error,
        }
        for s in session.exec(
            select(StepRun).where(StepRun.lot_id == lot.id).order_by(col(StepRun.step_index))
        )
    ]
    layers = []
    for layer in session.exec(select(Layer).where(Layer.lot_id == lot.id).order_by(col(Layer.layer_index))):
        chars = []
        for c in session.exec(select(Characteristic).where(Characteristic.layer_id == layer.id)):
            scans = session.exec(
                select(func.count()).select_from(GaugeScan).where(GaugeScan.characteristic_id == c.id)
            )
            chars.append(
                {
                    "name": c.name,
                    "unit": c.unit,
                    "target": c.target,
                    "lsl": c.lsl,
                    "usl": c.usl,
                    "result": c.result.value,
                    "scans": scans.one(),
                    "values": c.n_values,
                    "min": c.min_value,
                    "mean": c.mean_value,
                    "max": c.max_value,
                    "stddev": c.stddev_value,
                    "coverage": coverage_of(c, lot.length_m),
                }
            )
        layers.append(
            {
                "name": layer.name,
                "material": layer.material,
                "method": layer.method,
                "result": layer.result.value,
                "disposition_policy": layer.disposition_policy.value,
                "characteristics": chars,
            }
        )
    out["layers"] = layers
    names = {
        c.id: c.name
        for c in session.exec(
            select(Characteristic)
            .join(Layer, col(Layer.id) == col(Characteristic.layer_id))
            .where(Layer.lot_id == lot.id)
        )
    }
    out["intervals"] = [
        {
            "id": i.id,
            "kind": i.kind.value,
            "characteristic_id": i.characteristic_id,
            "characteristic": names.get(i.characteristic_id, ""),
            "start_m": i.start_m,
            "end_m": i.end_m,
            "worst": i.worst_value,
            "limit": i.limit_value,
            "limit_kind": i.limit_kind,
            "status": i.status.value,
            "dispositioned_by": i.dispositioned_by,
            "dispositioned_at": _iso(i.dispositioned_at),
        }
        for i in session.exec(
            select(OosInterval).where(OosInterval.lot_id == lot.id).order_by(col(OosInterval.start_m))
        )
    ]
    out["inputs"] = [
        {
            "role": link.role,
            "lot": parent.number,
            "start_m": link.parent_start_m,
            "end_m": link.parent_end_m,
            "supplier_lot": parent.supplier_lot,
        }
        for link, parent in parents_of(session, lot)
    ]
    return out


def coverage_of(char: Characteristic, length_m: float) -> dict[str, float | None]:
    """Measured metres of ``length_m`` and their share [%]; None before the layer's close judged them."""
    measured = char.measured_m
    return {
        "measured_m": measured,
        "length_m": length_m,
        "pct": 100.0 * measured / length_m if measured is not None and length_m > 0 else None,
        "min_coverage_pct": char.min_coverage_pct,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
