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
from kokemus.analytics.logs import Log, events_log, literal, one_of, table_log
from kokemus.domain.errors import KokemusError
from kokemus.domain.journeys import Journey
from kokemus.services import workspaces
from kokemus.storage import people
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
    "among": lambda log: log.among(f"c{i:05d}" for i in range(0, 4000, 3)),
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


# Conditions on whole cases apply after the pass, so it keeps the stored order.
@pytest.mark.parametrize("name", ["none", "period", "activities", "among", "reached",
                                  "not_reached"])
def test_filters_read_the_copy_in_one_pass(copied: tuple[DuckDBEngine, Log],
                                               name: str) -> None:
    engine, log = copied
    chosen = FILTERS[name](log)
    fast = streamed(engine, chosen)
    assert fast is not None
    assert fast.equals(journeys.dfg(engine, sorting(chosen)))


def test_rows_that_arrive_out_of_order_are_put_back_in_place(
        copied: tuple[DuckDBEngine, Log]) -> None:
    """A scan may hand the copy's rows back out of their stored order: the pass orders them
    by place, so the streamed DFG still equals the sorted one."""
    engine, log = copied
    assert log.ordered is not None
    shuffled = replace(log, ordered=replace(
        log.ordered, stored=f"SELECT * FROM ({log.ordered.stored}) AS c ORDER BY hash(place)"))
    found = streamed(engine, shuffled)
    assert found is not None
    assert found.equals(streamed(engine, log))
    assert journeys.dfg(engine, shuffled).equals(journeys.dfg(engine, sorting(log)))


@pytest.fixture(scope="module")
def channelled(copied: tuple[DuckDBEngine, Log]) -> Log:
    """The generated log on three channels (a few events on none), in a copy of its own."""
    engine, _ = copied
    channel = ("CASE seq // 7 % 7 WHEN 0 THEN NULL WHEN 1 THEN 'phone' WHEN 2 THEN 'chat' "
               "ELSE 'web' END")  # seq: multiples of 7
    return ordering.order_log(
        engine.connection, Log(f"SELECT case_id, activity, ts, seq, {channel} AS channel "
                               "FROM log"), "channelled_copy")


def by_channel(engine: DuckDBEngine, log: Log) -> pa.Table:
    return channels.touchpoint_by_channel(engine, log, goal="step_j", min_cases=5)


# Stalls and the same touchpoint by channel stream the copy as the DFG does (the waits from
# ordering.in_order; the visits case by case): the same tables as the windows that sort.
@pytest.mark.parametrize("name", ["none", "period", "activities", "among", "reached",
                                  "not_reached"])
def test_stalls_and_channels_read_the_copy_in_one_pass(
        copied: tuple[DuckDBEngine, Log], channelled: Log, name: str) -> None:
    engine, _ = copied
    chosen = ordering.resolve(engine, FILTERS[name](channelled))
    for by, keys in (("touchpoint", ("activity AS touchpoint", "activity")),
                     ("transition", ("activity AS source, next_activity AS target",
                                     "activity, next_activity"))):
        fast = dropoff._stalls_in_order(engine, chosen, keys, 5)
        assert fast is not None and fast.num_rows > 0
        assert fast.equals(dropoff.stalls(engine, sorting(chosen), by, min_steps=5))
    assert channels._measured_in_order(engine, chosen, "step_j") is not None
    expected = by_channel(engine, sorting(chosen))
    assert expected.num_rows > 0
    assert by_channel(engine, chosen).equals(expected)


def test_stalls_and_channels_of_rows_read_out_of_order_are_put_back_in_place(
        copied: tuple[DuckDBEngine, Log], channelled: Log) -> None:
    """A scan may hand the copy's rows back out of their stored order (on a 10M-row copy a
    chunk came early): the pass orders them by place, so the streamed figures still equal
    the windows' and nothing falls back."""
    engine, _ = copied
    log = channelled
    assert log.ordered is not None
    shuffled = ordering.resolve(engine, replace(log, ordered=replace(
        log.ordered, stored=f"SELECT * FROM ({log.ordered.stored}) AS c ORDER BY hash(place)")))
    keys = ("activity AS touchpoint", "activity")
    assert dropoff._stalls_in_order(engine, shuffled, keys, 1) is not None
    assert channels._measured_in_order(engine, shuffled, "step_j") is not None
    assert dropoff.stalls(engine, shuffled).equals(dropoff.stalls(engine, sorting(log)))
    assert by_channel(engine, shuffled).equals(by_channel(engine, sorting(log)))


def test_a_copy_not_in_case_order_is_refused() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('b', TIMESTAMP '2026-01-01', 1, 1), "
                "('a', TIMESTAMP '2026-01-01', 2, 2)) AS v(case_id, ts, seq, case_no)")
    with pytest.raises(RuntimeError, match="1 rows out of place"):
        ordering.check_order(con, "t")
    con.execute("CREATE TABLE u AS SELECT case_id, ts, seq, row_number() OVER (ORDER BY case_id) "
                "AS case_no FROM t ORDER BY case_id, ts, seq")
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


