"""A customer's timeline: every event, survey answer and promise verdict of one customer (or
of every person of a B2B account), in order, with the wait that broke each broken promise.

Events are read with one query each for the events and the answers, ordered in the engine
by (occurred_at, seq) as every journey is (analytics/journeys.py); nothing is sorted or
walked row by row in Python. Each event carries its touchpoint (its own, or the one the
workspace maps its type to) and the department that owns that touchpoint.

The verdicts are analytics/promises.py's occurrences of the workspace's clocked commitments,
judged as of `as_of` in the same scope. For a broken occurrence, the *breaking gap* is the
longest wait between consecutive events of its case inside [start, end]. One that never
ended is read inside [start, as_of], among the waits that began by its deadline (start +
limit, in business hours when the commitment counts them): what the customer did long after
the promise had run out does not explain why it broke. A wait with no later event runs to
`as_of`: nobody picked the case up. The *hand-off* is the pair of departments around that
wait: the one that owned the touchpoint of the event before it, where the time was lost,
and the one of the event after it. Ties go to the earliest wait.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine as Database
from sqlalchemy import func, select

from kokemus.analytics.engines import DuckDBEngine, Engine
from kokemus.analytics.logs import literal, one_of
from kokemus.analytics.promises import Scope, all_occurrences
from kokemus.domain.business_hours import BusinessHours
from kokemus.domain.promises import Clocked, ScoreTarget
from kokemus.domain.workspace import Workspace
from kokemus.storage import people as people_store
from kokemus.storage.events import EventStore
from kokemus.storage.tables import accounts, customers

EVENT_COLUMNS = ("id", "seq", "type", "occurred_at", "customer", "account", "channel",
                 "touchpoint", "department", "properties")
RESPONSE_COLUMNS = ("id", "survey", "customer", "touchpoint", "channel", "department",
                    "event_id", "started_at", "nps", "ces", "csat", "comment", "complete")
# Added to analytics.promises.COLUMNS for every occurrence; null unless it is broken.
GAP_COLUMNS = ("gap_s", "gap_from", "gap_to", "gap_from_ts", "gap_to_ts", "from_touchpoint",
               "to_touchpoint", "from_department", "to_department")


class Subject(Protocol):
    """The workspace a timeline is read in (an ActiveWorkspace will do)."""

    @property
    def id(self) -> int: ...

    @property
    def document(self) -> Workspace: ...


@dataclass(frozen=True)
class Timeline:
    """One customer's (or account's) history as of a moment.

    - `events`: EVENT_COLUMNS, in (occurred_at, seq) order; `properties` is JSON text.
    - `responses`: RESPONSE_COLUMNS, by the time the answer was started.
    - `promises`: analytics.promises.COLUMNS and GAP_COLUMNS, by start time.
    """

    customer: str | None
    account: str | None
    as_of: datetime
    people: tuple[str, ...]  # an account's people (empty for a customer)
    events: pa.Table
    responses: pa.Table
    promises: pa.Table


def timeline(cursor: Any, workspace: Subject, *, customer: str | None = None,
             account: str | None = None, as_of: datetime | None = None,
             members: Mapping[str, Sequence[str]] | None = None,
             people: Sequence[str] = ()) -> Timeline:
    """The timeline of `customer`, or of `account` and its `people` (their ids from the app
    store: their events count whether or not they name the account), read on a DuckDB
    `cursor` of the event store. `members`: the customers of each segment the commitments
    name."""
    if (customer is None) == (account is None):
        raise ValueError("a timeline is of one customer or one account")
    moment = (as_of or datetime.now(UTC)).astimezone(UTC)
    engine = DuckDBEngine(cursor)
    document = workspace.document
    where = _whose(customer, account, people)
    events = _events(engine, workspace.id, document, where, moment)
    answers = engine.query(_responses(engine, workspace.id, document, where, moment))
    clocked: list[tuple[str, Clocked]] = [
        (p.id, c) for p, c in document.commitments() if not isinstance(c, ScoreTarget)]
    scope = Scope(workspace.id, moment, customer=customer, account=account)
    found = all_occurrences(engine, scope, clocked, members=members,
                            calendar=document.business_hours)
    promises = _with_gaps(engine, found, events, document, moment)
    ordered = engine.query(f"SELECT {', '.join(EVENT_COLUMNS)} FROM ({events}) AS e "
                           "ORDER BY occurred_at, seq")
    return Timeline(customer, account, moment, tuple(people), ordered, answers, promises)


def breaking_gaps(cursor: Any, workspace: Subject, occurrences: pa.Table,
                  as_of: datetime) -> pa.Table:
    """The broken ones of `occurrences` (analytics.promises.COLUMNS, of the whole workspace
    or any part of it) with GAP_COLUMNS: the wait that broke each and the departments around
    it, read as a timeline reads them; an account's occurrence among the events that name
    the account (its people's other events are the account timeline's only)."""
    engine = DuckDBEngine(cursor)
    broken = occurrences.filter(pc.equal(occurrences["verdict"], "broken"))
    if broken.num_rows == 0:
        return _with_gaps(engine, broken, "", workspace.document, as_of)
    # The events of the occurrences' customers, and of their accounts' cases: a join with
    # the occurrences in the engine (a list of every customer written into the SQL took
    # seconds to parse at a workspace's size).
    view = _view_name()
    whose = f"x.customer IN (SELECT customer FROM {view})"
    if pc.any(pc.not_equal(broken["case_id"], pc.fill_null(broken["customer"], ""))).as_py():
        whose = (f"({whose} OR x.account IN (SELECT case_id FROM {view} "
                 "WHERE case_id <> customer))")
    events = _events(engine, workspace.id, workspace.document, whose, as_of)
    # The events read are many customers': an account's case is those that name it (as
    # analytics/promises.py counts its occurrences), not every event read.
    return _with_gaps(engine, broken, events, workspace.document, as_of, view=view,
                      whole_case="e.account = o.case_id")


def read(db: Database, store: EventStore, workspace: Subject, *, customer: str | None = None,
         account: str | None = None, as_of: datetime | None = None) -> Timeline | None:
    """`timeline` with what it needs from the app store (segment members, an account's
    people); None when neither store knows the customer or account."""
    committee: list[str] = []
    if account is not None:
        committee = [p["id"] for p in people_store.account_stakeholders(db, workspace.id,
                                                                        account)]
    with store.reading() as cursor:
        if not _known(db, cursor, workspace.id, customer, account, committee):
            return None
        whose = [customer] if customer is not None else _account_people(
            cursor, workspace.id, str(account), committee)
        members = _members(db, workspace.id, _segments(workspace.document), whose)
        return timeline(cursor, workspace, customer=customer, account=account, as_of=as_of,
                        members=members, people=committee)


def _account_people(cursor: Any, workspace_id: int, account: str,
                    committee: Sequence[str]) -> list[str]:
    """The account's people and whoever else its events name."""
    named = cursor.execute("SELECT DISTINCT customer FROM events WHERE workspace_id = ? "
                           "AND account = ?", [workspace_id, account]).fetchall()
    return sorted({*committee, *(row[0] for row in named)})


