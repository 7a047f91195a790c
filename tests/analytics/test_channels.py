"""Channel switching and consistency across channels: hand-made logs with known answers, and
the appliance shop demo, where customers whose delivery was damaged turn to phone and chat."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from kokemus import bootstrap
from kokemus.analytics.channels import channel_switches, touchpoint_by_channel
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import Log, events_log
from kokemus.services import workspaces

# (case, activity, minute, seq, channel), inserted out of order on purpose.
SWITCHES = [
    ("A", "visit", 3, 4, "web"),
    ("A", "visit", 0, 1, "web"),
    ("A", "call", 2, 3, "phone"),
    ("A", "visit", 1, 2, "web"),
    # Equal times: the ingest sequence decides, so web comes before email.
    ("B", "letter", 0, 6, "email"),
    ("B", "visit", 0, 5, "web"),
    ("C", "visit", 0, 7, "web"),
    ("C", "visit", 0, 8, "web"),
    # An event without a channel is left out: web is followed by phone.
    ("D", "visit", 0, 9, "web"),
    ("D", "note", 1, 10, None),
    ("D", "call", 2, 11, "phone"),
    ("E", "visit", 0, 12, "web"),
]


def _log(rows: list[tuple[Any, ...]]) -> tuple[DuckDBEngine, Log]:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (case_id VARCHAR, activity VARCHAR, minute INTEGER, "
                "seq BIGINT, channel VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", rows)
    return DuckDBEngine(con), Log(
        "SELECT case_id, activity, TIMESTAMP '2026-01-01' + to_minutes(minute) AS ts, seq, "
        "channel FROM t")


def test_pairs_of_consecutive_channels() -> None:
    engine, log = _log(SWITCHES)
    pairs = {(r["from_channel"], r["to_channel"]): r
             for r in channel_switches(engine, log).pairs.to_pylist()}
    assert {k: r["count"] for k, r in pairs.items()} == {
        ("web", "web"): 2, ("web", "phone"): 2, ("phone", "web"): 1, ("web", "email"): 1}
    assert pairs["web", "web"]["share"] == pytest.approx(2 / 6)
    assert pairs["web", "phone"]["share_from"] == pytest.approx(2 / 5)
    assert pairs["phone", "web"]["share_from"] == 1.0
    assert not pairs["web", "web"]["switch"] and pairs["web", "email"]["switch"]


def test_multichannel_cases_and_channels_per_case() -> None:
    engine, log = _log(SWITCHES)
    result = channel_switches(engine, log)
    assert result.multichannel.to_pylist() == [
        {"cases": 5, "multichannel_cases": 3, "share": pytest.approx(0.6)}]
    assert [(r["channels"], r["cases"]) for r in result.channels_per_case.to_pylist()] == [
        (1, 2), (2, 3)]
    assert result.channels_per_case.column("share").to_pylist() == pytest.approx([0.4, 0.6])


def test_sequences_collapse_consecutive_repeats() -> None:
    engine, log = _log(SWITCHES)
    rows = channel_switches(engine, log).sequences.to_pylist()
    assert [(r["sequence"], r["length"], r["cases"]) for r in rows] == [
        (["web"], 1, 2),
        (["web", "email"], 2, 1),
        (["web", "phone"], 2, 1),
        (["web", "phone", "web"], 3, 1),
    ]
    assert rows[0]["share"] == pytest.approx(0.4)
    assert len(channel_switches(engine, log, top=2).sequences) == 2


# Checkout by web or phone, goal 'paid'; minutes between steps differ by channel.
CHECKOUTS = [
    ("1", "checkout", 0, 1, "web"), ("1", "paid", 1, 2, "web"),
    ("2", "checkout", 0, 3, "web"), ("2", "browse", 2, 4, "web"),
    ("3", "checkout", 0, 5, "phone"), ("3", "paid", 10, 6, "phone"),
    ("4", "checkout", 0, 7, "phone"),
    # Paid before the checkout: not a conversion of this checkout.
    ("5", "paid", 0, 8, "web"), ("5", "checkout", 1, 9, "phone"),
]


def test_touchpoint_by_channel_conversion_time_and_rule() -> None:
    engine, log = _log(CHECKOUTS)
    rows = touchpoint_by_channel(engine, log, goal="paid", min_cases=2).to_pylist()
    # 'browse' is reached through one channel only, so it is not compared.
    assert {r["touchpoint"] for r in rows} == {"checkout", "paid"}
    checkout = {r["channel"]: r for r in rows if r["touchpoint"] == "checkout"}
    web, phone = checkout["web"], checkout["phone"]
    assert (web["cases"], web["converted"], web["conversion"]) == (2, 1, 0.5)
    assert (phone["cases"], phone["converted"]) == (3, 1)
    assert phone["conversion"] == pytest.approx(1 / 3)
    assert web["median_next_s"] == 90.0  # 60 s and 120 s
    assert phone["median_next_s"] == 600.0  # the other two phone checkouts end their case
    assert web["conversion_spread"] == pytest.approx(0.5 - 1 / 3)
    assert web["time_ratio"] == pytest.approx(600 / 90)
    assert web["inconsistent"] and web["rule"] == "conversion+time"


def test_channels_too_small_to_judge_are_not_flagged() -> None:
    engine, log = _log(CHECKOUTS)
    rows = touchpoint_by_channel(engine, log, goal="paid", min_cases=3).to_pylist()
    web = next(r for r in rows if (r["touchpoint"], r["channel"]) == ("checkout", "web"))
    assert not web["judged"] and web["conversion_spread"] is None
    assert not web["inconsistent"] and web["rule"] is None


def test_without_a_goal_there_is_no_conversion() -> None:
    engine, log = _log(CHECKOUTS)
    rows = touchpoint_by_channel(engine, log, min_cases=2).to_pylist()
    assert all(r["conversion"] is None and r["converted"] is None for r in rows)
    assert {r["rule"] for r in rows if r["touchpoint"] == "checkout"} == {"time"}


def test_answer_scores_by_channel_join_each_touchpoint_and_channel() -> None:
    # more in tests/analytics/test_scores.py, over responses in a real event store
    engine, log = _log(CHECKOUTS)
    answers = ("SELECT * FROM (VALUES ('checkout', 'web', 10, 7, 5), ('checkout', 'web', 0, "
               "NULL, 2)) AS a(touchpoint, channel, nps, ces, csat)")
    rows = touchpoint_by_channel(engine, log, scores=answers, min_cases=2).to_pylist()
    web = next(r for r in rows if r["touchpoint"] == "checkout" and r["channel"] == "web")
    assert (web["nps_n"], web["nps"], web["ces_n"], web["ces"]) == (2, 0.0, 1, 7.0)
    assert (web["csat_n"], web["csat"]) == (2, 50.0)
    assert all(r["nps_n"] == 0 and r["nps"] is None for r in rows if r["channel"] != "web")


def test_damaged_deliveries_turn_to_phone_and_chat(demo: bootstrap.Kokemus) -> None:
    kk = demo
    shop = workspaces.get(kk.db, "kodinkone").id
    buyers = events_log(shop).of_cases("type = 'order_placed'")
    damaged = "type = 'delivery_damaged'"
    with kk.events.reading() as cur:
        engine = DuckDBEngine(cur)
        per_case = {}
        for name, log in (("damaged", buyers.of_cases(damaged)),
                          ("other", buyers.without_cases(damaged))):
            result = channel_switches(engine, log)
            cases = result.multichannel.to_pylist()[0]["cases"]
            into = {channel: sum(r["count"] for r in result.pairs.to_pylist()
                                 if r["switch"] and r["to_channel"] == channel) / cases
                    for channel in ("phone", "chat")}
            per_case[name] = into
        consistency = touchpoint_by_channel(engine, events_log(shop), goal="installation")
    # Damaged-delivery customers call and chat about the damage, others mostly only book the
    # installation by phone: switches into phone or chat per buyer, 1.7 against 0.9.
    d, o = per_case["damaged"], per_case["other"]
    assert d["phone"] + d["chat"] > 1.6 * (o["phone"] + o["chat"])
    assert d["chat"] > 3 * o["chat"]
    # The shop's web and mobile checkouts perform alike: no planted inconsistency there.
    checkout = [r for r in consistency.to_pylist() if r["touchpoint"] == "checkout"
                and r["channel"] in ("web", "mobile")]
    assert len(checkout) == 2 and not any(r["inconsistent"] for r in checkout)


def test_a_goal_and_a_next_step_without_channel_still_count() -> None:
    engine, log = _log([("1", "checkout", 0, 1, "web"), ("1", "paid", 3, 2, None),
                        ("2", "checkout", 0, 3, "phone")])
    rows = {r["channel"]: r for r in touchpoint_by_channel(engine, log, goal="paid",
                                                           min_cases=1).to_pylist()}
    assert (rows["web"]["conversion"], rows["web"]["median_next_s"]) == (1.0, 180.0)
    assert (rows["phone"]["conversion"], rows["phone"]["median_next_s"]) == (0.0, None)
