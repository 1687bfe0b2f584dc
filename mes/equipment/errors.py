"""Errors of the equipment layer.

::

    EquipmentError                 anything about talking to a machine
     +-- ProfileError              a profile or line file is wrong (file:line:col)
     +-- ConnectionLost            no session with the unit (refused, timed out, dropped)
     +-- SecurityRefused           certificate untrusted, wrong user or password
     +-- BadState                  the unit is not in the state the action needs
     |    +-- UnknownState         the state variable holds a number the profile does not map (or NaN)
     +-- CommandRefused            the unit answered a command with a Bad status
     |    +-- CommandNotConfirmed  the command was accepted but the unit did not act on it in time
     +-- LimitViolation            a setpoint outside the profile's or recipe's limits
     |    +-- EncodingRefused      a value the node's data type cannot hold (checked before any write)
     +-- NodeMismatch              a profile entry is missing, of the wrong type, or not writable
     +-- BadStatus                 a node answered a status that is not a link state (names node + status)
     +-- PortUnavailable           a simulator cannot listen on its unit's endpoint (port taken, not local)
     +-- ArgumentInvalid           a command's value no unit can take (--set not NAME=NUMBER, an endpoint
                                   that is not opc.tcp://…): exit 2, as a usage error
"""

from __future__ import annotations

from mes.errors import InputError, MesError


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


class EncodingRefused(LimitViolation):
    """A value its node's OPC UA data type cannot hold (−10 into a UInt16); nothing was written."""


class UnknownState(BadState):
    """The state variable holds a number the profile does not map, or no number at all (NaN)."""


class CommandNotConfirmed(CommandRefused):
    """A command the unit did not act on within the profile's confirmation time.

    PackTags machines that refuse a command (interlock, wrong state) often just
    reset ``CmdChangeRequest`` and stay where they were; only the state, or a
    start counter, tells whether a command took.
    """


class BadStatus(EquipmentError):
    """A node answered an OPC UA status that is not a link state and will not go away by retrying.

    ``unit``, ``node`` (the profile entry or node id) and ``status`` (the status
    code's name, e.g. ``BadSensorFailure``) say where and what.
    """

    def __init__(self, message: str, *, unit: str = "", node: str = "", status: str = "") -> None:
        super().__init__(message)
        self.unit, self.node, self.status = unit, node, status


class NodeMismatch(EquipmentError):
    """A profile entry does not match what the server exposes."""


class PortUnavailable(EquipmentError):
    """A simulator cannot listen on its unit's endpoint: the port is taken or the address is not local."""


class ArgumentInvalid(EquipmentError, InputError):
    """A value given to an equipment command that no unit can take: ``--set`` that is not NAME=NUMBER or
    names a setpoint twice, a job without every setpoint, an endpoint or security mode that cannot be
    one (exit 2)."""
