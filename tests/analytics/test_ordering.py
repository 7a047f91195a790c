"""The case-ordered copies: the DFG read in one pass over a copy equals the DFG that sorts,
under every filter; a stale copy or rows that arrive out of order fall back to sorting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import is_dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from kokemus import bootstrap
from kokemus.analytics import channels, conformance, dropoff, funnels, journeys, ordering
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import Log, Ordered, events_log, one_of, table_log
from kokemus.domain.journeys import Journey
from kokemus.services import workspaces
from kokemus.storage.events import SCHEMA, EventStore
from tests.analytics.generated import make_log


@pytest.fixture(scope="module")
def copied() -> tuple[DuckDBEngine, Log]:
    con = duckdb.connect()
    log_table = make_log(4000, seed=5)  # noqa: F841  (DuckDB reads it by name)
    con.execute("CREATE TABLE log AS SELECT * FROM log_table")
    return DuckDBEngine(con), ordering.order_log(con, table_log("log", seq="seq"), "log_copy")


def sorting(log: Log) -> Log:
    """The same log without its copy: the DFG sorts."""
    return replace(log, ordered=None)


def streamed(engine: DuckDBEngine, log: Log) -> pa.Table | None:
    """The DFG of one pass over the log's copy, or None when that cannot be trusted."""
    return journeys._dfg_in_order(engine, ordering.resolve(engine, log))


FILTERS = {
    "none": lambda log: log,
    "period": lambda log: log.between(datetime(2024, 1, 5), datetime(2024, 1, 20)),
    "activities": lambda log: log.where("activity NOT IN ('step_b', 'step_c')"),
    # hundreds of values: DuckDB may turn the list into a join
    "cases": lambda log: log.where(one_of("case_id", (f"c{i:05d}" for i in range(0, 4000, 3)))),
    "reached": lambda log: log.of_cases("activity = 'step_j'"),
    "not_reached": lambda log: log.without_cases("activity = 'step_j'"),
}


@pytest.mark.parametrize("name", FILTERS)
def test_the_dfg_over_the_copy_equals_the_dfg_that_sorts(
        copied: tuple[DuckDBEngine, Log], name: str) -> None:
    engine, log = copied
    chosen = FILTERS[name](log)
    expected = journeys.dfg(engine, sorting(chosen))
    assert expected.num_rows > 40
    assert journeys.dfg(engine, chosen).equals(expected)


@pytest.mark.parametrize("name", ["none", "period", "activities"])
def test_row_filters_read_the_copy_in_one_pass(copied: tuple[DuckDBEngine, Log],
                                               name: str) -> None:
    engine, log = copied
    chosen = FILTERS[name](log)
    fast = streamed(engine, chosen)
    assert fast is not None
    assert fast.equals(journeys.dfg(engine, sorting(chosen)))


def test_rows_that_arrive_out_of_order_fall_back_to_sorting(
        copied: tuple[DuckDBEngine, Log]) -> None:
    engine, log = copied
    assert log.ordered is not None
    shuffled = replace(log, ordered=Ordered(
        f"SELECT * FROM ({log.ordered.source}) AS c ORDER BY hash(place)"))
    assert streamed(engine, shuffled) is None
    assert journeys.dfg(engine, shuffled).equals(journeys.dfg(engine, sorting(log)))


def test_a_copy_not_in_case_order_is_refused() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('b', TIMESTAMP '2026-01-01', 1), "
                "('a', TIMESTAMP '2026-01-01', 2)) AS v(case_id, ts, seq)")
    with pytest.raises(RuntimeError, match="1 rows out of place"):
        ordering.check_order(con, "t")
    con.execute("CREATE TABLE u AS SELECT * FROM t ORDER BY case_id, ts, seq")
    ordering.check_order(con, "u")


# ----------------------------------------------------------------- the event store's copies

START = datetime(2026, 3, 2, 9, tzinfo=UTC)


