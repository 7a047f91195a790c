"""Known answers for every kind of commitment, on small hand-made logs in a real DuckDB with
the event store's table: equal timestamps, late events, a start without an end, two starts
before one end, conditions, business hours."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson
import pytest

from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.promises import Scope, occurrences
from kokemus.domain.business_hours import BusinessHours
from kokemus.domain.promises import FirstContact, Never, Respond, Within
from kokemus.storage.events import DDL

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)


class Log:
    """Events added by hand; seq counts up in the order they are added (ingest order)."""

    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(DDL)
        self.seq = itertools.count(1)

    def add(self, customer: str, type_: str, at: datetime, *, account: str | None = None,
            channel: str = "web", **props: Any) -> str:
        seq = next(self.seq)
        ident = f"e{seq}"
        self.con.execute(
            "INSERT INTO events VALUES (1, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
            [ident, seq, type_, customer, account, channel, at, at,
             orjson.dumps(props).decode() if props else None])
        return ident

    def judge(self, commitment: Any, as_of: datetime, **kw: Any) -> dict[str, dict[str, Any]]:
        """Occurrences by their occurrence id."""
        calendar = kw.pop("calendar", None)
        members = kw.pop("members", None)
        table = occurrences(DuckDBEngine(self.con), Scope(1, as_of, **kw), "p", commitment,
                            members=members, calendar=calendar)
        return {row["occurrence"]: row for row in table.to_pylist()}


@pytest.fixture
def log() -> Iterator[Log]:
    made = Log()
    yield made
    made.con.close()


def within(**kw: Any) -> Within:
    return Within.model_validate({"id": "c", "text": "t", "start": "order_placed",
                                  "end": "installed", "within": "48h", **kw})


def test_within_kept_broken_open_at_risk(log: Log) -> None:
    a = log.add("a", "order_placed", T0)
    log.add("a", "installed", T0 + 47 * H)
    b = log.add("b", "order_placed", T0)
    log.add("b", "installed", T0 + 49 * H)
    c = log.add("c", "order_placed", T0 + 60 * H)  # 10 h before as_of: open
    d = log.add("d", "order_placed", T0 + 30 * H)  # 40 h: at risk (past 80 % of 48 h)
    e = log.add("e", "order_placed", T0 + 10 * H)  # 60 h, no end: broken
    found = log.judge(within(), T0 + 70 * H)
    assert {k: v["verdict"] for k, v in found.items()} == {
        a: "kept", b: "broken", c: "open", d: "open", e: "broken"}
    assert [k for k, v in found.items() if v["at_risk"]] == [d]
    assert found[a]["used_s"] == 47 * 3600 and found[a]["limit_s"] == 48 * 3600
    assert found[e]["used_s"] == 60 * 3600 and found[e]["end_ts"] is None
    assert found[b]["end_ts"] == T0 + 49 * H


def test_equal_timestamps_follow_the_ingest_order(log: Log) -> None:
    log.add("a", "installed", T0)  # same time, earlier seq: before the start
    a = log.add("a", "order_placed", T0)
    log.add("a", "installed", T0 + 50 * H)
    b = log.add("b", "order_placed", T0)
    log.add("b", "installed", T0)  # same time, later seq: after the start
    found = log.judge(within(), T0 + 100 * H)
    assert found[a]["verdict"] == "broken" and found[a]["used_s"] == 50 * 3600
    assert found[b]["verdict"] == "kept" and found[b]["used_s"] == 0


def test_two_starts_before_one_end_and_matching(log: Log) -> None:
    first = log.add("a", "order_placed", T0, order="o1")
    second = log.add("a", "order_placed", T0 + 10 * H, order="o2")
    log.add("a", "installed", T0 + 20 * H, order="o2")
    log.add("a", "installed", T0 + 60 * H, order="o1")
    plain = log.judge(within(), T0 + 100 * H)  # one end closes both
    assert plain[first]["used_s"] == 20 * 3600 and plain[second]["used_s"] == 10 * 3600
    assert {v["verdict"] for v in plain.values()} == {"kept"}
    matched = log.judge(within(match="order"), T0 + 100 * H)  # each order its own end
    assert matched[first]["verdict"] == "broken" and matched[first]["used_s"] == 60 * 3600
    assert matched[second]["verdict"] == "kept"


def test_a_late_event_changes_the_verdict_when_read_again(log: Log) -> None:
    a = log.add("a", "order_placed", T0)
    assert log.judge(within(), T0 + 30 * H)[a]["verdict"] == "open"
    log.add("a", "installed", T0 + 20 * H)  # arrives late, out of order (higher seq)
    assert log.judge(within(), T0 + 30 * H)[a]["verdict"] == "kept"
    # Events after the moment judged are not seen: figures reproduce.
    assert log.judge(within(), T0 + 10 * H)[a]["verdict"] == "open"


def test_conditions_leave_starts_out_as_not_applicable(log: Log) -> None:
    express = log.add("a", "order_placed", T0, delivery="express", installation=True)
    standard = log.add("b", "order_placed", T0, delivery="standard", installation=True)
    phone = log.add("c", "order_placed", T0, channel="phone", delivery="express",
                    installation=True)
    segment = log.add("d", "order_placed", T0, delivery="express", installation=True)
    found = log.judge(within(where={"delivery": "express", "installation": True},
                             channels=["web"], segments=["families"]),
                      T0 + 100 * H, members={"families": ["a", "b", "c"]})
    assert found[express]["verdict"] == "broken"
    assert {found[k]["verdict"] for k in (standard, phone, segment)} == {"not_applicable"}


def test_respond_and_accounts(log: Log) -> None:
    told = log.add("a", "delivery_delayed", T0, account="acme")
    log.add("b", "delay_notified", T0 + H, account="acme")  # a colleague was told
    respond = Respond.model_validate({"id": "c", "text": "t", "kind": "respond",
                                      "start": "delivery_delayed", "end": "delay_notified",
                                      "within": "2h", "case": "account"})
    found = log.judge(respond, T0 + 5 * H)
    assert found[told]["verdict"] == "kept" and found[told]["case_id"] == "acme"
    assert found[told]["customer"] == "a"
    per_customer = respond.model_copy(update={"case": "customer"})
    assert log.judge(per_customer, T0 + 5 * H)[told]["verdict"] == "broken"


def test_never_with_a_scope_window_and_at_most(log: Log) -> None:
    never = Never.model_validate({"id": "c", "text": "t", "kind": "never",
                                  "event": "cancellation_refused", "start": "order_placed",
                                  "within": "30d"})
    refused = log.add("a", "order_placed", T0)
    log.add("a", "cancellation_refused", T0 + 5 * H)
    running = log.add("b", "order_placed", T0 + 20 * 24 * H)
    past = log.add("c", "order_placed", T0 - 40 * 24 * H)
    log.add("c", "cancellation_refused", T0 - 5 * 24 * H)  # after the scope's 30 days
    found = log.judge(never, T0 + 25 * 24 * H)
    assert found[refused]["verdict"] == "broken"
    assert found[refused]["end_ts"] == T0 + 5 * H
    assert found[running]["verdict"] == "open"
    assert found[past]["verdict"] == "kept"

    twice = Never.model_validate({"id": "c", "text": "t", "kind": "never",
                                  "event": "delivery_attempted", "start": "shipped",
                                  "at_most": 1})
    once = log.add("d", "shipped", T0)
    log.add("d", "delivery_attempted", T0 + H)
    again = log.add("e", "shipped", T0)
    log.add("e", "delivery_attempted", T0 + H)
    log.add("e", "delivery_attempted", T0 + 30 * H)
    found = log.judge(twice, T0 + 40 * H)
    assert found[once]["verdict"] == "kept"
    assert found[again]["verdict"] == "broken" and found[again]["end_ts"] == T0 + 30 * H


def test_never_without_a_start_is_one_occurrence_per_case(log: Log) -> None:
    never = Never.model_validate({"id": "c", "text": "t", "kind": "never",
                                  "event": "cancellation_refused"})
    log.add("a", "cancellation_refused", T0)  # the case's first event: counted too
    log.add("b", "order_placed", T0)
    found = log.judge(never, T0 + H)
    assert {k: v["verdict"] for k, v in found.items()} == {"a": "broken", "b": "kept"}


def test_first_contact(log: Log) -> None:
    fc = FirstContact.model_validate({"id": "c", "text": "t", "kind": "first_contact",
                                      "event": "service_contact", "need": "reason",
                                      "within": "7d"})
    again = log.add("a", "service_contact", T0, reason="damaged")
    log.add("a", "service_contact", T0 + 20 * H, reason="damaged")  # the same need again
    other = log.add("a", "service_contact", T0 + 21 * H, reason="invoice")  # another need
    later = log.add("a", "service_contact", T0 + 30 * 24 * H, reason="damaged")  # a new one
    found = log.judge(fc, T0 + 40 * 24 * H)
    assert set(found) == {again, other, later}
    assert found[again]["verdict"] == "broken" and found[again]["end_ts"] == T0 + 20 * H
    assert found[other]["verdict"] == "kept"
    assert found[later]["verdict"] == "kept"
    recent = log.add("b", "service_contact", T0 + 39 * 24 * H, reason="damaged")
    found = log.judge(fc, T0 + 40 * 24 * H)
    assert found[recent]["verdict"] == "open" and not found[recent]["at_risk"]
    # never at risk: the longer no second contact comes, the nearer the need is to kept
    assert not log.judge(fc, T0 + 45 * 24 * H)[recent]["at_risk"]


HELSINKI = BusinessHours()  # Mon-Fri 08:00-16:00 Europe/Helsinki, Finnish holidays


@pytest.mark.parametrize(("complaint", "reply", "verdict", "hours"), [
    # Friday 15:00 local (13:00 UTC): 1 h on Friday, then Monday from 08:00 local (06:00 UTC)
    (datetime(2026, 11, 27, 13, 0, tzinfo=UTC), datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
     "kept", 7),
    (datetime(2026, 11, 27, 13, 0, tzinfo=UTC), datetime(2026, 11, 30, 13, 0, tzinfo=UTC),
     "kept", 8),  # Monday 15:00 local: exactly the limit
    (datetime(2026, 11, 27, 13, 0, tzinfo=UTC), datetime(2026, 11, 30, 14, 0, tzinfo=UTC),
     "broken", 9),  # Monday 16:00 local
    (datetime(2026, 11, 27, 13, 0, tzinfo=UTC), datetime(2026, 12, 1, 7, 0, tzinfo=UTC),
     "broken", 10),  # Tuesday 09:00 local
    # Wednesday before Christmas: Thursday 24th and Friday 25th are public holidays
    (datetime(2026, 12, 23, 13, 0, tzinfo=UTC), datetime(2026, 12, 28, 12, 0, tzinfo=UTC),
     "kept", 7),
])
def test_business_hours(log: Log, complaint: datetime, reply: datetime, verdict: str,
                        hours: int) -> None:
    respond = Respond.model_validate({"id": "c", "text": "t", "kind": "respond",
                                      "start": "complaint", "end": "answered",
                                      "within": "8h", "business_hours": True})
    start = log.add("a", "complaint", complaint)
    log.add("a", "answered", reply)
    found = log.judge(respond, reply + 100 * H, calendar=HELSINKI)[start]
    assert found["verdict"] == verdict
    assert found["used_s"] == pytest.approx(hours * 3600)
    assert HELSINKI.elapsed(complaint, reply) == pytest.approx(hours * 3600)
    due = HELSINKI.deadline(complaint, 8 * 3600)
    assert (reply <= due) == (verdict == "kept")


def test_business_hours_open_clock_counts_to_the_moment_judged(log: Log) -> None:
    respond = Respond.model_validate({"id": "c", "text": "t", "kind": "respond",
                                      "start": "complaint", "end": "answered",
                                      "within": "8h", "business_hours": True})
    start = log.add("a", "complaint", datetime(2026, 11, 27, 13, 0, tzinfo=UTC))
    # Over the weekend the clock stands: Monday 07:00 local is still 1 h used.
    monday = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    found = log.judge(respond, monday, calendar=HELSINKI)[start]
    assert found["verdict"] == "open" and found["used_s"] == pytest.approx(3600)
    assert HELSINKI.deadline(start_at := datetime(2026, 11, 27, 13, 0, tzinfo=UTC),
                             8 * 3600) == datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
    assert HELSINKI.elapsed(start_at, monday) == pytest.approx(3600)
