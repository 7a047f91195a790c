"""How customers actually travel: directly-follows graph, variants, starts and ends.

Every sequence computation orders a case's events by (ts, seq) inside the engine: never by
arrival, never in Python. Equal timestamps fall back on the ingest sequence, so results are
deterministic. A log with a case-ordered copy is read from the copy (the cases touched
since it was made from their events), whose numbers (case_no, place) keep the same order and
are cheaper to sort (analytics/ordering.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise

import pyarrow as pa
import pyarrow.compute as pc

from kokemus.analytics import ordering
from kokemus.analytics.engines import Engine
from kokemus.analytics.logs import Log, literal


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
        WINDOW w AS ({log.window})
    """


# Above this many events the DFG windows over groups of whole cases, one group after another:
# one window over 50M events spills tens of GB to disk, ten groups of 5M do not.
CASES_GROUP_EVENTS = 10_000_000


def dfg(engine: Engine, log: Log, groups: int | None = None) -> pa.Table:
    """Directly-follows pairs: source, target, count, and seconds between them (median, p90).

    `groups` splits the cases by a hash of their id; every case stays whole in one group, so
    the pairs are the same, and each group's window is small. Default: one group per
    CASES_GROUP_EVENTS events of the log.

    A log with a case-ordered copy (analytics/ordering.py) is answered in one pass over
    the copy, without sorting; the answer is the same.
    """
    log = ordering.resolve(engine, log)
    streamed = _dfg_in_order(engine, log)
    if streamed is not None:
        return streamed
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


def _dfg_in_order(engine: Engine, log: Log) -> pa.Table | None:
    """The DFG of a log read from its case-ordered copy, without a window per case: each
    stored row meets the row before it (lag ordered by the row's place in the copy, one
    integer sort; an empty OVER () kept the stored order nearly always, but on a 10M-row
    copy a chunk came back early and the whole log fell back to the windows), a pair when
    both are of one case. The cases touched since the copy was made are
    left out of that pass and paired from their events with windows (few rows). None for
    other logs, or when the stored rows did not come in order (`place` fell somewhere: a
    filter that joins may reorder them).

    An ordered pass runs on one thread, so the cases are cut into ranges of case numbers,
    two per thread, each its own pass: a case is never cut, and the engine runs the passes
    side by side. The first and last ranges are open, so a copy rebuilt meanwhile still
    has every case in one of them."""
    ordered = log.ordered
    if not log.on_copy or ordered is None:
        return None
    cuts = ordering.case_cuts(engine, ordered.stored)
    same = "previous_case = case_no"
    # Row filters go before the pass; conditions on whole cases (which may join) after it,
    # on the pairs, with the touched cases' stored rows left out.
    after = [*log.case_filters, *([f"case_id NOT IN ({ordered.touched})"]
                                 if ordered.touched else [])]
    kept = " AND ".join(f"({c})" for c in after) or "true"
    passes = [f"""
        SELECT CASE WHEN {same} THEN previous_activity END AS source, activity AS target,
               CASE WHEN {same} THEN (epoch_us(ts) - epoch_us(previous_ts)) / 1e6 END AS gap,
               place, previous_place
        FROM (SELECT case_id, case_no, activity, ts, place,
                     lag(case_no) OVER w AS previous_case,
                     lag(activity) OVER w AS previous_activity,
                     lag(ts) OVER w AS previous_ts,
                     lag(place) OVER w AS previous_place
              FROM ({log.select(ordered.stored, cases=False)}) AS l
              WHERE {ordering.between("case_no", first, end)}
              WINDOW w AS (ORDER BY place)) AS s
        WHERE {kept}""" for first, end in pairwise(cuts)]
    if ordered.recent is not None:
        recent = replace(log, source=ordered.recent, ordered=None, on_copy=False)
        passes.append(f"""
            SELECT activity AS source, next_activity AS target,
                   (epoch_us(next_ts) - epoch_us(ts)) / 1e6 AS gap,
                   CAST(NULL AS BIGINT) AS place, CAST(NULL AS BIGINT) AS previous_place
            FROM ({_steps(recent, ("activity", "ts"), position=False)}) AS r
            WHERE next_activity IS NOT NULL""")
    # Both quantiles from one list aggregate: one sort of each pair's gaps instead of two.
    table = engine.query(f"""
        SELECT source, target, count, q[1] AS median_s, q[2] AS p90_s, disorder
        FROM (SELECT source, target, count(*) AS count, quantile_cont(gap, [0.5, 0.9]) AS q,
                     count(*) FILTER (WHERE previous_place >= place) AS disorder
              FROM ({" UNION ALL ".join(passes)}) AS p
              GROUP BY source, target) AS g
    """)
    if pc.sum(table["disorder"]).as_py():
        return None
    # The first event of each case has no source: it starts a case, it follows nothing.
    pairs = table.filter(pc.is_valid(table["source"])).drop_columns(["disorder"])
    return pairs.sort_by([("count", "descending"), ("source", "ascending"),
                          ("target", "ascending")])


