"""Read models of dispositions: what a signed hold, release or scrap did, and the signature it carries.

Lengths are metres from the start of the lot's roll; lots are named by number.
"""

from __future__ import annotations

import enum

from pydantic import Field, JsonValue

from mes.auth.signatures import SignaturePublic
from mes.base import ReadModel
from mes.lots.models import IntervalStatus, LotStatus


class Decision(enum.StrEnum):
    HOLD = "hold"
    RELEASE = "release"
    SCRAP = "scrap"


class IntervalDecided(ReadModel):
    """An interval ``[start_m, end_m]`` of the lot and its status after the decision."""

    id: int
    characteristic: str = Field(description="LAYER.CHARACTERISTIC")
    start_m: float
    end_m: float
    status: IntervalStatus


class DispositionDone(ReadModel):
    """A signed decision about a lot (or some of its intervals), as it was taken.

    ``signed_content`` is what the signature signs: its canonical JSON (keys sorted, no white space,
    UTF-8, non-finite numbers as null) hashes to ``signature.content_sha256``.
    """

    lot: str
    decision: Decision
    status: LotStatus = Field(description="the lot's status after the decision")
    intervals: list[IntervalDecided] = Field(description="the intervals decided; empty for the whole lot")
    blocked: list[str] = Field(description="lots made from the decided material that went on hold now")
    signature: SignaturePublic
    signed_content: dict[str, JsonValue]
