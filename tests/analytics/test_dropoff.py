"""Drop-off, lost touchpoints and stalls: a hand-made log whose answers are known exactly,
and the demo: the appliance shop's abandoned carts, the dealer's lost deals."""

from __future__ import annotations

from datetime import datetime

import pytest

from kokemus import bootstrap
from kokemus.analytics.dropoff import dropoff, outcomes, stalled_cases, stalls
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import selection
from kokemus.services import workspaces
from tests.analytics.generated import minutes_log

# (case, activity, minute, seq), inserted out of order on purpose; the goal is g.
EVENTS = [
    ("A", "g", 2, 3), ("A", "a", 0, 1), ("A", "b", 1, 2),
    ("B", "b", 5, 11), ("B", "a", 0, 10),
    # Same minute: the sequence makes c the last touchpoint, not b.
    ("C", "c", 3, 21), ("C", "b", 3, 20),
    # Last seen 10 minutes before the log's clock (minute 100): still in flight.
    ("D", "a", 80, 30), ("D", "b", 90, 31),
    ("E", "b", 10, 40),
    ("F", "a", 20, 50),
]
HOUR = 1 / 24
CLOCK = datetime(2026, 1, 1, 1, 40)  # minute 100


_log = minutes_log


def test_lost_touchpoints_ranked() -> None:
    engine, log = _log(EVENTS)
    rows = dropoff(engine, log, "g", idle_days=HOUR, as_of=CLOCK).to_pylist()
    assert [(r["touchpoint"], r["lost"], r["in_flight"], r["visited"]) for r in rows] == [
        ("b", 2, 1, 5), ("a", 1, 0, 4), ("c", 1, 0, 1)]
    assert [r["share"] for r in rows] == pytest.approx([0.5, 0.25, 0.25])
    assert [r["lost_rate"] for r in rows] == pytest.approx([0.4, 0.25, 1.0])


def test_outcomes_and_the_clock() -> None:
    engine, log = _log(EVENTS)
    assert outcomes(engine, log, "g", idle_days=HOUR, as_of=CLOCK) == {
        "reached": 1, "in_flight": 1, "lost": 4}
    # Without a clock the log's last event (D at minute 90) is now; with a day's patience
    # nothing is lost yet; several goals count alike.
    assert outcomes(engine, log, "g", idle_days=HOUR)["in_flight"] == 1
    assert outcomes(engine, log, "g", idle_days=1) == {"reached": 1, "in_flight": 5, "lost": 0}
    assert outcomes(engine, log, ["g", "c"], idle_days=HOUR)["reached"] == 2
    with pytest.raises(ValueError):
        outcomes(engine, log, [])


def test_stalled_cases_longest_idle_first() -> None:
    engine, log = _log(EVENTS)
    rows = stalled_cases(engine, log, "g", idle_days=HOUR, as_of=CLOCK).to_pylist()
    assert [(r["case_id"], r["last_touchpoint"], r["idle_s"]) for r in rows] == [
        ("C", "c", 97 * 60), ("B", "b", 95 * 60), ("E", "b", 90 * 60), ("F", "a", 80 * 60)]


def test_stalls_by_touchpoint_and_transition() -> None:
    engine, log = _log(EVENTS)
    # Waits after a: 1, 5, 10 minutes; after b: 1 minute (A) and 0 (C, the tie).
    rows = stalls(engine, log).to_pylist()
    assert [(r["touchpoint"], r["steps"]) for r in rows] == [("a", 3), ("b", 2)]
    assert (rows[0]["median_s"], rows[0]["p90_s"]) == pytest.approx((300, 540))
    assert (rows[1]["median_s"], rows[1]["p90_s"]) == pytest.approx((30, 54))
    pairs = stalls(engine, log, "transition").to_pylist()
    assert [(r["source"], r["target"], r["steps"]) for r in pairs] == [
        ("a", "b", 3), ("b", "g", 1), ("b", "c", 1)]
    assert [(r["source"], r["target"])
            for r in stalls(engine, log, "transition", min_steps=2).to_pylist()] == [("a", "b")]


def test_abandoned_carts_are_lost_at_the_cart(demo: bootstrap.Kokemus) -> None:
    shop = workspaces.get(demo.db, "kodinkone")
    carts = selection(shop.id, shop.document.journeys[0]).of_cases("activity = 'cart'")
    with demo.events.reading() as cur:
        rows = dropoff(DuckDBEngine(cur), carts, "checkout").to_pylist()
    # Of those who put something in the cart, the ones who never order leave at the cart or
    # after the reminder (70 % of abandoned carts get one), rarely anywhere else.
    top = [r["touchpoint"] for r in rows[:2]]
    assert set(top) == {"cart", "cart-reminder"}
    assert sum(r["share"] for r in rows[:2]) > 0.8
    reminder = next(r for r in rows if r["touchpoint"] == "cart-reminder")
    # A fifth of the reminded come back: most reminders are the last thing that happens.
    assert reminder["lost_rate"] > 0.6


def test_deals_are_lost_more_when_the_spec_sheet_is_missing(demo: bootstrap.Kokemus) -> None:
    dealer = workspaces.get(demo.db, "konekauppa")
    accounts = selection(dealer.id, dealer.document.journeys[0], subject="account")
    missing = "type = 'spec_sheet_missing'"
    with demo.events.reading() as cur:
        engine = DuckDBEngine(cur)
        without = outcomes(engine, accounts.of_cases(missing), "deal")
        found = outcomes(engine, accounts.without_cases(missing), "deal")
        lost_at = dropoff(engine, accounts.of_cases(missing), "deal").to_pylist()
    def won(o: dict[str, int]) -> float:
        return o["reached"] / sum(o.values())
    # Planted: of decided accounts, 0.725 lost without the spec sheet, 0.425 with it.
    assert won(without) < 0.6 * won(found)
    assert lost_at[0]["touchpoint"] == "lost-deal"
