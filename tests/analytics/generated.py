"""Generated event logs for the journey analytics' tests."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import Log, table_log

ACTIVITIES = [f"step_{c}" for c in "abcdefghij"]


def make_log(cases: int, seed: int) -> pa.Table:
    """Shuffled rows: case, activity, ts (many equal within a case), seq (the true order)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 12, cases)
    n = int(lengths.sum())
    case_of = np.repeat(np.arange(cases), lengths)
    weights = 1.0 / np.arange(1, len(ACTIVITIES) + 1) ** 1.2
    activity = rng.choice(len(ACTIVITIES), n, p=weights / weights.sum())
    # gaps of whole minutes, a third of them zero: equal timestamps inside cases
    gaps = rng.integers(0, 3, n) * rng.integers(1, 600, n) * 60
    first = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    gaps[first] = rng.integers(0, 30 * 86400, cases)
    csum = np.cumsum(gaps)
    start_of_case = np.repeat(csum[first] - gaps[first], lengths)
    ts = np.datetime64("2024-01-01T00:00:00", "s") + (csum - start_of_case)
    seq = np.arange(n)
    order = rng.permutation(n)
    return pa.table({
        "case_id": pa.array([f"c{c:05d}" for c in case_of[order]]),
        "activity": pa.array([ACTIVITIES[a] for a in activity[order]]),
        "ts": pa.array(ts[order].astype("datetime64[us]")),
        "seq": pa.array(seq[order] * 7 % (n * 7)),  # not dense, still in the case's order
    })


def minutes_log(rows: list[tuple[str, str, int, int]]) -> tuple[DuckDBEngine, Log]:
    """A hand-made log in DuckDB: (case, activity, minute after 2026-01-01, seq) rows."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (case_id VARCHAR, activity VARCHAR, ts TIMESTAMP, seq BIGINT)")
    if rows:
        con.executemany("INSERT INTO t VALUES (?, ?, TIMESTAMP '2026-01-01' + to_minutes(?), ?)",
                        rows)
    return DuckDBEngine(con), table_log("t", seq="seq")
