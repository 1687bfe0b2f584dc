"""Errors of the event stream's questions (``GET /api/v1/events``)."""

from __future__ import annotations

from mes.errors import InputError, MesError


class EventError(MesError):
    """Base of the events layer's errors."""


class EventQueryInvalid(EventError, InputError):
    """A filter or a Last-Event-ID that cannot be used (an unknown kind, an id that is not a number)."""
