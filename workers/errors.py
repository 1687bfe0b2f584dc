"""Errors of the Celery workers' side: equipment calls over the bridge, handing work to the broker."""

from __future__ import annotations

from mes.equipment.errors import EquipmentError
from mes.errors import MesError


class BridgeTimeout(EquipmentError):
    """The equipment call did not finish in time and was cancelled."""


class BrokerUnreachable(MesError):
    """The broker did not take a message. What was committed before stays committed; the
    reconciler (beat, on the ``dispatch`` worker) sends the work once the broker is back."""
