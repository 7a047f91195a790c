"""Variants page by page: offset and limit walk the whole list once, ranks and cumulative
shares run over every variant, and the counts of variants and of cases on one path agree
with the full list (on DuckDB; tests/analytics/test_spark.py runs the same on Spark)."""

from __future__ import annotations

import itertools

import duckdb
import pytest

from kokemus.analytics import journeys
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import Log
from tests.analytics.generated import make_log


@pytest.fixture(scope="module")
def generated() -> tuple[DuckDBEngine, Log]:
    con = duckdb.connect()
    con.register("gen_arrow", make_log(2000, seed=3))
    con.execute("CREATE TABLE gen AS SELECT *, 'web' AS channel FROM gen_arrow")
    return DuckDBEngine(con), Log("SELECT case_id, activity, ts, seq, channel FROM gen")


def test_pages_cover_every_variant_once_in_order(generated: tuple[DuckDBEngine, Log]) -> None:
    engine, log = generated
    everything = journeys.variants(engine, log).to_pylist()
    assert len(everything) > 120  # several pages of 50
    pages = [journeys.variants(engine, log, limit=50, offset=o, running=True).to_pylist()
             for o in range(0, len(everything) + 50, 50)]
    assert pages[-1] == [] and all(len(p) == 50 for p in pages[:-2])
    rows = list(itertools.chain.from_iterable(pages))
    assert [(r["variant"], r["cases"], r["share"], r["length"]) for r in rows] == [
        (r["variant"], r["cases"], r["share"], r["length"]) for r in everything]
    assert [r["rank"] for r in rows] == list(range(1, len(everything) + 1))
    total = sum(r["cases"] for r in everything)
    running = list(itertools.accumulate(r["cases"] for r in everything))
    assert [r["cumulative_share"] for r in rows] == pytest.approx([n / total for n in running])
    assert rows[-1]["cumulative_share"] == pytest.approx(1.0)
    # Without `running`, the columns are as before (the API and CLI print them).
    assert journeys.variants(engine, log, limit=3).column_names == [
        "variant", "cases", "share", "length"]


def test_variant_count_and_cases_on_one_path(generated: tuple[DuckDBEngine, Log]) -> None:
    engine, log = generated
    everything = journeys.variants(engine, log).to_pylist()
    assert journeys.variant_count(engine, log) == len(everything)
    for row in (everything[0], everything[7], everything[-1]):
        assert journeys.cases_following(engine, log, row["variant"]) == row["cases"]
    # A prefix of a travelled path is another path: only exact matches count.
    longest = max(everything, key=lambda r: r["length"])
    prefix = longest["variant"][:-1]
    expected = next((r["cases"] for r in everything if r["variant"] == prefix), 0)
    assert journeys.cases_following(engine, log, prefix) == expected
    assert journeys.cases_following(engine, log, ["step_a", "nowhere"]) == 0
    assert journeys.cases_following(engine, log, []) == 0
    assert journeys.variant_count(engine, log.where("1 = 0")) == 0
