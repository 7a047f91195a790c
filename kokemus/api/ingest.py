"""POST events, customers and accounts: one item or a batch; each item accepted or
rejected with its index and reason; accepted items are stored, duplicates are not."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pyarrow as pa
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel

from kokemus.api import auth
from kokemus.api.auth import Ingest, kokemus
from kokemus.api.errors import AUTHENTICATED, ApiError, documented, invalid_json
from kokemus.bootstrap import Kokemus
from kokemus.domain.events import Account, Customer, Event
from kokemus.services import ingest
from kokemus.services.ingest import Outcome
from kokemus.services.workspaces import ActiveWorkspace

router = APIRouter(prefix="/api/v1", tags=["ingest"], responses=documented(*AUTHENTICATED))
# the routes that take a batch, and with it the larger body limit (settings.max_batch_body)
BATCH_PATHS = ("/api/v1/events", "/api/v1/customers", "/api/v1/accounts")
INLINE_BYTES = 16_384  # event bodies up to this size are validated on the event loop


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


def _parse(raw: bytes, max_items: int) -> list[Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", invalid_json(str(exc))["message"]) from None
    items = data if isinstance(data, list) else [data]
    _check_size(len(items), max_items)
    return items


def _check_size(count: int, max_items: int) -> None:
    if not count:
        raise ApiError(422, "empty_batch", "the batch holds no items")
    if count > max_items:
        raise ApiError(413, "batch_too_large",
                       f"a batch holds at most {max_items} items; this one has {count}",
                       limit=max_items)


def _answer(outcome: Outcome) -> Response:
    content = {
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "rejected": [{"index": r.index, "reason": r.reason} for r in outcome.rejected],
    }
    # 422 only when nothing in the batch was usable; a partly good batch is a success.
    stored_or_known = outcome.accepted + outcome.duplicates
    return Response(orjson.dumps(content), status_code=200 if stored_or_known else 422,
                    media_type="application/json")


async def _ingest(
    request: Request,
    workspace: ActiveWorkspace,
    run: Callable[[Sequence[Any], ActiveWorkspace, Kokemus], Outcome],
) -> Response:
    kk = kokemus(request)
    raw = await request.body()
    outcome = await run_in_threadpool(
        lambda: run(_parse(raw, kk.settings.max_batch), workspace, kk))
    return _answer(outcome)


@router.post("/events", response_model=IngestAnswer,
             openapi_extra={**_body_schema(Event), "parameters": auth.HEADERS},
             responses=documented(400), summary="Send one event or a batch")
async def post_events(request: Request) -> Response:
    """Store events; an event's id is its idempotency key, so a retried batch stores
    nothing twice. Answer: counts, and the index and reason of each rejected item."""
    # the `Ingest` dependency's check, made here: solving it was a third of a single
    # event's time on the event loop
    workspace = await auth.authorized(request, "ingest")
    kk = kokemus(request)
    raw = await request.body()
    if len(raw) > INLINE_BYTES:
        # a big batch is validated in a worker thread, not to hold up the event loop
        batch, rejected = await run_in_threadpool(_prepare, raw, workspace, kk)
    else:
        # a small body takes microseconds to validate, less than a trip to a worker thread
        batch, rejected = _prepare(raw, workspace, kk)
    # the event store's writer thread stores it, together with whatever other requests
    # are waiting by then; DuckDB releases the GIL meanwhile, so this loop goes on
    stored = await asyncio.wrap_future(kk.events.submit(batch))
    return _answer(ingest.outcome(batch, stored, rejected))


def _prepare(raw: bytes, workspace: ActiveWorkspace,
             kk: Kokemus) -> tuple[pa.Table, list[ingest.Rejected]]:
    """A body of good events is validated in one pass; any fault sends the whole body
    through the item-by-item path, which names each bad item and its reason."""
    events = ingest.parse_events(raw)
    if events is None:
        _, good, rejected = ingest.validate_events(_parse(raw, kk.settings.max_batch),
                                                   workspace)
        return ingest.to_batch(good, workspace), rejected
    _check_size(len(events), kk.settings.max_batch)
    return ingest.prepare_events(events, workspace)


@router.post("/customers", response_model=IngestAnswer,
             openapi_extra=_body_schema(Customer), responses=documented(400),
             summary="Create or replace customers")
async def post_customers(request: Request, workspace: Ingest) -> Response:
    return await _ingest(request, workspace,
                         lambda items, ws, kk: ingest.ingest_customers(items, ws, kk.db))


@router.post("/accounts", response_model=IngestAnswer,
             openapi_extra=_body_schema(Account), responses=documented(400),
             summary="Create or replace B2B accounts")
async def post_accounts(request: Request, workspace: Ingest) -> Response:
    """Accounts with their stakeholders (people in the buying decision, with a role)."""
    return await _ingest(request, workspace,
                         lambda items, ws, kk: ingest.ingest_accounts(items, ws, kk.db))
