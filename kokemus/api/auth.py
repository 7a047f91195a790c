"""API keys: `Authorization: Bearer kk_...`; a key belongs to one workspace and has scopes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool

from kokemus.api.errors import ApiError
from kokemus.bootstrap import Kokemus
from kokemus.services import access
from kokemus.services import workspaces as workspace_service
from kokemus.services.access import KeyOwner
from kokemus.services.workspaces import ActiveWorkspace

# A verified key is trusted this long without asking the app store again: ingestion is hot,
# and a revoked key stops working within these seconds.
KEY_CACHE_SECONDS = 5.0


def kokemus(request: Request) -> Kokemus:
    kk: Kokemus = request.app.state.kokemus
    return kk


class KeyCache:
    """Recently verified keys (by secret) with the time they were verified."""

    def __init__(self, seconds: float = KEY_CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._owners: dict[str, tuple[float, KeyOwner | None]] = {}

    async def owner(self, kk: Kokemus, secret: str) -> KeyOwner | None:
        now = time.monotonic()
        hit = self._owners.get(secret)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        owner = await run_in_threadpool(access.verify_key, kk.db, secret)
        if len(self._owners) > 10_000:  # bounded: unknown keys sent in a flood
            self._owners.clear()
        self._owners[secret] = (now, owner)
        return owner


_WORKSPACE_HEADER = "Optional: the workspace the caller means; must be the key's."


def requires(scope: str) -> Callable[..., Awaitable[ActiveWorkspace]]:
    """A dependency giving the workspace of a key that has `scope`."""

    async def dependency(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        x_kokemus_workspace: Annotated[str | None, Header(
            description=_WORKSPACE_HEADER)] = None,
    ) -> ActiveWorkspace:
        return await authorize(request, scope, authorization, x_kokemus_workspace)

    return dependency


async def authorized(request: Request, scope: str) -> ActiveWorkspace:
    """`requires(scope)` called by a route itself, its headers read here: FastAPI's
    dependency solving was a third of a single event's time on the event loop. Such a route
    documents the same headers with `openapi_extra=HEADERS`."""
    headers = request.headers
    return await authorize(request, scope, headers.get("authorization"),
                           headers.get("x-kokemus-workspace"))


# The header parameters FastAPI documents for `requires`, for a route that calls
# `authorized` instead (the OpenAPI document stays the same).
HEADERS: list[dict[str, Any]] = [
    {"name": "authorization", "in": "header", "required": False,
     "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Authorization"}},
    {"name": "x-kokemus-workspace", "in": "header", "required": False,
     "schema": {"anyOf": [{"type": "string"}, {"type": "null"}],
                "description": _WORKSPACE_HEADER, "title": "X-Kokemus-Workspace"},
     "description": _WORKSPACE_HEADER},
]


async def authorize(request: Request, scope: str, authorization: str | None,
                    workspace: str | None) -> ActiveWorkspace:
    """The workspace of the key in `authorization` when it has `scope` (and belongs to
    `workspace`, when the caller names one); ApiError 401 or 403 otherwise."""
    kk = kokemus(request)
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(401, "unauthorized", "send an API key: Authorization: Bearer kk_...")
    keys: KeyCache = request.app.state.keys
    owner = await keys.owner(kk, authorization[7:].strip())
    if owner is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    if workspace and workspace != owner.workspace:
        # the same answer whether that workspace exists or not: a key of one workspace
        # learns nothing of the others, as a user of the web UI does not
        raise ApiError(403, "forbidden", f"this key belongs to workspace '{owner.workspace}'")
    if scope not in owner.scopes and "admin" not in owner.scopes:
        raise ApiError(403, "forbidden", f"this key lacks the '{scope}' scope")
    request.state.actor = f"key:{owner.prefix}"  # who acted, for the audit log
    cache: dict[int, ActiveWorkspace] = request.app.state.workspaces
    active = cache.get(owner.workspace_id)
    if active is None or active.version != owner.version:
        active = await run_in_threadpool(workspace_service.get_by_id, kk.db,
                                         owner.workspace_id)
        cache[owner.workspace_id] = active
    return active


Ingest = Annotated[ActiveWorkspace, Depends(requires("ingest"))]
Read = Annotated[ActiveWorkspace, Depends(requires("read"))]
