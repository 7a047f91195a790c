"""Scores over the responses: NPS, CES and CSAT overall, by breakdown, as trends, and a
comparison of two periods.

The engine counts, Python only does the arithmetic (kokemus.domain.scores) on the counts:
one query over the `responses` table with GROUPING SETS gives, for every group, the counts
each score needs (NPS promoters/passives/detractors; CES n, sum, sum of squares, easy 5-7;
CSAT n and top-2 4-5). A second query does the segment breakdown, since `segments` is a
list and a response counts once in each of its segments.

Definitions (for a CX analyst):

- A response counts toward a score when it has an answer to that score's question: a NULL
  score is not in that score's n. Partial responses count by default (an NPS answered
  before the respondent left is still an answer); `complete_only` keeps finished ones.
- The period filter and the trend buckets use `started_at`, when the respondent first
  answered: a later edit does not move a response to another week.
- Weeks start on Monday; weeks and months are cut in UTC.
- A breakdown leaves out responses without that attribute (no account for a consumer,
  no segment): they are still in the overall figures.
- `enough` is False below the workspace's minimum n (feedback.min_answers): show "too few
  answers" then, not the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, get_args

import duckdb

from kokemus.domain import scores as score_math
from kokemus.domain.scores import Change, Score

Breakdown = Literal["touchpoint", "channel", "segment", "account", "role", "survey",
                    "week", "month"]
BREAKDOWNS: tuple[Breakdown, ...] = get_args(Breakdown)
GROUPS: tuple[Breakdown, ...] = ("touchpoint", "channel", "segment", "account", "role",
                                 "survey")
TRENDS: tuple[Breakdown, ...] = ("week", "month")
KINDS = ("nps", "ces", "ces_easy", "csat")

_COUNTS = """
    count(*) AS responses,
    count(*) FILTER (WHERE nps >= 9) AS promoters,
    count(*) FILTER (WHERE nps BETWEEN 7 AND 8) AS passives,
    count(*) FILTER (WHERE nps <= 6) AS detractors,
    count(ces) AS ces_n,
    coalesce(sum(ces), 0) AS ces_sum,
    coalesce(sum(CAST(ces AS INTEGER) * ces), 0) AS ces_squares,
    count(*) FILTER (WHERE ces >= 5) AS ces_easy,
    count(csat) AS csat_n,
    count(*) FILTER (WHERE csat >= 4) AS csat_top2
