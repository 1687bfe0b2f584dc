"""Errors of the quality layer (spec checks, SPC, alarms, disposition)."""

from __future__ import annotations

from mes.errors import MesError


class QualityError(MesError):
    """Base of the quality layer's errors."""


class SpcError(QualityError):
    """Data or parameters a control chart or capability study cannot use (the message says which)."""


class AlarmError(QualityError):
    """An alarm that does not exist or cannot make the transition asked for."""


class DispositionError(QualityError):
    """A hold, release or scrap decision that cannot be taken as asked."""
