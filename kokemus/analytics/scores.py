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
- Breakdowns and filters by anything the data knows (`property:carrier`,
  `attribute:language`, `event:delivery_damaged`) follow kokemus.analytics.breakdowns: a
  response takes the property of its triggering event, else of the customer's latest event
  carrying it before the response was started. Their small groups are pooled into `other`.
- "Where is it worst?" (`Report.worst`): every group of a breakdown against the rest of the
  responses, per score, significantly worse groups first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, get_args

import duckdb

from kokemus.analytics import breakdowns
from kokemus.analytics.breakdowns import Condition, Contrast, Dimension
from kokemus.domain import scores as score_math
from kokemus.domain.errors import Invalid
from kokemus.domain.scores import Change, Score

Breakdown = Literal["touchpoint", "channel", "segment", "account", "role", "survey",
                    "week", "month"]
BREAKDOWNS: tuple[Breakdown, ...] = get_args(Breakdown)
GROUPS: tuple[Breakdown, ...] = ("touchpoint", "channel", "segment", "account", "role",
                                 "survey")
TRENDS: tuple[Breakdown, ...] = ("week", "month")
KINDS = ("nps", "ces", "ces_easy", "csat")
# The scores a "where is it worst?" list is made for (higher is better on each).
CONTRASTED = ("nps", "ces", "csat")
# Filters on a response's own columns (`where touchpoint=...`); a segment is one of its list.
WHERE_COLUMNS = ("touchpoint", "channel", "survey", "account", "role", "segment")

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
# The counts as other read-side modules select them (the home page's week, analytics/headlines)
COUNTS_SQL, COUNT_NAMES = _COUNTS, _NAMES
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
    where: tuple[Condition, ...] = ()  # every one must hold (kokemus.analytics.breakdowns)


@dataclass(frozen=True)
class Scores:
    """The figures of one group: every score with its own n and 95% interval."""

    key: str | None  # the group's value (a date as YYYY-MM-DD for trends); None overall
    responses: int
    nps: Score
    ces: Score
    ces_easy: Score
    csat: Score
    counts: tuple[int, ...] = ()  # the engine's counts (_NAMES), for "against the rest"
    pooled: int = 0  # the `other` group: how many small groups it holds

    def score(self, kind: str) -> Score:
        found: Score = getattr(self, kind)
        return found

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "responses": self.responses,
                **{kind: self.score(kind).as_dict() for kind in KINDS},
                **({"pooled": self.pooled} if self.pooled else {})}


@dataclass(frozen=True)
class Report:
    """Overall scores and the asked-for breakdowns (each a list of groups, largest first;
    trends in time order)."""

    overall: Scores
    breakdowns: dict[str, list[Scores]] = field(default_factory=dict)
    # breakdown -> score -> its groups against the rest, worst first (not for trends)
    worst: dict[str, dict[str, list[Contrast]]] = field(default_factory=dict)


def answers_sql(workspace_id: int, filters: Filters = Filters()) -> str:
    """The filtered responses of a workspace as SQL (a relation with every column of
    `responses`); literals only, so it can be nested in other queries (a filter on an
    attribute reads the registered breakdowns.ATTRIBUTES relation)."""
    where = [f"workspace_id = {int(workspace_id)}"]
    for column in ("survey", "touchpoint", "channel"):
        value = getattr(filters, column)
        if value is not None:
            where.append(f"{column} = {sql_text(value)}")
    if filters.segment is not None:
        where.append(f"list_contains(segments, {sql_text(filters.segment)})")
    lookups = []
    for c in filters.where:
        if not c.dimension.plain:
            lookups.append(c)
        elif c.dimension.kind == "segment":
            where.append(f"list_contains(segments, {sql_text(c.value)})")
        elif c.dimension.kind in WHERE_COLUMNS:
            where.append(f"{c.dimension.kind} = {sql_text(c.value)}")
        else:
            raise Invalid(f"where: no filter on {c.dimension.text} (known: "
                                     f"{', '.join(WHERE_COLUMNS)}, property:<name>, "
                                     "attribute:<name>, event:<type>)")
    if lookups:
        base = f"SELECT * FROM responses WHERE {' AND '.join(where)}"
        matching = breakdowns.matching_sql(lookups, _subjects(base), _source(workspace_id))
        where.append(f"id IN ({matching})")
    if filters.since is not None:
        where.append(f"started_at >= {sql_time(filters.since)}")
    if filters.until is not None:
        where.append(f"started_at < {sql_time(filters.until)}")
    if filters.complete_only:
        where.append("complete")
    return f"SELECT * FROM responses WHERE {' AND '.join(where)}"


