"""Logging for the ``mes`` processes: plain lines on stderr, third-party chatter kept down."""

from __future__ import annotations

import logging


def configure(level: str = "WARNING") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # asyncua reports every reconnect attempt and certificate detail at WARNING;
    # the MES reports what matters to the user itself.
    logging.getLogger("asyncua").setLevel(logging.ERROR)
