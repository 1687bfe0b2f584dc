"""Errors of the Celery workers."""

from __future__ import annotations

from mes.equipment.errors import EquipmentError


class BridgeTimeout(EquipmentError):
    """The equipment call did not finish in time and was cancelled."""
