"""Ingestion: validate each item at the edge, keep the good ones, say why the others failed.

One path for every source (HTTP batch, file import, demo): items are validated one by one
against the domain models and the workspace, stored in one append, and reported as
accepted, duplicate or rejected-with-reason by their index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Engine

from kokemus.domain.events import Account, Customer, Event
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people
from kokemus.storage.events import SCHEMA, Batch, EventStore, Rows

_EVENT: TypeAdapter[Event] = TypeAdapter(Event)
_EVENTS: TypeAdapter[list[Event]] = TypeAdapter(list[Event])
_CUSTOMER: TypeAdapter[Customer] = TypeAdapter(Customer)
_ACCOUNT: TypeAdapter[Account] = TypeAdapter(Account)


@dataclass(frozen=True)
class Rejected:
    index: int
    reason: str


@dataclass(frozen=True)
class Unreadable:
    """An item its source could not even read (a CSV row that is not UTF-8, or larger than a
    field may be): it takes its place in the batch and is rejected with this reason."""

    reason: str


@dataclass
class Outcome:
    """What happened to a batch: counts, and for each rejected item its index and reason."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    def add(self, other: Outcome, offset: int = 0) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.extend(Rejected(r.index + offset, r.reason) for r in other.rejected)


def reason(error: ValidationError) -> str:
    """One line a person can act on: 'field: what is wrong; other: ...'."""
    parts = []
    for err in error.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "item"
        if err["type"] == "json_invalid":
            parts.append(f"not valid JSON: {err['ctx']['error'] if 'ctx' in err else err['msg']}")
        elif err["type"] == "extra_forbidden":
            parts.append(f"{where}: unknown field")
        elif err["type"] == "missing":
            parts.append(f"{where}: required field is missing")
        else:
            parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _check_event(event: Event, workspace: ActiveWorkspace) -> str | None:
    if workspace.channels and event.channel not in workspace.channels:
        return f"channel: unknown channel '{event.channel}' in workspace '{workspace.slug}'"
    if event.touchpoint is not None and event.touchpoint not in workspace.touchpoints:
        return (f"touchpoint: unknown touchpoint '{event.touchpoint}' "
                f"in workspace '{workspace.slug}'")
    return None


def validate_events(
    items: Sequence[Any], workspace: ActiveWorkspace
) -> tuple[list[int], list[Event], list[Rejected]]:
    """Valid events with their indexes, and the rejected ones with reasons. An item in
    bytes is a line of JSON text (a file); anything else is a parsed JSON value."""
    indexes: list[int] = []
    events: list[Event] = []
    rejected: list[Rejected] = []
    for i, item in enumerate(items):
        if isinstance(item, Unreadable):
            rejected.append(Rejected(i, item.reason))
            continue
        try:
            event = (_EVENT.validate_json(item) if isinstance(item, bytes)
                     else _EVENT.validate_python(item))
        except ValidationError as exc:
            rejected.append(Rejected(i, reason(exc)))
            continue
        problem = _check_event(event, workspace)
        if problem:
            rejected.append(Rejected(i, problem))
            continue
        indexes.append(i)
        events.append(event)
    return indexes, events, rejected


def to_batch(events: Sequence[Event], workspace: ActiveWorkspace) -> pa.Table:
    """Columns in the event store's schema; touchpoints mapped from types where missing."""
    mapping = workspace.touchpoint_for_event
    n = len(events)
    return pa.table(
        {
            "workspace_id": pa.array(np.full(n, workspace.id, dtype=np.int32)),
            "id": pa.array([e.id for e in events], pa.string()),
            "type": pa.array([e.type for e in events], pa.string()),
            "customer": pa.array([e.customer for e in events], pa.string()),
            "account": pa.array([e.account for e in events], pa.string()),
            "channel": pa.array([e.channel for e in events], pa.string()),
            "touchpoint": pa.array(
                [e.touchpoint or mapping.get(e.type) for e in events], pa.string()
            ),
            # aware datetimes: Arrow converts each to UTC itself
            "occurred_at": pa.array([e.occurred_at for e in events], pa.timestamp("us", tz="UTC")),
            "properties": pa.array(
                [orjson.dumps(e.properties).decode() if e.properties else None for e in events],
                pa.string(),
            ),
        },
        schema=SCHEMA,
    )


