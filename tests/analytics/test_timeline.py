"""The customer's timeline on a small hand-made store with known answers: the events in
(time, seq) order with their touchpoints and departments, the answers at their time, every
promise verdict, and for a broken one the longest wait and the department hand-off."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest

from kokemus.analytics.timeline import GAP_COLUMNS, breaking_gaps, timeline
from kokemus.demo import appliance_shop
from kokemus.domain.workspace import Workspace
from kokemus.storage.events import DDL, RESPONSES_DDL
from kokemus.workspace import document

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
D = timedelta(days=1)
SHOP = document.load(appliance_shop.WORKSPACE_FILE)


@dataclass(frozen=True)
class Shop:
    id: int
    document: Workspace


class Store:
    """Events and answers added by hand; seq counts up in the order events are added."""

    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(DDL)
        self.con.execute(RESPONSES_DDL)
        self.seq = itertools.count(1)

    def add(self, customer: str, type_: str, at: datetime, *, account: str | None = None,
            channel: str = "web", touchpoint: str | None = None, workspace: int = 1,
            **props: Any) -> str:
        seq = next(self.seq)
        ident = f"e{seq}"
        self.con.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [workspace, ident, seq, type_, customer, account, channel, touchpoint, at, at,
             orjson.dumps(props).decode() if props else None])
        return ident

    def answer(self, customer: str, at: datetime, *, nps: int, comment: str | None = None,
               touchpoint: str = "delivery") -> None:
        self.con.execute(
            "INSERT INTO responses VALUES (1, ?, 'after-delivery', NULL, ?, NULL, NULL, [], ?, "
            "'email', 'api', 'fi', NULL, ?, ?, NULL, NULL, ?, true, ?, ?, 1)",
            [f"r-{customer}-{nps}", customer, touchpoint, json.dumps({"recommend": nps}), nps,
             comment, at, at])


@pytest.fixture
def store() -> Iterator[Store]:
    made = Store()
    yield made
    made.con.close()


def damaged(store: Store, who: str = "c1", account: str | None = None) -> dict[str, str]:
    """The washing machine case: express order, damaged on the way, three days and four
    hours of silence, then the customer calls and is told an hour later."""
    ids = {
        "order": store.add(who, "order_placed", T0 - 20 * H, account=account),
        "express": store.add(who, "express_delivery_selected", T0 - 20 * H, account=account),
        "shipped": store.add(who, "shipped", T0 - 10 * H, channel="delivery", account=account),
        "damaged": store.add(who, "delivery_damaged", T0, channel="delivery",
                             account=account, carrier="Kiito"),
        "call": store.add(who, "service_contact", T0 + 3 * D + 4 * H, channel="phone",
                          account=account, reason="damaged_delivery"),
        "told": store.add(who, "delay_notified", T0 + 3 * D + 5 * H, channel="email",
                          account=account),
    }
    return ids


def by_commitment(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["commitment"]: r for r in rows}


def test_events_in_order_with_touchpoint_and_department(store: Store) -> None:
    ids = damaged(store)
    store.add("c2", "order_placed", T0)  # someone else
    # equal times keep their ingest order; a late event is placed by its time
    late = store.add("c1", "order_status_checked", T0 + H)
    found = timeline(store.con, Shop(1, SHOP), customer="c1", as_of=T0 + 4 * D)
    rows = found.events.to_pylist()
    assert [r["id"] for r in rows] == [ids["order"], ids["express"], ids["shipped"],
                                       ids["damaged"], late, ids["call"], ids["told"]]
    damage = rows[3]
    assert (damage["type"], damage["touchpoint"], damage["department"], damage["channel"]) == (
        "delivery_damaged", "delivery", "logistics", "delivery")
    assert json.loads(damage["properties"]) == {"carrier": "Kiito"}
    assert [r["department"] for r in rows] == [
        "ecommerce", "ecommerce", "logistics", "logistics", "ecommerce", "customer-service",
        "customer-service"]
    assert rows[0]["occurred_at"] == T0 - 20 * H


def test_an_event_naming_its_touchpoint_keeps_it(store: Store) -> None:
    store.add("c1", "chat_question", T0, touchpoint="customer-service", channel="chat")
    row = timeline(store.con, Shop(1, SHOP), customer="c1", as_of=T0 + H).events.to_pylist()[0]
    assert (row["touchpoint"], row["department"]) == ("customer-service", "customer-service")


def test_broken_promise_marks_the_longest_wait_and_the_hand_off(store: Store) -> None:
    ids = damaged(store)
    found = timeline(store.con, Shop(1, SHOP), customer="c1", as_of=T0 + 3 * D + 6 * H)
    verdicts = by_commitment(found.promises.to_pylist())
    notice = verdicts["damage-notice-2h"]
    assert notice["verdict"] == "broken"
    assert notice["occurrence"] == ids["damaged"]
    assert notice["used_s"] == (3 * D + 5 * H).total_seconds()
    assert notice["limit_s"] == 2 * 3600
    assert notice["gap_s"] == (3 * D + 4 * H).total_seconds()
    assert (notice["gap_from"], notice["gap_to"]) == (ids["damaged"], ids["call"])
    assert (notice["from_department"], notice["to_department"]) == (
        "logistics", "customer-service")
    assert (notice["from_touchpoint"], notice["to_touchpoint"]) == (
        "delivery", "customer-service")
    assert notice["gap_from_ts"] == T0 and notice["gap_to_ts"] == T0 + 3 * D + 4 * H
    # the express promise (no installation, no delivery) lost its time at the same place
    for commitment in ("express-installed-48h", "express-delivered-36h"):
        express = verdicts[commitment]
        assert express["verdict"] == "broken" and express["end_ts"] is None
        assert express["gap_from"] == ids["damaged"] and express["gap_to"] == ids["call"]
    # a delay never reported opens nothing
    assert "delay-notice-2h" not in verdicts


def test_no_end_yet_the_wait_runs_to_as_of(store: Store) -> None:
    ids = damaged(store)
    found = timeline(store.con, Shop(1, SHOP), customer="c1", as_of=T0 + 1 * D)
    notice = by_commitment(found.promises.to_pylist())["damage-notice-2h"]
    assert notice["verdict"] == "broken" and notice["end_ts"] is None
    assert notice["gap_s"] == D.total_seconds()
    assert notice["gap_from"] == ids["damaged"] and notice["gap_to"] is None
    assert (notice["from_department"], notice["to_department"]) == ("logistics", None)
    # events after as_of are not seen
    assert ids["call"] not in found.events["id"].to_pylist()


def test_what_came_long_after_the_deadline_does_not_explain_it(store: Store) -> None:
    """Without an end, only the waits that began by the deadline count: here the wait
    after the status check (ten days, e-commerce to customer service), not the two months
    of quiet after the customer's last contact."""
    store.add("c1", "delivery_damaged", T0, channel="delivery")
    check = store.add("c1", "order_status_checked", T0 + H / 2)
    chat = store.add("c1", "chat_question", T0 + 10 * D, channel="chat")
    found = timeline(store.con, Shop(1, SHOP), customer="c1", as_of=T0 + 70 * D)
    notice = by_commitment(found.promises.to_pylist())["damage-notice-2h"]
    assert (notice["gap_from"], notice["gap_to"]) == (check, chat)
    assert notice["gap_s"] == (10 * D - H / 2).total_seconds()
    assert (notice["from_department"], notice["to_department"]) == (
        "ecommerce", "customer-service")


