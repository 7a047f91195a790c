"""Keep rates from judged occurrences (analytics/promises.py): counts per commitment and
group, the time used (median, p90), and what follows a kept or a broken promise.

The occurrences are an Arrow table of at most a few million rows; DuckDB groups them in
place (an in-memory connection scanning the table), so no Python loop touches a row.

Groups: `channel` (the start event's), `segment` (the customer's, from the app store: a
customer counts once in each of their segments), `week` and `month` (of the start, UTC),
and `department`: every commitment of the promises a department must keep, together, so a
department's row says how it keeps its promises. Anything else the data knows
(`property:carrier`, `attribute:...`, `event:...`, kokemus.analytics.breakdowns) is looked
up in the event store first (`with_keys`: an occurrence takes its start event's property,
else the customer's latest event carrying it up to the occurrence's end, or the verdict's
moment while it has none) and grouped as `key`; `matching` keeps the occurrences a filter
names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from kokemus.analytics import breakdowns
from kokemus.analytics.breakdowns import Condition, Dimension
from kokemus.domain.errors import Invalid

Breakdown = Literal["channel", "segment", "department", "week", "month"]
BREAKDOWNS: tuple[Breakdown, ...] = get_args(Breakdown)
# What `counts` groups by besides BREAKDOWNS: the `key` column `with_keys` adds.
KEY = "key"

COUNTS = ("kept", "broken", "open", "at_risk", "not_applicable")
_COUNTS = """
    count(*) FILTER (WHERE verdict = 'kept') AS kept,
    count(*) FILTER (WHERE verdict = 'broken') AS broken,
    count(*) FILTER (WHERE verdict = 'open') AS open,
    count(*) FILTER (WHERE at_risk) AS at_risk,
    count(*) FILTER (WHERE verdict = 'not_applicable') AS not_applicable,
    quantile_cont(used_s, 0.5) FILTER (WHERE timed) AS median_s,
    quantile_cont(used_s, 0.9) FILTER (WHERE timed) AS p90_s
