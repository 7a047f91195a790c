"""How customers actually travel: directly-follows graph, variants, starts and ends.

Every sequence computation orders a case's events by (ts, seq) inside the engine: never by
arrival, never in Python. Equal timestamps fall back on the ingest sequence, so results are
deterministic.
"""

from __future__ import annotations

import pyarrow as pa

from kokemus.analytics.engines import Engine
from kokemus.analytics.logs import Log

ORDER = "ts, seq"


def _steps(log: Log, leads: tuple[str, ...] = ("activity", "ts", "channel"),
           position: bool = True) -> str:
    """Each event with `leads` of the next event of its case (NULL at the case's end) and
    its position in the case. Ask only for what you use: each is a column of the window."""
    columns = [f"lead({c}) OVER w AS next_{c}" for c in leads]
    if position:
        columns.append("row_number() OVER w AS position")
    return f"""
        SELECT case_id, activity, ts, channel, {", ".join(columns)}
        FROM ({log.sql}) AS l
        WINDOW w AS (PARTITION BY case_id ORDER BY {ORDER})
    """


# Above this many events the DFG windows over groups of whole cases, one group after another:
# one window over 50M events spills tens of GB to disk, ten groups of 5M do not.
CASES_GROUP_EVENTS = 10_000_000


def dfg(engine: Engine, log: Log, groups: int | None = None) -> pa.Table:
    """Directly-follows pairs: source, target, count, and seconds between them (median, p90).

    `groups` splits the cases by a hash of their id; every case stays whole in one group, so
    the pairs are the same, and each group's window is small. Default: one group per
    CASES_GROUP_EVENTS events of the log.
    """
    d = engine.dialect
    if groups is None:
        groups = 1 + summary_events(engine, log) // CASES_GROUP_EVENTS
    gap = d.seconds_between("ts", "next_ts")
    pairs = " UNION ALL ".join(
        f"""SELECT activity, next_activity, {gap} AS gap
            FROM ({_steps(log if groups == 1 else log.where(d.bucket("case_id", groups, g)),
                          ("activity", "ts"), position=False)}) AS s
            WHERE next_activity IS NOT NULL"""
        for g in range(groups)
    )
    return engine.query(f"""
        SELECT activity AS source, next_activity AS target, count(*) AS count,
               {d.quantile("gap", 0.5)} AS median_s, {d.quantile("gap", 0.9)} AS p90_s
        FROM ({pairs}) AS p
        GROUP BY activity, next_activity
        ORDER BY count DESC, source, target
    """)


def summary_events(engine: Engine, log: Log) -> int:
    return int(engine.query(f"SELECT count(*) AS n FROM ({log.sql}) AS l").column(0)[0].as_py())


def start_end(engine: Engine, log: Log) -> pa.Table:
    """How many cases start and end at each activity."""
    return engine.query(f"""
        SELECT activity,
               CAST(sum(CASE WHEN position = 1 THEN 1 ELSE 0 END) AS BIGINT) AS starts,
               CAST(sum(CASE WHEN next_activity IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS ends
        FROM ({_steps(log)}) AS s
        GROUP BY activity
        ORDER BY activity
    """)


def variants(engine: Engine, log: Log, limit: int | None = None) -> pa.Table:
    """Distinct ordered paths: the activities as a list, cases, share of cases, events."""
    d = engine.dialect
    top = f"LIMIT {int(limit)}" if limit else ""
    return engine.query(f"""
        WITH paths AS (
            SELECT {d.ordered_list("activity", ORDER)} AS variant
            FROM ({log.sql}) AS l
            GROUP BY case_id
        )
        SELECT variant, count(*) AS cases,
               count(*) / sum(count(*)) OVER () AS share,
               {d.length("variant")} AS length
        FROM paths
        GROUP BY variant
        ORDER BY cases DESC, length, variant
        {top}
    """)


def summary(engine: Engine, log: Log) -> dict[str, int]:
    row = engine.query(f"""
        SELECT count(*) AS events, count(DISTINCT case_id) AS cases,
               count(DISTINCT activity) AS activities
        FROM ({log.sql}) AS l
    """).to_pylist()[0]
    return {k: int(v) for k, v in row.items()}
