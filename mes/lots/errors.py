"""Errors of the production record: orders and lots (step errors are in ``mes.execution.errors``)."""

from __future__ import annotations

from mes.errors import MesError


class LotError(MesError):
    """Base of the production record's errors (orders, lots, trace)."""


class OrderRefused(LotError):
    """A work order that cannot be accepted (unknown or unreleased recipe, no capable unit, bad size)."""


class OrderNotFound(LotError):
    """No work order by that number."""


class LotNotFound(LotError):
    """No lot by that number."""


class TraceRefused(LotError):
    """A trace that cannot be run as asked (bad interval, bad depth, bad direction)."""
