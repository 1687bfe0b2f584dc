"""Errors of the execution layer (orders, lots, steps)."""

from __future__ import annotations

from mes.errors import MesError


class ExecutionError(MesError):
    """Base of the execution layer's errors."""


class OrderRefused(ExecutionError):
    """A work order that cannot be accepted (unknown or unreleased recipe, no capable unit, bad size)."""


class LotNotFound(ExecutionError):
    """No lot by that number."""


class StepRefused(ExecutionError):
    """A step or unit action that cannot be done now (wrong state, unit not where it must be)."""
