"""Errors of the audit trail."""

from __future__ import annotations

from mes.errors import InputError, MesError


class AuditError(MesError):
    """Base of the audit trail's errors: a chain that does not verify, a question asked with a bad filter."""


class AuditChainBroken(AuditError):
    """The audit trail's hash chain does not verify."""


class AuditQueryInvalid(AuditError, InputError):
    """A question asked of the trail with a filter that cannot be read (``--since yesterday``) (exit 2)."""
