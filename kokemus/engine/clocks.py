"""Live promise clocks: the worker marks the occurrences at risk and breached, as events.

Each worker run judges, in every workspace, the occurrences of every commitment that has a
clock (`within`, `respond`, `first_contact`; a `never` has none) as of now, with the same
SQL as the scorecard (analytics/promises.py), and marks two kinds with an event of its own:

- `promise_at_risk`: open, and the commitment's share of its time (`at_risk`, 80 % by
  default) used; occurred_at is the moment of the run that saw it;
- `promise_breached`: the limit passed without the closing event (broken, no end);
  occurred_at is the moment the limit passed, start + limit (the business-hours deadline
  for a commitment counted in business hours).

A mark carries the occurrence's customer (and account, for an account's commitment), the
start event's channel, no touchpoint, and the properties `promise`, `commitment`,
`occurrence` (the start event's id), `limit_s` and `used_s` (the time used when the clock
saw it; working seconds in business hours). Journeys, rules and the timeline read marks
as any other event.

Exactly once per occurrence and kind, across runs, restarts and processes: a mark's id is
`<type>:<promise>:<commitment>:<occurrence>`, and the event store keeps the first event of
an id and ignores any other (storage/events.py). Marks already stored are left out before
the write, so a run that finds nothing new writes nothing. A mark is history: a closing
event that arrives later changes the verdict (computed, never stored) but does not remove
the mark.

Only recent starts are on the clock: each run reads the starts since now minus the
commitment's limit (five times the limit in business hours, which stretch over weekends
and holidays) minus the setting `promise_clock_lookback` (7 days by default), so the pass
stays fast on a large store. An older occurrence (a history imported late, a worker stopped
for longer than that) gets no mark; its verdict is still computed wherever one is read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import one_of
from kokemus.analytics.promises import Scope, occurrences
from kokemus.bootstrap import Kokemus
from kokemus.domain.business_hours import BusinessHours
from kokemus.domain.events import PROMISE_AT_RISK, PROMISE_BREACHED
from kokemus.domain.promises import FirstContact, Respond, Within
from kokemus.services import workspaces
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people
from kokemus.storage.events import SCHEMA, EventStore

AT_RISK = PROMISE_AT_RISK
BREACHED = PROMISE_BREACHED
BUSINESS_STRETCH = 5  # wall time a limit in business hours may take, at most, times the limit

log = logging.getLogger("kokemus.engine")

OnTheClock = Within | Respond | FirstContact


@dataclass
class Marks:
    """What a clock run did, summed over workspaces and commitments."""

    commitments: int = 0  # commitments on the clock
    at_risk: int = 0  # promise_at_risk events written now
    breached: int = 0  # promise_breached events written now
    again: int = 0  # marks an earlier run (or another process) wrote already

    def add(self, other: Marks) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


def mark_id(kind: str, promise: str, commitment: str, occurrence: str) -> str:
    """The mark's event id: the same every time the clock sees the same occurrence."""
    return f"{kind}:{promise}:{commitment}:{occurrence}"


def advance(kk: Kokemus, now: datetime | None = None) -> Marks:
    """Mark the occurrences at risk or breached as of `now` (default: the clock), in every
    workspace."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    total = Marks()
    lookback = timedelta(seconds=kk.settings.promise_clock_lookback)
    for slug in workspaces.slugs(kk.db):
        workspace = workspaces.get(kk.db, slug)
        clocked = on_the_clock(workspace)
        if not clocked:
            continue
        segments = {s for _, c in clocked for s in c.segments}
        members = {s: people.customers_in_segment(kk.db, workspace.id, s) for s in segments}
        total.add(advance_workspace(kk.events, workspace, now, lookback=lookback,
                                    members=members))
    return total


def on_the_clock(workspace: ActiveWorkspace) -> list[tuple[str, OnTheClock]]:
    """The workspace's (promise, commitment) pairs that have a clock."""
    return [(p.id, c) for p, c in workspace.document.commitments()
            if isinstance(c, Within | Respond | FirstContact)]


def advance_workspace(store: EventStore, workspace: ActiveWorkspace, now: datetime, *,
                      lookback: timedelta,
                      members: Mapping[str, Sequence[str]] | None = None) -> Marks:
    """One workspace's clock run: judge, leave out what is marked already, write the rest."""
    done = Marks()
    calendar = workspace.document.business_hours
    batches: list[pa.Table] = []
    with store.reading() as cursor:
        engine = DuckDBEngine(cursor)
        for promise, commitment in on_the_clock(workspace):
            done.commitments += 1
            stretch = BUSINESS_STRETCH if _in_business_hours(commitment) else 1
            since = now - timedelta(seconds=commitment.seconds * stretch) - lookback
            found = occurrences(engine, Scope(workspace.id, now, since=since), promise,
                                commitment, members=members, calendar=calendar)
            batches.extend(_marks(workspace.id, commitment, found, now, calendar))
        if not batches:
            return done
        marks = pa.concat_tables(batches)
        stored = _stored(cursor, workspace.id, marks["id"].to_pylist())
    fresh = marks.filter(pc.invert(pc.is_in(marks["id"], pa.array(sorted(stored),
                                                                      pa.string()))))
    done.again = marks.num_rows - fresh.num_rows
    written = store.append(fresh) if fresh.num_rows else set()
    kinds = fresh.filter(pc.is_in(fresh["id"], pa.array(sorted(written), pa.string())))["type"]
    done.at_risk = pc.sum(pc.equal(kinds, AT_RISK)).as_py() or 0
    done.breached = len(written) - done.at_risk
    done.again += fresh.num_rows - len(written)  # another writer was first
    return done


