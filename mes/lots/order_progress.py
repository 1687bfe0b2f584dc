"""How far the steps of an order have got, in metres, and when they should be done — from what is
recorded, never invented.

- A **completed** step made its lot's whole length: its unit reported the job Complete.
- A step that has not completed made as far as the furthest position a gauge of its layer measured
  (the scans stored so far, by the collector while it runs, or backfilled at completion). It trails
  the web by up to a scan pitch and the collector's batch; a step without stored scans has no
  progress (None), not 0.
- A running step's **ETA** is the time of that furthest scan plus the metres left at the rate the step
  has made metres so far (metres of its furthest scan ÷ the time from its start to that scan), once it
  has made at least :data:`RATE_AFTER_FRACTION` of the roll in :data:`RATE_AFTER_S`; before that at the
  recipe step's speed setpoint (``web_speed_m_min``; a winder's ``winding_speed_m_min``). The observed
  rate is what the roll really does: a step of several passes over the band, a unit running slower
  than its setpoint, a held stretch. None when the step does not run, is paused (its unit held), or no
  rate is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mes.lots.models import GaugeScan, Layer, Lot, StepRun, StepRunState
from mes.recipes.schema import Recipe

SPEED_SETPOINTS = ("web_speed_m_min", "winding_speed_m_min")
# The observed rate replaces the setpoint once the step has made this much of its roll, in this long.
RATE_AFTER_FRACTION = 0.02
RATE_AFTER_S = 5.0


@dataclass(frozen=True)
class StepProgress:
    progress_m: float | None
    source: Literal["complete", "gauge"] | None
    eta: datetime | None


def _speed_m_min(recipe: Recipe, step_index: int) -> float | None:
    if not 0 <= step_index < len(recipe.steps):
        return None
    setpoints = recipe.steps[step_index].setpoints.model_dump(exclude_none=True)
    speed = next((float(setpoints[k]) for k in SPEED_SETPOINTS if k in setpoints), None)
    return speed if speed is not None and speed > 0 else None


def steps_progress(
    session: Session, lots: list[Lot], steps: list[StepRun], recipe: Recipe
) -> dict[int, StepProgress]:
    """Progress and ETA of each of ``steps`` (of ``lots``, made with ``recipe``), by step row id; two
    statements whatever the number of lots."""
    lot_ids = [lot.id for lot in lots if lot.id is not None]
    if not lot_ids:
        return {}
    layer_of_step = dict(
        session.exec(
            select(Layer.id, Layer.step_run_id).where(
                col(Layer.lot_id).in_(lot_ids), col(Layer.step_run_id).is_not(None)
            )
        ).all()
    )
    furthest: dict[int, tuple[float, datetime]] = {}
    for layer_id, position_m, measured_at in session.exec(
        select(GaugeScan.layer_id, sa.func.max(GaugeScan.position_m), sa.func.max(GaugeScan.measured_at))
        .where(col(GaugeScan.lot_id).in_(lot_ids))
        .group_by(col(GaugeScan.layer_id))
    ).all():
        step_id = layer_of_step.get(layer_id)
        if step_id is not None and position_m is not None:
            furthest[step_id] = (float(position_m), measured_at)
    length = {lot.id: lot.length_m for lot in lots}
    out: dict[int, StepProgress] = {}
    for step in steps:
        if step.id is None:
            continue
        if step.state == StepRunState.COMPLETED:
            out[step.id] = StepProgress(length[step.lot_id], "complete", None)
            continue
        seen = furthest.get(step.id)
        if seen is None:
            out[step.id] = StepProgress(None, None, None)
            continue
        made = min(seen[0], length[step.lot_id])
        out[step.id] = StepProgress(made, "gauge", step_eta(step, recipe, made, seen[1], length[step.lot_id]))
    return out


def step_eta(
    step: StepRun, recipe: Recipe, made_m: float, seen_at: datetime, length_m: float
) -> datetime | None:
    """When a step that made ``made_m`` of ``length_m`` metres by ``seen_at`` (its furthest scan) should
    be done: at the rate observed since it started, else at the recipe step's speed setpoint (module
    docstring); None when it does not run, is paused, or no rate is known."""
    moving = (
        step.state == StepRunState.RUNNING and step.pause_requested_at is None and step.unit_held_at is None
    )
    if not moving:
        return None
    left_m = max(0.0, length_m - made_m)
    started = step.started_at
    elapsed_s = (_utc(seen_at) - _utc(started)).total_seconds() if started is not None else 0.0
    if made_m >= RATE_AFTER_FRACTION * length_m and elapsed_s >= RATE_AFTER_S and made_m > 0:
        return seen_at + timedelta(seconds=left_m * elapsed_s / made_m)
    speed = _speed_m_min(recipe, step.step_index)
    return None if speed is None else seen_at + timedelta(minutes=left_m / speed)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def order_eta(steps: list[StepRun], progress: dict[int, StepProgress]) -> datetime | None:
    """The latest ETA of the order's running steps when every step left to run has one; else None."""
    left = [s for s in steps if s.state not in (StepRunState.COMPLETED, StepRunState.ABORTED)]
    etas = [progress[s.id].eta if s.id in progress else None for s in left]
    if not etas or any(eta is None for eta in etas):
        return None
    return max(eta for eta in etas if eta is not None)
