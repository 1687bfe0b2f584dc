"""Errors of the production record: orders and lots (step errors are in ``mes.execution.errors``)."""

from __future__ import annotations

from mes.errors import MesError


class ExecutionError(MesError):
    """Base of the execution layer's errors."""


class OrderRefused(ExecutionError):
    """A work order that cannot be accepted (unknown or unreleased recipe, no capable unit, bad size)."""


class OrderNotFound(ExecutionError):
    """No work order by that number."""


class LotNotFound(ExecutionError):
    """No lot by that number."""
