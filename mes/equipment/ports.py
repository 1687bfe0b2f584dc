"""Whether simulators can listen on their units' endpoints, asked before any of them starts.

A simulator that cannot bind its port fails inside asyncua, which logs a
traceback first; and the units started before it stay up, half a line. Trying
every port first turns a taken port into one line that names the unit, the port
and the way out, before anything is started or written.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from mes.equipment.errors import PortUnavailable
from mes.equipment.profile import Line

_FIX = "fix the unit's endpoint in a line file (--line)"


def listen_address(endpoint: str) -> tuple[str, int]:
    """Host and port an OPC UA server for ``endpoint`` (``opc.tcp://HOST:PORT/…``) binds."""
    parts = urlsplit(endpoint)
    return parts.hostname or "", parts.port or 4840


def check_ports(line: Line, units: Iterable[str] | None = None) -> None:
    """Raise :class:`PortUnavailable` for the first of ``units`` (default: all) whose port cannot be bound."""
    for name in line.units if units is None else units:
        host, port = listen_address(line.units[name].endpoint)
        problem = _bind_problem(host, port)
        if problem is not None:
            raise PortUnavailable(f"{name}: {problem}")


def unavailable(name: str, endpoint: str, exc: OSError) -> PortUnavailable:
    """The same one line for a bind that failed after the check (another process was faster)."""
    host, port = listen_address(endpoint)
    return PortUnavailable(f"{name}: {_describe(host, port, exc)}")


def _bind_problem(host: str, port: int) -> str | None:
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror}; {_FIX}"
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            # As asyncio's server does: a port left in TIME_WAIT by an earlier run is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                return _describe(host, port, exc)
    return None


def _describe(host: str, port: int, exc: OSError) -> str:
    where = f"port {port} on {host or 'every interface'}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"{where} is already in use (another demo or `mes sim`?): stop what listens there "
            f"(`ss -ltnp 'sport = :{port}'` names it) or give the unit another port in a line file (--line)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: {host} is not an address of this machine; {_FIX}"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: ports below 1024 need privileges; {_FIX}"
    return f"cannot listen on {where}: {exc.strerror or exc}; {_FIX}"
