"""OPC UA statuses → equipment errors, in one place.

::

    asyncua exception / Bad status ──► classify() ──► LINK      retried within the link budget,
                                                                 then ConnectionLost
                                                      SECURITY  SecurityRefused (at connect only)
                                                      REFUSAL   CommandRefused (commands only)
                                                      OTHER     BadStatus(unit, node, status)

Everything in the driver that talks to a server goes through :func:`translate`
(or :func:`is_link` for its retry loop); nothing else matches status names
(``tests/equipment/test_status.py`` fails on a module that does).
"""

from __future__ import annotations

import enum

from asyncua import ua

from mes.equipment.errors import (
    BadStatus,
    CommandRefused,
    ConnectionLost,
    EquipmentError,
    SecurityRefused,
)


class Kind(enum.Enum):
    LINK = "link"
    SECURITY = "security"
    REFUSAL = "refusal"
    OTHER = "other"


# The link, not the request, failed: the same request may succeed once the link is back.
LINK_STATES = frozenset(
    {
        "BadConnectionClosed",
        "BadSessionClosed",
        "BadSessionIdInvalid",
        "BadSessionNotActivated",
        "BadSecureChannelClosed",
        "BadSecureChannelIdInvalid",
        "BadServerNotConnected",
        "BadCommunicationError",
        "BadNotConnected",
        "BadTimeout",
        "BadRequestTimeout",
        "BadServerHalted",
        "BadShutdown",
        "BadTooManySessions",
    }
)

# While a client re-activates its session after a dropped link, the server answers the
# requests in flight with these; inside an established session they are link states.
# At connect() BadUserAccessDenied is a real refusal (wrong user or password).
RECONNECT_STATES = frozenset(
    {"BadUserAccessDenied", "BadSessionIdInvalid", "BadSecureChannelClosed", "BadSessionClosed"}
)

SECURITY_REFUSALS = frozenset(
    {
        "BadUserAccessDenied",
        "BadIdentityTokenInvalid",
        "BadIdentityTokenRejected",
        "BadCertificateUntrusted",
        "BadSecurityChecksFailed",
        "BadCertificateInvalid",
        "BadCertificateUriInvalid",
        "BadSecurityPolicyRejected",
    }
)

# A method the unit answers with one of these did not act: the command was refused.
COMMAND_REFUSALS = frozenset(
    {"BadInvalidState", "BadInvalidArgument", "BadNotExecutable", "BadArgumentsMissing"}
)

# Exceptions that are not a status but a link that went away (asyncua raises ConnectionError
# for a request issued while it reconnects, TimeoutError for one that got no answer).
LINK_EXCEPTIONS: tuple[type[BaseException], ...] = (ConnectionError, OSError, TimeoutError)


def status_name(exc_or_code: BaseException | ua.StatusCode | int) -> str:
    """The name of a status (``BadSensorFailure``), or the exception's type name when it has none."""
    if isinstance(exc_or_code, ua.StatusCode):
        return str(exc_or_code.name)
    if isinstance(exc_or_code, int):
        return str(ua.StatusCode(exc_or_code).name)
    code = getattr(exc_or_code, "code", None)
    return str(ua.StatusCode(code).name) if isinstance(code, int) else type(exc_or_code).__name__


def classify(name: str, *, connecting: bool = False, command: bool = False) -> Kind:
    """What a status means for the driver: link state, security refusal, command refusal or other.

    ``connecting``: the status answered the session's set-up (BadUserAccessDenied is a wrong
    password there, a reconnect artefact afterwards). ``command``: it answered a command.
    """
    if connecting and name in SECURITY_REFUSALS:
        return Kind.SECURITY
    if name in LINK_STATES or (not connecting and name in RECONNECT_STATES):
        return Kind.LINK
    if name in SECURITY_REFUSALS:
        return Kind.SECURITY
    if command and name in COMMAND_REFUSALS:
        return Kind.REFUSAL
    return Kind.OTHER


def is_link(exc: BaseException, *, connecting: bool = False) -> bool:
    """True when ``exc`` means the link (not the request) failed, so the request may be retried."""
    if isinstance(exc, ua.UaStatusCodeError):
        return classify(status_name(exc), connecting=connecting) is Kind.LINK
    if isinstance(exc, ua.UaError):
        return False
    return isinstance(exc, LINK_EXCEPTIONS)


def is_asyncua(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the OPC UA stack or the socket under it (not yet one of ours)."""
    return isinstance(exc, (ua.UaError, *LINK_EXCEPTIONS)) and not isinstance(exc, EquipmentError)


def translate(
    exc: BaseException,
    *,
    unit: str,
    what: str,
    node: str = "",
    connecting: bool = False,
    securing: bool = False,
    command: bool = False,
) -> EquipmentError:
    """The equipment error for an asyncua exception (or a Bad status wrapped in one).

    ``what`` says what was being done (``read state``, ``Start``), ``node`` names the
    profile entry and node id (``state (ns=2;s=Sputter.State)``). Link states →
    :class:`ConnectionLost`; security refusals → :class:`SecurityRefused`; command refusals
    (with ``command``) → :class:`CommandRefused`; any other status → :class:`BadStatus`.
    ``securing``: the exception came from setting up the secure channel (the server's
    endpoint list, its policies and certificates): a link state is still a lost link,
    anything else is a :class:`SecurityRefused`.
    An exception that is already an :class:`EquipmentError` is returned unchanged.
    """
    if isinstance(exc, EquipmentError):
        return exc
    where = f"{unit}: {what}" + (f" at {node}" if node else "")
    if isinstance(exc, ua.UaStatusCodeError):
        name = status_name(exc)
        kind = classify(name, connecting=connecting or securing, command=command)
        if kind is Kind.LINK:
            return ConnectionLost(f"{where}: link lost ({name})")
        if kind is Kind.SECURITY or securing:
            return SecurityRefused(f"{where}: refused ({name})")
        if kind is Kind.REFUSAL:
            return CommandRefused(f"{where} refused ({name})")
        if connecting:  # no session yet: whatever the server said, there is no link
            return ConnectionLost(f"{where}: the server answered {name}")
        return BadStatus(f"{where}: the unit answered {name}", unit=unit, node=node, status=name)
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, ua.UaError) and not isinstance(exc, LINK_EXCEPTIONS):
        if securing or "certificate" in reason.lower():
            return SecurityRefused(f"{where}: {reason}")
        if not connecting:
            return BadStatus(f"{where}: {reason}", unit=unit, node=node, status=type(exc).__name__)
    return ConnectionLost(f"{where}: {reason}")


def check(code: ua.StatusCode, *, unit: str, what: str, node: str = "", command: bool = False) -> None:
    """Raise the translated error of a Bad ``code`` from a batch answer; a Good one passes."""
    if code.is_good():
        return
    raise translate(ua.UaStatusCodeError(code.value), unit=unit, what=what, node=node, command=command)
