"""A long relationship cut into episodes by the journey's rule (each device signal starts
one), inside the engine, with known answers: the customer's-choice store."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from kokemus.analytics import dropoff, journeys
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import events_log, selection
from kokemus.domain.journeys import Journey
from kokemus.workspace import document
from kokemus.workspace.document import WorkspaceFileError

STORE = Path(document.__file__).parents[1] / "demo" / "customers_choice.yaml"

# (seq, customer, touchpoint, minute): anna chooses her mode, her fridge runs low and a refill
# is delivered, her washer wears and a service visit comes; ben's mixer breaks twice, the
# second time nothing follows; the events arrive out of order (seq is not time order).
EVENTS = [
    (1, "anna", "mode-choice", 0), (3, "anna", "device-signal", 100),
    (2, "anna", "store-action", 110), (4, "anna", "home-delivery", 200),
    (5, "anna", "community", 250), (6, "anna", "device-signal", 5000),
    (7, "anna", "store-action", 5010), (8, "anna", "service-visit", 6000),
    (9, "ben", "device-signal", 300), (10, "ben", "store-action", 301),
    (11, "ben", "home-delivery", 900), (12, "ben", "device-signal", 9000),
    # the same minute as the signal, later seq: after it, in the second episode
    (13, "ben", "notice", 9000),
]


@pytest.fixture
def engine() -> DuckDBEngine:
    con = duckdb.connect()
    con.execute("CREATE TABLE events (workspace_id INTEGER, seq BIGINT, type VARCHAR, "
                "customer VARCHAR, account VARCHAR, touchpoint VARCHAR, channel VARCHAR, "
                "minute INTEGER, occurred_at TIMESTAMP GENERATED ALWAYS AS "
                "(TIMESTAMP '2026-01-01' + to_minutes(minute)))")
    con.executemany("INSERT INTO events (workspace_id, seq, type, customer, account, "
                    "touchpoint, channel, minute) VALUES (1, ?, 'x', ?, NULL, ?, 'app', ?)",
                    EVENTS)
    return DuckDBEngine(con)


@pytest.fixture
def journey() -> Journey:
    found = document.load(STORE).journeys[0]
    assert found.episodes is not None and found.episodes.start == ["device-signal"]
    return found


def test_each_device_signal_starts_an_episode(engine: DuckDBEngine, journey: Journey) -> None:
    paths = {tuple(r["variant"]): r["cases"]
             for r in journeys.variants(engine, events_log(1, journey)).to_pylist()}
    assert paths == {
        ("mode-choice",): 1,
        ("device-signal", "store-action", "home-delivery", "community"): 1,
        ("device-signal", "store-action", "service-visit"): 1,
        ("device-signal", "store-action", "home-delivery"): 1,
        ("device-signal", "notice"): 1,
    }
    summary = journeys.summary(engine, events_log(1, journey))
    assert summary == {"events": 13, "cases": 5, "activities": 7}
    # Without the rule, each customer is one journey of everything.
    whole = journey.model_copy(update={"episodes": None})
    assert journeys.summary(engine, events_log(1, whole))["cases"] == 2


def test_a_need_served_by_any_goal_is_reached(engine: DuckDBEngine, journey: Journey) -> None:
    assert journey.goals == ["home-delivery", "service-visit"]
    # The clock is the last event (minute 9000); idle a day, a journey without a goal is lost.
    found = dropoff.outcomes(engine, events_log(1, journey), journey.goals, idle_days=1)
    assert found == {"reached": 3, "in_flight": 1, "lost": 1}  # ben's second; anna's mode
    only_delivery = dropoff.outcomes(engine, events_log(1, journey), [journey.goals[0]],
                                     idle_days=1)
    assert only_delivery == {"reached": 2, "in_flight": 1, "lost": 2}


def test_the_rules_name_touchpoints_of_the_journey() -> None:
    """A bad rule is named with its line, as every workspace error is."""
    text = STORE.read_text(encoding="utf-8")
    line = text.splitlines().index("    episodes: {start: [device-signal]}") + 1
    bad = text.replace("episodes: {start: [device-signal]}", "episodes: {start: [moon]}")
    bad = bad.replace("other_goals: [service-visit]", "other_goals: [mars]")
    with pytest.raises(WorkspaceFileError) as caught:
        document.loads(bad)
    said = str(caught.value)
    assert "unknown touchpoint 'moon'" in said and "unknown touchpoint 'mars'" in said
    assert f"line {line}" in said or f":{line}" in said
    with pytest.raises(WorkspaceFileError, match="at least 1"):
        document.loads(text.replace("episodes: {start: [device-signal]}",
                                    "episodes: {start: []}"))
    goalless = text.replace("    goal: home-delivery\n", "")
    with pytest.raises(WorkspaceFileError, match="other goals need a goal"):
        document.loads(goalless)


def test_the_outcome_filter_counts_any_goal(engine: DuckDBEngine, journey: Journey) -> None:
    """As the API's and CLI's --outcome: a journey reaching any goal is reached."""
    lost = selection(1, journey, outcome="not_reached", goal=journey.goals)
    reached = selection(1, journey, outcome="reached", goal=journey.goals)
    assert journeys.summary(engine, lost)["cases"] == 2
    assert journeys.summary(engine, reached)["cases"] == 3
    only_delivery = selection(1, journey, outcome="reached", goal="home-delivery")
    assert journeys.summary(engine, only_delivery)["cases"] == 2
