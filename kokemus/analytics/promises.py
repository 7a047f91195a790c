"""Promise keep rates: every commitment occurrence judged on the events, in the engine.

A commitment (kokemus.domain.promises) opens an occurrence for each start event of a case
(a customer, or a B2B account). What closes or breaks it depends on its kind; see
docs/promises.md and REFERENCE.md ("What an occurrence is"). Each kind is one SQL query
over the event store's `events` relation (the same text on DuckDB and on Spark: the few
spellings that differ come from the engine's Dialect), so ten million events never pass
through Python. A case's events are ordered by (time, seq): an end with the start's time
but a later seq comes after it.

Verdicts are computed as of a moment `as_of` (events after it are not seen), never stored:
a late or out-of-order event changes the verdict the next time it is read.

Every query gives rows of the same columns (`COLUMNS`): which commitment, whose case, the
occurrence (its start event's id, or the case's id for a `never` without a start), the
start's channel and touchpoint, when it started and ended, the time used (working seconds
for a commitment in business hours) against its limit, the verdict (kept, broken, open,
not_applicable: a start the commitment's conditions leave out) and whether an open one is
at risk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from kokemus.analytics.engines import Dialect, Engine
from kokemus.analytics.logs import literal, one_of
from kokemus.domain.business_hours import BusinessHours, CalendarDay
from kokemus.domain.errors import Invalid
from kokemus.domain.promises import (
    Clocked,
    FirstContact,
    Never,
    Respond,
    Value,
    Within,
    types_of,
)

COLUMNS = ("promise", "commitment", "kind", "case_id", "customer", "occurrence", "channel",
           "touchpoint", "start_ts", "end_ts", "used_s", "limit_s", "verdict", "at_risk")
VERDICTS = ("kept", "broken", "open", "not_applicable")


# How far ahead of now a verdict may be asked for: a clock can be read ahead (what will be
# broken by next week if nothing happens), but not by centuries, which would make a business
# calendar of every day in between.
AHEAD = timedelta(days=366)


def judgeable(moment: datetime) -> bool:
    return moment <= datetime.now(UTC) + AHEAD


@dataclass(frozen=True)
class Scope:
    """Which events the evaluation reads: a workspace's, optionally one customer's or one
    account's (a timeline), and the starts in a period. Raises Invalid for a moment more
    than a year ahead (AHEAD)."""

    workspace_id: int
    as_of: datetime
    customer: str | None = None
    account: str | None = None
    since: datetime | None = None  # starts at or after
    until: datetime | None = None  # starts before
    events: str = "events"  # the relation holding the event store's events

    def __post_init__(self) -> None:
        if not judgeable(self.as_of):
            raise Invalid("as_of: a verdict can be read at most a year ahead of now")


def occurrences(engine: Engine, scope: Scope, promise: str, commitment: Clocked, *,
                members: Mapping[str, Sequence[str]] | None = None,
                calendar: BusinessHours | None = None) -> pa.Table:
    """The commitment's occurrences in `scope` (COLUMNS), judged as of `scope.as_of`.

    `members`: the customers of each segment the commitment names (segments live in the app
    store); `calendar`: the workspace's business hours, for a commitment that counts them."""
    return engine.query(occurrences_sql(engine, scope, promise, commitment, members=members,
                                        calendar=calendar))


def occurrences_sql(engine: Engine, scope: Scope, promise: str, commitment: Clocked, *,
                    members: Mapping[str, Sequence[str]] | None = None,
                    calendar: BusinessHours | None = None) -> str:
    """`occurrences` as one SQL text (COLUMNS), for a caller that counts several
    commitments' occurrences in a statement of its own (the home page's week)."""
    if isinstance(commitment, Within | Respond):
        return _within(engine, scope, promise, commitment, members or {}, calendar)
    if isinstance(commitment, Never):
        return _never(engine.dialect, scope, promise, commitment, members or {})
    return _first_contact(engine.dialect, scope, promise, commitment, members or {})