def _members(db: Database, workspace_id: int, segments: Sequence[str],
             whose: Sequence[str]) -> dict[str, list[str]]:
    """Which of `whose` are in each segment the commitments name: only the timeline's own
    people matter, so the app store is asked about them, not for every member."""
    if not segments or not whose:
        return {s: [] for s in segments}
    with db.connect() as conn:
        rows = conn.execute(select(customers.c.id, customers.c.segments).where(
            customers.c.workspace_id == workspace_id, customers.c.id.in_(list(whose)))).all()
    return {s: sorted(ident for ident, held in rows if s in (held or [])) for s in segments}


# ----------------------------------------------------------------------------- pieces


def _segments(document: Workspace) -> list[str]:
    named = {s for _, c in document.commitments() for s in getattr(c, "segments", [])}
    return sorted(named)


def _known(db: Database, cursor: Any, workspace_id: int, customer: str | None,
           account: str | None, committee: Sequence[str]) -> bool:
    if customer is not None:
        if people_store.get_customer(db, workspace_id, customer) is not None:
            return True
        column, value = "customer", customer
    else:
        if committee:
            return True
        with db.connect() as conn:
            held = conn.execute(select(func.count()).select_from(accounts).where(
                accounts.c.workspace_id == workspace_id, accounts.c.id == account)).scalar()
        if held:
            return True
        column, value = "account", str(account)
    for table in ("events", "responses"):
        hit = cursor.execute(
            f"SELECT 1 FROM {table} WHERE workspace_id = ? AND {column} = ? LIMIT 1",
            [workspace_id, value]).fetchall()
        if hit:
            return True
    return False


