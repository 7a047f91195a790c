"""The five warning signals over HTTP: the same as the web page and `kokemus signals`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from kokemus.api.auth import Read, kokemus
from kokemus.api.errors import AUTHENTICATED, documented
from kokemus.domain.calendar import Moment
from kokemus.services import signals

router = APIRouter(prefix="/api/v1/signals", tags=["insights"],
                   responses=documented(*AUTHENTICATED))


@router.get("", summary="The five warning signals, each with its severity and evidence")
async def get_signals(
    request: Request, workspace: Read,
    as_of: Annotated[Moment | None, Query(
        description="Judge as of this time (default: now; without a zone, UTC).")] = None,
) -> dict[str, Any]:
    moment = None if as_of is None else (
        as_of if as_of.tzinfo is not None else as_of.replace(tzinfo=UTC))
    found = await run_in_threadpool(lambda: signals.signals(kokemus(request), workspace,
                                                            as_of=moment))
    return {"as_of": (moment or datetime.now(UTC)).isoformat(),
            "fired": sum(s.fired for s in found), "signals": [s.as_dict() for s in found]}
