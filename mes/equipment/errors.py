"""Errors of the equipment layer.

::

    EquipmentError                 anything about talking to a machine
     +-- ProfileError              a profile or line file is wrong (file:line:col)
     +-- ConnectionLost            no session with the unit (refused, timed out, dropped)
     +-- SecurityRefused           certificate untrusted, wrong user or password
     +-- BadState                  the unit is not in the state the action needs
     +-- CommandRefused            the unit answered a command with a Bad status
     +-- LimitViolation            a setpoint outside the profile's or recipe's limits
     +-- NodeMismatch              a profile entry is missing, of the wrong type, or not writable
"""

from __future__ import annotations

from mes.errors import MesError


class EquipmentError(MesError):
    """Base of the equipment layer's errors; the message names the unit and node."""


class ProfileError(EquipmentError):
    """A profile or line file does not validate."""


class ConnectionLost(EquipmentError):
    """No usable session with the unit."""


class SecurityRefused(EquipmentError):
    """The secure channel or the session was refused (certificate or user)."""


class BadState(EquipmentError):
    """The unit is not in a state that allows the action."""


class CommandRefused(EquipmentError):
    """The unit refused a command."""


class LimitViolation(EquipmentError):
    """A setpoint outside its limits; nothing was written."""


class NodeMismatch(EquipmentError):
    """A profile entry does not match what the server exposes."""
