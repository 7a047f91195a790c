"""The customer's timeline over HTTP: the same history the web page shows (docs/timeline.md),
as JSON: events, answers and promise verdicts with the gap that broke each broken one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from kokemus.analytics import timeline
from kokemus.api.auth import Read, kokemus
from kokemus.api.errors import AUTHENTICATED, ApiError, documented
from kokemus.domain.calendar import Moment
from kokemus.services.workspaces import ActiveWorkspace

router = APIRouter(prefix="/api/v1", tags=["timeline"], responses=documented(*AUTHENTICATED))

AsOf = Annotated[Moment | None, Query(
    description="Judge the promises as of this time, and leave out what came after it "
                "(ISO 8601; a time without zone is UTC). Default: now.")]
CustomerId = Annotated[str, Path(max_length=200, description="The customer's id.")]
AccountId = Annotated[str, Path(max_length=200, description="The B2B account's id.")]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def answer(found: timeline.Timeline, workspace: ActiveWorkspace) -> dict[str, Any]:
    """The timeline as JSON-ready data (docs/api.md)."""
    events = found.events.to_pylist()
    for row in events:
        row["properties"] = orjson.loads(row["properties"]) if row["properties"] else None
    promises = []
    for row in found.promises.to_pylist():
        gap = {key: row.pop(key) for key in timeline.GAP_COLUMNS}
        row["gap"] = None if gap["gap_s"] is None else {
            "seconds": gap["gap_s"], "from_event": gap["gap_from"], "to_event": gap["gap_to"],
            "from_time": gap["gap_from_ts"], "to_time": gap["gap_to_ts"],
            "from_touchpoint": gap["from_touchpoint"], "to_touchpoint": gap["to_touchpoint"],
            "from_department": gap["from_department"], "to_department": gap["to_department"]}
        promises.append(row)
    return {"customer": found.customer, "account": found.account,
            "people": list(found.people), "as_of": found.as_of,
            "time_zone": workspace.document.business_hours.timezone,
            "events": events, "responses": found.responses.to_pylist(), "promises": promises}


async def _read(request: Request, workspace: ActiveWorkspace, as_of: datetime | None, *,
                customer: str | None = None, account: str | None = None) -> dict[str, Any]:
    kk = kokemus(request)
    found = await run_in_threadpool(timeline.read, kk.db, kk.events, workspace,
                                    customer=customer, account=account, as_of=_utc(as_of))
    if found is None:
        what, ident = ("customer", customer) if customer is not None else ("account", account)
        raise ApiError(404, "not_found", f"no {what} '{ident}'")
    return answer(found, workspace)


@router.get("/customers/{customer_id}/timeline",
            summary="A customer's events, answers and promise verdicts, in order")
async def customer_timeline(customer_id: CustomerId, request: Request, workspace: Read,
                            as_of: AsOf = None) -> dict[str, Any]:
    return await _read(request, workspace, as_of, customer=customer_id)


@router.get("/accounts/{account_id}/timeline",
            summary="A B2B account's timeline: every person of the account together")
async def account_timeline(account_id: AccountId, request: Request, workspace: Read,
                           as_of: AsOf = None) -> dict[str, Any]:
    return await _read(request, workspace, as_of, account=account_id)
