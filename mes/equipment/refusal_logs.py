"""asyncua's own log records of a security refusal, kept out of the operator's way.

asyncua reports a refused certificate with a traceback (its trust store logs at
ERROR with ``exception``), a refused session at ERROR or WARNING on both ends, and
a secure channel it has no policy for with a traceback. The MES says what was
refused, where and why, in one line of its own (the client's :class:`SecurityRefused`,
the simulator's session guard), so these records are demoted to DEBUG: dropped
unless the logger they come from is enabled for DEBUG, where they appear whole,
traceback and all (``MES_DEBUG=1`` does that for the ``mes`` command).

The one refusal the MES cannot word itself — a secure channel asking for a
policy or mode no endpoint offers, which asyncua refuses before any hook of ours
runs — becomes one WARNING line without the traceback.
"""

from __future__ import annotations

import logging
import re

from asyncua import ua

from mes.equipment import status

# (logger, the start of the message template) of each record that reports a refusal.
_REFUSALS = (
    ("asyncuagds.validate", "Not trusted certificate used"),
    ("asyncua.client.client", "create_session fault response"),
    ("asyncua.client.ua_client.UASocketProtocol", "ServiceFault ("),
    ("asyncua.client.ua_client.UASocketProtocol", "Got error status from server"),
    ("asyncua.server.uaprocessor", "sending service fault response"),
)
_CHANNEL = ("asyncua.server.binary_server_asyncio", "Exception raised while processing message from client")
_NO_POLICY = re.compile(r"No matching policy: \S*#(\w+), (\w+)")


class RefusalFilter(logging.Filter):
    """Demotes asyncua's reports of a security refusal to DEBUG (see the module's docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        channel = _refused_channel(record)
        if channel is None and not _is_refusal(record):
            return True
        if logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return True
        if channel is None:
            return False
        record.msg, record.args = (
            "refused a secure channel asking for %s: no endpoint of this server offers it",
            (channel,),
        )
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _is_refusal(record: logging.LogRecord) -> bool:
    template = str(record.msg)
    if not any(record.name == name and template.startswith(start) for name, start in _REFUSALS):
        return False
    if record.name == "asyncuagds.validate":
        return True
    # the status is the record's last argument, or inside its only one (an exception)
    args = record.args if isinstance(record.args, tuple) else ()
    names = [a for a in args if isinstance(a, str)] + [status.status_name(a) for a in args if _is_status(a)]
    return any(status.classify(name, connecting=True) is status.Kind.SECURITY for name in names)


def _is_status(value: object) -> bool:
    return isinstance(value, ua.UaStatusCodeError | ua.StatusCode)


def _refused_channel(record: logging.LogRecord) -> str | None:
    """``Basic256Sha256 Sign`` when ``record`` is asyncua refusing a secure channel it has no policy for."""
    if (record.name, str(record.msg)) != _CHANNEL or not record.exc_info:
        return None
    exc = record.exc_info[1]
    found = _NO_POLICY.search(str(exc)) if isinstance(exc, ua.UaError) else None
    if found is None:
        return None
    policy, mode = found.groups()
    if mode.isdigit():
        mode = ua.MessageSecurityMode(int(mode)).name.rstrip("_")
    return f"{policy} {mode}"


_FILTER = RefusalFilter()


def quiet_refusals() -> None:
    """Install the filter on asyncua's loggers that report refusals (again: no effect)."""
    for name in {name for name, _ in (*_REFUSALS, _CHANNEL)}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
