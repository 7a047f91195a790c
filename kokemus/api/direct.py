"""Direct routes: a survey blast's two hottest posts answered without FastAPI's layers.

The blast's capacity is read against a bare FastAPI route (bench/floor.py), which is mostly
what a request costs on the event loop. Before its endpoint ran, a single event passed
eleven ASGI layers (FastAPI's own, Starlette's error and exception middlewares, the body
limit, the sessions, the router walking every included router, the request wrapper and its
dependency solving): about half of its time on the loop. `App` hands a request that a
direct route takes straight to that route's endpoint, the same function FastAPI calls, and
every other request to FastAPI unchanged; the route stays in FastAPI (and in the OpenAPI
document) for the requests the direct way does not take.

A direct route takes only a POST to its path with no query string, a declared length
within its limit and, when it names one, its content type: a chunked body, a body over the
limit, a query string (and so any NUL in it), a multipart form go the full way, where the
body limit answers 413. What the skipped layers did is done here: an exception raised by
the endpoint goes to the app's exception handlers as the exception middleware would send
it (the API's error shape); any other is answered 500 and raised again for the server to
log, as Starlette's error middleware does. What the endpoint checks itself (the key and
its scope, the link's signature, rate limits, security headers) it checks either way. A
middleware added to the app does not see these requests: add its check to the endpoint.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

Endpoint = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class _Route:
    endpoint: Endpoint
    limit: int  # the largest declared body taken
    content_type: bytes | None  # the media type the body must declare, if any
    parameter: str | None  # the name of the last path segment, for a prefix route


class App(FastAPI):
    """FastAPI with direct routes (see the module's text)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._exact: dict[str, _Route] = {}
        self._prefixed: dict[str, _Route] = {}

    def direct(self, path: str, endpoint: Endpoint, *, limit: int,
               content_type: str | None = None) -> None:
        """Answer a POST to `path` with `endpoint(request)`. A path ending in `/{name}`
        takes one segment after its prefix, given to the endpoint as the argument `name`."""
        media = content_type.encode() if content_type else None
        if path.endswith("}"):
            prefix, _, name = path.rpartition("/")
            self._prefixed[prefix + "/"] = _Route(endpoint, limit, media, name.strip("{}"))
        else:
            self._exact[path] = _Route(endpoint, limit, media, None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope["query_string"]:
            found = self._taken(scope)
            if found is not None:
                await self._answer(scope, receive, send, *found)
                return
        await super().__call__(scope, receive, send)

    def _taken(self, scope: Scope) -> tuple[_Route, dict[str, str]] | None:
        path: str = scope["path"]
        route = self._exact.get(path)
        params: dict[str, str] = {}
        if route is None:
            prefix, _, last = path.rpartition("/")
            route = self._prefixed.get(prefix + "/")
            if route is None or route.parameter is None or not last or "\x00" in last:
                return None
            params = {route.parameter: last}
        length = media = None
        for name, value in scope["headers"]:
            if name == b"content-length" and length is None:
                length = value
            elif name == b"content-type" and media is None:
                media = value
        if length is None or not length.isdigit() or int(length) > route.limit:
            return None
        if route.content_type is not None and (
                media is None or media.split(b";")[0].strip().lower() != route.content_type):
            return None
        return route, params

    async def _answer(self, scope: Scope, receive: Receive, send: Send, route: _Route,
                      params: dict[str, str]) -> None:
        scope["app"] = self
        scope["path_params"] = params
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request, **params)
        except Exception as exc:  # as Starlette's exception and error middlewares answer
            handled = await self._handled(request, exc)
            if handled is None:  # answered 500 and raised again, for the server to log
                await PlainTextResponse("Internal Server Error", 500)(scope, receive, send)
                raise
            response = handled
        await response(scope, receive, send)

    async def _handled(self, request: Request, exc: Exception) -> Response | None:
        handlers = self.exception_handlers
        handler = handlers.get(exc.status_code) if isinstance(exc, HTTPException) else None
        if handler is None:
            handler = next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers),
                           None)
        if handler is None:
            return None
        answered = handler(request, exc)
        response: Response = await answered if inspect.isawaitable(answered) else answered
        exc.__traceback__ = None  # a reused exception would gather tracebacks (as Starlette)
        return response
