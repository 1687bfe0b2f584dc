"""Electronic signatures (21 CFR Part 11 §11.50, §11.200): who signed, when, meaning what, over what.

A signature is the signer's name and password re-entered for one action, with a reason and the
**meaning** of the signature (approval, review, responsibility). It is recorded as an ``e-signature``
event in the audit hash chain, beside the action it signs, with the printed name, the time, the
meaning and the SHA-256 of the content signed (a recipe's content hash, a lot's record), so that the
record shows what §11.50 asks for and the chain shows it was not changed after.

An API token never signs: its account has a password nobody knows (``mes.auth.tokens``). A refused
signature is audited by the caller in a transaction of its own (the refused action rolls back).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from mes.audit.models import AuditEvent
from mes.audit.service import record
from mes.auth.errors import AuthError, SignatureRefused
from mes.auth.models import LoginAttempt, Role, User
from mes.auth.service import recorded_name, require_role, sign
from mes.auth.sessions import check_throttle
from mes.base import ReadModel, utcnow

SIGNATURE_ACTION = "e-signature"
SIGNATURE_REFUSED = "signature refused: unknown signer or wrong password"
SIGNATURE_ADDRESS = "(e-signature)"  # where a refused signature is counted from, beside login addresses


class SignatureMeaning(enum.StrEnum):
    """What the signer means by signing (21 CFR 11.50(a)(3))."""

    APPROVAL = "approval"
    REVIEW = "review"
    RESPONSIBILITY = "responsibility"


class SignaturePublic(ReadModel):
    """A signature as shown with the record it signs (21 CFR 11.50)."""

    signer: str
    printed_name: str
    meaning: SignatureMeaning
    signs: str  # the action signed, e.g. "recipe.release", "lot.release"
    entity_type: str
    entity_id: str
    content_sha256: str
    reason: str
    signed_at: datetime
    requested_by: str | None = None  # who sent the request, when not the signer (a token relaying it)


def e_sign(
    session: Session,
    *,
    name: str,
    password: str,
    roles: Iterable[Role],
    doing: str,
    meaning: SignatureMeaning,
    reason: str,
    signs: str,
    entity_type: str,
    entity_id: str,
    content_sha256: str,
    requested_by: str | None = None,
) -> tuple[User, SignaturePublic]:
    """Check the signature and record it in the audit chain: an active person (not a token's account)
    with one of ``roles`` and the right password (:func:`mes.auth.service.sign`).

    Raises :class:`LoginThrottled` while the signer has too many failed logins or signatures,
    :class:`SignatureRefused` (one message for an unknown name and a wrong password) — which the caller
    counts with :func:`count_refused_signature` in the transaction that audits the refusal — and
    :class:`AuthError` for a role that may not do this."""
    who = recorded_name(name)
    check_throttle(session, who, None)
    person = session.exec(select(User).where(User.name == who)).first()
    if person is None or not person.active or person.service_account:
        raise SignatureRefused(SIGNATURE_REFUSED)
    require_role(person, roles, doing)
    try:
        user = sign(session, name, password, roles, doing)
    except AuthError as exc:
        raise SignatureRefused(SIGNATURE_REFUSED) from exc
    signed_at = utcnow()
    signature = SignaturePublic(
        signer=user.name,
        printed_name=user.full_name or user.name,
        meaning=meaning,
        signs=signs,
        entity_type=entity_type,
        entity_id=entity_id,
        content_sha256=content_sha256,
        reason=reason,
        signed_at=signed_at,
        requested_by=requested_by if requested_by and requested_by != user.name else None,
    )
    record(
        session,
        actor=user.name,
        action=SIGNATURE_ACTION,
        entity_type=entity_type,
        entity_id=entity_id,
        after=signature.model_dump(
            mode="json", exclude={"reason", "entity_type", "entity_id"}, exclude_none=True
        ),
        reason=reason,
        occurred_at=signed_at,
    )
    return user, signature


def count_refused_signature(session: Session, name: str) -> None:
    """Count a refused signature against its signer, as a failed login is (the throttle of both)."""
    session.add(LoginAttempt(user_name=recorded_name(name), address=SIGNATURE_ADDRESS, succeeded=False))
    session.flush()


def signatures_of(session: Session, entity_type: str, entity_id: str) -> list[SignaturePublic]:
    """Every signature recorded over one record, oldest first."""
    events = session.exec(
        select(AuditEvent)
        .where(
            AuditEvent.action == SIGNATURE_ACTION,
            AuditEvent.entity_type == entity_type,
            AuditEvent.entity_id == entity_id,
        )
        .order_by(col(AuditEvent.id))
    ).all()
    return [
        SignaturePublic.model_validate(
            {**(e.after or {}), "entity_type": e.entity_type, "entity_id": e.entity_id, "reason": e.reason}
        )
        for e in events
    ]
