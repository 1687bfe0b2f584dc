"""Errors of the audit trail."""

from __future__ import annotations

from mes.errors import MesError


class AuditError(MesError):
    """A question about the trail that cannot be answered as asked (a bad filter)."""
