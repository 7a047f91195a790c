"""Live promise clocks over real stores (DuckDB events, the app store on SQLite or
PostgreSQL): occurrences at risk or breached are marked with one event each, once, also
after the worker restarts; occurrences closed in time and old history get none."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from kokemus import bootstrap
from kokemus.config import Settings
from kokemus.domain.business_hours import BusinessHours
from kokemus.domain.events import Customer
from kokemus.engine import clocks
from kokemus.engine.clocks import advance
from kokemus.engine.worker import Worker
from kokemus.services import ingest
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people
from kokemus.workspace import document
from tests.conftest import STARTER

NOW = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)  # a Wednesday, 15:00 in Helsinki
H = timedelta(hours=1)

# The starter's promise, with more commitments of every kind that has a clock, a `never`
# (no clock) and a segment condition.
COMMITMENTS = """
      - id: told-8h
        kind: respond
        text: {fi: Vastattu työpäivässä, en: Answered within a working day}
        start: complaint
        end: complaint_answered
        within: 8h
        business_hours: true
        case: account
      - id: first-contact
        kind: first_contact
        text: {fi: Ratkaistu kerralla, en: Solved at the first contact}
        event: service_contact
        need: reason
        within: 7d
      - id: households-24h
        text: {fi: Kotitaloudet 24 h, en: Households in 24 h}
        start: order_placed
        end: delivered
        within: 24h
        segments: [households]
        where: {express: true}
      - id: never-refused
        kind: never
        text: {fi: Ei evätä, en: Never refused}
        event: cancellation_refused
        start: order_placed
