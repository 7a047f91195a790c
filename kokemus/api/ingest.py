"""POST events, customers and accounts: one item or a batch; each item accepted or
rejected with its index and reason; accepted items are stored, duplicates are not."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import ORJSONResponse
from pydantic import BaseModel

from kokemus.api.auth import Ingest, kokemus
from kokemus.api.errors import ApiError
from kokemus.bootstrap import Kokemus
from kokemus.domain.events import Account, Customer, Event
from kokemus.services import ingest
from kokemus.services.ingest import Outcome
from kokemus.services.workspaces import ActiveWorkspace

router = APIRouter(prefix="/api/v1", tags=["ingest"])


class RejectedItem(BaseModel):
    index: int
    reason: str


class IngestAnswer(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[RejectedItem]


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {
                "oneOf": [ref, {"type": "array", "items": ref, "maxItems": 10_000}]
            }}},
        }
    }


async def _items(request: Request, max_items: int) -> list[Any]:
    raw = await request.body()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise ApiError(422, "empty_batch", "the batch holds no items")
    if len(items) > max_items:
        raise ApiError(413, "batch_too_large",
                       f"a batch holds at most {max_items} items; this one has {len(items)}",
                       limit=max_items)
    return items


def _answer(outcome: Outcome) -> ORJSONResponse:
    content = {
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "rejected": [{"index": r.index, "reason": r.reason} for r in outcome.rejected],
    }
    # 422 only when nothing in the batch was usable; a partly good batch is a success.
    stored_or_known = outcome.accepted + outcome.duplicates
    return ORJSONResponse(content, status_code=200 if stored_or_known else 422)


async def _ingest(
    request: Request,
    workspace: ActiveWorkspace,
    run: Callable[[Sequence[Any], ActiveWorkspace, Kokemus], Outcome],
) -> ORJSONResponse:
    kk = kokemus(request)
    items = await _items(request, kk.settings.max_batch)
    outcome = await run_in_threadpool(run, items, workspace, kk)
    return _answer(outcome)


@router.post("/events", response_model=IngestAnswer,
             openapi_extra=_body_schema(Event), summary="Send one event or a batch")
async def post_events(request: Request, workspace: Ingest) -> ORJSONResponse:
    """Store events; an event's id is its idempotency key, so a retried batch stores
    nothing twice. Answer: counts, and the index and reason of each rejected item."""
    return await _ingest(request, workspace,
                         lambda items, ws, kk: ingest.ingest_events(items, ws, kk.events))


@router.post("/customers", response_model=IngestAnswer,
             openapi_extra=_body_schema(Customer), summary="Create or replace customers")
async def post_customers(request: Request, workspace: Ingest) -> ORJSONResponse:
    return await _ingest(request, workspace,
                         lambda items, ws, kk: ingest.ingest_customers(items, ws, kk.db))


@router.post("/accounts", response_model=IngestAnswer,
             openapi_extra=_body_schema(Account), summary="Create or replace B2B accounts")
async def post_accounts(request: Request, workspace: Ingest) -> ORJSONResponse:
    """Accounts with their stakeholders (people in the buying decision, with a role)."""
    return await _ingest(request, workspace,
                         lambda items, ws, kk: ingest.ingest_accounts(items, ws, kk.db))
