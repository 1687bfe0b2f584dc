"""Cursor pagination: ``?limit=N&cursor=C`` in, ``{"items": [...], "next_cursor": C}`` and an RFC 8288
``Link: <…>; rel="next"`` header out.

A cursor is the row id to continue below (lists are newest first, by id), wrapped in URL-safe base64
so that a client treats it as opaque: rows added while a client pages never shift what it sees next
(unlike an offset).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Generic, TypeVar

from fastapi import Query, Request, Response
from pydantic import BaseModel

from mes.api.errors import CursorInvalid
from mes.base import is_row_id

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1–500).")]
Cursor = Annotated[
    str | None, Query(max_length=64, description="`next_cursor` of the previous page; absent for the first.")
]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first. ``next_cursor`` is absent on the last page."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The row id to continue below, or None for the first page. Raises :class:`CursorInvalid`."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = text.partition(":")
        row_id = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        row_id, kind = 0, ""
    if kind != "id" or not is_row_id(row_id):
        raise CursorInvalid(f"cursor {cursor!r} is not one this API handed out: take next_cursor of a page")
    return row_id


def page(items: list[T], ids: list[int], limit: int, request: Request, response: Response) -> Page[T]:
    """A page of ``items`` (one more than ``limit`` asked of the query tells that more follow) with the
    ``Link`` header to the next one. ``ids`` are the items' row ids, in the same order."""
    if len(items) <= limit:
        return Page[T](items=items)
    cursor = encode_cursor(ids[limit - 1])
    url = request.url.include_query_params(cursor=cursor, limit=limit)
    response.headers["Link"] = f'<{url}>; rel="next"'
    return Page[T](items=items[:limit], next_cursor=cursor)
