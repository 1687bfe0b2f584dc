"""Errors of step execution."""

from __future__ import annotations

from mes.errors import MesError


class ExecutionError(MesError):
    """Base of the step execution layer's errors."""


class StepRefused(ExecutionError):
    """A step or unit action that cannot be done now (wrong state, unit not where it must be)."""


class UnitNotFound(ExecutionError):
    """No equipment unit by that name."""
