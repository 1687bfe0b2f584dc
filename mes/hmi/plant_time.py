"""Times a person types on a page are the plant's (a ``datetime-local`` field: ``2026-11-05T14:30``);
the services and the API take UTC. One conversion each way, here.

A local time the clock skips when summer time starts (02:30 on that night) does not exist: it is
refused with the reason rather than guessed. One it passes twice when summer time ends is read so
that a search finds more, never less: a lower bound (``since``) as the earlier of the two instants,
an upper bound (``until``) as the later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class PlantTimeInvalid:
    """Why a typed plant time cannot be used, for the field ``field``."""

    field: str
    message: str


def plant_to_utc(
    text: str | None, zone: str, field: str, *, upper: bool = False
) -> datetime | PlantTimeInvalid | None:
    """``text`` (``YYYY-MM-DDTHH:MM[:SS]`` in the plant's ``zone``, or an ISO time with its own offset)
    as an aware UTC time; None for nothing typed; :class:`PlantTimeInvalid` when it cannot be one.
    ``upper``: the time is an upper bound (an ambiguous local time is then read as the later one)."""
    if text is None or not text.strip():
        return None
    try:
        typed = datetime.fromisoformat(text.strip())
    except ValueError:
        return PlantTimeInvalid(field, f"{text!r} is not a date and time (YYYY-MM-DD HH:MM)")
    try:
        return _to_utc(typed, zone, upper)
    except OverflowError:
        return PlantTimeInvalid(field, f"{text} is outside the years 1 to 9999 once taken to UTC")
    except _Skipped:
        return PlantTimeInvalid(field, f"{text} does not exist in {zone} (the clock skips it that night)")


class _Skipped(Exception):
    pass


def _to_utc(typed: datetime, zone: str, upper: bool) -> datetime:
    if typed.tzinfo is not None:
        return typed.astimezone(UTC)
    tz = ZoneInfo(zone)
    early, late = typed.replace(tzinfo=tz, fold=0), typed.replace(tzinfo=tz, fold=1)
    # The two readings differ when the wall clock shows this time twice (fall back) or never (spring
    # forward); a time that does not exist does not come back from UTC as it was typed.
    if (
        early.utcoffset() != late.utcoffset()
        and early.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != typed
    ):
        raise _Skipped
    return (late if upper else early).astimezone(UTC)


def utc_to_plant_input(at: datetime | None, zone: str) -> str:
    """The value a ``datetime-local`` field shows for ``at`` (UTC) in the plant's zone; "" for None."""
    if at is None:
        return ""
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def utc_query(at: datetime | None) -> str | None:
    """``at`` as the API takes it in a query (ISO 8601 UTC with ``Z``); None for None."""
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")