def to_rows(events: Sequence[Event], workspace: ActiveWorkspace) -> Rows:
    """`to_batch` as Rows, for a few events (building Arrow columns costs more than they
    do): the same values in the same order."""
    mapping = workspace.touchpoint_for_event
    return [(workspace.id, e.id, e.type, e.customer, e.account, e.channel,
             e.touchpoint or mapping.get(e.type), e.occurred_at,
             orjson.dumps(e.properties).decode() if e.properties else None) for e in events]


# up to this many events a body is handed to the store as Rows (see to_rows)
_FEW_EVENTS = 32


def parse_events(body: bytes) -> list[Event] | None:
    """The fast path for a whole body (one event or a JSON array of them), validated in one
    pass; None when anything in it is wrong, and then the caller validates item by item
    (`ingest_events`) to say which items are wrong and why."""
    start = body.lstrip()[:1]
    try:
        if start == b"[":
            return _EVENTS.validate_json(body)
        if start == b"{":
            return [_EVENT.validate_json(body)]
    except ValidationError:
        return None
    return None


def prepare_events(events: Sequence[Event],
                   workspace: ActiveWorkspace) -> tuple[Batch, list[Rejected]]:
    """Check events validated by `parse_events` against the workspace: the good ones as a
    batch for the store, the others with their index and reason."""
    good: list[Event] = []
    rejected: list[Rejected] = []
    for i, event in enumerate(events):
        problem = _check_event(event, workspace)
        if problem:
            rejected.append(Rejected(i, problem))
        else:
            good.append(event)
    if len(good) <= _FEW_EVENTS:
        return to_rows(good, workspace), rejected
    return to_batch(good, workspace), rejected


def outcome(batch: Batch, stored: set[str], rejected: list[Rejected]) -> Outcome:
    """What became of a batch whose stored ids are `stored`."""
    return Outcome(accepted=len(stored), duplicates=len(batch) - len(stored),
                   rejected=rejected)


def store_events(events: Sequence[Event], workspace: ActiveWorkspace,
                 store: EventStore) -> Outcome:
    """Check events validated by `parse_events` against the workspace; store the good ones."""
    batch, rejected = prepare_events(events, workspace)
    return outcome(batch, store.append(batch), rejected)


def ingest_events(items: Sequence[Any], workspace: ActiveWorkspace, store: EventStore) -> Outcome:
    """Validate and store a batch (dicts, or JSON text per item); duplicates are not stored."""
    _, events, rejected = validate_events(items, workspace)
    stored = store.append(to_batch(events, workspace)) if events else set()
    return Outcome(accepted=len(stored), duplicates=len(events) - len(stored), rejected=rejected)


def ingest_customers(items: Sequence[Any], workspace: ActiveWorkspace, db: Engine) -> Outcome:
    """Create or update customers by id; an update replaces the whole record."""
    rows, rejected = _validated(items, _CUSTOMER)
    now = datetime.now(UTC)
    people.upsert_customers(db, workspace.id, rows, now)
    return Outcome(accepted=len(rows), rejected=rejected)


def ingest_accounts(items: Sequence[Any], workspace: ActiveWorkspace, db: Engine) -> Outcome:
    """Create or update accounts; their stakeholders become customers with a buying role."""
    rows, rejected = _validated(items, _ACCOUNT)
    people.upsert_accounts(db, workspace.id, rows, datetime.now(UTC))
    return Outcome(accepted=len(rows), rejected=rejected)


def _validated(
    items: Iterable[Any], adapter: TypeAdapter[Any]
) -> tuple[list[Any], list[Rejected]]:
    rows: dict[str, Any] = {}
    rejected: list[Rejected] = []
    for i, item in enumerate(items):
        if isinstance(item, Unreadable):
            rejected.append(Rejected(i, item.reason))
            continue
        try:
            row = (adapter.validate_json(item) if isinstance(item, bytes)
                   else adapter.validate_python(item))
        except ValidationError as exc:
            rejected.append(Rejected(i, reason(exc)))
            continue
        rows[row.id] = row  # the last of several rows with one id wins, as in a replay
    return list(rows.values()), rejected