def test_a_deadline_in_business_hours(store: Store) -> None:
    """Two working hours from a Friday 15.00 damage run out on Monday at 9.00 (opening
    hours 8-16 Helsinki): the weekend's waits began before the deadline and count."""
    text = appliance_shop.WORKSPACE_FILE.read_text(encoding="utf-8").replace(
        "        end: delay_notified\n        within: 2h\n  - id: one-whole",
        "        end: delay_notified\n        within: 2h\n        business_hours: true\n"
        "  - id: one-whole")
    assert "business_hours: true" in text
    shop = document.loads(text)
    friday = datetime(2026, 3, 6, 13, 0, tzinfo=UTC)  # 15.00 in Helsinki
    damage = store.add("c1", "delivery_damaged", friday, channel="delivery")
    check = store.add("c1", "order_status_checked", friday + 3 * H)  # 18.00, closed
    store.add("c1", "chat_question", friday + 2 * D + 20 * H, channel="chat")  # Mon 11.00
    found = timeline(store.con, Shop(1, shop), customer="c1", as_of=friday + 10 * D)
    notice = by_commitment(found.promises.to_pylist())["damage-notice-2h"]
    assert notice["verdict"] == "broken"
    # the check came before the Monday deadline: its wait to the chat counts (counted in
    # wall-clock hours, the deadline would have been Friday 17.00, before the check)
    assert notice["gap_from"] == check and notice["gap_s"] == (2 * D + 17 * H).total_seconds()
    plain = timeline(store.con, Shop(1, SHOP), customer="c1", as_of=friday + 10 * D)
    wall = by_commitment(plain.promises.to_pylist())["damage-notice-2h"]
    assert (wall["gap_from"], wall["gap_to"]) == (damage, check)


def test_equal_waits_the_earliest_broke_it(store: Store) -> None:
    damage = store.add("c1", "delivery_damaged", T0, channel="delivery")
    check = store.add("c1", "order_status_checked", T0 + 5 * H)
    store.add("c1", "chat_question", T0 + 10 * H, channel="chat")
    store.add("c1", "delay_notified", T0 + 11 * H, channel="email")
    found = timeline(store.con, Shop(1, SHOP), customer="c1", as_of=T0 + 2 * D)
    notice = by_commitment(found.promises.to_pylist())["damage-notice-2h"]
    assert notice["verdict"] == "broken" and notice["gap_s"] == (5 * H).total_seconds()
    assert (notice["gap_from"], notice["gap_to"]) == (damage, check)