"""
_NAMES = ("responses", "promoters", "passives", "detractors", "ces_n", "ces_sum", "ces_squares",
          "ces_easy", "csat_n", "csat_top2")
# Counts of groups added up into larger groups (days into weeks, segment lists into segments)
_SUMS = ", ".join(f"CAST(sum({c}) AS BIGINT) AS {c}" for c in _NAMES)
_DAY_US = 86_400_000_000
# The first day of a trend bucket from a day number (days since 1970-01-01, in UTC)
_BUCKETS = {"week": "date_trunc('week', DATE '1970-01-01' + CAST(day AS INTEGER))",
            "month": "date_trunc('month', DATE '1970-01-01' + CAST(day AS INTEGER))"}


@dataclass(frozen=True)
class Filters:
    """Which responses the scores are over; None means no restriction."""

    survey: str | None = None
    touchpoint: str | None = None
    channel: str | None = None
    segment: str | None = None
    since: datetime | None = None  # started_at >= since
    until: datetime | None = None  # started_at < until
    complete_only: bool = False


@dataclass(frozen=True)
class Scores:
    """The figures of one group: every score with its own n and 95% interval."""

    key: str | None  # the group's value (a date as YYYY-MM-DD for trends); None overall
    responses: int
    nps: Score
    ces: Score
    ces_easy: Score
    csat: Score

    def score(self, kind: str) -> Score:
        found: Score = getattr(self, kind)
        return found

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "responses": self.responses,
                **{kind: self.score(kind).as_dict() for kind in KINDS}}


@dataclass(frozen=True)
class Report:
    """Overall scores and the asked-for breakdowns (each a list of groups, largest first;
    trends in time order)."""

    overall: Scores
    breakdowns: dict[str, list[Scores]] = field(default_factory=dict)


def answers_sql(workspace_id: int, filters: Filters = Filters()) -> str:
    """The filtered responses of a workspace as SQL (a relation with every column of
    `responses`); literals only, so it can be nested in other queries."""
    where = [f"workspace_id = {int(workspace_id)}"]
    for column in ("survey", "touchpoint", "channel"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"{column} = {_text(value)}")
    if filters.segment is not None:
        where.append(f"list_contains(segments, {_text(filters.segment)})")
    if filters.since is not None:
        where.append(f"started_at >= {_time(filters.since)}")
    if filters.until is not None:
        where.append(f"started_at < {_time(filters.until)}")
    if filters.complete_only:
        where.append("complete")
    return f"SELECT * FROM responses WHERE {' AND '.join(where)}"


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _time(value: datetime | date) -> str:
    if isinstance(value, datetime) and value.tzinfo is None:
        return f"TIMESTAMPTZ '{value.isoformat()}+00:00'"  # naive times are UTC
    return f"TIMESTAMPTZ '{value.isoformat()}'"


def report(cursor: duckdb.DuckDBPyConnection, workspace_id: int,
           by: Sequence[Breakdown] = (), filters: Filters = Filters(),
           min_n: int = 1) -> Report:
    """Overall scores and the breakdowns in `by`, counted in DuckDB in one statement.

    One scan groups the responses by every asked-for attribute at once (GROUPING SETS);
    trends group by day (an integer from the UTC timestamp, cheaper than calendar
    arithmetic per row) and segments by the whole list, and a second stage adds those few
    groups up into weeks, months and single segments."""
    unknown = [b for b in by if b not in BREAKDOWNS]
    if unknown:
        raise ValueError(f"no breakdown {unknown[0]!r} (known: {', '.join(BREAKDOWNS)})")
    asked = list(dict.fromkeys(by))
    plain = [b for b in asked if b in GROUPS and b != "segment"]
    columns: list[str] = list(plain)
    if "segment" in asked:
        columns.append("segments")
    trends = [b for b in asked if b in TRENDS]
    if trends:
        columns.append("day")
    day = f", epoch_us(started_at) // {_DAY_US} AS day" if trends else ""
    kept = "".join(f", {c}" for c in columns if c != "day")
    sets = ", ".join(["()", *(f"({c})" for c in columns)])
    # grouping(x) = 0 names the set a row belongs to; the overall row has all of them 1
    which = " ".join(f"WHEN grouping({c}) = 0 THEN '{c}'" for c in columns)
    name = f"CASE {which} ELSE 'all' END" if columns else "'all'"
    key = (f"coalesce({', '.join(f'CAST({c} AS VARCHAR)' for c in plain)})" if plain
           else "CAST(NULL AS VARCHAR)")
    stages = [f"SELECT breakdown, {key} AS key, {', '.join(_NAMES)} FROM g "
              "WHERE breakdown NOT IN ('segments', 'day')"]
    if "segment" in asked:
        stages.append(f"""
            SELECT 'segment', segment, {_SUMS}
            FROM (SELECT unnest(segments) AS segment, * FROM g
                  WHERE breakdown = 'segments') AS u
            GROUP BY segment""")
    for trend in trends:
        stages.append(f"""
            SELECT '{trend}', CAST(CAST({_BUCKETS[trend]} AS DATE) AS VARCHAR), {_SUMS}
            FROM g WHERE breakdown = 'day'
            GROUP BY 2""")
    rows = cursor.execute(f"""
        WITH g AS MATERIALIZED (
            SELECT {name} AS breakdown{''.join(f", {c}" for c in columns)}, {_COUNTS}
            FROM (SELECT nps, ces, csat{kept}{day}
                  FROM ({answers_sql(workspace_id, filters)}) AS s) AS r
            GROUP BY GROUPING SETS ({sets})
        )
        {" UNION ALL ".join(stages)}
    """).fetchall()
    overall = _scores(None, (0,) * len(_NAMES), min_n)
    found: dict[str, list[Scores]] = {b: [] for b in asked}
    for breakdown, group, *counts in rows:
        if breakdown == "all":
            overall = _scores(None, counts, min_n)
        elif group is not None:  # responses without the attribute are not a group
            found[breakdown].append(_scores(group, counts, min_n))
    for name_, groups in found.items():
        if name_ in TRENDS:
            groups.sort(key=lambda s: s.key or "")
        else:
            groups.sort(key=lambda s: (-s.responses, s.key or ""))
    return Report(overall, found)


def _scores(key: str | None, counts: Sequence[Any], min_n: int) -> Scores:
    (responses, promoters, passives, detractors, ces_n, ces_sum, ces_squares, ces_easy,
     csat_n, csat_top2) = (int(c) for c in counts)
    return Scores(
        key=key, responses=responses,
        nps=score_math.nps(promoters, passives, detractors, min_n),
        ces=score_math.ces(ces_n, ces_sum, ces_squares, min_n),
        ces_easy=score_math.ces_easy(ces_easy, ces_n, min_n),
        csat=score_math.csat(csat_top2, csat_n, min_n),
    )


def overall(cursor: duckdb.DuckDBPyConnection, workspace_id: int,
            filters: Filters = Filters(), min_n: int = 1) -> Scores:
    return report(cursor, workspace_id, (), filters, min_n).overall


def breakdown(cursor: duckdb.DuckDBPyConnection, workspace_id: int, by: Breakdown,
              filters: Filters = Filters(), min_n: int = 1) -> list[Scores]:
    return report(cursor, workspace_id, (by,), filters, min_n).breakdowns[by]


@dataclass(frozen=True)
class Comparison:
    """Each score in two periods and whether it moved (significant only when it did)."""

    before: Scores
    after: Scores
    changes: dict[str, Change]

    def as_dict(self) -> dict[str, Any]:
        return {"before": self.before.as_dict(), "after": self.after.as_dict(),
                "changes": {kind: c.as_dict() for kind, c in self.changes.items()}}


def changes(before: Scores, after: Scores) -> Comparison:
    return Comparison(before, after, {kind: score_math.change(before.score(kind),
                                                              after.score(kind))
                                      for kind in KINDS})


Period = tuple[datetime, datetime]  # [start, end)


def compare(cursor: duckdb.DuckDBPyConnection, workspace_id: int, before: Period,
            after: Period, filters: Filters = Filters(), min_n: int = 1) -> Comparison:
    """The scores of two periods (each [start, end) on started_at) and their changes; the
    filters' own since/until are replaced by the periods."""
    source = answers_sql(workspace_id, Filters(
        filters.survey, filters.touchpoint, filters.channel, filters.segment,
        complete_only=filters.complete_only))
    rows = {period: counts for period, *counts in cursor.execute(f"""
        SELECT period, {_COUNTS}
        FROM (SELECT nps, ces, csat,
                     CASE WHEN started_at >= {_time(after[0])} AND started_at < {_time(after[1])}
                          THEN 'after'
                          WHEN started_at >= {_time(before[0])}
                               AND started_at < {_time(before[1])} THEN 'before' END AS period
              FROM ({source}) AS s) AS p
        WHERE period IS NOT NULL
        GROUP BY period
    """).fetchall()}
    empty = (0,) * 10
    return changes(_scores("before", rows.get("before", empty), min_n),
                   _scores("after", rows.get("after", empty), min_n))


def latest_change(trend: Sequence[Scores]) -> Comparison | None:
    """The last bucket of a trend against the one before it (None with fewer than two)."""
    if len(trend) < 2:
        return None
    return changes(trend[-2], trend[-1])