def _in_business_hours(commitment: OnTheClock) -> bool:
    return isinstance(commitment, Within | Respond) and commitment.business_hours


def _marks(workspace_id: int, commitment: OnTheClock, found: pa.Table, now: datetime,
           calendar: BusinessHours) -> Iterable[pa.Table]:
    """The marks of the occurrences at risk, and of those broken without an end."""
    at_risk = found.filter(found["at_risk"])  # a null one is dropped
    breached = found.filter(pc.and_(pc.equal(found["verdict"], "broken"),
                                    pc.is_null(found["end_ts"])))
    if at_risk.num_rows:
        yield _events(workspace_id, AT_RISK, commitment, at_risk,
                      [now] * at_risk.num_rows)
    if breached.num_rows:
        starts = breached["start_ts"].to_pylist()
        if _in_business_hours(commitment):
            moments = deadlines(calendar, starts, commitment.seconds, now)
        else:
            limit = timedelta(seconds=commitment.seconds)
            moments = [s + limit for s in starts]
        yield _events(workspace_id, BREACHED, commitment, breached,
                      [min(m, now) for m in moments])


def _events(workspace_id: int, kind: str, commitment: OnTheClock, rows: pa.Table,
            moments: list[datetime]) -> pa.Table:
    promise = rows["promise"].to_pylist()
    occurrence = rows["occurrence"].to_pylist()
    used = rows["used_s"].to_pylist()
    limit = rows["limit_s"].to_pylist()
    n = rows.num_rows
    return pa.table({
        "workspace_id": pa.array(np.full(n, workspace_id, dtype=np.int32)),
        "id": pa.array([mark_id(kind, p, commitment.id, o)
                        for p, o in zip(promise, occurrence, strict=True)], pa.string()),
        "type": pa.array([kind] * n, pa.string()),
        "customer": rows["customer"].cast(pa.string()),
        "account": (rows["case_id"].cast(pa.string()) if commitment.case == "account"
                    else pa.nulls(n, pa.string())),
        "channel": rows["channel"].cast(pa.string()),
        "touchpoint": pa.nulls(n, pa.string()),
        "occurred_at": pa.array(moments, pa.timestamp("us", tz="UTC")),
        "properties": pa.array([orjson.dumps({
            "promise": p, "commitment": commitment.id, "occurrence": o, "limit_s": lim,
            "used_s": u}).decode() for p, o, lim, u in zip(promise, occurrence, limit, used,
                                                           strict=True)], pa.string()),
    }, schema=SCHEMA)


def _stored(cursor: duckdb.DuckDBPyConnection, workspace_id: int, ids: list[str]) -> set[str]:
    """Which of the mark ids the event store holds already (a join on the marks' types:
    a run's few hundred ids against an index would cost more lookups than the scan)."""
    if not ids:
        return set()
    cursor.register("clock_marks", pa.table({"id": pa.array(ids, pa.string())}))
    try:
        rows = cursor.execute(
            f"SELECT e.id FROM events AS e SEMI JOIN clock_marks AS m ON e.id = m.id "
            f"WHERE e.workspace_id = {int(workspace_id)} AND "
            f"{one_of('e.type', [AT_RISK, BREACHED])}").fetchall()
    finally:
        cursor.unregister("clock_marks")
    return {r[0] for r in rows}


def deadlines(calendar: BusinessHours, starts: Sequence[datetime], seconds: float,
              now: datetime) -> list[datetime]:
    """`calendar.deadline(start, seconds)` of many starts at once, for starts whose deadline
    is not after `now` (a breach): one calendar from the first start to now, each deadline
    looked up in its spans; a deadline beyond that calendar is asked of the calendar."""
    first = min(starts)
    days = calendar.days(first.astimezone(UTC).date(), now.astimezone(UTC).date())
    spans = [span for day in days for span in day.spans]
    if not spans:
        return [calendar.deadline(s, seconds) for s in starts]
    a = np.array([s[0] for s in spans])
    b = np.array([s[1] for s in spans])
    before = np.concatenate(([0.0], np.cumsum(b - a)))  # working seconds before each span
    t = np.array([s.timestamp() for s in starts])
    # working seconds up to each start: the spans ended before it, and part of the next
    j = np.searchsorted(b, t, side="right")
    inside = np.clip(t - a[np.minimum(j, len(a) - 1)], 0, None)
    room = (b - a)[np.minimum(j, len(a) - 1)]
    worked = before[j] + np.where(j < len(a), np.minimum(inside, room), 0.0)
    target = worked + seconds
    # the first span that reaches the target: the deadline is the target's moment in it
    k = np.searchsorted(before[1:], target, side="left")
    out: list[datetime] = []
    for start, kk, goal in zip(starts, k.tolist(), target.tolist(), strict=True):
        if kk >= len(a):
            out.append(calendar.deadline(start, seconds))
        else:
            out.append(datetime.fromtimestamp(float(a[kk] + (goal - before[kk])), UTC))
    return out
