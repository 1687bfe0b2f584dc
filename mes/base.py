"""Shared building blocks of the SQLModel tables and of the read models: naming convention, time,
column types, the read models' base class."""

from __future__ import annotations

import enum
import json
import math
import struct
import unicodedata
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Dialect
from sqlmodel import SQLModel

# Named constraints make migrations reproducible on both backends (SQLite's batch
# mode can only drop a constraint it can name).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Now, timezone-aware in UTC: every timestamp the MES stores is UTC."""
    return datetime.now(UTC)


def enum_type(enum_cls: type[enum.Enum], length: int = 24, name: str | None = None) -> sa.Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint, same on SQLite and PostgreSQL.

    Native PostgreSQL enums would need a migration of their own for every new state.
    ``name`` names the CHECK constraint; two columns of one enum in one table need two names.
    """
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
        name=name or enum_cls.__name__.lower(),
    )


class LaneValues(sa.types.TypeDecorator[list[float]]):
    """The lane values of one gauge scan, stored as packed little-endian float64.

    One row per scan keeps a 1,000 m roll at 1 cm pitch near 100 k rows per layer;
    packing the lanes costs 8 bytes a value on both backends (a PostgreSQL
    ``float8[]`` costs the same plus a 24-byte header, SQLite JSON about 20 bytes).
    Min / mean / max are separate columns for queries, so nothing needs to look
    inside the blob in SQL.
    """

    impl = sa.LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        values = [float(v) for v in value]
        return struct.pack(f"<{len(values)}d", *values)

    def process_result_value(self, value: Any, dialect: Dialect) -> list[float] | None:
        if value is None:
            return None
        raw = bytes(value)
        return list(struct.unpack(f"<{len(raw) // 8}d", raw))


# SQLite only auto-increments an INTEGER PRIMARY KEY (which is 64-bit there anyway).
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"timestamps must be timezone-aware, got {value!r}")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"the database returned {value!r} for a timestamp column")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ReadModel(BaseModel):
    """Base of every read model a service returns (``XPublic``, ``XSummary``, ``XDetail``).

    Services build read models from table rows; table rows never leave the service layer. The
    CLI's ``--json`` prints ``model_dump(mode="json")`` and an API can return the same model
    unchanged. Frozen (an answer, not something to edit) and strict about keys, so that JSON
    printed by one version validates against the model or says which field changed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


def pk(row: SQLModel) -> int:
    """The primary key of a flushed row (a row without one is a programming error)."""
    value = getattr(row, "id", None)
    if not isinstance(value, int):
        raise RuntimeError(f"{type(row).__name__} has no id yet: flush the session first")
    return value


def json_safe(value: Any) -> Any:
    """``value`` with every float that is not a number (NaN, ±Inf) replaced by None, recursively.

    JSON has no NaN: Python's ``json`` writes a bare ``NaN`` that other readers
    refuse. A missing measurement is ``null`` in every JSON the MES prints.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def dumps_json(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` for output: non-finite floats become ``null`` and can never slip through."""
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)


def beyond_limit(value: float, limit: float, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits, or as many more as it takes not to read as ``limit``.

    A value just past a limit must not print as the limit itself: 4200.4 nm beyond a USL of 4200
    is "4200.4", not "4200" as ``.4g`` gives.
    """
    for shown in range(digits, 18):
        text = f"{value:.{shown}g}"
        if float(text) != limit:
            return text
    return repr(value)


def worst_beyond(worst: float, limit: float, limit_kind: str, unit: str) -> str:
    """``worst 4481 nm beyond USL 4200 nm``: an excursion as every view of a lot prints it (the hold
    reasons, ``mes lot show``, the trace), the value by :func:`beyond_limit`, with its unit."""
    return f"worst {beyond_limit(worst, limit)} {unit} beyond {limit_kind.upper()} {limit:g} {unit}"


# The largest row id a user can name: PostgreSQL's integer (SQLite's is 2**63 - 1). An id beyond it
# is no row; asked of the database it would be an overflow or a driver error, not "not found".
MAX_ROW_ID = 2**31 - 1


def is_row_id(value: int) -> bool:
    """Whether ``value`` can be the id of a row (1 … MAX_ROW_ID)."""
    return 1 <= value <= MAX_ROW_ID


# Control characters (Cc), invisible format characters (Cf) and line/paragraph separators (Zl, Zp):
# free text with them prints as something else than it is, in lists, logs and the audit trail.
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def normal_text(value: str) -> str:
    """Free text (a reason, a comment) as it is stored: NFC, trimmed. Raises ValueError naming the
    first unprintable character (the CLI and the API turn it into a usage error / a 422)."""
    text = unicodedata.normalize("NFC", value).strip()
    bad = next((c for c in text if unicodedata.category(c) in _UNPRINTABLE_CATEGORIES), None)
    if bad is not None:
        raise ValueError(f"contains U+{ord(bad):04X} ({unicodedata.name(bad, 'a control character')})")
    return text
