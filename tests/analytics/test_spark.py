"""The analytics give the same tables on Spark as on DuckDB.

Each analysis is written once (kokemus.analytics); here it runs on DuckDB and, unchanged, on
pyspark in local mode over the same data exported to Parquet, and the two Arrow tables must
be equal: the same schema (types, time zones) and the same rows after sorting, floats
included, bit for bit (no tolerance: the dialect's Spark spellings do the same arithmetic
as DuckDB, see Dialect.quantile).

Needs java on PATH and pyspark (the `spark` or `dev` extra); skipped otherwise. One Spark
session serves the whole module (its start takes ~10 s).
"""

from __future__ import annotations

import datetime
import math
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kokemus import bootstrap
from kokemus.analytics import (
    accounts,
    breakdowns,
    channels,
    conformance,
    dropoff,
    funnels,
    journeys,
    promises,
)
from kokemus.analytics.engines import DuckDBEngine, Engine, SparkEngine, export_events
from kokemus.analytics.logs import Log, events_log, literal
from kokemus.analytics.promises import Scope
from kokemus.config import Settings
from kokemus.demo import generate
from kokemus.domain.business_hours import BusinessHours
from kokemus.services import workspaces
from kokemus.storage import people
from tests.analytics.generated import make_log, promise_commitments, promise_events

pytestmark = [
    pytest.mark.spark,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.skipif(shutil.which("java") is None,
                       reason="no java on PATH: Spark's local mode needs a JVM"),
]
pytest.importorskip("pyspark", reason="pyspark is not installed (the `spark` or `dev` extra)")

AS_OF = datetime.datetime(2026, 7, 1, tzinfo=datetime.UTC)  # not now(): both engines alike


# --- comparing results -------------------------------------------------------------------

def _key(row: dict[str, Any]) -> str:
    return repr(sorted(row.items()))


# A sum (or mean) of many floats depends on the order of the additions, which neither
# engine fixes (both add per thread, then merge): such columns may differ in the last bits
# and are compared to 1e-12, relative. Every other float is compared exactly.
SUMMED = 1e-12


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=SUMMED, abs_tol=SUMMED)
    return bool(a == b)


def assert_same(duck: pa.Table, spark: pa.Table, *, summed: tuple[str, ...] = ()) -> None:
    """Same schema, same rows in any order; floats compared exactly, but for the
    `summed` columns (sums of floats, see SUMMED)."""
    assert spark.schema.equals(duck.schema), f"\nDuckDB:\n{duck.schema}\nSpark:\n{spark.schema}"
    assert spark.num_rows == duck.num_rows
    exact = [c for c in duck.column_names if c not in summed]
    a, b = duck.to_pylist(), spark.to_pylist()
    assert not any(isinstance(v, float) and math.isnan(v) for r in a for v in r.values())

    def key(row: dict[str, Any]) -> str:
        return _key({c: row[c] for c in exact})

    a, b = sorted(a, key=key), sorted(b, key=key)
    assert [{c: r[c] for c in exact} for r in a] == [{c: r[c] for c in exact} for r in b]
    for ra, rb in zip(a, b, strict=True):
        for c in summed:
            assert _close(ra[c], rb[c]), (c, ra, rb)


