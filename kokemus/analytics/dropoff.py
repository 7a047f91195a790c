"""Where journeys end without their goal, and where they stall.

Definitions
-----------

A case **reached the goal** when it has an event at a goal touchpoint (any of them, when
several are given). Of the cases that did not, the **last touchpoint** is the one of the
case's last event in (ts, seq) order.

The log's clock is `as_of` (default: the log's latest event). A case that has not reached the
goal is **in flight** while its last event is less than `idle_days` before `as_of`: it may
still get there. Older, it is **lost** (stalled): it left, or waits for something that does
not come. Drop-off ranks lost cases by their last touchpoint.

A **wait** is the time from an event to the next event of its case; stalls rank touchpoints
(or transitions) by the median and p90 of those waits.

By anything the data knows (`groups`: `property:carrier`, `attribute:...`, `event:...`, see
kokemus.analytics.breakdowns): a case takes the property of its latest event carrying it
up to the clock, and `event:<type>` is whether it had that event by then. Each group has
its cases reached, in flight and lost, and its **lost share** = lost / (lost + reached),
with a Wilson 95% interval (cases still in flight are left out of it, as open occurrences
are of a keep rate); small groups are pooled as `other`, and `worst` sets each group
against the other groups. `where_cases` keeps the cases a filter names, for every analysis.

The outcomes are one group per case (its latest time, whether it reached the goal), no
window; the stalls of a log read from its case-ordered copy come from one streamed pass
over the copy (ordering.in_order), not a window that sorts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from kokemus.analytics import breakdowns, journeys, ordering
from kokemus.analytics.breakdowns import Condition, Contrast, Dimension
from kokemus.analytics.engines import Engine
from kokemus.analytics.logs import Log, literal, one_of
from kokemus.domain import scores
from kokemus.domain.errors import Invalid
from kokemus.domain.scores import Score

DAY_S = 86_400


def _goals(goal: str | Iterable[str]) -> list[str]:
    goals = [goal] if isinstance(goal, str) else list(goal)
    if not goals:
        raise ValueError("a drop-off needs at least one goal touchpoint")
    return goals


def _ends_sql(engine: Engine, log: Log, goal: str | Iterable[str], idle_days: float,
              as_of: datetime | None) -> str:
    """One row per case: its last touchpoint and time, whether it reached the goal, and its
    state: 'reached', 'in_flight' or 'lost'."""
    clock = literal(as_of) if as_of is not None else f"(SELECT max(ts) FROM ({log.sql}) AS m)"
    idle = engine.dialect.seconds_between("last_ts", clock)
    return f"""
        SELECT case_id, activity AS last_touchpoint, last_ts, reached, {idle} AS idle_s,
               CASE WHEN reached = 1 THEN 'reached'
                    WHEN {idle} < {float(idle_days) * DAY_S} THEN 'in_flight'
                    ELSE 'lost' END AS state
        FROM (
            SELECT case_id, activity, ts AS last_ts,
                   max(CASE WHEN {one_of('activity', _goals(goal))} THEN 1 ELSE 0 END)
                       OVER (PARTITION BY {log.case}) AS reached,
                   row_number() OVER (PARTITION BY {log.case} ORDER BY {log.order_from_end})
                       AS from_end
            FROM ({log.sql}) AS l
        ) AS e
        WHERE from_end = 1
    """


def _states_sql(engine: Engine, log: Log, goal: str | Iterable[str], idle_days: float,
                as_of: datetime | None) -> str:
    """`_ends_sql`'s state of each case (one row per case), without its last touchpoint: a
    case's last event is its latest (ts, seq), so its time is the case's latest ts, and one
    group per case finds it and whether the goal was reached (no window sorts the log)."""
    clock = literal(as_of) if as_of is not None else f"(SELECT max(ts) FROM ({log.sql}) AS m)"
    idle = engine.dialect.seconds_between("last_ts", clock)
    return f"""
        SELECT CASE WHEN reached = 1 THEN 'reached'
                    WHEN {idle} < {float(idle_days) * DAY_S} THEN 'in_flight'
                    ELSE 'lost' END AS state
        FROM (
            SELECT max(ts) AS last_ts,
                   max(CASE WHEN {one_of('activity', _goals(goal))} THEN 1 ELSE 0 END)
                       AS reached
            FROM ({log.sql}) AS l
            GROUP BY {log.case}
        ) AS e
    """


def dropoff(engine: Engine, log: Log, goal: str | Iterable[str], *, idle_days: float = 30,
            as_of: datetime | None = None) -> pa.Table:
    """Lost touchpoints, ranked: per last touchpoint of cases without the goal,

    - `lost`: lost cases that ended there, and `share` of all lost cases;
    - `in_flight`: cases without the goal that are there now (idle less than `idle_days`);
    - `visited`: cases that had an event there, and `lost_rate` = lost / visited: how often
      a visit to this touchpoint is the last thing a lost customer did.
    """
    log = ordering.resolve(engine, log)
    return engine.query(f"""
        WITH ends AS ({_ends_sql(engine, log, goal, idle_days, as_of)}),
        visits AS (
            SELECT activity, count(DISTINCT case_id) AS visited
            FROM ({log.sql}) AS l GROUP BY activity
        ),
        last AS (
            SELECT last_touchpoint AS touchpoint,
                   sum(CASE WHEN state = 'lost' THEN 1 ELSE 0 END) AS lost,
                   sum(CASE WHEN state = 'in_flight' THEN 1 ELSE 0 END) AS in_flight
            FROM ends WHERE state <> 'reached'
            GROUP BY last_touchpoint
        )
        SELECT touchpoint, CAST(lost AS BIGINT) AS lost,
               lost / nullif(sum(lost) OVER (), 0) AS share,
               CAST(in_flight AS BIGINT) AS in_flight, visited,
               lost / visited AS lost_rate
        FROM last JOIN visits ON visits.activity = last.touchpoint
        ORDER BY lost DESC, in_flight DESC, touchpoint
    """)


def outcomes(engine: Engine, log: Log, goal: str | Iterable[str], *, idle_days: float = 30,
             as_of: datetime | None = None) -> dict[str, int]:
    """How many cases reached the goal, are in flight, or are lost."""
    log = ordering.resolve(engine, log)
    rows = engine.query(f"""
        SELECT state, count(*) AS cases
        FROM ({_states_sql(engine, log, goal, idle_days, as_of)}) AS e GROUP BY state
    """).to_pylist()
    found = {str(r["state"]): int(r["cases"]) for r in rows}
    return {state: found.get(state, 0) for state in ("reached", "in_flight", "lost")}


def stalled_cases(engine: Engine, log: Log, goal: str | Iterable[str], *,
                  idle_days: float = 30, as_of: datetime | None = None,
                  limit: int = 100) -> pa.Table:
    """Lost cases, longest idle first: case_id, last_touchpoint, last_ts, idle_s."""
    log = ordering.resolve(engine, log)
    return engine.query(f"""
        SELECT case_id, last_touchpoint, last_ts, idle_s
        FROM ({_ends_sql(engine, log, goal, idle_days, as_of)}) AS e
        WHERE state = 'lost'
        ORDER BY idle_s DESC, case_id
        LIMIT {int(limit)}
    """)


def stalls(engine: Engine, log: Log, by: Literal["touchpoint", "transition"] = "touchpoint",
           *, min_steps: int = 1) -> pa.Table:
    """Where journeys wait longest before their next step, ranked by p90 then median wait.

    By touchpoint: `touchpoint`, `steps` (events with a next one), `median_s`, `p90_s`.
    By transition: `source`, `target` and the same figures per pair. Groups with fewer than
    `min_steps` steps are left out (a p90 of three waits says little).
    """
    log = ordering.resolve(engine, log)
    d = engine.dialect
    gap = d.seconds_between("ts", "next_ts")
    keys = ("activity AS touchpoint", "activity") if by == "touchpoint" else \
        ("activity AS source, next_activity AS target", "activity, next_activity")
    streamed = _stalls_in_order(engine, log, keys, min_steps)
    if streamed is not None:
        return streamed
    return engine.query(f"""
        SELECT {keys[0]}, count(*) AS steps,
               {d.quantile(gap, 0.5)} AS median_s, {d.quantile(gap, 0.9)} AS p90_s
        FROM ({journeys._steps(log)}) AS s
        WHERE next_activity IS NOT NULL
        GROUP BY {keys[1]}
        HAVING count(*) >= {int(min_steps)}
        ORDER BY p90_s DESC, median_s DESC, {keys[1]}
    """)


def _stalls_in_order(engine: Engine, log: Log, keys: tuple[str, str],
                     min_steps: int) -> pa.Table | None:
    """`stalls` of a log read from its case-ordered copy: the waits from one streamed pass
    (ordering.in_order), not a window that sorts the log; None for other logs, or when the
    rows did not stream in order."""
    # by touchpoint, whether the next event has one is all that is asked of it
    leads = {"ts": "ts", **({"activity": "activity"} if "next_activity" in keys[1] else
                            {"known": "activity IS NOT NULL"})}
    rows = ordering.in_order(engine, log, leads)
    if rows is None:
        return None
    d = engine.dialect
    counted = f"kept AND {'next_activity IS NOT NULL' if 'activity' in leads else 'next_known'}"
    # both quantiles from one list aggregate (DuckDB's: the copy is DuckDB's): one sort of
    # each group's waits instead of two, the same figures as quantile_cont's
    found = engine.query(f"""
        SELECT * EXCLUDE (q), q[1] AS median_s, q[2] AS p90_s
        FROM (SELECT {keys[0]}, count(*) FILTER (WHERE {counted}) AS steps,
                     quantile_cont(gap, [0.5, 0.9]) FILTER (WHERE {counted}) AS q,
                     count(*) FILTER (WHERE out_of_order) AS disorder
              FROM (SELECT *, {d.seconds_between("ts", "next_ts")} AS gap
                    FROM ({rows}) AS r) AS s
              GROUP BY {keys[1]}) AS g
    """)
    if pc.sum(found["disorder"]).as_py():
        return None
    steps = found["steps"]
    kept = found.filter(pc.and_(pc.greater(steps, 0), pc.greater_equal(steps, min_steps)))
    names = [n for n in kept.column_names if n not in ("steps", "median_s", "p90_s",
                                                      "disorder")]
    return kept.select([*names, "steps", "median_s", "p90_s"]).sort_by(
        [("p90_s", "descending"), ("median_s", "descending"),
         *((n, "ascending") for n in names)])


# ------------------------------------------------------------------ by anything the data knows

FAR = datetime(9999, 12, 31)  # the clock of a filter without one: every event counts


@dataclass(frozen=True)
class Group:
    """One group's journeys: reached, in flight, lost, and the lost share of the decided."""

    key: str
    reached: int
    in_flight: int
    lost: int
    lost_share: Score
    pooled: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "reached": self.reached, "in_flight": self.in_flight,
                "lost": self.lost, "lost_share": self.lost_share.as_dict(),
                **({"pooled": self.pooled} if self.pooled else {})}