def all_occurrences(engine: Engine, scope: Scope,
                    commitments: Sequence[tuple[str, Clocked]], *,
                    members: Mapping[str, Sequence[str]] | None = None,
                    calendar: BusinessHours | None = None) -> pa.Table:
    """`occurrences` of several (promise, commitment) pairs, in one table."""
    tables = [occurrences(engine, scope, p, c, members=members, calendar=calendar)
              for p, c in commitments]
    if not tables:
        return empty()
    return pa.concat_tables([t.cast(tables[0].schema) for t in tables])


def empty() -> pa.Table:
    return pa.table({
        "promise": pa.array([], pa.string()), "commitment": pa.array([], pa.string()),
        "kind": pa.array([], pa.string()), "case_id": pa.array([], pa.string()),
        "customer": pa.array([], pa.string()), "occurrence": pa.array([], pa.string()),
        "channel": pa.array([], pa.string()), "touchpoint": pa.array([], pa.string()),
        "start_ts": pa.array([], pa.timestamp("us", tz="UTC")),
        "end_ts": pa.array([], pa.timestamp("us", tz="UTC")),
        "used_s": pa.array([], pa.float64()), "limit_s": pa.array([], pa.float64()),
        "verdict": pa.array([], pa.string()), "at_risk": pa.array([], pa.bool_()),
    })


# ----------------------------------------------------------------------------- pieces


def _events(d: Dialect, scope: Scope, case: str, types: Sequence[str] | None,
            since: datetime | None = None) -> str:
    """The scope's events of `types` (None: all) as of its moment, and at or after `since`
    when given, with the case and epoch seconds."""
    conditions = [f"workspace_id = {int(scope.workspace_id)}", f"{case} IS NOT NULL",
                  f"{d.epoch('occurred_at')} <= {_epoch(scope.as_of)}"]
    if types is not None:
        conditions.append(one_of("type", types))
    if since is not None:  # a plain comparison on the column: the engine skips whole blocks
        conditions.append(f"occurred_at >= {literal(since)}")
    if scope.customer is not None:
        conditions.append(f"customer = {literal(scope.customer)}")
    if scope.account is not None:
        conditions.append(f"account = {literal(scope.account)}")
    return (f"SELECT {case} AS case_id, customer, id, seq, type, channel, touchpoint, "
            f"occurred_at AS ts, {d.epoch('occurred_at')} AS t, properties "
            f"FROM {scope.events} WHERE {' AND '.join(conditions)}")


def _applies(d: Dialect, where: Mapping[str, Value | list[Value]], channels: Sequence[str],
             segments: Sequence[str], members: Mapping[str, Sequence[str]]) -> str:
    """The conditions a start must meet, as SQL over an event row (true when none)."""
    parts: list[str] = []
    for key, wanted in where.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        parts.append(one_of(d.json_text("properties", key), [_text(v) for v in values]))
    if channels:
        parts.append(one_of("channel", channels))
    if segments:
        chosen = sorted({c for s in segments for c in members.get(s, ())})
        parts.append(one_of("customer", chosen) if chosen else "1 = 0")
    return " AND ".join(f"({p})" for p in parts) or "1 = 1"