"""


def promised(kk: bootstrap.Kokemus, tmp_path: Path) -> ActiveWorkspace:
    text = STARTER.read_text(encoding="utf-8")
    anchor = "        within: 48h\n"
    assert text.count(anchor) == 1
    path = tmp_path / "workspace.yaml"
    path.write_text(text.replace(anchor, anchor + COMMITMENTS.lstrip("\n")), encoding="utf-8")
    workspace_service.apply(kk.db, document.load(path))
    return workspace_service.get(kk.db, "my-company")


@pytest.fixture
def ws(kk: bootstrap.Kokemus, tmp_path: Path) -> ActiveWorkspace:
    return promised(kk, tmp_path)


def event(ident: str, customer: str, type_: str, at: datetime, *, channel: str = "web",
          account: str | None = None, **properties: Any) -> dict[str, Any]:
    item = {"id": ident, "type": type_, "customer": customer, "channel": channel,
            "occurred_at": at.isoformat(), "properties": properties}
    if account:
        item["account"] = account
    return item


def send(kk: bootstrap.Kokemus, ws: ActiveWorkspace, *events: dict[str, Any]) -> None:
    outcome = ingest.ingest_events(list(events), ws, kk.events)
    assert not outcome.rejected and outcome.accepted == len(events), outcome


def marks(kk: bootstrap.Kokemus) -> list[dict[str, Any]]:
    with kk.events.reading() as cur:
        rel = cur.execute(
            "SELECT id, type, customer, account, channel, touchpoint, occurred_at, properties "
            "FROM events WHERE type IN ('promise_at_risk', 'promise_breached') ORDER BY id")
        names = [d[0] for d in rel.description]
        rows = [dict(zip(names, row, strict=True)) for row in rel.fetchall()]
    for row in rows:
        row["properties"] = orjson.loads(row["properties"])
    return rows


def test_at_risk_and_breached_are_marked_once_with_their_properties(
        kk: bootstrap.Kokemus, ws: ActiveWorkspace) -> None:
    send(kk, ws,
         event("risky", "c1", "order_placed", NOW - 0.85 * 48 * H),  # 85 % of 48 h used
         event("late", "c2", "order_placed", NOW - 50 * H, channel="email"),  # 2 h past
         event("kept", "c3", "order_placed", NOW - 47 * H),
         event("kept-end", "c3", "delivered", NOW - 10 * H),
         event("fresh", "c4", "order_placed", NOW - 10 * H))  # open, not at risk yet
    done = advance(kk, NOW)
    assert (done.at_risk, done.breached, done.again) == (1, 1, 0)
    found = marks(kk)
    assert [m["id"] for m in found] == ["promise_at_risk:fast-delivery:delivered-48h:risky",
                                        "promise_breached:fast-delivery:delivered-48h:late"]
    risky, late = found
    assert (risky["type"], risky["customer"], risky["account"], risky["channel"],
            risky["touchpoint"]) == ("promise_at_risk", "c1", None, "web", None)
    assert risky["occurred_at"] == NOW
    assert risky["properties"] == {"promise": "fast-delivery", "commitment": "delivered-48h",
                                   "occurrence": "risky", "limit_s": 48 * 3600.0,
                                   "used_s": 0.85 * 48 * 3600}
    assert (late["type"], late["customer"], late["channel"]) == (
        "promise_breached", "c2", "email")
    assert late["occurred_at"] == NOW - 2 * H  # the moment the 48 h passed
    assert late["properties"]["used_s"] == 50 * 3600.0
    assert late["properties"]["occurrence"] == "late"

    again = advance(kk, NOW + timedelta(minutes=1))  # the next worker run
    assert (again.at_risk, again.breached, again.again) == (0, 0, 2)
    assert marks(kk) == found
    assert kk.events.count(ws.id) == 7


def test_an_occurrence_at_risk_then_breached_gets_one_mark_of_each(
        kk: bootstrap.Kokemus, ws: ActiveWorkspace) -> None:
    send(kk, ws, event("o1", "c1", "order_placed", NOW - 40 * H))
    assert advance(kk, NOW).at_risk == 1
    assert advance(kk, NOW + 4 * H).at_risk == 0  # still at risk: marked already
    later = advance(kk, NOW + 9 * H)
    assert (later.at_risk, later.breached) == (0, 1)
    assert [m["type"] for m in marks(kk)] == ["promise_at_risk", "promise_breached"]
    # the end arrives late: the verdict changes where it is read, the marks stay history
    send(kk, ws, event("d1", "c1", "delivered", NOW + 10 * H))
    assert advance(kk, NOW + 11 * H).breached == 0
    assert len(marks(kk)) == 2


def test_closed_in_time_and_not_applicable_get_no_mark(
        kk: bootstrap.Kokemus, ws: ActiveWorkspace) -> None:
    send(kk, ws,
         event("o1", "c1", "order_placed", NOW - 45 * H),
         event("d1", "c1", "delivered", NOW - 5 * H),
         event("o2", "c2", "order_placed", NOW - 100 * H),
         event("d2", "c2", "delivered", NOW - 60 * H),
         event("x1", "c3", "cancellation_refused", NOW - H))  # a `never` has no clock
    assert advance(kk, NOW) == clocks.Marks(commitments=4)
    assert marks(kk) == []


def test_marks_survive_a_restart_of_the_worker(settings: Settings, tmp_path: Path) -> None:
    with bootstrap.build(settings) as kk:
        ws = promised(kk, tmp_path)
        send(kk, ws, event("risky", "c1", "order_placed", NOW - 42 * H),
             event("late", "c2", "order_placed", NOW - 49 * H))
        first = advance(kk, NOW)
        assert (first.at_risk, first.breached) == (1, 1)
        stored = marks(kk)
    with bootstrap.build(settings) as kk:  # a new process over the same folder
        again = advance(kk, NOW + timedelta(seconds=30))
        assert (again.at_risk, again.breached, again.again) == (0, 0, 2)
        assert marks(kk) == stored
        assert kk.events.count(workspace_service.get(kk.db, "my-company").id) == 4


def test_business_hours_account_first_contact_and_segments(
        kk: bootstrap.Kokemus, ws: ActiveWorkspace) -> None:
    people.upsert_customers(
        kk.db, ws.id, [Customer.model_validate({"id": "fam", "segments": ["households"]})], NOW)
    friday = datetime(2026, 5, 29, 11, 0, tzinfo=UTC)  # 14:00 in Helsinki
    send(kk, ws,
         # 2 working hours on Friday, 6 from Monday 08:00 (Helsinki): due Monday 14:00 local
         event("cmp", "c1", "complaint", friday, account="acme"),
         event("sc1", "c2", "service_contact", NOW - 6 * 24 * H, reason="invoice"),
         event("exp", "fam", "order_placed", NOW - 22 * H, express=True),
         event("exp-d", "fam", "delivered", NOW - 21 * H),
         event("exp2", "fam", "order_placed", NOW - 20 * H, express=True))
    advance(kk, NOW)
    found = {m["id"]: m for m in marks(kk)}
    breached = found["promise_breached:fast-delivery:told-8h:cmp"]
    assert breached["account"] == "acme" and breached["customer"] == "c1"
    assert breached["occurred_at"] == datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
    assert breached["properties"]["limit_s"] == 8 * 3600.0
    assert breached["occurred_at"] == BusinessHours().deadline(friday, 8 * 3600)
    assert not any(":first-contact:" in k for k in found)  # an open need is never at risk
    assert "promise_at_risk:fast-delivery:households-24h:exp2" in found
    assert "promise_at_risk:fast-delivery:households-24h:exp" not in found  # closed in time
    assert not any(":never-refused:" in k for k in found)


def test_history_older_than_the_lookback_gets_no_mark(
        kk: bootstrap.Kokemus, ws: ActiveWorkspace) -> None:
    send(kk, ws,
         event("old", "c1", "order_placed", NOW - 48 * H - 7 * 24 * H - H),
         event("recent", "c2", "order_placed", NOW - 48 * H - 7 * 24 * H + H))
    done = advance(kk, NOW)
    assert done.breached == 1
    assert [m["properties"]["occurrence"] for m in marks(kk)] == ["recent"]


def test_the_worker_advances_the_clocks(kk: bootstrap.Kokemus, ws: ActiveWorkspace) -> None:
    now = datetime.now(UTC)
    send(kk, ws, event("late", "c1", "order_placed", now - 60 * H))
    worker = Worker(kk, interval=60).start()
    try:
        deadline = time.monotonic() + 30
        while worker.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert [m["id"] for m in marks(kk)] == ["promise_breached:fast-delivery:delivered-48h:late"]


@pytest.mark.parametrize("calendar", [
    BusinessHours(),
    BusinessHours(timezone="America/Los_Angeles", holidays=None,
                  hours={"mon": "09:00-21:00", "sat": "10:00-24:00"},
                  closed=[date(2026, 4, 13)]),
])
def test_deadlines_at_once_are_the_calendars_deadlines(calendar: BusinessHours) -> None:
    rng = np.random.default_rng(3)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    starts = [base + timedelta(seconds=int(s)) for s in rng.integers(0, 60 * 86400, 300)]
    for seconds in (60.0, 8 * 3600.0, 30 * 3600.0):
        now = max(calendar.deadline(s, seconds) for s in starts) + H
        assert clocks.deadlines(calendar, starts, seconds, now) == [
            calendar.deadline(s, seconds) for s in starts]
    # a deadline beyond `now` is asked of the calendar itself
    assert clocks.deadlines(calendar, starts[:5], 30 * 86400.0, base) == [
        calendar.deadline(s, 30 * 86400.0) for s in starts[:5]]
