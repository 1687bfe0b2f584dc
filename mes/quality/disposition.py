"""Disposition of lots and out-of-spec intervals: hold, release, scrap — signed and audited.

Every decision is an electronic signature (:func:`mes.auth.signatures.e_sign`): the signer re-enters
the password, gives a reason and the meaning of the signature, and the audit trail records the
signature (printed name, time, meaning, the SHA-256 of what was decided) beside the decision with
the state before and after. Release and scrap need the quality role; anyone on the line may hold,
because stopping suspect material must never wait for a role.

What a signature signs is the state the signer decided on, read under the lot's lock before
anything changes (:func:`mes.quality.disposition_content.signed_content`): the decision, whether it
covers the whole lot or some of its intervals, the lot (number, kind, status, length, recipe hash),
each layer's result, and the intervals concerned (every interval of the lot for a whole-lot
decision), each with its id, characteristic, kind, extent, worst value, limit and status. The
SHA-256 of its canonical JSON is the signature's ``content_sha256``; the answer carries the content.

Meanings (21 CFR 11.50): a release or a scrap is an *approval* of the material's fate and must be
signed as one; a hold may be signed with any meaning and defaults to *responsibility* (the signer
answers for stopping the material).

Holding or scrapping material blocks everything made from it: every lot that
genealogy traces forward from the held metres goes on hold as well (a cell wound
from a held interval cannot ship). Releasing does not unblock those cells by
itself — each is a decision of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from mes.audit.service import record
from mes.auth.errors import SignatureRefused
from mes.auth.models import Role
from mes.auth.service import recorded_name
from mes.auth.signatures import SignatureMeaning, count_refused_signature, e_sign
from mes.base import is_row_id, pk, utcnow
from mes.lots.genealogy import band_extent, lock_lot
from mes.lots.models import (
    Characteristic,
    IntervalStatus,
    Lot,
    LotStatus,
    OosInterval,
    StepRun,
    StepRunState,
)
from mes.lots.orders import get_lot
from mes.lots.trace import forward
from mes.quality.alarms import SYSTEM, clear_alarm
from mes.quality.disposition_content import characteristic_names, content_sha256, signed_content
from mes.quality.disposition_models import Decision as Decision
from mes.quality.disposition_models import DispositionDone, IntervalDecided
from mes.quality.errors import DispositionError, DispositionInvalid
from mes.quality.models import Alarm

ROLES_HOLD = (Role.OPERATOR, Role.ENGINEER, Role.QUALITY, Role.ADMIN)
ROLES_DECIDE = (Role.QUALITY,)
MAX_INTERVALS = 100  # in one decision: more is a whole-lot decision
DEFAULT_MEANING = {
    Decision.HOLD: SignatureMeaning.RESPONSIBILITY,
    Decision.RELEASE: SignatureMeaning.APPROVAL,
    Decision.SCRAP: SignatureMeaning.APPROVAL,
}
MEANINGS = {
    Decision.HOLD: tuple(SignatureMeaning),
    Decision.RELEASE: (SignatureMeaning.APPROVAL,),
    Decision.SCRAP: (SignatureMeaning.APPROVAL,),
}


DONE = {Decision.HOLD: "put on hold", Decision.RELEASE: "released", Decision.SCRAP: "scrapped"}
_LOT_FROM = {
    Decision.HOLD: (LotStatus.PLANNED, LotStatus.IN_PROCESS, LotStatus.RELEASED),
    Decision.RELEASE: (LotStatus.ON_HOLD,),
    Decision.SCRAP: (LotStatus.PLANNED, LotStatus.IN_PROCESS, LotStatus.ON_HOLD, LotStatus.RELEASED),
}
_INTERVAL_FROM = {
    Decision.HOLD: (IntervalStatus.OPEN, IntervalStatus.FLAGGED, IntervalStatus.RELEASED),
    Decision.RELEASE: (IntervalStatus.HELD, IntervalStatus.FLAGGED),
    Decision.SCRAP: (
        IntervalStatus.OPEN,
        IntervalStatus.FLAGGED,
        IntervalStatus.HELD,
        IntervalStatus.RELEASED,
    ),
}
_INTERVAL_TO = {
    Decision.HOLD: IntervalStatus.HELD,
    Decision.RELEASE: IntervalStatus.RELEASED,
    Decision.SCRAP: IntervalStatus.SCRAPPED,
}


def lot_decisions(status: LotStatus) -> tuple[Decision, ...]:
    """The decisions a lot in ``status`` can take; any other is refused (a page offers only these)."""
    return tuple(d for d in Decision if status in _LOT_FROM[d])


def interval_decisions(status: IntervalStatus) -> tuple[Decision, ...]:
    """The decisions an interval in ``status`` can take; any other is refused."""
    return tuple(d for d in Decision if status in _INTERVAL_FROM[d])


def _check_request(decision: Decision, lot_number: str, reason: str, meaning: SignatureMeaning,
                   intervals: Sequence[int]) -> list[int]:  # fmt: skip
    if not reason.strip():
        raise DispositionInvalid(f"a reason is required to {decision.value} {lot_number}")
    if meaning not in MEANINGS[decision]:
        allowed = " or ".join(m.value for m in MEANINGS[decision])
        raise DispositionInvalid(
            f"a {decision.value} is signed with the meaning {allowed}, not {meaning.value}"
        )
    ids = list(dict.fromkeys(intervals))  # the same interval twice is one decision about it
    if len(ids) > MAX_INTERVALS:
        raise DispositionInvalid(
            f"{len(ids)} intervals in one decision: at most {MAX_INTERVALS} (decide about the whole lot)"
        )
    return ids


def decide(
    session: Session,
    decision: Decision,
    lot_number: str,
    *,
    by: str,
    password: str,
    reason: str,
    meaning: SignatureMeaning | None = None,
    intervals: Sequence[int] = (),
    requested_by: str | None = None,
) -> DispositionDone:
    """Apply ``decision`` to a lot, or to the given intervals of it, signed by ``by`` with ``password``.

    ``meaning`` defaults to :data:`DEFAULT_MEANING`; ``requested_by`` names who relayed the signature
    when it is not the signer (an API token), for the trail. Raises :class:`AuthError` for a refused
    signature, :class:`DispositionError` for a decision the lot's (or an interval's) state refuses.
    """
    meaning = meaning or DEFAULT_MEANING[decision]
    ids = _check_request(decision, lot_number, reason, meaning, intervals)
    lot = get_lot(session, lot_number)
    lock_lot(session, pk(lot))  # a winding step reserving its metres now waits for this decision
    chosen = [_interval(session, lot, i) for i in ids]
    names = characteristic_names(session, lot)
    content = signed_content(session, decision, lot, chosen, names)
    roles = ROLES_HOLD if decision == Decision.HOLD else ROLES_DECIDE
    user, signature = e_sign(
        session, name=by, password=password, roles=roles, doing=f"{decision.value} lots and intervals",
        meaning=meaning, reason=reason, signs=f"{'interval' if chosen else 'lot'}.{decision.value}",
        entity_type="lot", entity_id=lot.number, content_sha256=content_sha256(content),
    )  # fmt: skip
    by = user.name
    stamp: dict[str, Any] = {"by": by, "meaning": meaning.value, "content_sha256": signature.content_sha256}
    if requested_by is not None and requested_by != by:
        stamp["requested_by"] = requested_by
    extents: list[tuple[float | None, float | None]] = []
    if not chosen:
        _decide_lot(session, decision, lot, by=by, reason=reason, signature=stamp)
        extents.append((None, None))
    for interval in chosen:
        _decide_interval(session, decision, lot, interval, by=by, reason=reason, signature=stamp)
        char = session.get(Characteristic, interval.characteristic_id)
        assert char is not None  # noqa: S101 - foreign key
        extents.append(band_extent(interval, char.pitch_m, lot.length_m))
    blocked: list[str] = []
    if decision != Decision.RELEASE:
        for start_m, end_m in extents:
            blocked += _block_forward(session, lot, start_m, end_m, by=by, reason=reason)
    return DispositionDone(
        lot=lot.number,
        decision=decision,
        status=lot.status,
        intervals=[
            IntervalDecided(
                id=pk(i),
                characteristic=names.get(i.characteristic_id, ""),
                start_m=i.start_m,
                end_m=i.end_m,
                status=i.status,
            )
            for i in chosen
        ],
        blocked=sorted(set(blocked)),
        signature=signature,
        signed_content=content,
    )


def _interval(session: Session, lot: Lot, interval_id: int) -> OosInterval:
    interval = session.get(OosInterval, interval_id) if is_row_id(interval_id) else None
    if interval is None or interval.lot_id != lot.id:
        raise DispositionError(
            f"lot {lot.number} has no interval {interval_id} (see `mes lot show {lot.number}`)"
        )
    return interval


def _lot_state(lot: Lot) -> dict[str, Any]:
    return {"status": lot.status.value}


def _decide_lot(
    session: Session, decision: Decision, lot: Lot, *, by: str, reason: str, signature: dict[str, Any]
) -> None:
    if lot.status not in _LOT_FROM[decision]:
        allowed = " or ".join(s.value for s in _LOT_FROM[decision])
        raise DispositionError(
            f"lot {lot.number} is {lot.status.value}; only a {allowed} lot can be {DONE[decision]}"
        )
    before = _lot_state(lot)
    if decision == Decision.HOLD:
        lot.status = LotStatus.ON_HOLD
    elif decision == Decision.SCRAP:
        lot.status = LotStatus.REJECTED
    else:
        lot.status = _released_status(session, lot)
    if decision != Decision.HOLD:
        # The lot's remaining alarms were about this material; the signed decision ends them.
        for alarm in session.exec(select(Alarm).where(Alarm.lot_id == lot.id, col(Alarm.is_open))).all():
            clear_alarm(session, alarm, by, f"lot {DONE[decision]}: {reason}")
    now = utcnow()
    lot.updated_at = now
    session.add(lot)
    session.flush()
    record(
        session,
        actor=by,
        action=f"lot.{decision.value}",
        entity_type="lot",
        entity_id=lot.number,
        before=before,
        after={**_lot_state(lot), "signature": signature},
        reason=reason,
        occurred_at=now,
    )


def _released_status(session: Session, lot: Lot) -> LotStatus:
    """Released when every step is done; back in process when steps are still to run."""
    steps = session.exec(
        select(StepRun).where(StepRun.lot_id == lot.id).order_by(col(StepRun.step_index))
    ).all()
    broken = [s for s in steps if s.state in (StepRunState.FAILED, StepRunState.HELD, StepRunState.ABORTED)]
    if broken:
        s = broken[0]
        raise DispositionError(
            f"lot {lot.number} step {s.step_index} ({s.step_name}) is {s.state.value}: the material did not "
            "finish its route; scrap it or rework it, it cannot be released"
        )
    if all(s.state == StepRunState.COMPLETED for s in steps):
        return LotStatus.RELEASED
    return LotStatus.IN_PROCESS


def _decide_interval(
    session: Session,
    decision: Decision,
    lot: Lot,
    interval: OosInterval,
    *,
    by: str,
    reason: str,
    signature: dict[str, Any],
) -> None:
    if interval.status not in _INTERVAL_FROM[decision]:
        allowed = " or ".join(s.value for s in _INTERVAL_FROM[decision])
        raise DispositionError(
            f"interval {interval.id} of lot {lot.number} is {interval.status.value}; "
            f"only a {allowed} interval can be {DONE[decision]}"
        )
    before = {"status": interval.status.value}
    now = utcnow()
    interval.status = _INTERVAL_TO[decision]
    interval.dispositioned_by, interval.dispositioned_at = by, now
    session.add(interval)
    session.flush()
    record(
        session,
        actor=by,
        action=f"interval.{decision.value}",
        entity_type="oos_interval",
        entity_id=f"{lot.number}#{interval.id}",
        before=before,
        after={
            "status": interval.status.value,
            "start_m": interval.start_m,
            "end_m": interval.end_m,
            "signature": signature,
        },
        reason=reason,
        occurred_at=now,
    )


def _block_forward(
    session: Session, lot: Lot, start_m: float | None, end_m: float | None, *, by: str, reason: str
) -> list[str]:
    """Hold every lot made from the decided material that is not already held or rejected."""
    hits = forward(session, pk(lot), start_m=start_m, end_m=end_m)
    numbers = sorted({h.number for h in hits})
    if not numbers:
        return []
    where = f"{lot.number}" + (
        f" {start_m:.2f}–{end_m:.2f} m" if start_m is not None and end_m is not None else ""
    )
    blocked = []
    for child in session.exec(select(Lot).where(col(Lot.number).in_(numbers)).order_by(col(Lot.id))).all():
        if child.status not in _LOT_FROM[Decision.HOLD]:
            continue
        before = _lot_state(child)
        child.status, child.updated_at = LotStatus.ON_HOLD, utcnow()
        session.add(child)
        session.flush()
        record(
            session,
            actor=SYSTEM,
            action="lot.hold",
            entity_type="lot",
            entity_id=child.number,
            before=before,
            after={**_lot_state(child), "blocked_by": where, "decided_by": by},
            reason=f"made from {where}, which was put on hold or scrapped: {reason}",
        )
        blocked.append(child.number)
    return blocked


def record_refusal(
    session: Session,
    decision: Decision,
    lot_number: str,
    *,
    actor: str,
    error: Exception,
    meaning: SignatureMeaning | None = None,
    requested_by: str | None = None,
) -> None:
    """Audit a refused decision or signature (in its own transaction: the refused one rolled back).
    ``actor`` is the signer named; ``requested_by`` who sent the request, when someone else."""
    after: dict[str, Any] = {}
    if meaning is not None:
        after["meaning"] = meaning.value
    if requested_by is not None and requested_by != actor:
        after["requested_by"] = requested_by
    record(
        session,
        actor=recorded_name(actor),
        action=f"lot.{decision.value}.refused",
        entity_type="lot",
        entity_id=lot_number[:128],
        after=after or None,
        reason=str(error)[:2000],
    )
    if isinstance(error, SignatureRefused):
        count_refused_signature(session, actor)
