"""Why a lot is on hold, from its record and the audit trail.

A lot goes on hold by a person's signed hold, by the line (a layer's disposition, layers not
judged at the end of the route), because it was made from held material, or because a step
fault held one of its steps (or a person aborted one). Intervals hold metres of a lot whatever
the lot's own status. Every reason says what, who and when, and whether it was signed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, or_, select

from mes.audit.models import AuditEvent
from mes.base import worst_beyond
from mes.lots.models import Disposition, IntervalStatus, LayerResult, Lot, LotStatus, StepRunState
from mes.lots.schemas import HoldReason, HoldSource, IntervalPublic, LayerDetail, StepRunPublic

SYSTEM = "system"
_LOT_ACTIONS = ("lot.hold", "lot.release", "lot.scrap")


def _trail(session: Session, lot: Lot, job_ids: list[str]) -> list[AuditEvent]:
    """The lot's hold/release/scrap events and its steps' aborts, oldest first."""
    about_lot = (col(AuditEvent.entity_type) == "lot") & (col(AuditEvent.entity_id) == lot.number)
    aborts = (
        (col(AuditEvent.entity_type) == "step_run")
        & col(AuditEvent.entity_id).in_(job_ids)
        & (col(AuditEvent.action) == "step.abort")
    )
    query = select(AuditEvent).where(
        or_(about_lot & col(AuditEvent.action).in_(_LOT_ACTIONS), aborts) if job_ids else about_lot
    )
    return [
        e
        for e in session.exec(query.order_by(col(AuditEvent.id))).all()
        if e.action in (*_LOT_ACTIONS, "step.abort")
    ]


def _from_event(event: AuditEvent) -> HoldReason:
    after: dict[str, Any] = event.after or {}
    if event.action == "step.abort":
        return HoldReason(
            source=HoldSource.STEP,
            what=f"step {event.entity_id} aborted: {event.reason}",
            by=event.actor,
            at=event.occurred_at,
            signed=False,
            job_id=event.entity_id,
        )
    if "signature" in after:
        source, by, signed = HoldSource.SIGNED, event.actor, True
    elif "blocked_by" in after:
        # Held by the line on someone's decision about the material it was made from.
        source, by, signed = HoldSource.BLOCKED, str(after.get("decided_by") or event.actor), False
    else:
        source, by, signed = HoldSource.SYSTEM, event.actor, False
    layer = after.get("layer")
    return HoldReason(
        source=source,
        what=event.reason,
        by=by,
        at=event.occurred_at,
        signed=signed,
        layer=str(layer) if layer is not None else None,
    )


def _lot_holds(
    session: Session, lot: Lot, steps: Sequence[StepRunPublic], layers: Sequence[LayerDetail]
) -> list[HoldReason]:
    events = _trail(session, lot, [s.job_id for s in steps])
    releases = [i for i, e in enumerate(events) if e.action == "lot.release"]
    since_release = events[releases[-1] + 1 :] if releases else events
    reasons = [_from_event(e) for e in since_release if e.action in ("lot.hold", "step.abort")]
    for step in steps:
        if step.state in (StepRunState.HELD, StepRunState.FAILED):
            reasons.append(
                HoldReason(
                    source=HoldSource.STEP,
                    what=f"step {step.step_index} ({step.step}) {step.state.value}: "
                    + (step.error or "no cause recorded"),
                    by=SYSTEM,
                    at=step.ended_at,
                    signed=False,
                    unit=step.unit,
                    job_id=step.job_id,
                )
            )
    # The line audits only the hold that changed the lot's status; a layer that would have held
    # it again while it was already on hold is a reason all the same.
    named = {r.layer for r in reasons if r.layer}
    for layer in layers:
        if layer.name in named:
            continue
        failed = layer.result == LayerResult.OUT_OF_SPEC and layer.disposition_policy == Disposition.HOLD_LOT
        if failed or layer.result == LayerResult.INCOMPLETE:
            what = "out of spec" if failed else "measured less of the roll than the recipe requires"
            reasons.append(
                HoldReason(
                    source=HoldSource.SYSTEM,
                    what=f"layer {layer.name} {what}",
                    by=SYSTEM,
                    at=layer.closed_at,
                    signed=False,
                    unit=layer.unit,
                    job_id=layer.job_id,
                    layer=layer.name,
                )
            )
    if not reasons:
        # Said rather than left blank: an empty list would read as "not held".
        reasons.append(
            HoldReason(
                source=HoldSource.SYSTEM,
                what="no cause found in the lot's record or the audit trail",
                by=None,
                at=lot.updated_at,
                signed=False,
            )
        )
    return reasons


def hold_reasons(
    session: Session,
    lot: Lot,
    steps: Sequence[StepRunPublic],
    layers: Sequence[LayerDetail],
    intervals: Sequence[IntervalPublic],
) -> list[HoldReason]:
    """What holds ``lot`` now (when it is on hold) and which of its intervals are held."""
    reasons = _lot_holds(session, lot, steps, layers) if lot.status == LotStatus.ON_HOLD else []
    units = {(layer.name, c.name): c.unit for layer in layers for c in layer.characteristics}
    for i in intervals:
        if i.status != IntervalStatus.HELD:
            continue
        unit = units.get((i.layer, i.characteristic), "")
        what = (
            "unmeasured"
            if i.worst is None or i.limit is None
            else worst_beyond(i.worst, i.limit, i.limit_kind, unit)
        )
        reasons.append(
            HoldReason(
                source=HoldSource.INTERVAL,
                what=f"{i.layer}.{i.characteristic} {i.start_m:.2f}–{i.end_m:.2f} m {what}",
                # Held by a signed decision, or by the recipe's disposition when the layer closed.
                by=i.dispositioned_by or SYSTEM,
                at=i.dispositioned_at or i.closed_at or i.opened_at,
                signed=i.dispositioned_by is not None,
                interval_id=i.id,
                layer=i.layer,
                characteristic=i.characteristic,
            )
        )
    return reasons
