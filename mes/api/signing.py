"""The electronic signature part of a request body (recipe release, lot hold, release and scrap)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mes.auth.errors import AuthError
from mes.auth.schemas import Principal
from mes.auth.service import recorded_name
from mes.auth.signatures import SignatureMeaning
from mes.base import normal_text


def _some_text(value: str) -> str:
    text = normal_text(value)
    if not text:
        raise ValueError("is empty (or only white space)")
    return text


# A reason or comment: NFC, trimmed, printable (a control character is a 422 naming it), not empty.
FreeText = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_some_text)]


class SignatureIn(BaseModel):
    """The signer re-enters name and password for this one action, and says what the signature means
    (21 CFR 11.50, 11.200(a)(1)). A bearer token alone never signs: these are a person's."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="The signer's user name.")
    password: str = Field(min_length=1, max_length=1024, description="The signer's password.")
    meaning: SignatureMeaning = Field(description="approval, review or responsibility.")


class Reason(BaseModel):
    """Why (the audit trail keeps it)."""

    model_config = ConfigDict(extra="forbid")

    reason: FreeText = Field(description="Why; kept in the audit trail.")


def signer_must_be_caller(caller: Principal, signature: SignatureIn) -> None:
    """A login session signs only as its own user (a browser left open must not let someone sign as
    another person); a token relays the signature of the person who re-entered the password. Raises
    :class:`AuthError` (HTTP 403), to be audited as a refused signature."""
    if caller.via == "session" and recorded_name(signature.name) != caller.name:
        raise AuthError(
            f"logged in as {caller.name}: a signature made in this session is {caller.name}'s own, "
            f"not {recorded_name(signature.name)}'s"
        )
