"""Case-ordered copies of the journeys, so sequence questions need not sort.

Every sequence question orders each case's events by (ts, seq). Sorting ten million events
costs seconds per question. Stored once in that order, with the cases numbered (`case_no`)
and each row's `place` in the copy, the rows serve three ways:

- the DFG streams them: DuckDB keeps a table's order through a scan, filters and a window
  with an empty OVER () (its "order preservation" page), so each event meets its
  predecessor in one pass. The pass checks itself: `place` must rise throughout (a filter
  that joins may reorder rows); when it does not, the DFG falls back to windows;
- every analysis's windows partition by case_no and order by place: two numbers, in an
  order the engine sorts much faster than (case_id, ts, seq);
- `in_order` streams them the same way for any analysis that needs each event's next one
  (the stalls, the time to the next step by channel), with the same check.

The event store's copies (`ORDERED_TABLES`, one per kind of case) are rebuilt by `refresh`:
the worker of `kokemus serve`, `kokemus journeys order` and the demo call it. `ORDER_STATE`
records the last event (seq) they hold. Events keep arriving after a rebuild: the cases
they touch are read from the events (sorted, but only those), the rest from the copy, in
one statement, so one snapshot (`Ordered.current`); with no case touched, the copy alone.
`order_log` makes a copy of any log (an imported file, the benchmark's log). Analyses call
`resolve`, which picks the copy when there is one; the answers are the same either way
(tests compare them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

from kokemus.analytics.engines import Engine
from kokemus.analytics.logs import (
    JOURNEY_COLUMNS,
    ORDER_FORMAT,
    ORDER_STATE,
    ORDERED_TABLES,
    Log,
    Ordered,
    journey_rows,
    literal,
)
from kokemus.domain.errors import KokemusError

_refreshing = threading.Lock()  # one rebuild at a time in this process


@dataclass(frozen=True)
class Refresh:
    """What `refresh` did: the last event seq the copies now hold, rows, seconds."""

    upto_seq: int
    rows: dict[str, int]
    seconds: float
    rebuilt: bool


def usable(engine: Engine, ordered: Ordered) -> bool:
    """Whether the copy can be read here: DuckDB, the table made, and for the event store's
    copies a state row of this format."""
    if engine.dialect.name != "duckdb":
        return False
    names = [ordered.table] + ([ORDER_STATE] if ordered.subject else [])
    made = engine.query("SELECT count(*) AS n FROM duckdb_tables() WHERE table_name IN ("
                        + ", ".join(literal(n) for n in names) + ")").column(0)[0].as_py()
    if made < len(names):
        return False
    if ordered.subject is None:
        return True
    return bool(engine.query(
        f"SELECT count(*) AS n FROM {ORDER_STATE} WHERE subject = {literal(ordered.subject)} "
        f"AND format = {ORDER_FORMAT}").column(0)[0].as_py())


def resolve(engine: Engine, log: Log) -> Log:
    """`log` read from its case-ordered copy (`Ordered.current`), with the copy's window keys
    case_no and place, when the copy can be read; otherwise `log` itself. Every analysis
    with an engine starts here; the answers are the same either way.

    When no case of the log was touched since the copy was made, the copy alone is the log:
    the log as of this check (the copy holds every event up to it), as a statement begun
    then would read it. Reading the touched cases costs seconds even when there are none:
    the engine builds its semi-join on the events' side, not knowing that none match."""
    ordered = log.ordered
    if log.on_copy or ordered is None or not usable(engine, ordered):
        return log
    if ordered.touched is not None and not engine.query(
            f"SELECT count(*) AS n FROM (SELECT case_id FROM ({ordered.touched}) AS t "
            f"LIMIT 1) AS one").column(0)[0].as_py():
        ordered = replace(ordered, touched=None, recent=None)
    return replace(log, source=ordered.current, ordered=ordered, case="case_no",
                   order="place", on_copy=True)


