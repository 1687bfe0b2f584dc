"""``GET /api/v1/events``: order, step, lot, alarm and unit changes, live values and process values, as
Server-Sent Events.

Async, unlike the other routes: a stream waits on the process's event hub (:mod:`mes.api.event_feed`)
without holding a thread or a database connection; the request's session is closed before the
first event is sent.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.sse import EventSourceResponse

from mes.api.deps import Caller, DbSession, credential_check, engine_of, settings_of
from mes.api.event_feed import StreamRequest, hub_of, stream
from mes.events.errors import EventQueryInvalid
from mes.events.log import check_unit, order_lots, replay_plan
from mes.events.models import EventKind

router = APIRouter(tags=["events"])

KINDS = (*(k.value for k in EventKind), "value", "process")
_MAX_ID = 2**63 - 1

Kinds = Annotated[
    str | None,
    Query(max_length=200, description=f"Comma-separated kinds to send (default: all): {', '.join(KINDS)}."),
]
Unit = Annotated[
    str | None,
    Query(max_length=64, description="Only what concerns this unit: its state, steps, alarms and values."),
]
Order = Annotated[
    str | None,
    Query(max_length=64, description="Only what concerns this work order: it, its lots, their steps, "
          "alarms and values."),
]  # fmt: skip
LastEventIdQuery = Annotated[
    str | None,
    Query(alias="last_event_id", max_length=20,
          description="For clients that cannot send the Last-Event-ID header; the header wins."),
]  # fmt: skip
LastEventIdHeader = Annotated[
    str | None,
    Header(alias="Last-Event-ID", max_length=20, description="The id of the last event received."),
]


def _kinds(text: str | None) -> frozenset[str]:
    if text is None:
        return frozenset(KINDS)
    asked = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in asked if k not in KINDS]
    if unknown or not asked:
        raise EventQueryInvalid(
            f"kinds: {', '.join(map(repr, unknown)) or 'none given'}: give one or more of {', '.join(KINDS)}"
        )
    return frozenset(asked)


def _last_event_id(header: str | None, query: str | None) -> int | None:
    text = header if header is not None else query
    if text is None or not text.strip():
        return None
    value = text.strip()
    if not value.isascii() or not value.isdigit() or int(value) > _MAX_ID:
        raise EventQueryInvalid(f"Last-Event-ID {value!r} is not an id this stream gave (a whole number)")
    return int(value)


def stream_request(
    request: Request,
    db: DbSession,
    _caller: Caller,
    kinds: Kinds = None,
    unit: Unit = None,
    order: Order = None,
    last_event_id: LastEventIdQuery = None,
    last_event_id_header: LastEventIdHeader = None,
) -> StreamRequest:
    """Checked before the stream starts, so that a wrong filter is a problem response, not an event."""
    wanted = _kinds(kinds)
    after = _last_event_id(last_event_id_header, last_event_id)
    if unit is not None:
        check_unit(db, unit)
    lots = frozenset(order_lots(db, order)) if order is not None else frozenset()
    plan = replay_plan(db, after, settings_of(request).events_replay_max)
    return StreamRequest(kinds=wanted, unit=unit, order=order, order_lots=lots, plan=plan,
                         credential=credential_check(request))  # fmt: skip


@router.get(
    "/events",
    # Not `response_class=EventSourceResponse`: that makes FastAPI drive the route as a generator
    # (see mes.api.event_feed.stream); the route returns the response itself.
    response_class=Response,
    summary="Follow state changes and live values (Server-Sent Events)",
    responses={
        200: {
            "description": "`gap` (if any), `ready`, then the events",
            # No schema: the body is a stream of events (`StateEvent`, `LiveValue`, `Gap` as JSON in
            # `data:` lines, described above), not one string a client could check whole.
            "content": {"text/event-stream": {}},
        }
    },
)
async def get_events(
    request: Request, _caller: Caller, want: Annotated[StreamRequest, Depends(stream_request)]
) -> EventSourceResponse:
    """A stream of `event: order|step|lot|alarm|unit` (a committed state change, `data` a
    `StateEvent`), `event: value` (the newest scan of a gauge, `data` a `LiveValue`) and `event:
    process` (a unit's process values read with it while a step runs, `data` a `ProcessValues`;
    only where live values go through Redis: the database does not keep them), for any logged-in
    caller (a bearer token or the session cookie).

    Every event's `id` is the stream's position in the event log. Reconnect with `Last-Event-ID`
    (or `?last_event_id=`) to be sent, from the database, the state events committed since, in
    commit order. Live values and process values are never replayed. When more than
    `MES_EVENTS_REPLAY_MAX` events were missed, or they were deleted (older than
    `MES_EVENTS_RETENTION_H`), the stream begins with `event: gap` (`data` a `Gap`: how many, why):
    read the resources again; it goes on from the newest event. Then `event: ready` (the position,
    the filters). A `: ping` comment comes after 15 s without an event; an `id` without data moves
    the position past filtered-out events.

    401 without credentials; 404 for an unknown `unit` or `order`; 422 for an unknown kind or a
    Last-Event-ID that is not a number."""
    hub = hub_of(engine_of(request), settings_of(request), request.app.state)
    return EventSourceResponse(
        stream(hub, want), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