def _text(value: Value) -> str:
    """A property value as the engines' JSON text of it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _starts_between(scope: Scope, column: str = "ts") -> str:
    parts = []
    if scope.since is not None:
        parts.append(f"{column} >= {literal(scope.since)}")
    if scope.until is not None:
        parts.append(f"{column} < {literal(scope.until)}")
    return " AND ".join(parts) or "1 = 1"


def _epoch(moment: datetime) -> str:
    return repr(moment.astimezone(UTC).timestamp())


def _match(d: Dialect, key: str | None) -> str:
    return f"coalesce({d.json_text('properties', key)}, '')" if key else "''"


def _select(promise: str, commitment: Clocked, limit: float | None, *, customer: str = "customer",
            occurrence: str = "id", start: str = "ts", end: str = "end_ts", used: str,
            verdict: str, at_risk: str, channel: str = "channel",
            touchpoint: str = "touchpoint") -> str:
    limit_sql = "CAST(NULL AS DOUBLE)" if limit is None else f"CAST({limit!r} AS DOUBLE)"
    return (f"SELECT {literal(promise)} AS promise, {literal(commitment.id)} AS commitment, "
            f"{literal(commitment.kind)} AS kind, case_id, {customer} AS customer, "
            f"{occurrence} AS occurrence, {channel} AS channel, {touchpoint} AS touchpoint, "
            f"{start} AS start_ts, {end} AS end_ts, CAST({used} AS DOUBLE) AS used_s, "
            f"{limit_sql} AS limit_s, {verdict} AS verdict, {at_risk} AS at_risk")


# ---------------------------------------------------------------------- within, respond


def _within(engine: Engine, scope: Scope, promise: str, c: Within,
            members: Mapping[str, Sequence[str]], calendar: BusinessHours | None) -> str:
    d = engine.dialect
    starts, ends = types_of(c.start), types_of(c.end)
    applies = _applies(d, c.where, c.channels, c.segments, members)
    limit = c.seconds
    as_of = _epoch(scope.as_of)
    # role 0: an end; 1: a start the commitment applies to; 2: a start it leaves out. Only
    # the events from the first start in scope on are read: an earlier end closes nothing.
    # The first end after a start in (time, seq) order, among the same match key's events:
    # the smallest end time of the following rows, since later rows never have earlier times.
    events = f"""
        SELECT *, CASE WHEN {one_of('type', ends)} THEN 0 WHEN {applies} THEN 1 ELSE 2
                  END AS role, {_match(d, c.match)} AS match_key
        FROM ({_events(d, scope, c.case, [*starts, *ends], scope.since)}) AS e"""
    paired = f"""
        SELECT *,
               min(CASE WHEN role = 0 THEN t END) OVER following AS end_t,
               min(CASE WHEN role = 0 THEN ts END) OVER following AS end_ts
        FROM ({events}) AS e
        WINDOW following AS (PARTITION BY case_id, match_key ORDER BY ts, seq
                             ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)"""
    starts_only = f"SELECT * FROM ({paired}) AS p WHERE role > 0 AND {_starts_between(scope)}"
    if c.business_hours and calendar is not None:
        table = _calendar_days(engine, scope, calendar, starts, c.case)
        used_sql = _worked_between(table, "t", f"coalesce(end_t, {as_of})")
        timed = f"""
            SELECT s.*, {used_sql} AS used
            FROM ({starts_only}) AS s
            JOIN {_calendar_sql(table)} ON c0.day = {_day('t', d)}
            JOIN {_calendar_sql(table, 'c1')}
              ON c1.day = {_day(f'coalesce(end_t, {as_of})', d)}"""
    else:
        timed = f"SELECT s.*, coalesce(end_t, {as_of}) - t AS used FROM ({starts_only}) AS s"
    verdict = (f"CASE WHEN role = 2 THEN 'not_applicable' "
               f"WHEN end_t IS NOT NULL AND used <= {limit!r} THEN 'kept' "
               f"WHEN end_t IS NOT NULL OR used > {limit!r} THEN 'broken' ELSE 'open' END")
    at_risk = (f"(role = 1 AND end_t IS NULL AND used <= {limit!r} "
               f"AND used >= {c.at_risk * limit!r})")
    return _select(promise, c, limit, used="used", verdict=verdict,
                   at_risk=at_risk) + f" FROM ({timed}) AS j"


# ------------------------------------------------------------------------------- never


def _never(d: Dialect, scope: Scope, promise: str, c: Never,
           members: Mapping[str, Sequence[str]]) -> str:
    forbidden = types_of(c.event)
    window = c.seconds
    applies = _applies(d, c.where, c.channels, c.segments, members)
    as_of = _epoch(scope.as_of)
    if c.start is None:
        # The case's first event opens its one occurrence; every forbidden event counts
        # (an event at the first event's very time too: seq -1 puts the start before it).
        cases = f"""
            SELECT case_id, min(customer) AS customer, case_id AS id, CAST(-1 AS BIGINT) AS seq,
                   min(ts) AS ts, min(t) AS t, '' AS match_key,
                   CAST(NULL AS STRING) AS channel, CAST(NULL AS STRING) AS touchpoint,
                   1 AS role
            FROM ({_events(d, scope, c.case, None)}) AS e GROUP BY case_id"""
        starts = cases
        if c.segments:
            starts = (f"SELECT case_id, customer, id, seq, ts, t, match_key, channel, "
                      f"touchpoint, CASE WHEN {applies} THEN 1 ELSE 2 END AS role "
                      f"FROM ({starts}) AS s")
    else:
        starts = f"""
            SELECT case_id, customer, id, seq, ts, t, {_match(d, c.match)} AS match_key,
                   channel, touchpoint, CASE WHEN {applies} THEN 1 ELSE 2 END AS role
            FROM ({_events(d, scope, c.case, types_of(c.start), scope.since)}) AS e"""
    starts = f"SELECT * FROM ({starts}) AS s WHERE {_starts_between(scope)}"
    hits = f"""
        SELECT case_id, {_match(d, c.match) if c.start is not None else "''"} AS match_key,
               ts, seq, t
        FROM ({_events(d, scope, c.case, forbidden, scope.since)}) AS f"""
    in_window = "" if window is None else f" AND f.t - s.t <= {window!r}"
    numbered = f"""
        SELECT s.case_id, s.id, f.ts AS f_ts, f.t AS f_t,
               row_number() OVER (PARTITION BY s.case_id, s.id ORDER BY f.ts, f.seq) AS k
        FROM ({starts}) AS s JOIN ({hits}) AS f
          ON f.case_id = s.case_id AND f.match_key = s.match_key
         AND (f.ts > s.ts OR (f.ts = s.ts AND f.seq > s.seq)){in_window}"""
    broke = f"""
        SELECT case_id, id, min(CASE WHEN k = {c.at_most + 1} THEN f_ts END) AS end_ts,
               min(CASE WHEN k = {c.at_most + 1} THEN f_t END) AS end_t
        FROM ({numbered}) AS n GROUP BY case_id, id"""
    joined = f"""
        SELECT s.*, b.end_ts, b.end_t
        FROM ({starts}) AS s LEFT JOIN ({broke}) AS b ON b.case_id = s.case_id AND b.id = s.id"""
    open_while = "" if window is None else f" WHEN {as_of} - t <= {window!r} THEN 'open'"
    verdict = (f"CASE WHEN role = 2 THEN 'not_applicable' WHEN end_t IS NOT NULL THEN 'broken'"
               f"{open_while} ELSE 'kept' END")
    used = (f"coalesce(end_t, {as_of}) - t" if window is None
            else f"least(coalesce(end_t, {as_of}) - t, {window!r})")
    return _select(promise, c, window, used=used, verdict=verdict, at_risk="false",
                   end="CASE WHEN end_t IS NOT NULL THEN end_ts END") + f" FROM ({joined}) AS j"


# ----------------------------------------------------------------------- first contact


def _first_contact(d: Dialect, scope: Scope, promise: str, c: FirstContact,
                   members: Mapping[str, Sequence[str]]) -> str:
    window = c.seconds
    applies = _applies(d, {}, c.channels, c.segments, members)
    as_of = _epoch(scope.as_of)
    # Each need of a case is its own line of contacts; a contact starts a need unless the
    # previous contact of the same need was within the window (then it is that need's
    # second contact, not a new need): contacts from one window before the scope's first
    # start on tell.
    reach = None if scope.since is None else scope.since - timedelta(seconds=window)
    lined = f"""
        SELECT *, lag(t) OVER need AS prev_t, lead(t) OVER need AS next_t,
               lead(ts) OVER need AS next_ts
        FROM (SELECT *, {_match(d, c.need)} AS need_key
              FROM ({_events(d, scope, c.case, types_of(c.event), reach)}) AS e) AS e
        WINDOW need AS (PARTITION BY case_id, need_key ORDER BY ts, seq)"""
    needs = f"""
        SELECT *, CASE WHEN {applies} THEN 1 ELSE 2 END AS role,
               CASE WHEN next_t - t <= {window!r} THEN next_t END AS end_t,
               CASE WHEN next_t - t <= {window!r} THEN next_ts END AS end_ts
        FROM ({lined}) AS l
        WHERE (prev_t IS NULL OR t - prev_t > {window!r}) AND {_starts_between(scope)}"""
    verdict = (f"CASE WHEN role = 2 THEN 'not_applicable' WHEN end_t IS NOT NULL THEN 'broken' "
               f"WHEN {as_of} - t <= {window!r} THEN 'open' ELSE 'kept' END")
    used = f"least(coalesce(end_t, {as_of}) - t, {window!r})"
    # An open need is never at risk: the longer no second contact comes, the nearer it is
    # to being kept.
    return _select(promise, c, window, used=used, verdict=verdict,
                   at_risk="false") + f" FROM ({needs}) AS j"


# ------------------------------------------------------------------------ business hours


def _calendar_days(engine: Engine, scope: Scope, calendar: BusinessHours,
                   starts: Sequence[str], case: str) -> list[CalendarDay]:
    """The calendar's UTC days from the first start in scope to the scope's moment."""
    if scope.since is not None and timedelta(0) <= scope.as_of - scope.since <= AHEAD:
        # a recent period's days are known without asking the engine for its first start
        return calendar.days(scope.since.astimezone(UTC).date(),
                             (scope.as_of + timedelta(days=1)).astimezone(UTC).date())
    d = engine.dialect
    first = engine.query(
        f"SELECT min(t) AS t FROM ({_events(d, scope, case, starts, scope.since)}) AS e"
    ).column(0)[0]
    begin = (datetime.fromtimestamp(first.as_py(), UTC) if first.as_py() is not None
             else scope.as_of)
    end = max(scope.as_of, begin) + timedelta(days=1)
    return calendar.days(begin.date(), end.date())


def _calendar_sql(days: Sequence[CalendarDay], name: str = "c0") -> str:
    """The days as an inline table (day, before, a1, b1, a2, b2): a missing span is (0, 0),
    which adds nothing to the working time."""
    rows = []
    for day in days:
        spans = [*day.spans, (0.0, 0.0), (0.0, 0.0)][:2]
        values = [float(day.before), *(float(x) for span in spans for x in span)]
        rows.append(f"({day.day}, " + ", ".join(f"CAST({v!r} AS DOUBLE)" for v in values) + ")")
    return f"(VALUES {', '.join(rows)}) AS {name}(day, before, a1, b1, a2, b2)"


def _day(epoch: str, d: Dialect) -> str:
    return f"CAST(floor(({epoch}) / 86400) AS BIGINT)"


def _worked_between(days: Sequence[CalendarDay], start: str, end: str) -> str:
    """Working seconds from `start` to `end` (epoch seconds), read off the calendar rows
    joined as c0 (the start's day) and c1 (the end's day)."""

    def worked(alias: str, moment: str) -> str:
        return (f"({alias}.before + greatest(0, least({moment}, {alias}.b1) - {alias}.a1) "
                f"+ greatest(0, least({moment}, {alias}.b2) - {alias}.a2))")

    return f"({worked('c1', end)} - {worked('c0', start)})"
