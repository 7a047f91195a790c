"""Keep rates' known answers (kokemus/analytics/keep_rates.py), worked out here by hand: the
weekly and monthly trend's keys at the edges of a UTC day, week and month, and what
followed a kept or a broken occurrence (the first answer within the window, the outcome
event, and every promise together customer by customer)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from kokemus.analytics import keep_rates

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)  # a Monday
H, D = timedelta(hours=1), timedelta(days=1)


def _occurrences(rows: list[tuple[Any, ...]]) -> pa.Table:
    names = ("promise", "commitment", "kind", "verdict", "customer", "start_ts", "end_ts",
             "used_s", "at_risk")
    types = (pa.string(), pa.string(), pa.string(), pa.string(), pa.string(),
             pa.timestamp("us", tz="UTC"), pa.timestamp("us", tz="UTC"), pa.float64(),
             pa.bool_())
    return pa.table({n: pa.array([r[i] for r in rows], t)
                     for i, (n, t) in enumerate(zip(names, types, strict=True))})


@pytest.mark.parametrize(("start", "week", "month"), [
    (datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC), "2026-02-23", "2026-03-01"),
    (datetime(2026, 3, 2, 0, 0, tzinfo=UTC), "2026-03-02", "2026-03-01"),
    (datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC), "2026-02-23", "2026-02-01"),
    (datetime(2025, 12, 31, 23, 0, tzinfo=UTC), "2025-12-29", "2025-12-01"),
    (datetime(2026, 1, 1, 0, 0, tzinfo=UTC), "2025-12-29", "2026-01-01"),
    (datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "1969-12-29", "1969-12-01"),
])
def test_week_and_month_keys_are_the_utc_monday_and_first_day(
        start: datetime, week: str, month: str) -> None:
    table = _occurrences([("p", "c", "within", "kept", "a", start, start + H, 3600.0, False)])
    assert [r["key"] for r in keep_rates.counts(table, "week")] == [week]
    assert [r["key"] for r in keep_rates.counts(table, "month")] == [month]
    assert date.fromisoformat(week).weekday() == 0


def test_trend_rows_in_the_table_s_commitment_order_then_by_key() -> None:
    table = _occurrences([
        ("p", "second", "within", "kept", "a", T0 + 7 * D, T0 + 7 * D + H, 3600.0, False),
        ("p", "first", "within", "broken", "a", T0 + 7 * D, T0 + 9 * D, 2 * 86400.0, False),
        ("p", "first", "within", "kept", "b", T0, T0 + 2 * H, 7200.0, False),
        ("p", "second", "within", "open", "b", T0, None, 60.0, True),
    ])
    found = [(r["commitment"], r["key"], r["kept"], r["broken"], r["open"], r["at_risk"])
             for r in keep_rates.counts(table, "week")]
    assert found == [("second", "2026-03-02", 0, 0, 1, 1), ("second", "2026-03-09", 1, 0, 0, 0),
                     ("first", "2026-03-02", 1, 0, 0, 0), ("first", "2026-03-09", 0, 1, 0, 0)]


@pytest.fixture
def store() -> Iterator[duckdb.DuckDBPyConnection]:
    """The event store's two relations, as much of them as `after` reads."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE responses (workspace_id INTEGER, customer VARCHAR, "
                "started_at TIMESTAMPTZ, nps TINYINT, ces TINYINT)")
    con.execute("CREATE TABLE events (workspace_id INTEGER, customer VARCHAR, type VARCHAR, "
                "occurred_at TIMESTAMPTZ)")
    con.executemany("INSERT INTO responses VALUES (?, ?, ?, ?, ?)", [
        (1, "a", T0 + H, 9, 6),
        (1, "a", T0 + 3 * D, 2, None),  # a partial answer: its NPS only ...
        (1, "a", T0 + 4 * D, None, 3),  # ... the CES comes from the next one
        (1, "b", T0 + D, 7, 5),
        (1, "c", T0 + H, 10, 7),  # c's only occurrence is open: not judged
        (1, "d", T0 + 31 * D, 0, 1),  # after the 30 days
        (2, "a", T0 + H / 2, 0, 1),  # another workspace's
    ])
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", [
        (1, "a", "repurchase", T0 + 5 * D), (1, "b", "repurchase", T0 + 40 * D)])
    yield con
    con.close()


def test_what_followed_kept_and_broken_occurrences(store: duckdb.DuckDBPyConnection) -> None:
    table = _occurrences([
        ("p", "c1", "within", "kept", "a", T0, T0 + H, 3600.0, False),
        ("p", "c2", "within", "broken", "a", T0 + 2 * D, None, 9e5, False),
        ("p", "c1", "within", "kept", "b", T0, T0 + H, 3600.0, False),
        ("p", "c2", "within", "kept", "b", T0, T0 + H, 3600.0, False),  # the same start
        ("p", "c1", "within", "open", "c", T0, None, 60.0, False),
        ("p", "c2", "within", "broken", None, T0, None, 9e5, False),  # no customer
        ("p", "c1", "within", "broken", "d", T0, None, 9e5, False),
    ])
    rows = keep_rates.after(store, 1, table, outcome="repurchase", together=True)
    found = [(r["promise"], r["commitment"], r["verdict"], r["occurrences"], r["outcome"],
              r["promoters"], r["passives"], r["detractors"], r["ces_n"], r["ces_sum"],
              r["ces_squares"]) for r in rows]
    assert found == [
        ("p", "c1", "broken", 1, 0, 0, 0, 0, 0, 0, 0),  # d answered too late
        ("p", "c1", "kept", 2, 1, 1, 1, 0, 2, 11, 61),  # a: 9 and 6, b: 7 and 5
        ("p", "c2", "broken", 2, 1, 0, 0, 1, 1, 3, 9),  # a from day 2: NPS 2, CES 3
        ("p", "c2", "kept", 1, 0, 0, 1, 0, 1, 5, 25),
        # every promise together: a and d broken (a from its broken start), b kept
        ("*", "*", "broken", 2, 1, 0, 0, 1, 1, 3, 9),
        ("*", "*", "kept", 1, 0, 0, 1, 0, 1, 5, 25),
    ]
    alone = keep_rates.after(store, 1, table)
    assert [r["promise"] for r in alone] == ["p"] * 4
    assert [r["outcome"] for r in alone] == [0] * 4
    assert keep_rates.after(store, 1, table.slice(0, 0), together=True) == []
