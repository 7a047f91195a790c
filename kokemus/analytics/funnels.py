"""Funnels: ordered steps (touchpoints) with time windows, conversion and time per step.

Definitions
-----------

A case **enters** the funnel at its first event at step 1. It **reaches** step k at its first
event at step k's touchpoint that comes after the event that reached step k-1, in (ts, seq)
order, so two events with the same timestamp count in their ingest order. Windows:

- `within`: every step must come within this time of the case's entry (an overall window);
- `step_within`: step k must come within this time of step k-1 (one window for every step,
  or one per step k = 2..n; None means no limit for that step).

Matching is greedy, as in most funnel tools: each step takes the earliest qualifying event,
so a case is not searched for a later entry that would fit a window the first one misses.

Per step: `cases` reaching it, `from_previous` and `from_first` conversion (shares of the
cases reaching step k-1 and step 1), `median_s` and `p90_s` seconds from step k-1.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pyarrow as pa

from kokemus.analytics import ordering
from kokemus.analytics.engines import Engine
from kokemus.analytics.logs import Log, literal, one_of


def _windows(steps: int, step_within: timedelta | Sequence[timedelta | None] | None
             ) -> list[timedelta | None]:
    if step_within is None or isinstance(step_within, timedelta):
        return [step_within] * (steps - 1)
    windows = list(step_within)
    if len(windows) != steps - 1:
        raise ValueError(f"{steps} steps need {steps - 1} step windows, not {len(windows)}")
    return windows


def funnel(engine: Engine, log: Log, steps: Sequence[str], within: timedelta | None = None,
           *, step_within: timedelta | Sequence[timedelta | None] | None = None) -> pa.Table:
    """Step by step: step (1..n), touchpoint, cases, from_previous, from_first, median_s,
    p90_s (see the module's definitions)."""
    steps = list(steps)
    if not steps:
        raise ValueError("a funnel needs at least one step")
    log = ordering.resolve(engine, log)
    windows = _windows(len(steps), step_within)
    d = engine.dialect
    # The case's events at funnel touchpoints, numbered in (ts, seq) order: a later number
    # is a later event, and the smallest number after a step is also the earliest time.
    ctes = [f"""events AS (
        SELECT case_id, activity, ts,
               row_number() OVER ({log.window}) AS n
        FROM ({log.sql}) AS l WHERE {one_of('activity', dict.fromkeys(steps))}
    )""", f"""s1 AS (
        SELECT case_id, min(n) AS n, min(ts) AS ts, min(ts) AS entered,
               CAST(NULL AS DOUBLE) AS gap_s
        FROM events WHERE activity = {literal(steps[0])} GROUP BY case_id
    )"""]
    for k in range(2, len(steps) + 1):
        conditions = [f"e.activity = {literal(steps[k - 1])}", "e.n > p.n"]
        window = windows[k - 2]
        if window is not None:
            conditions.append(f"{d.seconds_between('p.ts', 'e.ts')} <= "
                              f"{window.total_seconds()}")
        if within is not None:
            conditions.append(f"{d.seconds_between('p.entered', 'e.ts')} <= "
                              f"{within.total_seconds()}")
        # The earliest qualifying event: the first one after step k-1 is in or out of the
        # windows before any later one, so min(n) and min(ts) name the same event.
        ctes.append(f"""s{k} AS (
            SELECT p.case_id, min(e.n) AS n, min(e.ts) AS ts, min(p.entered) AS entered,
                   {d.seconds_between('min(p.ts)', 'min(e.ts)')} AS gap_s
            FROM s{k - 1} AS p JOIN events AS e ON e.case_id = p.case_id
                 AND {' AND '.join(conditions)}
            GROUP BY p.case_id
        )""")
    per_step = " UNION ALL ".join(
        f"SELECT {k} AS step, {literal(s)} AS touchpoint, count(*) AS cases, "
        f"{d.quantile('gap_s', 0.5)} AS median_s, {d.quantile('gap_s', 0.9)} AS p90_s "
        f"FROM s{k}" for k, s in enumerate(steps, start=1))
    return engine.query(f"""
        WITH {', '.join(ctes)}, per_step AS ({per_step})
        SELECT step, touchpoint, cases,
               cases / nullif(lag(cases) OVER (ORDER BY step), 0) AS from_previous,
               cases / nullif(first_value(cases) OVER (ORDER BY step), 0) AS from_first,
               median_s, p90_s
        FROM per_step
        ORDER BY step
    """)