def _whose(customer: str | None, account: str | None, people: Sequence[str]) -> str:
    """The rows of the customer, or of the account and its people (an SQL condition over a
    relation named `x`)."""
    if customer is not None:
        return f"x.customer = {literal(customer)}"
    condition = f"x.account = {literal(str(account))}"
    if people:
        condition = f"({condition} OR {one_of('x.customer', people)})"
    return condition


def _relation(columns: tuple[str, str], rows: Sequence[tuple[str, str]]) -> str:
    """Pairs of text as a literal relation (no rows: an empty one of the same columns)."""
    a, b = columns
    if not rows:
        return (f"SELECT CAST(NULL AS VARCHAR) AS {a}, CAST(NULL AS VARCHAR) AS {b} "
                "WHERE 1 = 0")
    values = ", ".join(f"({literal(x)}, {literal(y)})" for x, y in rows)
    return f"SELECT * FROM (VALUES {values}) AS r({a}, {b})"


def _owners(document: Workspace) -> str:
    return _relation(("touchpoint", "department"),
                     [(t.id, t.owner) for t in document.touchpoints()])


def _events(engine: Engine, workspace_id: int, document: Workspace, where: str,
            as_of: datetime) -> str:
    """The subject's events as of `as_of` with touchpoint, department and epoch seconds."""
    d = engine.dialect
    mapped = _relation(("type", "mapped"), sorted(document.touchpoint_for_event().items()))
    return f"""
        SELECT e.id, e.seq, e.type, e.occurred_at, e.customer, e.account, e.channel,
               e.touchpoint, o.department, CAST(e.properties AS VARCHAR) AS properties,
               {d.epoch('e.occurred_at')} AS t
        FROM (SELECT x.id, x.seq, x.type, x.occurred_at, x.customer, x.account,
                     x.channel, coalesce(x.touchpoint, m.mapped) AS touchpoint,
                     x.properties
              FROM events AS x LEFT JOIN ({mapped}) AS m ON m.type = x.type
              WHERE x.workspace_id = {int(workspace_id)} AND {where}
                AND {d.epoch('x.occurred_at')} <= {_epoch(as_of)}) AS e
        LEFT JOIN ({_owners(document)}) AS o ON o.touchpoint = e.touchpoint"""


def _responses(engine: Engine, workspace_id: int, document: Workspace, where: str,
               as_of: datetime) -> str:
    d = engine.dialect
    return f"""
        SELECT x.id, x.survey, x.customer, x.touchpoint, x.channel, o.department, x.event_id,
               x.started_at, x.nps, x.ces, x.csat, x.comment, x.complete
        FROM responses AS x LEFT JOIN ({_owners(document)}) AS o ON o.touchpoint = x.touchpoint
        WHERE x.workspace_id = {int(workspace_id)} AND {where}
          AND {d.epoch('x.started_at')} <= {_epoch(as_of)}
        ORDER BY x.started_at, x.id"""


def _epoch(moment: datetime) -> str:
    return repr(moment.astimezone(UTC).timestamp())


