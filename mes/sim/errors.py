"""Errors of the simulators.

``FaultSpecError`` is a user's mistake in a ``--fault`` option or a fault file and
reaches the command line like any equipment error. ``Refused`` never leaves the
simulator: the unit answers it to the client as an OPC UA status (a method call
gets ``BadInvalidState``) or, for PackTags, counts it as a refusal.
"""

from __future__ import annotations

from mes.equipment.errors import EquipmentError
from mes.errors import InputError


class FaultSpecError(EquipmentError, InputError):
    """A fault specification that cannot be read (``--faults``, ``InjectFault``): exit 2."""


class Refused(Exception):
    """A command the machine does not accept in its present state."""
