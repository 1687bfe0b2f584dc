"""The product's error hierarchy, one branch per layer.

Every error a user can cause or meet derives from :class:`MesError`, carries a
message that says what was wrong and where, and is turned into an exit code
(CLI) in ``mes.cli.app`` and into an HTTP status (API) in ``mes.api.errors``::

    MesError                 exit code 1
     +-- InputError           exit code 2: a value given cannot be used as it is (fix the input)
     +-- NotFound             the thing named does not exist (HTTP 404)
     +-- ConfigError          a setting is wrong or refused (names the MES_ variable)
     +-- DatabaseError        the database cannot be used
     |    +-- DatabaseUrlError      MES_DATABASE_URL cannot be parsed / has no driver
     |    +-- DatabaseUnreachable   the server does not answer
     |    +-- DatabaseMissing       the SQLite file named does not exist (only `mes db upgrade` makes it)
     |    +-- SchemaNotCurrent      the schema is missing or behind the code
     +-- AuditError           (mes.audit)
     +-- AuthError            (mes.auth)
     +-- RecipeError          (mes.recipes)
     +-- EquipmentError       (mes.equipment; the simulators' and workers' errors derive from it)
     +-- LotError             (mes.lots: orders, lots, trace)
     +-- ExecutionError       (mes.execution: steps and units)
     +-- QualityError         (mes.quality)
     +-- EventError           (mes.events: the event stream's questions)

Each layer keeps its errors in its own ``errors.py``; ``tests/test_errors.py``
fails on an exception class defined anywhere else.
"""

from __future__ import annotations


class MesError(Exception):
    """Base of every error the product reports to a user (exit codes: ``mes.cli.app.exit_code``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(MesError):
    """A value given (an argument, an option) cannot be used as it is; a layer's error for such a value
    derives from both its layer's base and this, and exits 2, as a command-line usage error does."""


class NotFound(MesError):
    """The thing named (an order, a lot, a recipe, a unit, an alarm) does not exist; a layer's error for
    it derives from both its layer's base and this (HTTP 404; exit code 1)."""


class ConfigError(MesError):
    """A setting is missing, malformed or refused for this environment."""


class ServiceNotStarted(MesError):
    """A process the MES starts for itself (``mes demo``'s web server) exited or never answered."""


class DatabaseError(MesError):
    """The configured database cannot be used."""


class DatabaseUrlError(DatabaseError):
    """``MES_DATABASE_URL`` is malformed or names a driver that is not installed."""


class DatabaseUnreachable(DatabaseError):
    """The database server did not accept a connection."""


class DatabaseMissing(DatabaseError):
    """``MES_DATABASE_URL`` names a SQLite file that does not exist."""


class SchemaNotCurrent(DatabaseError):
    """The database has no schema or an older revision than this code needs."""