def _group(key: str, reached: int, in_flight: int, lost: int, min_n: int,
           pooled: int = 0) -> Group:
    share = replace(scores.keep_rate(lost, lost + reached, min_n), kind="lost_share")
    return Group(key, reached, in_flight, lost, share, pooled)


def where_cases(engine: Engine, log: Log, conditions: Sequence[Condition],
                source: breakdowns.Source, as_of: datetime | None = None) -> Log:
    """The log's cases that meet every condition (property, attribute, event), as of
    `as_of` (default: any time)."""
    if not conditions:
        return log
    if any(c.dimension.plain for c in conditions):
        raise Invalid("where: a journey's filters are property:<name>, "
                                 "attribute:<name> or event:<type>")
    subjects = (f"SELECT DISTINCT case_id AS row_id, case_id AS customer, "
                f"CAST(NULL AS STRING) AS event_id, {literal(as_of or FAR)} AS at "
                f"FROM ({log.source}) AS l")
    return log.of_cases(f"case_id IN ({breakdowns.matching_sql(conditions, subjects, source)})")


def groups(engine: Engine, log: Log, goal: str | Iterable[str], dimension: Dimension,
           source: breakdowns.Source, *, idle_days: float = 30,
           as_of: datetime | None = None, min_n: int = 1) -> list[Group]:
    """The journeys' outcomes per value of `dimension`, largest first, small groups pooled
    as `other` (cases without a value are in no group)."""
    log = ordering.resolve(engine, log)
    clock = literal(as_of) if as_of is not None else f"(SELECT max(ts) FROM ({log.sql}) AS m)"
    subjects = (f"SELECT case_id AS row_id, case_id AS customer, "
                f"CAST(NULL AS STRING) AS event_id, {clock} AS at FROM ends")
    rows = engine.query(f"""
        WITH ends AS ({_ends_sql(engine, log, goal, idle_days, as_of)})
        SELECT k.key,
               sum(CASE WHEN e.state = 'reached' THEN 1 ELSE 0 END) AS reached,
               sum(CASE WHEN e.state = 'in_flight' THEN 1 ELSE 0 END) AS in_flight,
               sum(CASE WHEN e.state = 'lost' THEN 1 ELSE 0 END) AS lost
        FROM ends AS e JOIN ({breakdowns.keys_sql(dimension, subjects, source)}) AS k
          ON k.row_id = e.case_id
        WHERE k.key IS NOT NULL
        GROUP BY k.key
    """).to_pylist()
    found = [_group(str(r["key"]), int(r["reached"]), int(r["in_flight"]), int(r["lost"]),
                    min_n) for r in rows]
    found.sort(key=lambda g: (-(g.reached + g.lost), g.key))
    kept, small = breakdowns.pool(found, lambda g: g.reached + g.lost, min_n)
    if not small:
        return kept
    return [*kept, _group(breakdowns.OTHER, sum(g.reached for g in small),
                          sum(g.in_flight for g in small), sum(g.lost for g in small), min_n,
                          len(small))]


def worst(found: Sequence[Group], min_n: int = 1) -> list[Contrast]:
    """Each group's lost share against the other groups' journeys together (journeys
    without a value are left out: a journey that never came to the delivery has no
    carrier), the most significantly worse (the highest lost share) first."""
    totals = {"reached": sum(g.reached for g in found), "lost": sum(g.lost for g in found)}
    contrasts = []
    for g in found:
        rest = _group("rest", totals["reached"] - g.reached, 0, totals["lost"] - g.lost, min_n)
        contrasts.append(breakdowns.contrast(g.key, g.lost_share, rest.lost_share,
                                             higher_is_better=False, pooled=g.pooled))
    return breakdowns.worst(contrasts, higher_is_better=False)