def batch(rows: list[tuple[int, str, str, str, str | None, int]]) -> pa.Table:
    """Events (workspace, id, customer, touchpoint, account, minutes after START)."""
    return pa.table({
        "workspace_id": [r[0] for r in rows],
        "id": [r[1] for r in rows],
        "type": [r[3] for r in rows],
        "customer": [r[2] for r in rows],
        "account": [r[4] for r in rows],
        "channel": ["web"] * len(rows),
        "touchpoint": [r[3] for r in rows],
        "occurred_at": [START + timedelta(minutes=r[5]) for r in rows],
        "properties": ["{}"] * len(rows),
    }, schema=SCHEMA)


def pairs(table: pa.Table) -> dict[tuple[str, str], int]:
    return {(r["source"], r["target"]): r["count"] for r in table.to_pylist()}


def test_the_event_store_copy_is_read_while_fresh(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.duckdb")
    try:
        # Customer a: order -> ship -> install, the last two at the same minute (seq decides);
        # b in workspace 1 and c in workspace 2; rows sent out of order.
        store.append(batch([
            (1, "e3", "a", "ship", "acme", 60), (1, "e1", "a", "order", "acme", 0),
            (1, "e4", "a", "install", "acme", 60), (1, "e5", "b", "order", "acme", 5),
            (2, "e6", "c", "order", None, 0), (1, "e2", "b", "ship", None, 30),
        ]))
        with store.reading() as cursor:
            engine = DuckDBEngine(cursor)
            log = events_log(1)
            assert ordering.usable(engine, log) is None  # no copy yet
            done = ordering.refresh(cursor)
            assert done.rebuilt and done.rows == {"customer": 6, "account": 4}
            assert not ordering.stale(cursor)
            fast = streamed(engine, log)
            assert fast is not None
            assert pairs(fast) == {("order", "ship"): 2, ("ship", "install"): 1}
            assert fast.equals(journeys.dfg(engine, sorting(log)))
            by_account = events_log(1, subject="account")
            assert pairs(journeys.dfg(engine, by_account)) == {
                ("order", "order"): 1, ("order", "ship"): 1, ("ship", "install"): 1}
            assert streamed(engine, by_account) is not None
            assert not ordering.refresh(cursor).rebuilt  # nothing new

        store.append(batch([(1, "e7", "b", "install", None, 90)]))
        with store.reading() as cursor:
            engine = DuckDBEngine(cursor)
            assert ordering.stale(cursor)
            assert ordering.usable(engine, events_log(1)) is None  # workspace 1 moved on
            assert ordering.usable(engine, events_log(2)) is not None  # workspace 2 did not
            assert pairs(journeys.dfg(engine, events_log(1))) == {
                ("order", "ship"): 2, ("ship", "install"): 2}
            assert ordering.refresh(cursor).rebuilt
            assert pairs(streamed(engine, events_log(1)) or pa.table({})) == {
                ("order", "ship"): 2, ("ship", "install"): 2}
    finally:
        store.close()


def test_the_demo_journeys_read_the_same_from_the_copy(demo: bootstrap.Kokemus) -> None:
    with demo.events.reading() as cursor:
        engine = DuckDBEngine(cursor)
        for slug in ("kodinkone", "konekauppa"):
            ws = workspaces.get(demo.db, slug)
            for journey in ws.document.journeys:
                log = events_log(ws.id, journey)
                fast = streamed(engine, log)
                assert fast is not None, f"{slug}/{journey.id}: the demo leaves a fresh copy"
                assert fast.num_rows > 5
                assert fast.equals(journeys.dfg(engine, sorting(log)))


def test_a_rebuild_while_events_arrive_holds_exactly_the_events_before_it(
        tmp_path: Path) -> None:
    """The copy and the seq it holds up to come from one snapshot: events stored meanwhile
    are not in it, and make the copy stale; none is lost or half-held."""
    store = EventStore(tmp_path / "events.duckdb")
    try:
        store.append(batch([(1, f"s{i}", f"c{i % 5000}", "order", None, i)
                            for i in range(100_000)]))
        sent: list[Future[set[str]]] = []
        stop = threading.Event()

        def send() -> None:
            n = 0
            while not stop.is_set():
                sent.append(store.submit(batch([(1, f"l{n}-{k}", f"c{k}", "ship", None, 5000 + n)
                                                for k in range(20)])))
                n += 1
                time.sleep(0.001)

        sender = threading.Thread(target=send)
        sender.start()
        try:
            time.sleep(0.05)
            with store.reading() as cursor:
                done = ordering.refresh(cursor)
        finally:
            stop.set()
            sender.join()
        assert all(len(f.result()) == 20 for f in sent)
        with store.reading() as cursor:
            held = cursor.execute("SELECT count(*) FROM journeys_by_customer").fetchall()[0][0]
            before = cursor.execute("SELECT count(*) FROM events WHERE seq <= ?",
                                    [done.upto_seq]).fetchall()[0][0]
            total = cursor.execute("SELECT count(*) FROM events").fetchall()[0][0]
            assert held == before == done.rows["customer"]
            assert total == 100_000 + 20 * len(sent)
            assert total > before  # the sender went on after the snapshot
            assert ordering.stale(cursor)
    finally:
        store.close()


# Every sequence analysis, on a demo journey: read from the copy (case_no, place) and from
# the events (case_id, ts, seq), the answers are equal.
ANALYSES: dict[str, Callable[[DuckDBEngine, Log, Journey], object]] = {
    "start_end": lambda e, log, j: journeys.start_end(e, log),
    "variants": lambda e, log, j: journeys.variants(e, log, running=True),
    "cases_following": lambda e, log, j: journeys.cases_following(e, log, j.designed_path),
    "conformance": lambda e, log, j: conformance.conformance(e, log, j),
    "conformance_cases": lambda e, log, j: conformance.cases(e, log, j),
    "deviations": lambda e, log, j: conformance.deviations_by_touchpoint(e, log, j),
    "dropoff": lambda e, log, j: dropoff.dropoff(e, log, j.goal or ""),
    "outcomes": lambda e, log, j: dropoff.outcomes(e, log, j.goal or ""),
    "stalled": lambda e, log, j: dropoff.stalled_cases(e, log, j.goal or ""),
    "stalls": lambda e, log, j: dropoff.stalls(e, log, "transition"),
    "funnel": lambda e, log, j: funnels.funnel(e, log, j.designed_path[:4],
                                               step_within=timedelta(days=7)),
    "channels": lambda e, log, j: channels.channel_switches(e, log),
    "by_channel": lambda e, log, j: channels.touchpoint_by_channel(e, log, j.goal),
}


@pytest.mark.parametrize("name", ANALYSES)
def test_every_sequence_analysis_reads_the_same_from_the_copy(
        demo: bootstrap.Kokemus, name: str) -> None:
    ws = workspaces.get(demo.db, "kodinkone")
    journey = ws.document.journeys[0]
    log = events_log(ws.id, journey).between(datetime(2026, 2, 1, tzinfo=UTC), None)
    with demo.events.reading() as cursor:
        engine = DuckDBEngine(cursor)
        assert ordering.resolve(engine, log).in_order  # the demo leaves a fresh copy
        assert not ordering.resolve(engine, sorting(log)).in_order
        copied, sorted_ = (ANALYSES[name](engine, chosen, journey)
                           for chosen in (log, sorting(log)))
    assert plain(copied) == plain(sorted_)
    if isinstance(copied, pa.Table):
        assert copied.num_rows > 0


def plain(value: object) -> object:
    """Tables as rows, dataclasses as dicts, floats to 12 significant digits: averages over
    cases may add up in another order (threads), and differ in the last bits."""
    if isinstance(value, pa.Table):
        return plain(value.to_pylist())
    if is_dataclass(value) and not isinstance(value, type):
        return plain(vars(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.12g}")
    return value