def _subjects(responses: str) -> str:
    """Responses as the things a breakdown looks a key up for (breakdowns.keys_sql)."""
    return (f"SELECT id AS row_id, customer, event_id, started_at AS at "
            f"FROM ({responses}) AS r")


def _source(workspace_id: int) -> breakdowns.Source:
    return breakdowns.Source(int(workspace_id))


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_time(value: datetime | date) -> str:
    if isinstance(value, datetime) and value.tzinfo is None:
        return f"TIMESTAMPTZ '{value.isoformat()}+00:00'"  # naive times are UTC
    return f"TIMESTAMPTZ '{value.isoformat()}'"


def report(cursor: duckdb.DuckDBPyConnection, workspace_id: int,
           by: Sequence[Breakdown | str | Dimension] = (), filters: Filters = Filters(),
           min_n: int = 1) -> Report:
    """Overall scores and the breakdowns in `by`, counted in DuckDB in one statement.

    `by`: the breakdowns of BREAKDOWNS, or lookups (`property:carrier`, `attribute:...`,
    `event:...`; an attribute reads the registered breakdowns.ATTRIBUTES relation).

    One scan groups the responses by every asked-for attribute at once (GROUPING SETS);
    trends group by day (an integer from the UTC timestamp, cheaper than calendar
    arithmetic per row) and segments by the whole list, and a second stage adds those few
    groups up into weeks, months and single segments. The lookups' keys join each response
    first, all of them in one relation (breakdowns.lookups_sql)."""
    dims = [b if isinstance(b, Dimension) else breakdowns.parse(str(b), BREAKDOWNS)
            for b in by]
    asked = list(dict.fromkeys(d.text for d in dims))
    lookups = list(dict.fromkeys(d for d in dims if not d.plain))
    # a lookup's key is a column d0, d1, ... of the responses
    lookup_column = {d.text: f"d{i}" for i, d in enumerate(lookups)}
    plain = [b for b in asked if b in GROUPS and b != "segment"] + list(lookup_column.values())
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
    source = answers_sql(workspace_id, filters)
    keys = breakdowns.lookups_sql(lookups, _subjects(source), _source(workspace_id))
    joins = f" LEFT JOIN ({keys}) AS k ON k.row_id = s.id" if lookups else ""
    picked = "".join(f", k.k{i} AS {lookup_column[d.text]}" for i, d in enumerate(lookups))
    rows = cursor.execute(f"""
        WITH g AS MATERIALIZED (
            SELECT {name} AS breakdown{''.join(f", {c}" for c in columns)}, {_COUNTS}
            FROM (SELECT nps, ces, csat{kept}{day}
                  FROM (SELECT s.*{picked} FROM ({source}) AS s{joins}) AS s) AS r
            GROUP BY GROUPING SETS ({sets})
        )
        {" UNION ALL ".join(stages)}
    """).fetchall()
    named = {v: k for k, v in lookup_column.items()}
    overall = _scores(None, (0,) * len(_NAMES), min_n)
    # (key, counts) per group first: a lookup such as property:order has a group per order,
    # nearly all pooled into `other`, and only the groups shown are made Scores.
    counted: dict[str, list[tuple[str, list[Any]]]] = {b: [] for b in asked}
    for breakdown, group, *counts in rows:
        if breakdown == "all":
            overall = _scores(None, counts, min_n)
        elif group is not None:  # responses without the attribute are not a group
            counted[named.get(breakdown, breakdown)].append((group, counts))
    found: dict[str, list[Scores]] = {}
    worst: dict[str, dict[str, list[Contrast]]] = {}
    for name_, pairs in counted.items():
        if name_ in TRENDS:
            found[name_] = sorted((_scores(k, c, min_n) for k, c in pairs),
                                  key=lambda s: s.key or "")
            continue
        pairs.sort(key=lambda p: (-int(p[1][0]), p[0] or ""))
        found[name_] = groups = (_pooled(pairs, min_n) if name_ in lookup_column
                                 else [_scores(k, c, min_n) for k, c in pairs])
        worst[name_] = {kind: breakdowns.worst([against_rest(g, overall, kind, min_n)
                                                for g in groups])
                        for kind in CONTRASTED}
    return Report(overall, found, worst)