def _with_gaps(engine: Engine, occurrences: pa.Table, events: str, document: Workspace,
               as_of: datetime, view: str | None = None,
               whole_case: str = "true") -> pa.Table:
    """The occurrences with GAP_COLUMNS: for a broken one, its longest wait and the
    departments around it; in start order. The broken ones are the view `view` (a fresh
    name by default) while the gaps are read; `events` may read it too. `whole_case`: which
    of the events read (`e`) are a whole case's (`o`, an account's): by default all of
    them (a timeline reads one account)."""
    numbered = occurrences.append_column(
        "k", pa.array(range(occurrences.num_rows), pa.int64()))
    commitments = {(p.id, c.id): c for p, c in document.commitments()
                   if not isinstance(c, ScoreTarget)}
    broken = numbered.filter(pc.equal(numbered["verdict"], "broken"))
    gaps = None
    if broken.num_rows:
        name = view or _view_name()
        with engine.view(name, _measured(broken, commitments, document.business_hours,
                                         as_of)):
            gaps = engine.query(_gaps_sql(name, events, whole_case))
    if gaps is None or gaps.num_rows == 0:
        gaps = pa.table({"k": pa.array([], pa.int64()),
                         **{c: pa.array([], _GAP_TYPES[c]) for c in GAP_COLUMNS}})
    gaps = gaps.select(["k", *GAP_COLUMNS]).cast(pa.schema(
        [("k", pa.int64()), *((c, _GAP_TYPES[c]) for c in GAP_COLUMNS)]))
    joined = numbered.join(gaps, "k", join_type="left outer")
    ordered = joined.sort_by([("start_ts", "ascending"), ("k", "ascending")])
    return ordered.drop_columns(["k"])


_STAMP = pa.timestamp("us", tz="UTC")
_GAP_TYPES = {"gap_s": pa.float64(), "gap_from": pa.string(), "gap_to": pa.string(),
              "gap_from_ts": _STAMP, "gap_to_ts": _STAMP, "from_touchpoint": pa.string(),
              "to_touchpoint": pa.string(), "from_department": pa.string(),
              "to_department": pa.string()}


def _view_name() -> str:
    return f"broken_{uuid.uuid4().hex}"


def _measured(broken: pa.Table, commitments: Mapping[tuple[str, str], Clocked],
              calendar: BusinessHours, as_of: datetime) -> pa.Table:
    """What the gaps query needs of each broken occurrence, computed on the columns: k, its
    customer and case, whether it is a whole case's (an account's), the event that started
    it, and in epoch seconds its start, where its waits stop (its end, or `as_of`) and the
    moment by which a wait must have begun to count (its end, or its deadline if earlier
    than `as_of`)."""
    keys = list(zip(broken["promise"].to_pylist(), broken["commitment"].to_pylist(),
                    strict=True))
    whole = {key for key, m in commitments.items() if m.case == "account"}
    hours = {key for key, m in commitments.items() if getattr(m, "business_hours", False)}
    start = _micros(broken["start_ts"])
    end = _micros(broken["end_ts"])
    moment = _epoch_us(as_of)
    # start + limit, in microseconds as datetime + timedelta(seconds=limit) counts them
    limits = broken["limit_s"].to_pylist()
    steps = {limit: timedelta(seconds=limit) // timedelta(microseconds=1)
             for limit in set(limits) if limit is not None}
    deadline = pc.add(start, pa.array([None if limit is None else steps[limit]
                                       for limit in limits], pa.int64()))
    counted = [i for i, key in enumerate(keys) if key in hours]
    if counted:  # business hours: the calendar counts them, one occurrence at a time
        values = deadline.to_pylist()
        starts = broken["start_ts"].to_pylist()
        for i in counted:
            if limits[i] is not None:
                values[i] = _epoch_us(calendar.deadline(starts[i], limits[i]))
        deadline = pa.array(values, pa.int64())
    due_open = pc.min_element_wise(pc.fill_null(deadline, moment), pa.scalar(moment))
    stop = pc.fill_null(end, moment)
    due = pc.if_else(pc.is_valid(end), end, due_open)
    return pa.table({
        "k": broken["k"],
        "customer": pc.fill_null(broken["customer"], ""),
        "case_id": pc.fill_null(broken["case_id"], ""),
        "whole_case": pa.array([int(key in whole) for key in keys], pa.int32()),
        "occurrence": pc.fill_null(broken["occurrence"], ""),
        "start_t": _seconds(start), "stop_t": _seconds(stop), "due_t": _seconds(due)})