def in_order(engine: Engine, log: Log, leads: Mapping[str, str]) -> str | None:
    """The rows of a log read from its copy (`resolve`), each with `next_<name>` for every
    name and expression of `leads`: the expression on the next row of its case (NULL at the
    case's end). None for other logs.

    Each stored row meets the row after it (one lead, of a struct of what is asked, ordered
    by the row's place in the copy: one sort on an integer, not a window per case), in
    passes over ranges of case numbers, two per thread (as journeys.dfg pairs rows). An
    empty OVER () kept the stored order nearly always but not always: on a 10M-row copy a
    pass's last chunk came back early once, and the whole log fell back to the windows
    (5-7 s instead of under 1). The cases touched since the copy was made come from their
    events, with windows (few rows).

    Columns: case_id, activity, ts, channel, the next_ ones, `kept` and `out_of_order`.
    The log's conditions on whole cases are not applied (they may join, and a join may
    reorder rows): `kept` is whether a row meets them, and figures count only kept rows.
    `out_of_order` marks a row stored after the row the pass gave next (a filter that joins
    may reorder rows): with any such row the next_ columns are not to be trusted, and the
    caller reads the log with windows instead. Count it over every row, kept or not."""
    ordered = log.ordered
    if not log.on_copy or ordered is None:
        return None
    cuts = case_cuts(engine, ordered.stored)
    packed = ", ".join([f"'{name}': {expr}" for name, expr in leads.items()])
    nexts = ", ".join(f"CASE WHEN n.case_no = case_no THEN n.{name} END AS next_{name}"
                      for name in leads)
    passes = " UNION ALL ".join(f"""
        SELECT case_id, activity, ts, channel, {nexts},
               coalesce(n.place <= place, false) AS out_of_order
        FROM (SELECT *, lead({{'case_no': case_no, 'place': place, {packed}}})
                            OVER (ORDER BY place) AS n
              FROM ({log.select(ordered.stored, cases=False)}) AS l
              WHERE {between("case_no", first, end)}) AS l""" for first, end in pairwise(cuts))
    after = [*log.case_filters, *([f"case_id NOT IN ({ordered.touched})"]
                                 if ordered.touched else [])]
    kept = " AND ".join(f"({c})" for c in after) or "true"
    rows = f"SELECT *, {kept} AS kept FROM ({passes}) AS p"
    if ordered.recent is None:
        return rows
    recent = ", ".join(f"lead({expr}) OVER w AS next_{name}" for name, expr in leads.items())
    return f"""{rows}
        UNION ALL
        SELECT case_id, activity, ts, channel, {recent}, false AS out_of_order, true AS kept
        FROM ({log.select(ordered.recent)}) AS r
        WINDOW w AS (PARTITION BY case_id ORDER BY ts, seq)"""