def test_breaking_gaps_of_many_cases_are_their_timelines(store: Store) -> None:
    """The workspace-wide reading (the hand-off signal's) finds each broken occurrence's
    wait as the customer's or the account's own timeline does (the damage notice counted
    here per account: all its people's events are one case)."""
    text = appliance_shop.WORKSPACE_FILE.read_text(encoding="utf-8").replace(
        "        end: delay_notified\n        within: 2h\n  - id: one-whole",
        "        end: delay_notified\n        within: 2h\n        case: account\n"
        "  - id: one-whole")
    shop = Shop(1, document.loads(text))
    assert "case: account" in text
    damaged(store, "c1")
    store.add("c2", "express_delivery_selected", T0 + 2 * H)  # and never delivered
    store.add("c2", "order_status_checked", T0 + 30 * H)
    store.add("c2", "shipped", T0 + 31 * H, channel="delivery")
    damaged(store, "p1", account="acme")
    store.add("c3", "order_status_checked", T0 + H)  # nothing promised, nothing broken
    as_of = T0 + 4 * D
    own = [timeline(store.con, shop, customer="c1", as_of=as_of),
           timeline(store.con, shop, customer="c2", as_of=as_of),
           timeline(store.con, shop, account="acme", as_of=as_of, people=["p1"])]
    expected = [r for t in own for r in t.promises.to_pylist() if r["verdict"] == "broken"]
    assert {r["case_id"] for r in expected} == {"c1", "c2", "p1", "acme"}
    occurrences = pa.concat_tables([t.promises.drop_columns(list(GAP_COLUMNS)) for t in own])
    found = breaking_gaps(store.con, shop, occurrences, as_of).to_pylist()
    key = itemgetter("case_id", "commitment", "occurrence")
    assert sorted(found, key=key) == sorted(expected, key=key)
    assert all(r["gap_s"] is not None for r in found)


def test_kept_open_and_at_risk_have_no_gap(store: Store) -> None:
    store.add("c1", "delivery_damaged", T0, channel="delivery")
    store.add("c1", "delay_notified", T0 + H, channel="email")
    store.add("c1", "delivery_damaged", T0 + 10 * H, channel="delivery")
    at = T0 + 10 * H + timedelta(minutes=100)  # 100 of 120 minutes used: at risk
    found = timeline(store.con, Shop(1, SHOP), customer="c1", as_of=at)
    rows = [r for r in found.promises.to_pylist() if r["commitment"] == "damage-notice-2h"]
    assert [(r["verdict"], r["at_risk"]) for r in rows] == [("kept", False), ("open", True)]
    assert all(r["gap_s"] is None and r["from_department"] is None for r in rows)


def test_answers_sit_at_their_time(store: Store) -> None:
    damaged(store)
    store.answer("c1", T0 + 4 * D, nps=2, comment="Kone tuli rikki")
    store.answer("c2", T0 + 4 * D, nps=10)
    found = timeline(store.con, Shop(1, SHOP), customer="c1", as_of=T0 + 5 * D)
    [row] = found.responses.to_pylist()
    assert (row["nps"], row["comment"], row["department"]) == (2, "Kone tuli rikki",
                                                               "logistics")
    assert row["started_at"] == T0 + 4 * D
    before = timeline(store.con, Shop(1, SHOP), customer="c1", as_of=T0 + 3 * D)
    assert before.responses.num_rows == 0


def test_an_account_is_its_people_together(store: Store) -> None:
    damaged(store, "p1", account="acme")
    store.add("p2", "chat_question", T0 + 2 * D, channel="chat")  # names no account
    store.add("p3", "chat_question", T0 + 2 * D, channel="chat")  # not in the committee
    store.add("p1", "chat_question", T0, workspace=2)  # another workspace
    found = timeline(store.con, Shop(1, SHOP), account="acme", as_of=T0 + 4 * D,
                     people=["p1", "p2"])
    assert set(found.events["customer"].to_pylist()) == {"p1", "p2"}
    assert found.events.num_rows == 7
    notice = by_commitment(found.promises.to_pylist())["damage-notice-2h"]
    assert (notice["customer"], notice["from_department"], notice["to_department"]) == (
        "p1", "logistics", "customer-service")


def test_another_workspace_sees_nothing(store: Store) -> None:
    damaged(store)
    found = timeline(store.con, Shop(2, SHOP), customer="c1", as_of=T0 + 4 * D)
    assert found.events.num_rows == found.promises.num_rows == found.responses.num_rows == 0


def test_one_subject_only(store: Store) -> None:
    with pytest.raises(ValueError):
        timeline(store.con, Shop(1, SHOP), as_of=T0)
    with pytest.raises(ValueError):
        timeline(store.con, Shop(1, SHOP), customer="c1", account="a", as_of=T0)