def _micros(column: pa.ChunkedArray) -> pa.Array:
    """Timestamps as microseconds since the epoch (UTC)."""
    return pc.cast(pc.cast(column.combine_chunks(), _STAMP), pa.int64())


def _epoch_us(moment: datetime) -> int:
    return (moment.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)


def _seconds(micros: pa.Array) -> pa.Array:
    """Microseconds as epoch seconds, a DOUBLE as datetime.timestamp() and the engine's
    epoch_us(...) / 1e6 give them."""
    return pc.divide(pc.cast(micros, pa.float64()), 1e6)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _gaps_sql(occurrences: str, events: str, whole_case: str) -> str:
    """The longest wait inside each broken occurrence (one row per `k` that has events);
    `occurrences`: the view of `_measured`'s table; `whole_case`: the condition on the
    events of a whole case's occurrence (see `_with_gaps`). The waits are ranked on narrow rows
    (numbers only) and the two events around the longest one read back by their seq, the
    store's sequence (one per event): sorting the events' texts along took seconds."""
    return f"""
        WITH seen AS MATERIALIZED ({events}),
        starts AS (
            SELECT o.*, coalesce(s.seq, -1) AS start_seq
            FROM {occurrences} AS o LEFT JOIN seen AS s ON s.id = o.occurrence),
        inside AS (
            -- a customer's occurrence joins on the customer (a hash join: with an OR in
            -- its condition the join compared every occurrence with every event), a whole
            -- case's (an account's) joins the events of its case
            SELECT o.k, o.stop_t, o.due_t, e.occurred_at, e.seq, e.t
            FROM (SELECT * FROM starts WHERE whole_case = 0) AS o JOIN seen AS e
              ON e.customer = o.customer
             AND (e.t > o.start_t OR (e.t = o.start_t AND e.seq >= o.start_seq))
             AND e.t <= o.stop_t
            UNION ALL
            SELECT o.k, o.stop_t, o.due_t, e.occurred_at, e.seq, e.t
            FROM (SELECT * FROM starts WHERE whole_case = 1) AS o JOIN seen AS e
              ON ({whole_case})
             AND (e.t > o.start_t OR (e.t = o.start_t AND e.seq >= o.start_seq))
             AND e.t <= o.stop_t),
        waits AS (
            SELECT k, occurred_at, seq, t, due_t, lead(seq) OVER w AS next_seq,
                   coalesce(lead(t) OVER w, stop_t) - t AS gap_s
            FROM inside
            WINDOW w AS (PARTITION BY k ORDER BY occurred_at, seq)),
        longest AS (
            -- the longest wait, ties to the earliest
            SELECT k, arg_min({{'seq': seq, 'next_seq': next_seq, 'gap_s': gap_s}},
                              (-gap_s, occurred_at, seq)) AS w
            FROM waits WHERE t <= due_t
            GROUP BY k)
        SELECT l.k, l.w.gap_s AS gap_s, f.id AS gap_from, n.id AS gap_to,
               f.occurred_at AS gap_from_ts, n.occurred_at AS gap_to_ts,
               f.touchpoint AS from_touchpoint, n.touchpoint AS to_touchpoint,
               f.department AS from_department, n.department AS to_department
        FROM longest AS l JOIN seen AS f ON f.seq = l.w.seq
        LEFT JOIN seen AS n ON n.seq = l.w.next_seq"""
