"""Known answers for the breakdowns' lookup rule (analytics/breakdowns.py): a property comes
from the thing's own event when it has it, else from the customer's latest event carrying it
at or before `at` in (time, seq) order; `event:<type>` is yes when the first such event is at
or before `at`. Several lookups in one statement give what each gives alone."""

from __future__ import annotations

import duckdb
import pytest

from kokemus.analytics import breakdowns
from kokemus.analytics.breakdowns import Dimension
from kokemus.analytics.engines import Dialect

T = "TIMESTAMPTZ '2026-03-01 12:00:00+00'"  # the moment most rows look up at

EVENTS = [  # id, seq, type, customer, minutes after T, properties
    ("a1", 1, "delivered", "anna", -60, '{"carrier": "Kiito", "product": "fridge"}'),
    ("a2", 2, "reshipped", "anna", -30, '{"carrier": "Rahtisiili"}'),
    ("b1", 3, "delivered", "bert", -10, '{"carrier": "Kiito"}'),
    ("b2", 5, "reshipped", "bert", -10, '{"carrier": "Pakettiässä"}'),  # same time, later seq
    ("b3", 4, "reshipped", "bert", -10, '{"carrier": "Rahtisiili"}'),
    ("b4", 6, "delivery_damaged", "bert", 0, None),  # exactly at `at`: counts
    ("c1", 7, "delivered", "cecilia", 5, '{"carrier": "Kiito"}'),  # after `at`: does not
    ("c2", 8, "delivery_damaged", "cecilia", 5, None),
    ("d1", 9, "order_placed", "doris", -90, '{"product": "dryer"}'),
]
SUBJECTS = [  # row_id, customer, event_id, minutes after T
    ("r-own", "anna", "a1", 0),  # its own event has the carrier: Kiito, not the later one
    ("r-latest", "anna", None, 0),  # no event of its own: the latest, Rahtisiili
    ("r-tie", "bert", None, 0),  # three at the same time: the highest seq, Pakettiässä
    ("r-after", "cecilia", None, 0),  # only events after `at`: no carrier, no damage
    ("r-own-lacks", "doris", "d1", 0),  # its own event lacks the carrier: none to take
]


@pytest.fixture()
def connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE events (workspace_id INTEGER, id VARCHAR, seq BIGINT, "
                "type VARCHAR, customer VARCHAR, account VARCHAR, occurred_at TIMESTAMPTZ, "
                "properties JSON)")
    for ident, seq, kind, customer, minutes, props in EVENTS:
        con.execute(f"INSERT INTO events VALUES (1, ?, ?, ?, ?, NULL, "
                    f"{T} + INTERVAL (?) MINUTE, ?)", [ident, seq, kind, customer, minutes, props])
    con.execute("INSERT INTO events VALUES (2, 'x1', 10, 'delivered', 'anna', NULL, "
                f"{T}, '{{\"carrier\": \"Other workspace\"}}')")
    return con


def subjects() -> str:
    rows = ", ".join(
        f"('{r}', '{c}', {repr(e) if e else 'NULL'}, {T} + INTERVAL ({m}) MINUTE)"
        for r, c, e, m in SUBJECTS)
    return f"SELECT * FROM (VALUES {rows}) AS s(row_id, customer, event_id, \"at\")"


def keys(con: duckdb.DuckDBPyConnection, dimension: Dimension) -> dict[str, str | None]:
    sql = breakdowns.keys_sql(dimension, subjects(), breakdowns.Source(1))
    return dict(con.execute(sql).fetchall())


def test_a_property_from_the_own_event_else_the_latest_by_time_and_seq(
        connection: duckdb.DuckDBPyConnection) -> None:
    assert keys(connection, Dimension("property", "carrier")) == {
        "r-own": "Kiito", "r-latest": "Rahtisiili", "r-tie": "Pakettiässä", "r-after": None,
        "r-own-lacks": None}
    assert keys(connection, Dimension("property", "product")) == {
        "r-own": "fridge", "r-latest": "fridge", "r-tie": None, "r-after": None,
        "r-own-lacks": "dryer"}


def test_an_event_counts_at_or_before_the_moment(connection: duckdb.DuckDBPyConnection) -> None:
    assert keys(connection, Dimension("event", "delivery_damaged")) == {
        "r-own": "no", "r-latest": "no", "r-tie": "yes", "r-after": "no", "r-own-lacks": "no"}


def test_several_lookups_at_once_give_what_each_gives_alone(
        connection: duckdb.DuckDBPyConnection) -> None:
    dims = [Dimension("property", "carrier"), Dimension("event", "delivery_damaged"),
            Dimension("property", "product"), Dimension("event", "delivered")]
    sql = breakdowns.lookups_sql(dims, subjects(), breakdowns.Source(1))
    together = {row[0]: row[1:] for row in connection.execute(sql).fetchall()}
    alone = [keys(connection, d) for d in dims]
    assert together == {r: tuple(k[r] for k in alone) for r in together}
    assert len(together) == len(SUBJECTS)


def test_a_figures_own_group_is_no_lookup() -> None:
    with pytest.raises(ValueError):
        breakdowns.lookups_sql([Dimension("channel")], subjects(), breakdowns.Source(1))


def test_the_latest_in_time_then_seq_order_across_every_time_and_seq() -> None:
    """The one-number order key (Dialect.time_order) picks what ORDER BY ts, seq picks, with
    times before 1970 and seqs at both ends of BIGINT, a tie in time broken by seq."""
    rows = [("1969-12-31 23:59:59.999999+00", 9_223_372_036_854_775_807, "before 1970"),
            ("1970-01-01 00:00:00+00", -9_223_372_036_854_775_808, "1970, lowest seq"),
            ("2026-03-01 12:00:00+00", -1, "a tie, seq -1"),
            ("2026-03-01 12:00:00+00", 1, "a tie, seq 1"),
            ("2026-03-01 11:59:59.999999+00", 9_223_372_036_854_775_807, "a microsecond early")]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (ts TIMESTAMPTZ, seq BIGINT, v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (CAST(? AS TIMESTAMPTZ), ?, ?)", rows)
    key = Dialect("duckdb").time_order("ts", "seq")

    def latest(where: str) -> str:
        found = con.execute(f"SELECT max_by(v, {key}) FROM t WHERE {where}").fetchone()
        ordered = con.execute(f"SELECT v FROM t WHERE {where} ORDER BY ts DESC, seq DESC "
                              "LIMIT 1").fetchone()
        assert found == ordered
        return str(found[0]) if found else ""

    assert latest("true") == "a tie, seq 1"
    assert latest("seq <> 1") == "a tie, seq -1"
    assert latest("ts < TIMESTAMPTZ '2026-03-01 12:00:00+00'") == "a microsecond early"
    assert latest("ts < TIMESTAMPTZ '1970-01-01 00:00:01+00'") == "1970, lowest seq"
    assert latest("ts < TIMESTAMPTZ '1970-01-01 00:00:00+00'") == "before 1970"
