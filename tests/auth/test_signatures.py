"""Electronic signatures: one message for an unknown signer and a wrong password, and refused
signatures count against the signer like failed logins (no unlimited guessing through a signature)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from mes.auth.errors import LoginThrottled, SignatureRefused
from mes.auth.models import Role
from mes.auth.service import create_user
from mes.auth.sessions import MAX_FAILURES_PER_USER
from mes.auth.signatures import SIGNATURE_REFUSED, SignatureMeaning, count_refused_signature, e_sign
from mes.db import session_scope

PASSWORD = "signer-password"  # noqa: S105 - a test user's


def _sign(engine: Engine, name: str, password: str) -> None:
    with session_scope(engine) as s:
        e_sign(s, name=name, password=password, roles=[Role.QUALITY], doing="test", meaning=SignatureMeaning.REVIEW,
               reason="r", signs="test.sign", entity_type="lot", entity_id="L1", content_sha256="0" * 64)  # fmt: skip


def _refused(engine: Engine, name: str, password: str) -> SignatureRefused:
    with pytest.raises(SignatureRefused) as refused:
        _sign(engine, name, password)
    with session_scope(engine) as s:  # as a route or command does, in a transaction of its own
        count_refused_signature(s, name)
    return refused.value


def test_an_unknown_signer_and_a_wrong_password_read_the_same(engine: Engine) -> None:
    with session_scope(engine) as s:
        create_user(s, "quinn", Role.QUALITY, PASSWORD, full_name="Quinn Q")
    assert str(_refused(engine, "nobody", PASSWORD)) == SIGNATURE_REFUSED
    assert str(_refused(engine, "quinn", "wrong-password")) == SIGNATURE_REFUSED


def test_refused_signatures_throttle_the_signer(engine: Engine) -> None:
    with session_scope(engine) as s:
        create_user(s, "quinn", Role.QUALITY, PASSWORD)
    for i in range(MAX_FAILURES_PER_USER):
        _refused(engine, "quinn", f"guess-{i}")
    with pytest.raises(LoginThrottled):
        _sign(engine, "quinn", PASSWORD)  # the right one, too late
