"""kokemus's journey analytics against pm4py on generated logs.

pm4py gets the sorted log (by case, timestamp, sequence), so its answers are right; kokemus
gets the same rows, and also the shuffled ones: the order is the engine's job, not the
input's. Equal timestamps inside a case are common here and the sequence column breaks them.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import duckdb
import pandas as pd  # type: ignore[import-untyped]
import pyarrow as pa
import pytest

from kokemus.analytics import journeys
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import table_log
from tests.analytics.generated import ACTIVITIES, make_log

pm4py = pytest.importorskip("pm4py")

CASE, ACT, TS = "case:concept:name", "concept:name", "time:timestamp"


def sorted_frame(log: pa.Table) -> pd.DataFrame:
    df = log.to_pandas().sort_values(["case_id", "ts", "seq"], kind="stable")
    df = df.rename(columns={"case_id": CASE, "activity": ACT, "ts": TS}).reset_index(drop=True)
    df[TS] = pd.to_datetime(df[TS], utc=True)
    return df


def kokemus_engine(log: pa.Table) -> tuple[DuckDBEngine, Any]:
    con = duckdb.connect()
    con.register("generated", log)
    return DuckDBEngine(con), table_log("generated", "case_id", "activity", "ts", seq="seq")


def kokemus_answers(log: pa.Table) -> dict[str, Any]:
    engine, tlog = kokemus_engine(log)
    dfg = journeys.dfg(engine, tlog).to_pylist()
    variants = journeys.variants(engine, tlog).to_pylist()
    ends = journeys.start_end(engine, tlog).to_pylist()
    return {
        "dfg": {(r["source"], r["target"]): r["count"] for r in dfg},
        "median": {(r["source"], r["target"]): r["median_s"] for r in dfg},
        "variants": {tuple(r["variant"]): r["cases"] for r in variants},
        "starts": {r["activity"]: r["starts"] for r in ends if r["starts"]},
        "ends": {r["activity"]: r["ends"] for r in ends if r["ends"]},
    }


def pm4py_answers(df: pd.DataFrame) -> dict[str, Any]:
    keys = {"case_id_key": CASE, "activity_key": ACT, "timestamp_key": TS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dfg, starts, ends = pm4py.discover_dfg(df, **keys)
        variants = pm4py.get_variants(df, **keys)
        performance, _, _ = pm4py.discover_performance_dfg(df, **keys)
    return {
        "dfg": dict(dfg),
        "median": {edge: stats["median"] for edge, stats in performance.items()},
        "variants": {tuple(v): (c if isinstance(c, int) else len(c)) for v, c in variants.items()},
        "starts": dict(starts),
        "ends": dict(ends),
    }


@pytest.fixture(scope="module")
def log() -> pa.Table:
    return make_log(4000, seed=7)


@pytest.fixture(scope="module")
def expected(log: pa.Table) -> dict[str, Any]:
    return pm4py_answers(sorted_frame(log))


def test_the_generated_log_is_hard(log: pa.Table) -> None:
    """Rows out of order, and cases with equal timestamps: otherwise the tests prove little."""
    df = log.to_pandas()
    assert not df["case_id"].is_monotonic_increasing
    ties = df.duplicated(["case_id", "ts"]).sum()
    assert ties > 1000
    assert df["activity"].nunique() == len(ACTIVITIES)


@pytest.mark.parametrize("shuffled", [False, True], ids=["sorted", "shuffled"])
def test_dfg_variants_starts_and_ends_equal_pm4py(
    log: pa.Table, expected: dict[str, Any], shuffled: bool
) -> None:
    if shuffled:
        rows = log
    else:
        df = log.to_pandas().sort_values(["case_id", "ts", "seq"], kind="stable")
        rows = pa.Table.from_pandas(df, preserve_index=False)
    got = kokemus_answers(rows)
    for key in ("dfg", "variants", "starts", "ends"):
        assert got[key] == expected[key], key
    assert sum(expected["variants"].values()) == 4000
    assert len(expected["variants"]) > 500  # many variants, but not one per case


def test_median_time_between_activities_equals_pm4py(
    log: pa.Table, expected: dict[str, Any]
) -> None:
    got = kokemus_answers(log)["median"]
    assert got.keys() == expected["median"].keys()
    for edge, median in expected["median"].items():
        assert got[edge] == pytest.approx(median, abs=1e-6), edge


def test_without_a_sequence_the_row_order_breaks_ties() -> None:
    """table_log without seq: equal timestamps keep the order rows come in (a sorted file)."""
    log = make_log(500, seed=3)
    df = log.to_pandas().sort_values(["case_id", "ts", "seq"], kind="stable")
    rows = pa.Table.from_pandas(df.drop(columns="seq"), preserve_index=False)
    con = duckdb.connect()
    con.execute("SET threads = 1")  # the order rows come in is only defined on one thread
    con.register("generated", rows)
    engine = DuckDBEngine(con)
    got = journeys.variants(engine, table_log("generated", "case_id", "activity", "ts"))
    want = pm4py_answers(sorted_frame(log))["variants"]
    assert {tuple(r["variant"]): r["cases"] for r in got.to_pylist()} == want


def test_the_shuffled_log_misleads_a_row_order_reading() -> None:
    """A sanity check of the test data: reading the shuffled rows in arrival order (what a
    per-row tool does without sorting) gives other variants than the true order."""
    log = make_log(500, seed=5)
    df = log.to_pandas()
    arrival = Counter(tuple(g["activity"]) for _, g in df.groupby("case_id", sort=False))
    true = pm4py_answers(sorted_frame(log))["variants"]
    assert dict(arrival) != true
