"""Outcomes after an answer: does low effort keep customers here?

For every response with a customer and a CES or NPS answer, the engine looks for an outcome
event of the same customer after the answer (started_at < occurred_at <= started_at + N
days, default 90): a repurchase or a churn, as the workspace's `insights.outcomes` names
them. Retention is the share with no churn event in the window. A response whose window has
not ended by `as_of` (default: the workspace's latest event) is left out and counted as
open, so a recent answer does not count as "did not come back".

The shares come per effort band (CES 1-3 hard, 4 neutral, 5-7 easy) and per NPS group
(detractor 0-6, passive 7-8, promoter 9-10), each with its Wilson 95% interval; easy
against hard (and promoters against detractors) as a difference in percentage points with a
95% interval from the sum of the two variances. Each response counts once: a customer who
answered twice is in twice, each answer with its own window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from kokemus.analytics.scores import Filters, answers_sql
from kokemus.analytics.scores import sql_text as _text
from kokemus.analytics.scores import sql_time as _time
from kokemus.analytics.value import share
from kokemus.domain.insights import Outcomes
from kokemus.domain.scores import Z95, Score

KINDS = ("repurchase", "retention", "churn")
EFFORT_BANDS = ("hard", "neutral", "easy")
NPS_GROUPS = ("detractor", "passive", "promoter")


class NoOutcomeEvents(ValueError):
    pass


@dataclass(frozen=True)
class Difference:
    """a - b in percentage points with its 95% interval; significant when it excludes 0."""

    a: str
    b: str
    value: float | None
    low: float | None
    high: float | None

    @property
    def significant(self) -> bool:
        return self.low is not None and self.high is not None and (
            self.low > 0 or self.high < 0)

    def as_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "value": self.value, "low": self.low,
                "high": self.high, "significant": self.significant}


def difference(a_name: str, a: Score, b_name: str, b: Score) -> Difference:
    if a.value is None or b.value is None or not a.n or not b.n:
        return Difference(a_name, b_name, None, None, None)
    pa, pb = a.value / 100, b.value / 100
    se = math.sqrt(pa * (1 - pa) / a.n + pb * (1 - pb) / b.n)
    d = pa - pb
    return Difference(a_name, b_name, 100 * d, 100 * (d - Z95 * se), 100 * (d + Z95 * se))


@dataclass(frozen=True)
class Group:
    group: str
    followed: int  # responses followed by the outcome in the window
    share: Score

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.group, "followed": self.followed, "share": self.share.as_dict()}


@dataclass(frozen=True)
class OutcomeReport:
    outcome: str
    events: list[str]
    days: int
    as_of: datetime
    judged: int
    open: int  # responses whose window has not ended
    overall: Score
    by_effort: list[Group]
    by_nps: list[Group]
    easy_vs_hard: Difference
    promoter_vs_detractor: Difference

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "events": self.events, "days": self.days,
                "as_of": self.as_of.isoformat(), "judged": self.judged, "open": self.open,
                "overall": self.overall.as_dict(),
                "by_effort": [g.as_dict() for g in self.by_effort],
                "by_nps": [g.as_dict() for g in self.by_nps],
                "easy_vs_hard": self.easy_vs_hard.as_dict(),
                "promoter_vs_detractor": self.promoter_vs_detractor.as_dict()}


def event_types(outcomes: Outcomes, outcome: str) -> list[str]:
    """The event types of an outcome kind; NoOutcomeEvents when the workspace names none."""
    if outcome not in KINDS:
        raise ValueError(f"no outcome {outcome!r} (known: {', '.join(KINDS)})")
    types = list(outcomes.repurchase if outcome == "repurchase" else outcomes.churn)
    if not types:
        key = "repurchase" if outcome == "repurchase" else "churn"
        raise NoOutcomeEvents(f"the workspace names no {key} events: add them under "
                              f"insights.outcomes.{key}")
    return types


def latest_event(cursor: duckdb.DuckDBPyConnection, workspace_id: int) -> datetime:
    row = cursor.execute("SELECT max(occurred_at) FROM events WHERE workspace_id = ?",
                         [workspace_id]).fetchone()
    found: datetime | None = row[0] if row else None
    if found is None:
        return datetime.now(UTC)
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def report(cursor: duckdb.DuckDBPyConnection, workspace_id: int, outcomes: Outcomes,
           outcome: str = "repurchase", *, days: int = 90, as_of: datetime | None = None,
           filters: Filters = Filters(), min_n: int = 1) -> OutcomeReport:
    if not 1 <= days <= 3660:
        raise ValueError(f"days: {days} is not between 1 and 3660")
    types = event_types(outcomes, outcome)
    as_of = as_of or latest_event(cursor, workspace_id)
    retention = outcome == "retention"
    listed = ", ".join(_text(t) for t in types)
    window = f"INTERVAL {int(days)} DAY"
    rows = cursor.execute(f"""
        WITH r AS (
            SELECT id, customer, started_at, ces, nps
            FROM ({answers_sql(workspace_id, filters)}) AS s
            WHERE customer IS NOT NULL AND (ces IS NOT NULL OR nps IS NOT NULL)),
        o AS (
            SELECT customer, occurred_at FROM events
            WHERE workspace_id = {int(workspace_id)} AND type IN ({listed})),
        j AS (
            SELECT r.id, any_value(r.ces) AS ces, any_value(r.nps) AS nps,
                   count(o.customer) > 0 AS happened
            FROM r LEFT JOIN o ON o.customer = r.customer
                 AND o.occurred_at > r.started_at AND o.occurred_at <= r.started_at + {window}
            WHERE r.started_at + {window} <= {_time(as_of)}
            GROUP BY r.id)
        SELECT grouping(band) AS gb, grouping(nps_group) AS gn, band, nps_group, count(*),
               count(*) FILTER (WHERE happened {'= false' if retention else ''})
        FROM (SELECT *, CASE WHEN ces >= 5 THEN 'easy' WHEN ces = 4 THEN 'neutral'
                             WHEN ces <= 3 THEN 'hard' END AS band,
                        CASE WHEN nps >= 9 THEN 'promoter' WHEN nps >= 7 THEN 'passive'
                             WHEN nps <= 6 THEN 'detractor' END AS nps_group FROM j) AS b
        GROUP BY GROUPING SETS ((), (band), (nps_group))""").fetchall()
    open_row = cursor.execute(f"""
        SELECT count(*) FROM ({answers_sql(workspace_id, filters)}) AS s
        WHERE customer IS NOT NULL AND (ces IS NOT NULL OR nps IS NOT NULL)
          AND started_at + {window} > {_time(as_of)}""").fetchone()
    overall = (0, 0)
    bands: dict[str, tuple[int, int]] = {}
    groups: dict[str, tuple[int, int]] = {}
    for gb, gn, band, nps_group, n, followed in rows:
        if gb and gn:
            overall = (int(n), int(followed))
        elif not gb and band is not None:
            bands[band] = (int(n), int(followed))
        elif not gn and nps_group is not None:
            groups[nps_group] = (int(n), int(followed))

    def made(name: str, counts: tuple[int, int]) -> Group:
        return Group(name, counts[1], share(counts[1], counts[0], min_n))

    by_effort = [made(b, bands.get(b, (0, 0))) for b in EFFORT_BANDS]
    by_nps = [made(g, groups.get(g, (0, 0))) for g in NPS_GROUPS]
    return OutcomeReport(
        outcome, types, days, as_of, overall[0], int(open_row[0]) if open_row else 0,
        share(overall[1], overall[0], min_n), by_effort, by_nps,
        difference("easy", by_effort[2].share, "hard", by_effort[0].share),
        difference("promoter", by_nps[2].share, "detractor", by_nps[0].share))
