"""Errors of the command line itself (not of a domain): mapped to exit codes in ``mes.cli.app``."""

from __future__ import annotations

from mes.errors import MesError


class SomethingDown(MesError):
    """``mes status``: at least one part of the MES did not pass its check."""


class WebRefused(MesError):
    """``mes web`` cannot serve as asked: the port is taken, or production without TLS."""
