"""Errors of the workers' side: handing work to the broker."""

from __future__ import annotations

from mes.errors import MesError


class BrokerUnreachable(MesError):
    """The broker did not take a message. What was committed before stays committed; the
    reconciler (beat, on the ``dispatch`` worker) sends the work once the broker is back."""
