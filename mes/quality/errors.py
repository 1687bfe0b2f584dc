"""Errors of the quality layer (spec checks, SPC, alarms, disposition)."""

from __future__ import annotations

from mes.errors import InputError, MesError, NotFound


class QualityError(MesError):
    """Base of the quality layer's errors."""


class SpcError(QualityError):
    """Data or parameters a control chart or capability study cannot use (the message says which)."""


class ChartNotFound(SpcError, NotFound):
    """Nothing to chart: no equipment unit by that name, or no lot with the characteristic asked for."""


class AlarmError(QualityError):
    """An alarm that does not exist or cannot make the transition asked for."""


class AlarmNotFound(AlarmError, NotFound):
    """No alarm by that id."""


class DispositionError(QualityError):
    """A hold, release or scrap decision that cannot be taken as asked."""


class SpcInvalid(SpcError, InputError):
    """A chart, capability study or set of limits asked for with parameters none can have: a subgroup
    size outside 2–25, λ outside (0, 1], LSL not below USL, options that exclude each other, an
    unknown rule, no reason (exit 2). What the data cannot give stays an :class:`SpcError` (exit 1)."""


class AlarmInvalid(AlarmError, InputError):
    """An alarm transition asked for with a value none can have: shelving for 0 minutes or more than
    8 h, no reason (exit 2)."""


class DispositionInvalid(DispositionError, InputError):
    """A hold, release or scrap asked for without a reason (exit 2)."""