def test_the_event_store_copy_is_read_with_the_events_that_came_after_it(
        tmp_path: Path) -> None:
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
            assert not ordering.resolve(engine, log).on_copy  # no copy yet
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

        # After the copy: b goes on (its rows in the copy are now incomplete), a new customer
        # d arrives, and a event of a comes in late, before its others in time.
        store.append(batch([(1, "e7", "b", "install", None, 90), (1, "e8", "d", "order", None, 1),
                            (1, "e9", "d", "ship", None, 2), (1, "e0", "a", "visit", "acme", -5)]))
        with store.reading() as cursor:
            engine = DuckDBEngine(cursor)
            assert ordering.stale(cursor)
            for chosen in (events_log(1), events_log(1, subject="account"), events_log(2)):
                assert ordering.resolve(engine, chosen).on_copy
                fast = streamed(engine, chosen)
                assert fast is not None
                assert fast.equals(journeys.dfg(engine, sorting(chosen)))
                for analysis in (journeys.start_end, journeys.variants):
                    assert analysis(engine, chosen).equals(analysis(engine, sorting(chosen)))
            assert pairs(journeys.dfg(engine, events_log(1))) == {
                ("order", "ship"): 3, ("ship", "install"): 2, ("visit", "order"): 1}
            assert ordering.refresh(cursor).rebuilt
            assert pairs(streamed(engine, events_log(1)) or pa.table({})) == {
                ("order", "ship"): 3, ("ship", "install"): 2, ("visit", "order"): 1}
    finally:
        store.close()


def test_a_log_of_another_table_has_no_copy(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.duckdb")
    try:
        store.append(batch([(1, "e1", "a", "order", None, 0), (1, "e2", "a", "ship", None, 5)]))
        with store.reading() as cursor:
            ordering.refresh(cursor)
            cursor.execute("CREATE TABLE archive AS SELECT * FROM events WHERE id = 'e1'")
            engine = DuckDBEngine(cursor)
            archived = events_log(1, table="archive")
            assert archived.ordered is None
            assert journeys.dfg(engine, archived).num_rows == 0
    finally:
        store.close()


def test_a_copy_that_is_not_there_is_not_read() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 'a' AS case_id, 'x' AS activity, "
                "TIMESTAMP '2026-01-01' AS ts, 1 AS seq, NULL AS channel")
    log = ordering.with_copy(table_log("t", seq="seq"), "missing")
    assert log.ordered is not None
    assert not ordering.usable(DuckDBEngine(con), log.ordered)
    assert not ordering.resolve(DuckDBEngine(con), log).on_copy


def test_cases_without_an_id_are_one_case_in_the_copy_too() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (NULL, 'a', 1), (NULL, 'b', 2), "
                "('x', 'a', 3), ('x', 'c', 4)) AS v(case_id, activity, seq)")
    log = table_log("(SELECT *, TIMESTAMP '2026-01-01' AS ts FROM t)", seq="seq")
    engine = DuckDBEngine(con)
    copied = ordering.order_log(con, log, "copy")
    assert pairs(journeys.dfg(engine, copied)) == pairs(journeys.dfg(engine, log)) == {
        ("a", "b"): 1, ("a", "c"): 1}


def test_a_log_with_the_copy_s_own_column_names_is_refused() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 'a' AS case_id, 'x' AS activity, "
                "TIMESTAMP '2026-01-01' AS ts, 1 AS seq, 7 AS place")
    with pytest.raises(KokemusError, match="case_no or place"):
        ordering.order_log(con, Log("SELECT * FROM t"), "copy")


def test_the_demo_journeys_read_the_same_from_the_copy(demo: bootstrap.Kokemus) -> None:
    with demo.events.reading() as cursor:
        engine = DuckDBEngine(cursor)
        for slug in ("kodinkone", "konekauppa"):
            ws = workspaces.get(demo.db, slug)
            for journey in ws.document.journeys:
                log = events_log(ws.id, journey)
                fast = streamed(engine, log)
                assert fast is not None, f"{slug}/{journey.id}: the demo leaves a copy"
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


SELECTIONS = ("period", "reached", "not_reached", "segment", "accounts")


@pytest.mark.parametrize("touched", [False, True], ids=["copy", "touched"])
@pytest.mark.parametrize("selection", SELECTIONS)
@pytest.mark.parametrize("name", ANALYSES)
def test_every_sequence_analysis_reads_the_same_from_the_copy(
        demo: bootstrap.Kokemus, name: str, selection: str, touched: bool) -> None:
    # B2B accounts are the machinery dealer's; the rest the appliance shop's.
    ws = workspaces.get(demo.db, "konekauppa" if selection == "accounts" else "kodinkone")
    journey = ws.document.journeys[0]
    goal = f"activity = {literal(journey.goal or '')}"
    log = {
        "period": lambda: events_log(ws.id, journey).between(
            datetime(2026, 2, 1, tzinfo=UTC), None),
        "reached": lambda: events_log(ws.id, journey).of_cases(goal),
        "not_reached": lambda: events_log(ws.id, journey).without_cases(goal),
        "segment": lambda: events_log(ws.id, journey).where(one_of(
            "customer", people.customers_in_segment(demo.db, ws.id, "households")[::2])),
        "accounts": lambda: events_log(ws.id, journey, subject="account"),
    }[selection]()
    with demo.events.reading() as cursor:
        engine = DuckDBEngine(cursor)
        if touched:  # as if the workspace's last tenth of events came after the copy
            cursor.execute("BEGIN TRANSACTION")  # (rolled back below)
            cursor.execute("UPDATE journey_order SET upto_seq = (SELECT quantile_disc(seq, 0.9) "
                           "FROM events WHERE workspace_id = ?)", [ws.id])
        try:
            resolved = ordering.resolve(engine, log)
            assert resolved.on_copy  # the demo leaves a copy
            assert resolved.ordered is not None
            recent = resolved.ordered.recent  # untouched: the copy alone, no recent rows
            assert (recent is not None) == touched
            if recent is not None:
                assert engine.query(f"SELECT count(*) AS n FROM ({recent}) AS r"
                                    ).column(0)[0].as_py() > 0
            copied, sorted_ = (ANALYSES[name](engine, chosen, journey)
                               for chosen in (log, sorting(log)))
        finally:
            if touched:
                cursor.execute("ROLLBACK")
    assert plain(copied) == plain(sorted_)
    if isinstance(copied, pa.Table) and selection == "period" and name != "deviations":
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
