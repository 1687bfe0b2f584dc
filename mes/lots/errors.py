"""Errors of the production record: orders and lots (step errors are in ``mes.execution.errors``)."""

from __future__ import annotations

from mes.errors import InputError, MesError, NotFound


class LotError(MesError):
    """Base of the production record's errors (orders, lots, trace)."""


class OrderRefused(LotError):
    """A work order that cannot be accepted (unknown or unreleased recipe, no capable unit, bad size)."""


class OrderNotFound(LotError, NotFound):
    """No work order by that number."""


class LotNotFound(LotError, NotFound):
    """No lot by that number."""


class TraceRefused(LotError):
    """A trace that cannot be run as asked (bad interval, bad depth, bad direction)."""


class LotInvalid(LotError, InputError):
    """A lot named or described with a value no lot can have: an empty number, a purchased lot of a
    kind the line makes, no supplier or supplier lot (exit 2)."""


class OrderInvalid(OrderRefused, InputError):
    """An order asked for with a value no order can have: an empty number, a lot count outside
    1–1000, a lot size of 0 or less, a malformed recipe reference or idempotency key, no reason (exit 2)."""


class IdempotencyKeyReused(OrderInvalid):
    """An idempotency key that made an order, sent again with another request (HTTP 422, exit 2):
    the key cannot be used for it; a new order needs a new key."""


class TraceInvalid(TraceRefused, InputError):
    """A trace asked for as no trace can be: no direction or both, half an interval or an empty one,
    metres with --backward, a depth outside 1–100 (exit 2)."""


class CharacteristicNotFound(LotError, NotFound):
    """A lot has no characteristic by that name."""


class ScansInvalid(LotError, InputError):
    """Scans asked for as none can be given: a characteristic name that fits more than one layer, an
    empty range, or more scans than one answer holds (the message names the limit)."""