def case_cuts(engine: Engine, stored: str) -> list[int | None]:
    """Where to cut a copy's case numbers into passes, two per thread (the engine runs the
    passes side by side; a case is never cut): pairs of neighbours are [first, end) ranges,
    the first and last open, so a copy rebuilt meanwhile still has every case in one."""
    lo, hi, threads = engine.query(
        f"SELECT min(case_no) AS lo, max(case_no) AS hi, "
        f"CAST(current_setting('threads') AS BIGINT) AS threads FROM ({stored}) AS s"
    ).to_pylist()[0].values()
    ranges = 1 if lo is None else max(1, min(2 * int(threads), hi - lo + 1))
    return [None, *(lo + (hi + 1 - lo) * i // ranges for i in range(1, ranges)), None]


def between(column: str, first: int | None, after: int | None) -> str:
    """`first` <= column < `after`; an open end when None."""
    bounds = ([f"{column} >= {first}"] if first is not None else []) + (
        [f"{column} < {after}"] if after is not None else [])
    return " AND ".join(bounds) or "true"


def order_log(connection: Any, log: Log, table: str) -> Log:
    """Store `log`'s rows in case order in the DuckDB table `table` (replaced) and return the
    log (its filters applied) with that copy. The copy does not follow later changes of the
    log's source."""
    store_in_order(connection, f'"{table}"', log.sql)
    return with_copy(Log(log.sql), table)


def with_copy(log: Log, table: str) -> Log:
    """`log` with the case-ordered copy `order_log` stored in `table` earlier."""
    return replace(log, ordered=Ordered(table, f'SELECT *, rowid AS place FROM "{table}"'))


def store_in_order(connection: Any, table: str, rows: str, cases: str = "case_id") -> int:
    """Replace `table` with `rows` in (`cases`, ts, seq) order, numbering the cases in that
    order (`case_no`: comparing two numbers is cheaper than comparing two ids, for every
    row of every pass); check the order; return the rows stored.

    The cases are numbered first (a sort of the distinct cases, far fewer than the rows) and
    the rows sorted by their case's number: cheaper than sorting by the ids, and than
    numbering the cases in a pass over the sorted rows (a pass is one thread)."""
    keys = [k.strip() for k in cases.split(",")]
    columns = {row[0] for row in connection.execute(f"DESCRIBE {rows}").fetchall()}
    if columns & {"case_no", "place"}:
        raise KokemusError("a log to put in case order may not have columns named case_no "
                           "or place (the copy adds them)")
    if not connection.execute("SELECT current_setting('preserve_insertion_order')"
                              ).fetchall()[0][0]:
        raise KokemusError("putting a log in case order needs DuckDB's "
                           "preserve_insertion_order = true (its default)")
    same = " AND ".join(f"r.{k} IS NOT DISTINCT FROM c.{k}" for k in keys)
    connection.execute(f"""
        CREATE OR REPLACE TABLE {table} AS
        SELECT r.*, c.case_no
        FROM ({rows}) AS r
        JOIN (SELECT {cases}, row_number() OVER (ORDER BY {cases}) AS case_no
              FROM (SELECT DISTINCT {cases} FROM ({rows}) AS d) AS u) AS c ON {same}
        ORDER BY c.case_no, r.ts, r.seq
    """)
    return check_order(connection, table, keys)


def stale(connection: Any) -> bool:
    """Whether an event came after the event store's copies were made (or none were)."""
    built = _built(connection)
    return built is None or _latest(connection) > built


def _latest(connection: Any) -> int:
    """The seq of the event store's last event (0 without events)."""
    return int(connection.execute("SELECT coalesce(max(seq), 0) FROM events").fetchall()[0][0])


def refresh(connection: Any, *, force: bool = False) -> Refresh:
    """Rebuild the event store's case-ordered copies from `connection` (a cursor of its own:
    events keep arriving through the writer meanwhile; the copies and the seq they hold up
    to come from one snapshot). Skipped when nothing is new, unless `force`."""
    started = time.perf_counter()
    with _refreshing:
        connection.execute(f"CREATE TABLE IF NOT EXISTS {ORDER_STATE} (subject VARCHAR "
                           "PRIMARY KEY, format INTEGER NOT NULL, upto_seq BIGINT NOT NULL, "
                           "rows BIGINT NOT NULL, built_at TIMESTAMPTZ NOT NULL)")
        connection.execute("BEGIN TRANSACTION")
        try:
            upto = _latest(connection)
            built = _built(connection)
            if not force and built is not None and upto <= built:
                connection.execute("COMMIT")
                return Refresh(built, {}, time.perf_counter() - started, rebuilt=False)
            rows: dict[str, int] = {}
            for subject, table in ORDERED_TABLES.items():
                rows[subject] = store_in_order(
                    connection, table,
                    f"SELECT workspace_id, {JOURNEY_COLUMNS} FROM ({journey_rows(subject)}) AS e",
                    cases="workspace_id, case_id")
                connection.execute(
                    f"INSERT OR REPLACE INTO {ORDER_STATE} VALUES (?, ?, ?, ?, now())",
                    [subject, ORDER_FORMAT, upto, rows[subject]])
            connection.execute("COMMIT")
        except Exception:
            connection.execute("ROLLBACK")
            raise
    return Refresh(upto, rows, time.perf_counter() - started, rebuilt=True)


def rebuild_if_made(connection: Any) -> Refresh | None:
    """Rebuild the event store's copies, if any were made, after events were changed or
    deleted in place (an erasure, the retention period): the seq they hold up to cannot
    see such a change, so `refresh` would keep them. None when there were no copies."""
    names = [ORDER_STATE, *ORDERED_TABLES.values()]
    made = connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name IN ("
        + ", ".join("?" for _ in names) + ")", names).fetchall()[0][0]
    return refresh(connection, force=True) if made else None


def _built(connection: Any) -> int | None:
    exists = connection.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
                                [ORDER_STATE]).fetchall()[0][0]
    if not exists:
        return None
    row = connection.execute(f"SELECT min(upto_seq), count(*) FROM {ORDER_STATE} "
                             f"WHERE format = {ORDER_FORMAT}").fetchall()[0]
    return int(row[0]) if row[1] == len(ORDERED_TABLES) else None


def check_order(connection: Any, table: str, cases: list[str] | None = None) -> int:
    """Raise unless `table`'s rows are stored in (cases, ts, seq) order, with `case_no`
    rising by one at each new case; return the rows. The fast answers trust the stored
    order: each checks only that its own pass keeps it."""
    cases = cases or ["case_id"]
    keys = [*cases, "ts", "seq"]
    lagged = ", ".join(f"lag({k}) OVER () AS p_{k}" for k in [*keys, "case_no"])
    # (p_k1, p_k2, ...) > (k1, k2, ...), spelled out: a row stored before the previous one.
    wrong: list[str] = []
    equal: list[str] = []
    for k in keys:
        wrong.append("(" + " AND ".join([*equal, f"p_{k} > {k}"]) + ")")
        equal.append(f"p_{k} IS NOT DISTINCT FROM {k}")
    same_case = " AND ".join(f"p_{k} IS NOT DISTINCT FROM {k}" for k in cases)
    wrong.append(f"(p_case_no IS NOT NULL AND p_case_no + CASE WHEN {same_case} "
                 "THEN 0 ELSE 1 END <> case_no)")
    bad, rows = connection.execute(
        f"SELECT count(*) FILTER (WHERE {' OR '.join(wrong)}), count(*) FROM "
        f"(SELECT {', '.join(keys)}, case_no, {lagged} FROM {table}) AS t").fetchall()[0]
    if bad:
        raise RuntimeError(f"{table} was not stored in case order ({bad} rows out of place)")
    return int(rows)
