"""Logging for the ``mes`` processes: plain lines on stderr, third-party chatter kept down."""

from __future__ import annotations

import logging
import threading


def configure(level: str = "WARNING", *, debug: bool = False) -> None:
    """Plain lines on stderr at ``level``; ``debug`` (``MES_DEBUG=1``) opens asyncua's own log at DEBUG."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # asyncua reports every reconnect attempt and certificate detail at WARNING, and a
    # refusal with a traceback; the MES reports what matters to the user itself, in one
    # line (see mes/equipment/refusal_logs.py). "asyncuagds" is its trust store's logger.
    for name in ("asyncua", "asyncuagds"):
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.ERROR)


class StateLog:
    """One line when a peer is lost and one when it is back, instead of one per retry.

    A loop that retries every second against a unit that is switched off would
    otherwise write a line a second per unit and bury the one that matters. A
    different problem (another ``kind``) is a change of state and is logged
    again; repeats of the same one go to DEBUG.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.problem: str | None = None  # the kind of the current problem; None while all is well
        self._lock = threading.Lock()  # the collector reports the database from two threads

    @property
    def ok(self) -> bool:
        return self.problem is None

    def lost(self, kind: str, message: str, *, exc_info: bool = False, level: int = logging.WARNING) -> bool:
        """Report a problem of ``kind``: at ``level`` if it is new, else DEBUG. True when it was new."""
        with self._lock:
            new, self.problem = kind != self.problem, kind
        self.logger.log(level if new else logging.DEBUG, "%s", message, exc_info=exc_info and new)
        return new

    def back(self, message: str) -> bool:
        """Report that the problem is over, once; True when there was one."""
        with self._lock:
            was, self.problem = self.problem is not None, None
        if was:
            self.logger.warning("%s", message)
        return was
