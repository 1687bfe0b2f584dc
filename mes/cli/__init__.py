"""The ``mes`` command line: an application above every domain.

Each domain's commands live in a module here (``recipes``, ``equipment``, ``lots``,
``steps``, ``quality``, ``spc``, ``audit``, ``users``); :mod:`mes.cli.app` lists them,
imports each only when its command is resolved, and maps every layer's errors to one line and
an exit code.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``mes``); imported lazily so that ``mes.cli.common``
    can be imported by the command modules without loading them all."""
    from mes.cli.app import main as run

    run(argv)