@dataclass
class Pair:
    duck: DuckDBEngine
    spark: SparkEngine
    folder: Path

    def load(self, name: str, table: pa.Table) -> None:
        """`table` as the table `name` on both engines, through a Parquet file."""
        path = self.folder / f"{name}.parquet"
        pq.write_table(table, path)
        self.duck.connection.execute(
            f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM read_parquet({literal(str(path))})")
        self.spark.register(name, str(path))

    def same(self, analysis: Callable[[Engine], pa.Table], *, nonempty: bool = True) -> pa.Table:
        duck = analysis(self.duck)
        assert_same(duck, analysis(self.spark))
        if nonempty:
            assert duck.num_rows > 0
        return duck


# --- engines and data --------------------------------------------------------------------

@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local mode: no other interface
    session = (
        SparkSession.builder.master("local[2]")
        .appName("kokemus-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def generated(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """3,000 cases, shuffled rows, many equal timestamps inside a case, a few NULL channels;
    `ts` a TIMESTAMP without time zone (Spark's TIMESTAMP_NTZ)."""
    table = make_log(3000, seed=11)
    rng = np.random.default_rng(5)
    names = np.array(["web", "email", "phone", "store"])
    picked = names[rng.integers(0, len(names), table.num_rows)]
    table = table.append_column("channel", pa.array(
        picked, mask=rng.random(table.num_rows) < 0.05))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    pair = Pair(DuckDBEngine(con), SparkEngine(spark), tmp_path_factory.mktemp("generated"))
    pair.load("gen", table)
    yield pair
    con.close()


GENERATED = Log("SELECT case_id, activity, ts, seq, channel FROM gen")


@dataclass
class Demo:
    pair: Pair
    kk: bootstrap.Kokemus
    ids: dict[str, int]


@pytest.fixture(scope="module")
def demo(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The three demo workspaces with 1,000 customers; the events exported to Parquet."""
    folder = tmp_path_factory.mktemp("demo")
    settings = Settings(data_dir=folder / "data", secret_key="test-secret")
    with bootstrap.build(settings) as kk:
        generate.run(kk, customers=1000, end=datetime.date(2026, 6, 30))
        path = str(folder / "events.parquet")
        with kk.events.reading() as cursor:
            export_events(cursor, path)
            engine = SparkEngine(spark)
            engine.register_events(path)
            ids = {s.slug: workspaces.get(kk.db, s.slug).id for s in generate.SCENARIOS}
            yield Demo(Pair(DuckDBEngine(cursor), engine, folder), kk, ids)


def _demo_logs(demo: Demo) -> list[tuple[str, Log]]:
    """Each demo workspace's events as a customer log and per journey; accounts too."""
    logs: list[tuple[str, Log]] = []
    for slug, ws_id in demo.ids.items():
        logs.append((slug, events_log(ws_id)))
        logs.append((f"{slug}/accounts", events_log(ws_id, subject="account")))
        for journey in workspaces.get(demo.kk.db, slug).document.journeys:
            logs.append((f"{slug}/{journey.id}", events_log(ws_id, journey)))
    return logs


# --- the dialect on its own --------------------------------------------------------------

def test_quantiles_are_bit_identical(generated: Pair) -> None:
    """quantile_cont and its Spark spelling on awkward values: large, tiny, repeated,
    integer input, single-value and two-value groups, many q."""
    rng = np.random.default_rng(3)
    n = 4000
    groups = rng.integers(0, 60, n)
    values = np.where(rng.random(n) < 0.3, rng.integers(0, 5, n).astype(float),
                      rng.lognormal(3, 4, n) * rng.choice([-1, 1], n))
    x = np.concatenate([values, [1.5, 0.1, 0.7]])
    table = pa.table({
        "g": np.concatenate([groups, [1000, 1001, 1001]]),
        "x": x,
        "i": np.where(np.abs(x) < 1e15, x, 0).astype(np.int64),
    })
    generated.load("qtest", table)

    def quantiles(engine: Engine) -> pa.Table:
        d = engine.dialect
        qs = [0.0, 0.01, 0.1, 0.25, 1 / 3, 0.5, 0.9, 0.95, 0.99, 1.0]
        cols = ", ".join(f"{d.quantile('x', q)} AS x{i}, {d.quantile('i', q)} AS i{i}"
                         for i, q in enumerate(qs))
        return engine.query(f"SELECT g, {cols} FROM qtest GROUP BY g")

    generated.same(quantiles)


def test_seconds_between_and_ordered_list(generated: Pair) -> None:
    def check(engine: Engine) -> pa.Table:
        d = engine.dialect
        return engine.query(f"""
            SELECT case_id, {d.ordered_list("activity", "ts, seq")} AS path,
                   {d.ordered_list("channel", "ts, seq")} AS channels,
                   {d.length(d.ordered_list("activity", "ts, seq"))} AS n,
                   max({d.seconds_between("ts", "ts + INTERVAL 90 SECOND")}) AS s,
                   {d.seconds_between("min(ts)", "max(ts)")} AS span
            FROM gen GROUP BY case_id
        """)

    generated.same(check)


def test_string_literals(generated: Pair) -> None:
    values = ["plain", "it's", "'quoted'", "ääkköset €"]
    generated.same(lambda e: e.query(
        " UNION ALL ".join(f"SELECT {i} AS i, {literal(v)} AS v" for i, v in enumerate(values))))


def test_backslash_literal(generated: Pair) -> None:
    value = "back\\slash"
    assert generated.spark.query(f"SELECT {literal(value)} AS v").column(0).to_pylist() \
        == [value]


def test_a_view_of_an_arrow_table(generated: Pair) -> None:
    table = pa.table({"k": pa.array([1, 2, 3], pa.int64()), "v": pa.array(["a", None, "c"])})

    def read(engine: Engine) -> pa.Table:
        with engine.view("arrow_rows", table):
            return engine.query("SELECT k, v FROM arrow_rows")

    assert generated.same(read).sort_by("k").equals(table)
    assert not generated.spark.spark.catalog.tableExists("arrow_rows")  # gone after it


# --- journeys on a generated log ---------------------------------------------------------

def test_journeys_on_generated_log(generated: Pair) -> None:
    for log in (GENERATED, GENERATED.on_channels(["web", "email"]),
                GENERATED.between(datetime.datetime(2024, 1, 10), datetime.datetime(2024, 1, 20)),
                GENERATED.of_cases("activity = 'step_c'")):
        generated.same(lambda e, log=log: journeys.dfg(e, log))
        generated.same(lambda e, log=log: journeys.start_end(e, log))
        generated.same(lambda e, log=log: journeys.variants(e, log))
        assert journeys.summary(generated.duck, log) == journeys.summary(generated.spark, log)


def test_variants_types(generated: Pair) -> None:
    generated.same(lambda e: journeys.variants(e, GENERATED))


def test_variant_pages(generated: Pair) -> None:
    """The variant explorer's page: offset, ranks and cumulative shares, counts of variants
    and of cases on one path, alike on both engines."""
    page = generated.same(lambda e: journeys.variants(e, GENERATED, limit=50, offset=50,
                                                      running=True))
    assert page.column("rank").to_pylist()[0] == 51
    log = GENERATED.on_channels(["web"])
    assert journeys.variant_count(generated.duck, log) == journeys.variant_count(
        generated.spark, log) > 100
    path = page.column("variant").to_pylist()[0]
    assert journeys.cases_following(generated.duck, GENERATED, path) == journeys.cases_following(
        generated.spark, GENERATED, path) == page.column("cases").to_pylist()[0]


def test_channel_sequences_types(generated: Pair) -> None:
    generated.same(lambda e: channels.channel_switches(e, GENERATED).sequences)


def _same_switches(pair: Pair, log: Log) -> None:
    both = [channels.channel_switches(e, log) for e in (pair.duck, pair.spark)]
    for name in ("pairs", "multichannel", "channels_per_case"):
        assert_same(getattr(both[0], name), getattr(both[1], name))
    assert_same(both[0].sequences, both[1].sequences)


def test_channels_on_generated_log(generated: Pair) -> None:
    _same_switches(generated, GENERATED)
    generated.same(lambda e: channels.touchpoint_by_channel(e, GENERATED, goal="step_d",
                                                            min_cases=10))


# --- the demo's event store --------------------------------------------------------------

def test_demo_journeys(demo: Demo) -> None:
    events = 0
    for _name, log in _demo_logs(demo):
        summary = journeys.summary(demo.pair.duck, log)
        assert summary == journeys.summary(demo.pair.spark, log)
        events += summary["events"]
        demo.pair.same(lambda e, log=log: journeys.dfg(e, log), nonempty=False)
        demo.pair.same(lambda e, log=log: journeys.start_end(e, log), nonempty=False)
        demo.pair.same(lambda e, log=log: journeys.variants(e, log), nonempty=False)
    assert events > 10_000


def test_demo_filters(demo: Demo) -> None:
    ws_id = next(iter(demo.ids.values()))
    log = (events_log(ws_id).between(datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC))
           .of_cases("type = 'order_placed' OR channel = 'web'"))
    demo.pair.same(lambda e: journeys.dfg(e, log))
    demo.pair.same(lambda e: journeys.variants(e, log))


def test_demo_channels(demo: Demo) -> None:
    for slug, ws_id in demo.ids.items():
        _same_switches(demo.pair, events_log(ws_id))
        for journey in workspaces.get(demo.kk.db, slug).document.journeys:
            demo.pair.same(lambda e, w=ws_id, j=journey: channels.touchpoint_by_channel(
                e, events_log(w, j), goal=j.goal), nonempty=False)


def test_demo_accounts(demo: Demo) -> None:
    for ws_id in demo.ids.values():
        roles = accounts.roles_relation(accounts.read_members(demo.kk.db, ws_id))
        both = [accounts.committee_coverage(e, ws_id, roles)
                for e in (demo.pair.duck, demo.pair.spark)]
        for name in ("reach", "accounts", "by_band", "by_key_roles"):
            assert_same(getattr(both[0], name), getattr(both[1], name))
        demo.pair.same(lambda e, w=ws_id: accounts.outcome_by_signal(
            e, w, "channel = 'phone'"), nonempty=False)


def test_export_keeps_instants(demo: Demo, tmp_path: Path) -> None:
    """The Parquet export keeps occurred_at a UTC instant and seq the store's sequence."""
    sql = "SELECT workspace_id, id, seq, customer, occurred_at FROM events"
    demo.pair.same(lambda e: e.query(sql))


def _demo_journeys(demo: Demo) -> list[tuple[int, Any]]:
    return [(ws_id, journey) for slug, ws_id in demo.ids.items()
            for journey in workspaces.get(demo.kk.db, slug).document.journeys]


def test_demo_conformance(demo: Demo) -> None:
    for ws_id, journey in _demo_journeys(demo):
        if not journey.designed_path:
            continue
        log = events_log(ws_id, journey)
        duck, spark = (conformance.conformance(e, log, journey)
                       for e in (demo.pair.duck, demo.pair.spark))
        for name in ("cases", "conforming_share", "complete_share"):
            assert getattr(duck, name) == getattr(spark, name), name
        for name in ("fitness", "transition_fitness"):  # means of per-case fitness
            assert _close(getattr(duck, name), getattr(spark, name)), name
        assert_same(duck.deviations, spark.deviations)
        assert_same(duck.skipped, spark.skipped)
        demo.pair.same(lambda e, log=log, j=journey: conformance.cases(e, log, j))
        demo.pair.same(lambda e, log=log, j=journey: conformance.deviations_by_touchpoint(
            e, log, j), nonempty=False)
        demo.pair.same(lambda e, log=log, j=journey: conformance.align_variants(e, log, j))


def test_conformance_cases_types(demo: Demo) -> None:
    ws_id, journey = next((w, j) for w, j in _demo_journeys(demo) if j.designed_path)
    demo.pair.same(lambda e: conformance.cases(e, events_log(ws_id, journey), journey))


def test_demo_dropoff(demo: Demo) -> None:
    for ws_id, journey in _demo_journeys(demo):
        if journey.goal is None:
            continue
        log, goal = events_log(ws_id, journey), journey.goal
        demo.pair.same(lambda e, log=log, g=goal: dropoff.dropoff(e, log, g, as_of=AS_OF),
                       nonempty=False)
        assert (dropoff.outcomes(demo.pair.duck, log, goal, as_of=AS_OF)
                == dropoff.outcomes(demo.pair.spark, log, goal, as_of=AS_OF))
        demo.pair.same(lambda e, log=log, g=goal: dropoff.stalled_cases(
            e, log, g, as_of=AS_OF, limit=100_000), nonempty=False)
        for by in ("touchpoint", "transition"):
            demo.pair.same(lambda e, log=log, by=by: dropoff.stalls(e, log, by))


def test_demo_funnels(demo: Demo) -> None:
    for ws_id, journey in _demo_journeys(demo):
        steps = journey.designed_path or [t.id for t in journey.touchpoints]
        log = events_log(ws_id, journey)
        demo.pair.same(lambda e, log=log, s=steps: funnels.funnel(e, log, s))
        demo.pair.same(lambda e, log=log, s=steps[:3]: funnels.funnel(
            e, log, s, within=datetime.timedelta(days=30)))


# --- promises ----------------------------------------------------------------------------

PROMISE_AS_OF = datetime.datetime(2026, 5, 20, 12, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def promise_pair(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    pair = Pair(DuckDBEngine(con), SparkEngine(spark), tmp_path_factory.mktemp("promises"))
    pair.load("promise_events", promise_events(1500, seed=17))
    yield pair
    con.close()


@pytest.mark.parametrize("calendar", [
    BusinessHours(),  # Mon-Fri 08:00-16:00 in Helsinki, Finnish holidays
    # hours that cross UTC midnight, a weekend day open, no public holidays
    BusinessHours(timezone="America/Los_Angeles", holidays=None,
                  hours={"mon": "09:00-21:00", "tue": "09:00-21:00", "sat": "10:00-24:00"},
                  closed=[datetime.date(2026, 4, 14)]),
], ids=["helsinki", "los-angeles"])
def test_promise_occurrences(promise_pair: Pair, calendar: BusinessHours) -> None:
    """Every clocked kind, with conditions, a match key, business hours and accounts: the
    same occurrences and verdicts on both engines, for the whole store, a period and one
    customer."""
    members = {"families": [f"c{c:04d}" for c in range(0, 1500, 3)]}
    scopes = [
        Scope(1, PROMISE_AS_OF, events="promise_events"),
        Scope(1, PROMISE_AS_OF, events="promise_events",
              since=datetime.datetime(2026, 4, 1, tzinfo=datetime.UTC),
              until=datetime.datetime(2026, 5, 1, tzinfo=datetime.UTC)),
        Scope(1, PROMISE_AS_OF, events="promise_events", customer="c0010"),
    ]
    verdicts: set[str] = set()
    at_risk: set[str] = set()
    for scope in scopes:
        for commitment in promise_commitments():
            found = promise_pair.same(
                lambda e, s=scope, c=commitment: promises.occurrences(
                    e, s, "p", c, members=members, calendar=calendar),
                nonempty=scope.customer is None)
            verdicts |= set(found.column("verdict").to_pylist())
            if any(found.column("at_risk").to_pylist()):
                at_risk.add(commitment.kind)
    assert verdicts == {"kept", "broken", "open", "not_applicable"}
    assert at_risk == {"within", "respond"}  # an open first contact is never at risk


def test_demo_promises(demo: Demo) -> None:
    """The demo workspaces' own commitments, as the scorecard reads them."""
    for slug, ws_id in demo.ids.items():
        document = workspaces.get(demo.kk.db, slug).document
        scope = Scope(ws_id, AS_OF)
        for promise, commitment in document.commitments():
            if commitment.kind == "score":
                continue
            members = {s: people.customers_in_segment(demo.kk.db, ws_id, s)
                       for s in getattr(commitment, "segments", [])}
            demo.pair.same(lambda e, s=scope, p=promise.id, c=commitment, m=members,
                           h=document.business_hours: promises.occurrences(
                               e, s, p, c, members=m, calendar=h), nonempty=False)


def test_demo_breakdown_lookups(demo: Demo) -> None:
    """Several property and event lookups at once (one pass each) mean the same on Spark:
    the key of each installation's latest carrier, product and damage before it."""
    ws_id = demo.ids["kodinkone"]
    subjects = ("SELECT id AS row_id, customer, CAST(NULL AS STRING) AS event_id, "
                f"occurred_at AS at FROM events WHERE workspace_id = {ws_id} "
                "AND type IN ('installation_completed', 'delivered')")
    dims = [breakdowns.Dimension("property", "carrier"), breakdowns.Dimension("event",
            "delivery_damaged"), breakdowns.Dimension("property", "product")]

    def keys(e: Engine) -> pa.Table:
        sql = breakdowns.lookups_sql(dims, subjects, breakdowns.Source(ws_id, e.dialect))
        return e.query(f"SELECT * FROM ({sql}) AS k ORDER BY row_id")

    found = demo.pair.same(keys)
    assert set(found.column("k0").to_pylist()) - {None} >= {"Kiito"}
    assert set(found.column("k1").to_pylist()) == {"yes", "no"}