def summary_events(engine: Engine, log: Log) -> int:
    return int(engine.query(f"SELECT count(*) AS n FROM ({log.sql}) AS l").column(0)[0].as_py())


def start_end(engine: Engine, log: Log) -> pa.Table:
    """How many cases start and end at each activity."""
    log = ordering.resolve(engine, log)
    return engine.query(f"""
        SELECT activity,
               CAST(sum(CASE WHEN position = 1 THEN 1 ELSE 0 END) AS BIGINT) AS starts,
               CAST(sum(CASE WHEN next_activity IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS ends
        FROM ({_steps(log)}) AS s
        GROUP BY activity
        ORDER BY activity
    """)


def _paths(engine: Engine, log: Log) -> str:
    """One row per case: its activities in order, as a list named `variant`."""
    log = ordering.resolve(engine, log)
    return f"""
        SELECT {engine.dialect.ordered_list("activity", log.order)} AS variant
        FROM ({log.sql}) AS l
        GROUP BY {log.case}
    """


def variants(engine: Engine, log: Log, limit: int | None = None, offset: int = 0,
             running: bool = False) -> pa.Table:
    """Distinct ordered paths: the activities as a list, cases, share of cases, events.

    Ordered by cases (most first), then length, then the path itself: a total order, so
    `offset` and `limit` page through the variants without gaps or repeats. With `running`,
    each row also has its `rank` (1 = commonest) and `cumulative_share`, the share of cases
    of this variant and all ranked before it (computed over every variant, not the page).
    """
    d = engine.dialect
    top = f"LIMIT {int(limit)}" if limit else ""
    skip = f"OFFSET {int(offset)}" if offset > 0 else ""
    order = f"count(*) DESC, {d.length('variant')}, variant"
    extra = (f""",
               CAST(row_number() OVER (ORDER BY {order}) AS BIGINT) AS rank,
               sum(count(*)) OVER (ORDER BY {order}
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                 / sum(count(*)) OVER () AS cumulative_share""" if running else "")
    return engine.query(f"""
        WITH paths AS ({_paths(engine, log)})
        SELECT variant, count(*) AS cases,
               count(*) / sum(count(*)) OVER () AS share,
               {d.length("variant")} AS length{extra}
        FROM paths
        GROUP BY variant
        ORDER BY cases DESC, length, variant
        {top} {skip}
    """)


def variant_count(engine: Engine, log: Log) -> int:
    """How many distinct variants the log has (for paging through them)."""
    return int(engine.query(f"""
        WITH paths AS ({_paths(engine, log)})
        SELECT count(*) AS n FROM (SELECT variant FROM paths GROUP BY variant) AS v
    """).column(0)[0].as_py())


# Joins a path's touchpoints for comparing whole paths as text: the unit separator, a
# control character no touchpoint id or imported activity name is made of.
PATH_SEPARATOR = "\x1f"


def cases_following(engine: Engine, log: Log, path: Sequence[str]) -> int:
    """How many cases travel exactly `path`, no touchpoint more or less (e.g. the designed
    path). The lists are compared as joined text (concat_ws reads a list alike on DuckDB and
    Spark; element access and list literals are spelled differently on each) and by length."""
    if not path:
        return 0
    joined = literal(PATH_SEPARATOR.join(path))
    return int(engine.query(f"""
        WITH paths AS ({_paths(engine, log)})
        SELECT count(*) AS n FROM paths
        WHERE {engine.dialect.length("variant")} = {len(path)}
          AND concat_ws({literal(PATH_SEPARATOR)}, variant) = {joined}
    """).column(0)[0].as_py())


def summary(engine: Engine, log: Log) -> dict[str, int]:
    row = engine.query(f"""
        SELECT count(*) AS events, count(DISTINCT case_id) AS cases,
               count(DISTINCT activity) AS activities
        FROM ({log.sql}) AS l
    """).to_pylist()[0]
    return {k: int(v) for k, v in row.items()}
