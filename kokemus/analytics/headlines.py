"""A workspace's headline figures for the home page: the last 7 days against the 7 before.

Invariant: one statement on the event store per workspace. The answers (NPS, CES, CSAT
counts and the number of responses) and every clocked commitment's occurrences (the same
SQL as the promises page, analytics/promises.py) are counted for both periods in a single
DuckDB query; Python only turns the counts into scores with their intervals
(domain/scores.py), so a figure here is the figure the scores API gives for the same days.

The periods are whole UTC days, as the scores API's `compare` reads its `before` and
`after`: `after` ends with the day `as_of` falls on, `before` is the 7 days before it.
A keep rate counts the occurrences that started in a period, judged as of `as_of`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from kokemus.analytics import promises, scores
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import literal
from kokemus.domain import calendar
from kokemus.domain import scores as score_math
from kokemus.domain.business_hours import BusinessHours
from kokemus.domain.promises import Clocked
from kokemus.domain.scores import Change, Score

DAYS = 7
KINDS = ("nps", "ces", "csat")


@dataclass(frozen=True)
class Week:
    """The two periods compared: each its first and last day (both included)."""

    before: tuple[date, date]
    after: tuple[date, date]

    @classmethod
    def ending(cls, last: date) -> Week:
        first = last - timedelta(days=DAYS - 1)
        return cls((first - timedelta(days=DAYS), first - timedelta(days=1)), (first, last))

    def moments(self, which: str) -> tuple[datetime, datetime]:
        first, last = self.before if which == "before" else self.after
        start, end = calendar.period(first, last)
        assert start is not None and end is not None
        return start, end


@dataclass(frozen=True)
class Headlines:
    """One workspace's week: each score and the keep rate in both periods, and the moves."""

    week: Week
    responses: tuple[int, int]  # before, after
    changes: dict[str, Change]  # nps, ces, csat, keep_rate

    def score(self, kind: str) -> Score:
        return self.changes[kind].after


def week(cursor: Any, workspace_id: int, as_of: datetime, *, min_n: int,
         commitments: Sequence[tuple[str, Clocked]] = (),
         members: Mapping[str, Sequence[str]] | None = None,
         business_hours: BusinessHours | None = None) -> Headlines:
    """The workspace's headline figures for the week ending on `as_of`'s UTC day."""
    w = Week.ending(as_of.date())
    (b0, _), (a0, a1) = w.moments("before"), w.moments("after")
    when = (f"CASE WHEN {{t}} >= {literal(a0)} AND {{t}} < {literal(a1)} THEN 'after' "
            f"WHEN {{t}} >= {literal(b0)} AND {{t}} < {literal(a0)} THEN 'before' END")
    answers = scores.answers_sql(workspace_id, scores.Filters(since=b0, until=a1))
    parts = [f"""SELECT 'answers' AS what, period, {scores.COUNTS_SQL},
                        0 AS kept, 0 AS broken
                 FROM (SELECT nps, ces, csat, {when.format(t='started_at')} AS period
                       FROM ({answers}) AS s) AS p
                 WHERE period IS NOT NULL GROUP BY period"""]
    if commitments:
        scope = promises.Scope(workspace_id, as_of, since=b0, until=a1)
        engine = DuckDBEngine(cursor)
        union = " UNION ALL ".join(
            promises.occurrences_sql(engine, scope, p, c, members=members,
                                     calendar=business_hours) for p, c in commitments)
        zeros = ", ".join(f"0 AS {n}" for n in scores.COUNT_NAMES)
        parts.append(f"""SELECT 'promises', period, {zeros},
                                count(*) FILTER (WHERE verdict = 'kept') AS kept,
                                count(*) FILTER (WHERE verdict = 'broken') AS broken
                         FROM (SELECT verdict, {when.format(t='start_ts')} AS period
                               FROM ({union}) AS o) AS q
                         WHERE period IS NOT NULL GROUP BY period""")
    rows = cursor.execute(" UNION ALL ".join(parts)).fetchall()
    names = [*scores.COUNT_NAMES, "kept", "broken"]
    by = {(str(r[0]), str(r[1])): dict(zip(names, (int(v or 0) for v in r[2:]), strict=True))
          for r in rows}
    empty = dict.fromkeys(names, 0)
    changes: dict[str, Change] = {}
    counted = {p: scores.from_counts(p, [by.get(("answers", p), empty)[n]
                                         for n in scores.COUNT_NAMES], min_n)
               for p in ("before", "after")}
    for kind in KINDS:
        changes[kind] = score_math.change(counted["before"].score(kind),
                                          counted["after"].score(kind))
    rates = []
    for p in ("before", "after"):
        found = by.get(("promises", p), empty)
        rates.append(score_math.keep_rate(found["kept"], found["kept"] + found["broken"],
                                          min_n))
    changes["keep_rate"] = score_math.change(*rates)
    return Headlines(w, (counted["before"].responses, counted["after"].responses), changes)
