"""The commands' console, in a module of its own: ``mes --version`` prints with it without loading
what the commands need (the database, pydantic)."""

from __future__ import annotations

import errno
import os
import sys

from rich.console import Console


class _Out(Console):
    """The commands' console. A reader that stops reading (``mes … | head -1``) is handled with every
    other closed output in :mod:`mes.cli.app`, not by rich's own silent exit 1."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "the reader of the output stopped reading")


# Rich assumes 80 columns when output is not a terminal; tables then wrap every
# cell. Piped output gets room instead, unless COLUMNS says how much.
_SIZED = sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit()
out = _Out(highlight=False, soft_wrap=True, width=None if _SIZED else 200)
