"""Multichannel journeys: how customers move between channels, and whether the same touchpoint
performs the same whichever channel it is reached through.

Definitions (for a CX analyst):

- A *channel switch* is two consecutive events of a case, ordered by (time, ingest sequence),
  in different channels. Events without a channel are left out before pairing, so a switch
  is always between two known channels.
- A case is *multichannel* when its events use two or more distinct channels.
- A *channel sequence* is a case's channels in order with consecutive repeats collapsed:
  web, web, phone, web becomes [web, phone, web].
- *Consistency across channels* compares, for each touchpoint reached through two or more
  channels, each channel's conversion to the goal and its time to the next step. A large
  spread is one of the five warning signals of a CX in trouble.

Everything is computed inside the engine with SQL that DuckDB and Spark SQL both accept. A
log read from its case-ordered copy (DuckDB, analytics/ordering.py) is not sorted for the
consistency: its waits come from one streamed pass over the copy and its visits are counted
case by case, the same figures as the windows give (tests/analytics/test_ordering.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from kokemus.analytics import ordering
from kokemus.analytics.engines import Engine
from kokemus.analytics.journeys import _steps
from kokemus.analytics.logs import Log, literal

# Spread rules for `touchpoint_by_channel`: a touchpoint is flagged when, among its channels
# with enough cases, conversion differs by at least this many percentage points ...
CONVERSION_SPREAD = 0.10
# ... or the slowest channel's median time to the next step is at least this many times the
# fastest one's.
TIME_RATIO = 2.0
# A channel with fewer cases at a touchpoint is shown but too small to judge a spread on.
MIN_CASES = 30


@dataclass(frozen=True)
class ChannelSwitching:
    """The four views of channel switching; each a table computed in the engine.

    - `pairs`: from_channel, to_channel, count, share (of all consecutive pairs), share_from
      (of pairs leaving from_channel), switch (from_channel differs from to_channel).
    - `multichannel`: one row: cases, multichannel_cases, share.
    - `channels_per_case`: channels (distinct channels in a case), cases, share.
    - `sequences`: sequence (channels, repeats collapsed), length, cases, share.
    """

    pairs: pa.Table
    multichannel: pa.Table
    channels_per_case: pa.Table
    sequences: pa.Table


def channel_switches(engine: Engine, log: Log, top: int = 20) -> ChannelSwitching:
    """How journeys move between channels; `top` limits the most common sequences."""
    known = ordering.resolve(engine, log).where("channel IS NOT NULL")
    return ChannelSwitching(
        pairs=_pairs(engine, known),
        multichannel=_multichannel(engine, known),
        channels_per_case=_channels_per_case(engine, known),
        sequences=_sequences(engine, known, top),
    )


def _pairs(engine: Engine, log: Log) -> pa.Table:
    return engine.query(f"""
        SELECT channel AS from_channel, next_channel AS to_channel, count(*) AS count,
               count(*) / sum(count(*)) OVER () AS share,
               count(*) / sum(count(*)) OVER (PARTITION BY channel) AS share_from,
               channel <> next_channel AS switch
        FROM ({_steps(log)}) AS s
        WHERE next_channel IS NOT NULL
        GROUP BY channel, next_channel
        ORDER BY count DESC, from_channel, to_channel
    """)


def _per_case(log: Log) -> str:
    return f"""
        SELECT case_id, count(DISTINCT channel) AS channels
        FROM ({log.sql}) AS l
        GROUP BY case_id
    """


def _multichannel(engine: Engine, log: Log) -> pa.Table:
    return engine.query(f"""
        SELECT count(*) AS cases,
               CAST(coalesce(sum(CASE WHEN channels > 1 THEN 1 ELSE 0 END), 0) AS BIGINT)
                   AS multichannel_cases,
               CAST(sum(CASE WHEN channels > 1 THEN 1 ELSE 0 END) AS DOUBLE) / count(*)
                   AS share
        FROM ({_per_case(log)}) AS c
    """)


def _channels_per_case(engine: Engine, log: Log) -> pa.Table:
    return engine.query(f"""
        SELECT channels, count(*) AS cases, count(*) / sum(count(*)) OVER () AS share
        FROM ({_per_case(log)}) AS c
        GROUP BY channels
        ORDER BY channels
    """)


def _sequences(engine: Engine, log: Log, top: int) -> pa.Table:
    d = engine.dialect
    length = d.length("sequence")
    # An event opens a new run when its channel differs from the previous event's; keeping
    # only those collapses the repeats before the ordered list is built.
    return engine.query(f"""
        WITH marked AS (
            SELECT {log.columns}, lag(channel) OVER ({log.window}) AS previous
            FROM ({log.sql}) AS l
        ),
        paths AS (
            SELECT {d.ordered_list("channel", log.order)} AS sequence
            FROM marked
            WHERE previous IS NULL OR previous <> channel
            GROUP BY {log.case}
        )
        SELECT sequence, {length} AS length, count(*) AS cases,
               count(*) / sum(count(*)) OVER () AS share
        FROM paths
        GROUP BY sequence
        ORDER BY cases DESC, length, sequence
        LIMIT {int(top)}
    """)


def touchpoint_by_channel(engine: Engine, log: Log, goal: str | None = None,
                          scores: str | None = None,
                          min_cases: int = MIN_CASES) -> pa.Table:
    """The same touchpoint by channel, for touchpoints reached through two or more channels.

    One row per (touchpoint, channel):
    - `cases`: cases with an event at the touchpoint in that channel;
    - `converted`, `conversion`: of those, the cases with a `goal` activity after their first
      such event (NULL without a goal);
    - `median_next_s`: median seconds from such an event to the case's next event, in any
      channel or none (events that end their case are not counted);
    - `judged`: the channel has at least `min_cases` cases, so it takes part in the spread;
    - touchpoint-wide: `channels`, `conversion_spread` (highest minus lowest conversion of
      judged channels), `time_ratio` (slowest over fastest judged median; both NULL with
      fewer than two judged channels, or a fastest median of 0 s), `inconsistent`
      and `rule`: 'conversion' when the spread is at least CONVERSION_SPREAD, 'time' when
      the ratio is at least TIME_RATIO, 'conversion+time' when both, else NULL.

    With `scores`, a SQL relation of survey answers with columns touchpoint, channel, nps,
    ces, csat (e.g. `kokemus.analytics.scores.answers_sql`), each row also gets the answers
    given at that touchpoint through that channel: `nps` (% promoters - % detractors),
    `ces` (mean 1-7), `csat` (% of 4-5), each with its n (`nps_n`, `ces_n`, `csat_n`; a
    NULL answer is not counted; the figure is NULL when n is 0).
    """
    log = ordering.resolve(engine, log)
    answered, answer_columns, answer_join = _answers(scores)
    streamed = _measured_in_order(engine, log, goal)
    if streamed is not None:
        per_channel, timing = streamed
        names = [f"{n}_{uuid.uuid4().hex}" for n in ("per_channel", "timing")]
        with engine.view(names[0], per_channel), engine.view(names[1], timing):
            return engine.query(f"""
                WITH {answered}
                per_channel AS (SELECT * FROM {names[0]}),
                timing AS (SELECT * FROM {names[1]}),
                {_judged(min_cases, answer_columns, answer_join)}""")
    d = engine.dialect
    gap = d.seconds_between("ts", "next_ts")
    if goal is None:
        goals, goal_position, converted = "", "CAST(NULL AS BIGINT)", "CAST(NULL AS BIGINT)"
        goal_join = ""
    else:
        # the case's last goal event, grouped and joined: a window over every event of the
        # case (max ... OVER (PARTITION BY case_id)) sorted the whole log again
        goals = f"""
        goals AS (
            SELECT case_id, max(position) AS goal_position
            FROM steps WHERE activity = {literal(goal)}
            GROUP BY case_id
        ),"""
        goal_position = "max(g.goal_position)"
        goal_join = " LEFT JOIN goals AS g ON g.case_id = s.case_id"
        converted = ("CAST(sum(CASE WHEN goal_position > first_position THEN 1 ELSE 0 END) "
                     "AS BIGINT)")
    return engine.query(f"""
        WITH {answered}
        steps AS (
            SELECT * FROM ({_steps(log, ("ts",))}) AS s
        ),{goals}
        -- Each case counts once per touchpoint and channel, from its first event there.
        visits AS (
            SELECT s.activity, s.channel, s.case_id, min(s.position) AS first_position,
                   {goal_position} AS goal_position
            FROM steps AS s{goal_join}
            WHERE s.channel IS NOT NULL
            GROUP BY s.activity, s.channel, s.case_id
        ),
        per_channel AS (
            SELECT activity, channel, count(*) AS cases,
                   {converted} AS converted
            FROM visits
            GROUP BY activity, channel
        ),
        timing AS (
            SELECT activity, channel, {d.quantile(gap, 0.5)} AS median_next_s
            FROM steps
            WHERE channel IS NOT NULL AND next_ts IS NOT NULL
            GROUP BY activity, channel
        ),
        {_judged(min_cases, answer_columns, answer_join)}""")


def _judged(min_cases: int, answer_columns: str, answer_join: str) -> str:
    """The rest of `touchpoint_by_channel`'s query, after the CTEs per_channel (activity,
    channel, cases, converted) and timing (activity, channel, median_next_s)."""
    return f"""
        measured AS (
            SELECT p.activity AS touchpoint, p.channel, p.cases, p.converted,
                   CAST(p.converted AS DOUBLE) / p.cases AS conversion,
                   t.median_next_s, p.cases >= {int(min_cases)} AS judged,
                   count(*) OVER (PARTITION BY p.activity) AS channels
            FROM per_channel AS p
            LEFT JOIN timing AS t ON t.activity = p.activity AND t.channel = p.channel
        ),
        spread AS (
            -- A spread needs two channels large enough to judge.
            SELECT touchpoint,
                   CASE WHEN sum(CASE WHEN judged THEN 1 ELSE 0 END) >= 2 THEN
                       max(CASE WHEN judged THEN conversion END)
                       - min(CASE WHEN judged THEN conversion END) END AS conversion_spread,
                   CASE WHEN sum(CASE WHEN judged THEN 1 ELSE 0 END) >= 2 THEN
                       max(CASE WHEN judged THEN median_next_s END)
                       / nullif(min(CASE WHEN judged THEN median_next_s END), 0)
                   END AS time_ratio
            FROM measured
            GROUP BY touchpoint
        ),
        ruled AS (
            SELECT r.*, s.conversion_spread, s.time_ratio,
                   coalesce(s.conversion_spread >= {CONVERSION_SPREAD}, false) AS by_conversion,
                   coalesce(s.time_ratio >= {TIME_RATIO}, false) AS by_time
            FROM measured AS r JOIN spread AS s ON s.touchpoint = r.touchpoint
            WHERE r.channels > 1
        )
        SELECT r.touchpoint, r.channel, cases, converted, conversion, median_next_s, judged,
               channels, conversion_spread, time_ratio, by_conversion OR by_time AS inconsistent,
               CASE WHEN by_conversion AND by_time THEN 'conversion+time'
                    WHEN by_conversion THEN 'conversion'
                    WHEN by_time THEN 'time' END AS rule{answer_columns}
        FROM ruled AS r{answer_join}
        ORDER BY r.touchpoint, cases DESC, r.channel
    """


# A case's visits are marked as bits of BIGINT words, this many bits a word (below the sign).
_WORD_BITS = 62


def _measured_in_order(engine: Engine, log: Log,
                       goal: str | None) -> tuple[pa.Table, pa.Table] | None:
    """`touchpoint_by_channel`'s per_channel and timing of a log read from its case-ordered
    copy, without sorting it; None for other logs, or when the copy's rows did not stream
    in order (see ordering.in_order).

    The time to the next event comes from one streamed pass (ordering.in_order). The cases
    per touchpoint and channel are counted case by case, not (case, touchpoint, channel) by
    (case, touchpoint, channel): each case marks the pairs it visited as bits, and the
    pairs it visited before its last goal event (its first visit came before that event,
    as the windows' `goal_position > first_position` says; `place` orders a case's rows as
    `position` does), in one group per case rather than one per visit (ten times fewer)."""
    rows = ordering.in_order(engine, log, {"ts": "ts"})
    if rows is None:
        return None
    d = engine.dialect
    timing = engine.query(f"""
        SELECT activity, channel,
               {d.quantile("gap", 0.5)} FILTER (WHERE kept AND next_ts IS NOT NULL)
                   AS median_next_s,
               count(*) FILTER (WHERE kept) AS kept,
               count(*) FILTER (WHERE out_of_order) AS disorder
        FROM (SELECT activity, channel, next_ts, kept, out_of_order,
                     {d.seconds_between("ts", "next_ts")} AS gap
              FROM ({rows}) AS r) AS s
        GROUP BY activity, channel
    """)
    if pc.sum(timing["disorder"]).as_py():
        return None
    visited = timing.filter(pc.and_(pc.is_valid(timing["channel"]),
                                    pc.greater(timing["kept"], 0)))
    pairs = list(zip(visited["activity"].to_pylist(), visited["channel"].to_pylist(),
                     strict=True))
    timing = visited.filter(pc.is_valid(visited["median_next_s"])).select(
        ["activity", "channel", "median_next_s"])
    counts = _visits(engine, log, goal, pairs) if pairs else []
    per_channel = pa.table({
        "activity": pa.array([a for a, _ in pairs], pa.string()),
        "channel": pa.array([c for _, c in pairs], pa.string()),
        "cases": pa.array([n for n, _ in counts], pa.int64()),
        "converted": pa.array([k for _, k in counts], pa.int64())})
    return per_channel, timing


def _visits(engine: Engine, log: Log, goal: str | None,
            pairs: list[tuple[str | None, str]]) -> list[tuple[int, int | None]]:
    """For each of `pairs` (touchpoint, channel): the cases with an event there, and of
    those the cases with an event there before their last `goal` event (None without a
    goal). The cases are counted by their marks: far fewer kinds than cases."""
    words = range(len(pairs) // _WORD_BITS + 1)
    codes = " UNION ALL ".join(
        f"SELECT {_text(a)} AS activity, {literal(c)} AS channel, {i // _WORD_BITS} AS word, "
        f"CAST({1 << (i % _WORD_BITS)} AS BIGINT) AS bit" for i, (a, c) in enumerate(pairs))
    marks = ", ".join(
        f"bit_or(c.bit) FILTER (WHERE c.word = {w}) AS seen_{w}, "
        f"bit_or(c.bit) FILTER (WHERE c.word = {w} AND l.place < g.goal_place) "
        f"AS converted_{w}" for w in words)
    goals = ("SELECT CAST(NULL AS BIGINT) AS case_no, CAST(NULL AS BIGINT) AS goal_place "
             "WHERE 1 = 0") if goal is None else (
        f"SELECT case_no, max(place) AS goal_place FROM ({log.sql}) AS l "
        f"WHERE activity = {literal(goal)} GROUP BY case_no")
    kinds = engine.query(f"""
        WITH codes AS ({codes}),
        goals AS ({goals})
        SELECT {", ".join(f"seen_{w}, converted_{w}" for w in words)}, count(*) AS cases
        FROM (SELECT {marks}
              FROM ({log.sql}) AS l
              JOIN codes AS c ON c.activity IS NOT DISTINCT FROM l.activity
               AND c.channel = l.channel
              LEFT JOIN goals AS g ON g.case_no = l.case_no
              GROUP BY l.case_no) AS marked
        GROUP BY ALL
    """).to_pylist()
    cases = [0] * len(pairs)
    converted = [0] * len(pairs)
    for kind in kinds:
        for i in range(len(pairs)):
            word, bit = divmod(i, _WORD_BITS)
            if (kind[f"seen_{word}"] or 0) >> bit & 1:
                cases[i] += kind["cases"]
            if (kind[f"converted_{word}"] or 0) >> bit & 1:
                converted[i] += kind["cases"]
    return [(n, None if goal is None else k) for n, k in zip(cases, converted, strict=True)]


def _text(value: str | None) -> str:
    return "CAST(NULL AS VARCHAR)" if value is None else literal(value)


def _answers(scores: str | None) -> tuple[str, str, str]:
    """The CTE, columns and join that add answer scores by touchpoint and channel."""
    if scores is None:
        return "", "", ""

    def count(condition: str) -> str:
        return f"CAST(sum(CASE WHEN {condition} THEN 1 ELSE 0 END) AS BIGINT)"

    cte = f"""
        answered AS (
            SELECT touchpoint, channel,
                   {count("nps IS NOT NULL")} AS nps_n,
                   100.0 * ({count("nps >= 9")} - {count("nps <= 6")})
                       / nullif({count("nps IS NOT NULL")}, 0) AS nps,
                   {count("ces IS NOT NULL")} AS ces_n,
                   avg(CAST(ces AS DOUBLE)) AS ces,
                   {count("csat IS NOT NULL")} AS csat_n,
                   100.0 * {count("csat >= 4")} / nullif({count("csat IS NOT NULL")}, 0)
                       AS csat
            FROM ({scores}) AS a
            WHERE touchpoint IS NOT NULL AND channel IS NOT NULL
            GROUP BY touchpoint, channel
        ),"""
    columns = (", coalesce(a.nps_n, 0) AS nps_n, a.nps, coalesce(a.ces_n, 0) AS ces_n, a.ces, "
               "coalesce(a.csat_n, 0) AS csat_n, a.csat")
    join = " LEFT JOIN answered AS a ON a.touchpoint = r.touchpoint AND a.channel = r.channel"
    return cte, columns, join
