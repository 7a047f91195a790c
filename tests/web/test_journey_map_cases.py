"""What a journey is on the map: a person's, a B2B account's (the committee together), or an
episode of a long relationship; reached at any of several goals; and the colouring that
still says something when only one outcome is shown."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.analytics import journeys
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import events_log, one_of
from kokemus.demo import generate
from kokemus.services import access
from kokemus.services import workspaces as workspace_service
from kokemus.web import journey_map
from tests.web.test_journey_map import page_edges
from tests.web.test_pages import PASSWORD, log_in

DEALER = "/w/konekauppa/journeys/excavator-purchase"
SHOP = "/w/kodinkone/journeys/purchase"


@pytest.fixture
def demo(kk: bootstrap.Kokemus) -> None:
    generate.run(kk, customers=1500, end=date(2026, 6, 30))
    access.create_user(kk.db, "anna", PASSWORD, admin=True)


def stat(html: str) -> int:
    found = re.search(r'id="stat-cases"><span class="stat-value">([^<]+)<', html)
    assert found
    return int(re.sub(r"\D", "", found.group(1)))


def test_an_accounts_committee_is_one_journey(
    client: TestClient, kk: bootstrap.Kokemus, demo: None
) -> None:
    log_in(client)
    active = workspace_service.get(kk.db, "konekauppa")
    journey = active.document.journeys[0]
    people = client.get(DEALER).text
    accounts = client.get(DEALER, params={"cases": "account"})
    assert accounts.status_code == 200
    assert '<option value="account" selected>' in accounts.text
    with kk.events.reading() as cursor:
        engine = DuckDBEngine(cursor)
        by_account = events_log(active.id, journey, "account")
        expected = journeys.summary(engine, by_account)["cases"]
        persons = journeys.summary(engine, events_log(active.id, journey))["cases"]
        account = str(engine.query(f"SELECT case_id FROM ({by_account.sql}) AS l "
                                   "GROUP BY case_id ORDER BY count(*) DESC, case_id "
                                   "LIMIT 1").column(0)[0])
        one = by_account.where(one_of("account", [account]))
        committee = journeys.dfg(engine, one).to_pylist()
        people_in_it = int(engine.query(f"SELECT count(DISTINCT customer) AS n FROM "
                                        f"({one.sql}) AS l").column(0)[0].as_py())
    assert stat(people) == persons > stat(accounts.text) == expected > 0
    # One account: its people's events as one journey, in (time, seq) order.
    single = client.get(DEALER, params={"cases": "account", "account": account}).text
    assert f'<option value="{account}" selected>' in single
    assert stat(single) == 1 and people_in_it >= 2
    assert page_edges(single) == {(r["source"], r["target"]): int(r["count"])
                                  for r in committee}
    # The same account per person: as many journeys as people reached.
    assert stat(client.get(DEALER, params={"account": account}).text) == people_in_it
    bad = client.get(DEALER, params={"cases": "crowd", "account": "<x>"})
    assert bad.status_code == 422
    assert "Tuntematon polun tyyppi" in bad.text and "Tuntematon yritysasiakas" in bad.text
    assert stat(bad.text) == persons
    # A shop without accounts offers no choice and refuses one.
    assert 'name="cases"' not in client.get(SHOP).text
    assert client.get(SHOP, params={"cases": "account"}).status_code == 422


def test_a_journey_reaching_any_goal_is_not_lost(kk: bootstrap.Kokemus, demo: None) -> None:
    active = workspace_service.get(kk.db, "kodinkone")
    journey = next(j for j in active.document.journeys if j.id == "purchase")
    assert journey.goals == ["installation"]
    both = journey.model_copy(update={"other_goals": ["delivery"]})
    assert both.goals == ["installation", "delivery"]
    with kk.events.reading() as cursor:
        engine = DuckDBEngine(cursor)
        log = events_log(active.id, journey)
        everyone = journeys.summary(engine, log)["cases"]
        neither = journeys.summary(engine, log.without_cases(
            one_of("activity", ["installation", "delivery"])))["cases"]
        no_install = journeys.summary(engine, log.without_cases(
            one_of("activity", ["installation"])))["cases"]
    assert 0 < neither < no_install < everyone
    one = journey_map.build(kk, active, journey, journey_map.Filters(), "fi")
    two = journey_map.build(kk, active, both, journey_map.Filters(), "fi")
    assert one.lost == no_install and two.lost == neither
    assert {n.id for n in two.nodes if n.goal} == {"installation", "delivery"}
    lost = journey_map.build(kk, active, both, journey_map.Filters(outcome="not_reached"), "fi")
    assert lost.cases == neither


def test_only_lost_journeys_are_compared_with_those_that_reached_the_goal(
    client: TestClient, kk: bootstrap.Kokemus, demo: None
) -> None:
    log_in(client)
    page = client.get(SHOP, params={"outcome": "not_reached", "colour": "dropoff"})
    assert page.status_code == 200
    html = page.text
    assert 'data-colour="compare"' in html
    assert 'value="compare" checked' in html and 'value="dropoff"' not in html
    assert "Ero tavoitteeseen päätyneisiin" in html
    # The colour of an edge is the difference of its transitions per journey.
    active = workspace_service.get(kk.db, "kodinkone")
    journey = next(j for j in active.document.journeys if j.id == "purchase")
    with kk.events.reading() as cursor:
        engine = DuckDBEngine(cursor)
        log = events_log(active.id, journey)
        reached = one_of("activity", journey.goals)
        lost_log, won_log = log.without_cases(reached), log.of_cases(reached)
        lost = {(r["source"], r["target"]): r["count"]
                for r in journeys.dfg(engine, lost_log).to_pylist()}
        won = {(r["source"], r["target"]): r["count"]
               for r in journeys.dfg(engine, won_log).to_pylist()}
        n_lost = journeys.summary(engine, lost_log)["cases"]
        n_won = journeys.summary(engine, won_log)["cases"]
    colours = dict(((s, t), c) for s, t, c in re.findall(
        r'<g class="edge [^"]+" data-source="([^"]+)" data-target="([^"]+)" '
        r'data-count="\d+" data-colour="([^"]+)"', html))
    for pair, colour in colours.items():
        difference = lost[pair] / n_lost - won.get(pair, 0) / n_won
        assert colour == journey_map.compare_colour(difference), pair
    # Journeys that left at the cart take cart -> reminder far more often than buyers.
    assert colours[("cart", "cart-reminder")] in journey_map.PALETTE[3:]
    # Every journey shown: nothing to compare with, so time colouring.
    assert 'data-colour="time"' in client.get(SHOP, params={"colour": "compare"}).text


def test_the_stores_map_shows_episodes_not_lifetimes(
    client: TestClient, kk: bootstrap.Kokemus, demo: None
) -> None:
    log_in(client)
    active = workspace_service.get(kk.db, "asiakkaan-valinta")
    journey = active.document.journeys[0]
    assert journey.episodes is not None
    with kk.events.reading() as cursor:
        engine = DuckDBEngine(cursor)
        signals, customers = (int(v) for v in engine.query(
            f"SELECT count(*) FILTER (WHERE touchpoint = 'device-signal'), "
            f"count(DISTINCT customer) FROM events WHERE workspace_id = {active.id} AND "
            f"touchpoint IN ({', '.join(repr(t.id) for t in journey.touchpoints)})"
        ).to_pylist()[0].values())
        before_first = int(engine.query(
            f"SELECT count(DISTINCT case_id) AS n FROM ({events_log(active.id, journey).sql}) "
            "AS l WHERE case_id LIKE '%#0'").column(0)[0].as_py())
    page = client.get("/w/asiakkaan-valinta/journeys/automated-service")
    assert page.status_code == 200
    # One journey per device signal, and one for what a customer did before their first.
    assert stat(page.text) == signals + before_first > customers


def test_the_designed_path_flags_every_goal_on_it(kk: bootstrap.Kokemus, demo: None) -> None:
    active = workspace_service.get(kk.db, "kodinkone")
    journey = next(j for j in active.document.journeys if j.id == "purchase")
    both = journey.model_copy(update={"other_goals": ["delivery"]})
    view = journey_map.build(kk, active, both, journey_map.Filters(), "fi")
    assert view.goal == "Asennus, Kotiinkuljetus"
    assert [s for s in view.designed_path if s in view.goal_names] == ["Kotiinkuljetus",
                                                                       "Asennus"]
    goal_rings = re.findall(r'<g class="node designed" data-touchpoint="([^"]+)"[^>]*>'
                            r'<title>[^<]*</title><circle [^>]*stroke="#1e6b3a"', view.graph)
    assert sorted(goal_rings) == ["delivery", "installation"]


def test_other_goals_in_the_workspace_reach_the_map_and_the_variants(
    client: TestClient, kk: bootstrap.Kokemus, demo: None
) -> None:
    """Applied as a workspace document: the map's lost count and the variant explorer's
    'reaches the goal' badges count a journey reaching any goal."""
    log_in(client)
    before_map = client.get(SHOP).text
    before = client.get(f"{SHOP}/variants").text
    active = workspace_service.get(kk.db, "kodinkone")
    journeys_ = [j.model_copy(update={"other_goals": ["delivery"]}) if j.id == "purchase"
                 else j for j in active.document.journeys]
    workspace_service.apply(kk.db, active.document.model_copy(update={"journeys": journeys_}),
                            source="test")
    after_map = client.get(SHOP).text
    after = client.get(f"{SHOP}/variants").text

    def lost(html: str) -> int:
        found = re.search(r'id="stat-lost"><span class="stat-value">([^<]+)<', html)
        assert found
        return int(re.sub(r"\D", "", found.group(1)))

    assert 0 < lost(after_map) < lost(before_map)
    assert "Asennus, Kotiinkuljetus" in after_map
    assert after.count("badge-reaches") > before.count("badge-reaches") > 0