def _pooled(groups: list[tuple[str, list[Any]]], min_n: int) -> list[Scores]:
    """Groups (key and counts, largest first) with fewer than `min_n` responses (and beyond
    the largest MAX_GROUPS) added up into one `other` group, last."""
    kept, small = breakdowns.pool(groups, lambda g: int(g[1][0]), min_n)
    shown = [_scores(key, counts, min_n) for key, counts in kept]
    if not small:
        return shown
    counts = [sum(int(c) for c in column)
              for column in zip(*(counts for _, counts in small), strict=True)]
    other = _scores(breakdowns.OTHER, counts, min_n)
    return [*shown, Scores(**{**vars(other), "pooled": len(small)})]


def against_rest(group: Scores, overall: Scores, kind: str, min_n: int) -> Contrast:
    """One group's score against the rest of the responses (overall minus the group)."""
    rest = _scores("rest", [a - b for a, b in zip(overall.counts, group.counts, strict=True)],
                   min_n)
    return breakdowns.contrast(group.key or "", group.score(kind), rest.score(kind),
                               pooled=group.pooled)


def _scores(key: str | None, counts: Sequence[Any], min_n: int) -> Scores:
    (responses, promoters, passives, detractors, ces_n, ces_sum, ces_squares, ces_easy,
     csat_n, csat_top2) = (int(c) for c in counts)
    return Scores(
        key=key, responses=responses,
        nps=score_math.nps(promoters, passives, detractors, min_n),
        ces=score_math.ces(ces_n, ces_sum, ces_squares, min_n),
        ces_easy=score_math.ces_easy(ces_easy, ces_n, min_n),
        csat=score_math.csat(csat_top2, csat_n, min_n),
        counts=(responses, promoters, passives, detractors, ces_n, ces_sum, ces_squares,
                ces_easy, csat_n, csat_top2),
    )


def from_counts(key: str | None, counts: Sequence[Any], min_n: int) -> Scores:
    """A group's scores from the engine's counts (COUNT_NAMES, in that order)."""
    return _scores(key, counts, min_n)


def overall(cursor: duckdb.DuckDBPyConnection, workspace_id: int,
            filters: Filters = Filters(), min_n: int = 1) -> Scores:
    return report(cursor, workspace_id, (), filters, min_n).overall


def breakdown(cursor: duckdb.DuckDBPyConnection, workspace_id: int, by: Breakdown | str,
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
        complete_only=filters.complete_only, where=filters.where))
    rows = {period: counts for period, *counts in cursor.execute(f"""
        SELECT period, {_COUNTS}
        FROM (SELECT nps, ces, csat,
                     CASE WHEN started_at >= {sql_time(after[0])}
                               AND started_at < {sql_time(after[1])}
                          THEN 'after'
                          WHEN started_at >= {sql_time(before[0])}
                               AND started_at < {sql_time(before[1])} THEN 'before' END AS period
              FROM ({source}) AS s) AS p
        WHERE period IS NOT NULL
        GROUP BY period
    """).fetchall()}
    empty = (0,) * 10
    return changes(_scores("before", rows.get("before", empty), min_n),
                   _scores("after", rows.get("after", empty), min_n))


# A weekly trend is drawn by month instead when its median week (weeks without an answer
# counted as none) has fewer answers than this: at 30 an NPS interval is still about
# +-35 points wide, and week-to-week wobble of that size reads as movement.
WEEKLY_MINIMUM = 30


def median_week(weeks: Sequence[Scores]) -> float:
    """The median number of responses a week, from the first week with answers to the last,
    the empty weeks between them included (they are missing from a trend's groups)."""
    counted = {date.fromisoformat(w.key): w.responses for w in weeks if w.key}
    if not counted:
        return 0.0
    first, last = min(counted), max(counted)
    spanned = (last - first).days // 7 + 1
    sizes = sorted([*counted.values(), *[0] * (spanned - len(counted))])
    middle = len(sizes) // 2
    return float(sizes[middle]) if len(sizes) % 2 else (sizes[middle - 1] + sizes[middle]) / 2


def trend_grain(weeks: Sequence[Scores], minimum: int = WEEKLY_MINIMUM) -> Breakdown:
    """'week' when the median week holds at least `minimum` responses, else 'month'."""
    return "week" if median_week(weeks) >= minimum else "month"


def latest_change(trend: Sequence[Scores]) -> Comparison | None:
    """The last bucket of a trend against the one before it (None with fewer than two)."""
    if len(trend) < 2:
        return None
    return changes(trend[-2], trend[-1])