"""
# The time used says something where an end came (kept, or broken by a late end); `never`
# has no end to wait for.
_TIMED = "end_ts IS NOT NULL AND kind <> 'never'"


def counts(occurrences: pa.Table, by: Breakdown | Literal["key"] | None = None, *,
           departments: Mapping[str, Sequence[str]] | None = None,
           segments: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """Rows of promise, commitment, key (None without `by`; every commitment together under
    `department`), the COUNTS, median_s and p90_s, in the table's commitment order and then
    by key. `departments`: promise -> its departments; `segments`: customer -> segments."""
    if by is not None and by not in BREAKDOWNS and by != KEY:
        raise ValueError(f"no breakdown {by!r} (known: {', '.join(BREAKDOWNS)})")
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("occ", occurrences)
        source = f"SELECT *, {_TIMED} AS timed, row_number() OVER () AS place FROM occ"
        ids = "promise, commitment"
        label = "key"  # the group's key as text, formed once per group
        if by is None:
            key, join = "CAST(NULL AS VARCHAR)", ""
        elif by == "channel":
            key, join = "channel", ""
        elif by == KEY:
            key, join = "s.key", ""
        elif by in ("week", "month"):
            # Truncated as the UTC wall time (a TIMESTAMP): on the TIMESTAMPTZ itself,
            # date_trunc asks the time-zone library about every row.
            key, join = f"date_trunc('{by}', make_timestamp(epoch_us(start_ts)))", ""
            label = "CAST(CAST(key AS DATE) AS VARCHAR)"
        elif by == "department":
            con.register("owners", _pairs("promise", "department", departments or {}))
            key, join = "o.department", "JOIN owners AS o USING (promise)"
            ids = "CAST(NULL AS VARCHAR) AS promise, CAST(NULL AS VARCHAR) AS commitment"
        else:
            con.register("members", _pairs("customer", "segment", segments or {}))
            key, join = "m.segment", "JOIN members AS m USING (customer)"
        group = "key" if by == "department" else "promise, commitment, key"
        # In the document's order (the table's), then by key.
        rows = con.execute(f"""
            SELECT * EXCLUDE (first, place_of) REPLACE ({label} AS key) FROM (
                SELECT *, min(first) OVER (PARTITION BY {group.replace(', key', '')})
                       AS place_of
                FROM (SELECT {ids}, {key} AS key, {_COUNTS}, min(place) AS first
                      FROM ({source}) AS s {join} GROUP BY {group}) AS g
            ) AS o ORDER BY place_of, key
        """).fetchall()
        names = [d[0] for d in con.description or []]
    finally:
        con.close()
    return [dict(zip(names, row, strict=True)) for row in rows]


def _subjects(as_of: datetime) -> str:
    """Occurrences (registered as `occ_keyed`, numbered `row_id`) as the things a breakdown
    looks a key up for (breakdowns.keys_sql)."""
    moment = as_of.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    return (f"SELECT row_id, customer, occurrence AS event_id, "
            f"coalesce(end_ts, TIMESTAMPTZ '{moment}+00:00') AS at FROM occ_keyed")


def _numbered(occurrences: pa.Table) -> pa.Table:
    return occurrences.append_column("row_id", pa.array(range(occurrences.num_rows),
                                                        pa.int64()))


def with_keys(cursor: Any, workspace_id: int, occurrences: pa.Table, dimension: Dimension,
              as_of: datetime) -> pa.Table:
    """The occurrences with a `key` column: their value of a lookup breakdown (NULL when
    they have none), found in the event store (`cursor`; an attribute breakdown reads the
    registered breakdowns.ATTRIBUTES relation)."""
    numbered = _numbered(occurrences.drop_columns([KEY]) if KEY in occurrences.column_names
                         else occurrences)
    cursor.register("occ_keyed", numbered)
    try:
        keys = breakdowns.keys_sql(dimension, _subjects(as_of),
                                   breakdowns.Source(int(workspace_id)))
        table: pa.Table = cursor.sql(f"""
            SELECT o.* EXCLUDE (row_id), CAST(k.key AS VARCHAR) AS key
            FROM occ_keyed AS o LEFT JOIN ({keys}) AS k USING (row_id)
            ORDER BY o.row_id
        """).to_arrow_table()
    finally:
        cursor.unregister("occ_keyed")
    return table


def matching(cursor: Any, workspace_id: int, occurrences: pa.Table,
             conditions: Sequence[Condition], as_of: datetime) -> pa.Table:
    """The occurrences that meet every condition: lookups (property, attribute, event) and
    the plain `channel`, `touchpoint`, `promise`, `commitment` of the occurrence."""
    plain = {"channel", "touchpoint", "promise", "commitment"}
    table = occurrences
    for c in conditions:
        if c.dimension.plain:
            if c.dimension.kind not in plain:
                raise Invalid(
                    f"where: no filter on {c.dimension.text} for promises (known: "
                    f"{', '.join(sorted(plain))}, property:<name>, attribute:<name>, "
                    "event:<type>)")
            table = table.filter(pc.equal(table[c.dimension.kind], c.value))
    lookups = [c for c in conditions if not c.dimension.plain]
    if not lookups or not table.num_rows:
        return table
    numbered = _numbered(table)
    cursor.register("occ_keyed", numbered)
    try:
        chosen = breakdowns.matching_sql(lookups, _subjects(as_of),
                                         breakdowns.Source(int(workspace_id)))
        found: pa.Table = cursor.sql(f"""
            SELECT * EXCLUDE (row_id) FROM occ_keyed WHERE row_id IN ({chosen})
            ORDER BY row_id
        """).to_arrow_table()
    finally:
        cursor.unregister("occ_keyed")
    return found.cast(table.schema)


def _pairs(left: str, right: str, mapping: Mapping[str, Sequence[str]]) -> pa.Table:
    keys = [k for k, values in mapping.items() for _ in values]
    values = [v for vs in mapping.values() for v in vs]
    return pa.table({left: pa.array(keys, pa.string()), right: pa.array(values, pa.string())})


def after(cursor: Any, workspace_id: int, occurrences: pa.Table, *, days: float = 30,
          outcome: str | None = None, together: bool = False) -> list[dict[str, Any]]:
    """What followed each commitment's kept and broken occurrences, per (promise,
    commitment, verdict): the customer's first answer started within `days` after the
    occurrence's start (NPS counts, CES n/sum/squares) and, with `outcome` (an event type:
    a repurchase, a churn), how many occurrences saw that event within `days`.

    `together`: also every promise together, one judged row per customer (promise and
    commitment '*', last), for "customers with a broken promise against the rest": broken
    when any of their occurrences is (from the first broken one's start), kept when all
    judged ones are (from the first one's start).

    `cursor`: the event store's (responses and events live there). A customer's first
    answer after a moment is looked up once per (customer, moment): the '*' rows start at
    one of their occurrences' starts, and two commitments often share a start event."""
    cursor.register("occ_after", occurrences.select(
        ["promise", "commitment", "verdict", "customer", "start_ts"]))
    window = f"INTERVAL {float(days) * 86400!r} SECOND"
    outcome_sql = ("0" if outcome is None else
                   f"""count(*) FILTER (WHERE EXISTS (
                        SELECT 1 FROM events AS e WHERE e.workspace_id = {int(workspace_id)}
                          AND e.customer = j.customer AND e.type = $outcome
                          AND e.occurred_at > j.start_ts
                          AND e.occurred_at <= j.start_ts + {window}))""")
    everyone = """
            UNION ALL
            SELECT '*', '*', CASE WHEN bool_or(verdict = 'broken') THEN 'broken' ELSE 'kept' END,
                   customer,
                   coalesce(min(start_ts) FILTER (WHERE verdict = 'broken'), min(start_ts))
            FROM judged WHERE customer IS NOT NULL GROUP BY customer""" if together else ""
    try:
        rows = cursor.execute(f"""
            WITH judged AS (
                SELECT promise, commitment, verdict, customer, start_ts FROM occ_after
                WHERE verdict IN ('kept', 'broken')
            ), subjects AS (
                SELECT * FROM judged{everyone}
            ), answer AS (
                SELECT s.customer, s.start_ts,
                       arg_min(r.nps, r.started_at) AS nps, arg_min(r.ces, r.started_at) AS ces
                FROM subjects AS s JOIN responses AS r
                  ON r.workspace_id = {int(workspace_id)} AND r.customer = s.customer
                 AND r.started_at > s.start_ts AND r.started_at <= s.start_ts + {window}
                 AND (r.nps IS NOT NULL OR r.ces IS NOT NULL)
                GROUP BY s.customer, s.start_ts
            ), answered AS (
                SELECT promise, commitment, verdict,
                       count(*) FILTER (WHERE nps >= 9) AS promoters,
                       count(*) FILTER (WHERE nps BETWEEN 7 AND 8) AS passives,
                       count(*) FILTER (WHERE nps <= 6) AS detractors,
                       count(ces) AS ces_n, coalesce(sum(ces), 0) AS ces_sum,
                       coalesce(sum(CAST(ces AS INTEGER) * ces), 0) AS ces_squares
                FROM subjects JOIN answer USING (customer, start_ts) GROUP BY ALL
            ), followed AS (
                SELECT promise, commitment, verdict, count(*) AS occurrences,
                       {outcome_sql} AS outcome
                FROM subjects AS j GROUP BY ALL
            )
            SELECT f.promise, f.commitment, f.verdict, f.occurrences, f.outcome,
                   coalesce(a.promoters, 0), coalesce(a.passives, 0),
                   coalesce(a.detractors, 0), coalesce(a.ces_n, 0), coalesce(a.ces_sum, 0),
                   coalesce(a.ces_squares, 0)
            FROM followed AS f LEFT JOIN answered AS a USING (promise, commitment, verdict)
            ORDER BY f.promise = '*', f.promise, f.commitment, f.verdict
        """, {"outcome": outcome} if outcome is not None else {}).fetchall()
    finally:
        cursor.unregister("occ_after")
    names = ("promise", "commitment", "verdict", "occurrences", "outcome", "promoters",
             "passives", "detractors", "ces_n", "ces_sum", "ces_squares")
    return [dict(zip(names, row, strict=True)) for row in rows]
