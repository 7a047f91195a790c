"""Request bodies are bounded before anything reads them: one pure ASGI middleware in front
of every route (API, web pages, forms).

A declared `Content-Length` over the limit is answered 413 at once, before a byte of the
body is received; a body without one (chunked) is counted as it streams in and cut off with
413 as soon as it passes the limit. Nothing past the limit is ever buffered, so a 200 MB
upload costs the server no more memory than a small one. The answer is the API's error
shape: {"error": "body_too_large", "message": ..., "limit": bytes}.

The same edge refuses a NUL character in the address (a path or query `%00`): no store keeps
one (PostgreSQL refuses it in text), so it could only end as a 500 further in; here it is
422 `invalid`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    """Raised from `receive` once a streamed body passes its limit."""


def too_large(limit: int) -> bytes:
    return orjson.dumps({"error": "body_too_large",
                         "message": f"the request body is larger than the limit of "
                                    f"{limit} bytes", "limit": limit})


# Routes under this prefix take any size: only `kokemus serve`'s own loopback route for the
# command line is there; it needs its token and streams the body (an import's standard
# input) to a file, never into memory.
UNBOUNDED_PREFIX = "/api/internal/"


class BodyLimit:
    """At most `limit` bytes of body per request; `larger` bytes on the paths `larger_paths`
    (the batch routes, where 10,000 items must fit); none under UNBOUNDED_PREFIX."""

    def __init__(self, app: ASGIApp, limit: int, larger: int | None = None,
                 larger_paths: Collection[str] = ()) -> None:
        self.app = app
        self.limit = limit
        self.larger = larger if larger is not None else limit
        self.larger_paths = frozenset(larger_paths)

    def limit_for(self, path: str) -> int:
        return self.larger if path in self.larger_paths else self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
            await _answer(send, 422, _NUL)
            return
        if scope.get("path", "").startswith(UNBOUNDED_PREFIX):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None:
            if declared > limit:
                await _answer(send, 413, too_large(limit))  # the body is never received
                return
            # the server delivers no more than a declared length: nothing left to count
            await self.app(scope, receive, send)
            return

        received = 0
        cut_off = False
        started = False

        async def counted() -> Message:
            nonlocal received, cut_off
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    cut_off = True
                    raise BodyTooLarge
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if cut_off:
                return  # whatever the app made of the cut-off (400, 500) is not sent
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except Exception:
            if not cut_off:
                raise
        if cut_off and not started:
            await _answer(send, 413, too_large(limit))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


_NUL = orjson.dumps({"error": "invalid", "message": "the address holds a NUL character "
                                                   "(%00), which no store keeps"})


async def _answer(send: Send, status: int, content: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": content})
