"""Errors of step execution."""

from __future__ import annotations

from mes.errors import InputError, MesError, NotFound


class ExecutionError(MesError):
    """Base of the step execution layer's errors."""


class StepRefused(ExecutionError):
    """A step or unit action that cannot be done now (wrong state, unit not where it must be)."""


class StepNotFound(StepRefused, NotFound):
    """No step by that id or job id."""


class UnitNotFound(ExecutionError, NotFound):
    """No equipment unit by that name."""


class StepInvalid(StepRefused, InputError):
    """A step or unit action asked for with a value none can take: an empty step or unit name, no
    reason (exit 2)."""


class UnitNameInvalid(UnitNotFound, InputError):
    """An empty unit name (exit 2)."""
