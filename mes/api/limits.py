"""Requests refused before they reach a route: a path or query with a control character (422), a
body over the limit (413, before more of it is read).

A declared ``Content-Length`` over the limit is answered at once; a chunked body is counted as it is
read and answered when it passes the limit. (FastAPI's own ``max_body_size`` answers in plain text, and
an error raised while a body is read becomes a 400 "error parsing the body".)
"""

from __future__ import annotations

import json
import unicodedata
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mes.api.errors import PROBLEM_BASE, PROBLEM_JSON


class BodyLimit:
    """Pure ASGI middleware: 413 ``application/problem+json`` for a body over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad = unprintable(scope)
        if bad is not None:
            await _send_problem(send, 422, "request-invalid", "Request invalid", bad, scope)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        size = int(declared) if declared.isdigit() else 0
        if size > self.max_bytes:
            await self._refuse(scope, send)
            return
        seen, started, refused = 0, False, False

        async def counted() -> Message:
            # Past the limit: answer 413 now and tell the app the client went away, so that it stops
            # reading; whatever it sends after that is dropped.
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                seen += len(message.get("body", b""))
                if seen > self.max_bytes and not started:
                    refused = True
                    await self._refuse(scope, send)
            return {"type": "http.disconnect"} if refused else message

        async def watched(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, watched)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        detail = f"the request body is over {self.max_bytes} bytes, the most this API takes"
        await _send_problem(send, 413, "body-too-large", "Body too large", detail, scope)


def unprintable(scope: Scope) -> str | None:
    """What is wrong with a path or query that holds a control character (NUL first: PostgreSQL cannot
    store or compare text with it, and no name, number or filter of this API has one)."""
    path = scope.get("path", "")
    query = unquote(scope.get("query_string", b"").decode("latin-1"))
    for where, text in (("the path", path), ("the query", query)):
        bad = next((c for c in text if unicodedata.category(c) == "Cc"), None)
        if bad is not None:
            return f"{where} contains U+{ord(bad):04X} ({unicodedata.name(bad, 'a control character')})"
    return None


async def _send_problem(send: Send, status: int, kind: str, title: str, detail: str, scope: Scope) -> None:
    instance = "".join(c for c in scope.get("path", "") if unicodedata.category(c) != "Cc")
    body = json.dumps({"type": PROBLEM_BASE + kind, "title": title, "status": status, "detail": detail,
                       "instance": instance}).encode()  # fmt: skip
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
