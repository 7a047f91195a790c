"""The journey map page over the demo data: figures equal the analytics', filters apply."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.analytics import journeys
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import Log, events_log
from kokemus.demo import generate
from kokemus.domain.journeys import Journey
from kokemus.services import access
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from tests.web.test_pages import PASSWORD, log_in

PAGE = "/w/kodinkone/journeys/purchase"
EDGE_ROW = re.compile(
    r'<tr data-source="([^"]+)" data-target="([^"]+)"[^>]*>.*?'
    r'<td class="num edge-count">([^<]+)</td>', re.S)
DESIGNED_FI = ["Tuotesivu", "Tilaus ja toimitustapa", "Maksu", "Tilausvahvistus", "Lähetys",
               "Kotiinkuljetus", "Asentajan soitto", "Asennus", "Palautekysely"]


@pytest.fixture
def demo(kk: bootstrap.Kokemus) -> tuple[ActiveWorkspace, Journey]:
    generate.run(kk, customers=1500, end=date(2026, 6, 30))
    access.create_user(kk.db, "anna", PASSWORD)
    access.grant(kk.db, "anna", "kodinkone", "agent")
    active = workspace_service.get(kk.db, "kodinkone")
    journey = next(j for j in active.document.journeys if j.id == "purchase")
    return active, journey


def page_edges(html: str) -> dict[tuple[str, str], int]:
    return {(s, t): int(re.sub(r"\D", "", n)) for s, t, n in EDGE_ROW.findall(html)}


def dfg_counts(kk: bootstrap.Kokemus, log: Log) -> dict[tuple[str, str], int]:
    with kk.events.reading() as cursor:
        rows = journeys.dfg(DuckDBEngine(cursor), log).to_pylist()
    return {(r["source"], r["target"]): int(r["count"]) for r in rows}


def drawn(html: str) -> dict[tuple[str, str], int]:
    found = re.findall(r'<g class="edge [^"]+" data-source="([^"]+)" data-target="([^"]+)" '
                       r'data-count="(\d+)"', html)
    return {(s, t): int(n) for s, t, n in found}


def test_the_map_needs_a_login(client: TestClient, demo: tuple[ActiveWorkspace, Journey]) -> None:
    answer = client.get(PAGE, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/login?next={PAGE}"


def test_map_shows_the_designed_path_and_the_dfg_counts(
    client: TestClient, kk: bootstrap.Kokemus, demo: tuple[ActiveWorkspace, Journey]
) -> None:
    active, journey = demo
    log_in(client)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert "<h1>Ostopolku</h1>" in html
    path = re.search(r'<ol class="path" id="designed-path">(.*?)</ol>', html, re.S)
    assert path
    steps = re.findall(r'<span class="step[^"]*">([^<]+)', path.group(1))
    assert [s.strip() for s in steps] == DESIGNED_FI
    # The drawing: an SVG with every designed touchpoint as a designed node, the track of
    # the designed path, and designed edges marked.
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="journey-graph"' in html
    designed_nodes = re.findall(r'<g class="node designed[^"]*" data-touchpoint="([^"]+)"', html)
    assert designed_nodes == journey.designed_path
    assert html.count('class="designed-track"') == len(journey.designed_path) - 1
    assert '<g class="edge designed" data-source="checkout" data-target="payment"' in html
    assert 'class="edge off-path" data-source="search" data-target="product-page"' in html

    expected = dfg_counts(kk, events_log(active.id, journey))
    assert page_edges(html) == expected
    # Drawn edges carry the same counts (rare off-path ones are left to the table).
    assert drawn(html).items() <= expected.items()
    assert drawn(html)[("product-page", "cart")] == expected[("product-page", "cart")]
    with kk.events.reading() as cursor:
        cases = journeys.summary(DuckDBEngine(cursor), events_log(active.id, journey))["cases"]
    stat = re.search(r'id="stat-cases"><span class="stat-value">([^<]+)<', html)
    assert stat and int(re.sub(r"\D", "", stat.group(1))) == cases == 750
    assert f"n = {cases}" in html
    # Variants table and Sankey are there, the top variant with its count.
    assert 'id="journey-sankey"' in html
    assert re.search(r'id="variant-table".*?<td class="num">1</td>', html, re.S)


def test_filters_change_the_numbers(
    client: TestClient, kk: bootstrap.Kokemus, demo: tuple[ActiveWorkspace, Journey]
) -> None:
    active, journey = demo
    log_in(client)
    everything = page_edges(client.get(PAGE).text)

    web = client.get(PAGE, params={"channel": "web"})
    assert '<option value="web" selected>Verkkokauppa</option>' in web.text
    web_edges = page_edges(web.text)
    assert web_edges == dfg_counts(kk, events_log(active.id, journey).on_channels(["web"]))
    assert web_edges != everything
    assert sum(web_edges.values()) < sum(everything.values())

    spring = client.get(PAGE, params={"from": "2026-03-01", "to": "2026-04-30"})
    assert 'value="2026-03-01"' in spring.text and 'value="2026-04-30"' in spring.text
    expected = dfg_counts(kk, events_log(active.id, journey).between(
        datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)))
    assert page_edges(spring.text) == expected
    assert sum(expected.values()) < sum(everything.values())

    # Colouring by drop-off: the same counts, other colours, nodes tell how many left there.
    dropoff = client.get(PAGE, params={"colour": "dropoff"})
    assert page_edges(dropoff.text) == everything
    assert 'data-colour="dropoff"' in dropoff.text
    assert re.search(r'<input type="radio" name="colour" value="dropoff" checked>',
                     dropoff.text)
    assert "poistui" in dropoff.text
    colours = dict(re.findall(r'data-source="product-page" data-target="(cart)" '
                              r'data-count="\d+" data-colour="([^"]+)"', dropoff.text))
    timed = dict(re.findall(r'data-source="product-page" data-target="(cart)" '
                            r'data-count="\d+" data-colour="([^"]+)"', client.get(PAGE).text))
    assert colours and timed and colours != timed

    nothing = client.get(PAGE, params={"from": "2030-01-01"})
    assert "Näillä rajauksilla ei ole yhtään tapahtumaa" in nothing.text
    assert page_edges(nothing.text) == {}


def test_bad_filters_are_named_and_dropped(
    client: TestClient, demo: tuple[ActiveWorkspace, Journey]
) -> None:
    log_in(client)
    everything = page_edges(client.get(PAGE).text)
    bad = client.get(PAGE, params={"from": "eilen", "channel": "<script>", "colour": "x"})
    assert bad.status_code == 422  # a bad request, said on the page asked for
    assert "Alkupäivä ei ole päivämäärä" in bad.text
    assert "Tuntematon kanava" in bad.text
    assert "<script>" not in bad.text
    assert page_edges(bad.text) == everything
    backwards = client.get(PAGE, params={"from": "2026-05-01", "to": "2026-04-01"})
    assert "Loppupäivä on ennen alkupäivää" in backwards.text
    edge = client.get(PAGE, params={"to": "9999-12-31"})  # past the calendar's edge
    assert edge.status_code == 422 and "Loppupäivä ei ole päivämäärä" in edge.text
    assert page_edges(edge.text) == everything
    assert client.get("/w/kodinkone/journeys/nope").status_code == 404
    assert client.get("/w/nope/journeys/purchase").status_code == 404


def test_english_map_and_the_overview_link(
    client: TestClient, demo: tuple[ActiveWorkspace, Journey]
) -> None:
    log_in(client)
    overview = client.get("/w/kodinkone")
    assert f'href="{PAGE}">Avaa polkukartta' in overview.text
    finnish = client.get(PAGE).text
    client.get(f"/language/en?next={PAGE}")
    english = client.get(PAGE, params={"colour": "dropoff"})
    assert '<html lang="en"' in english.text
    assert "<h1>Purchase journey</h1>" in english.text
    for text in ("Journey map", "Real paths over the designed path", "Most common paths",
                 "Transitions", "Colour edges by", "Home delivery", "Installer&#39;s call",
                 "Did not reach the goal", "left"):
        assert text in english.text, text
    assert "Polkukartta" not in english.text
    assert page_edges(english.text) == page_edges(finnish)


def test_segment_filter_counts_only_its_customers(
    client: TestClient, kk: bootstrap.Kokemus, demo: tuple[ActiveWorkspace, Journey]
) -> None:
    from kokemus.analytics.logs import one_of
    from kokemus.storage import people

    active, journey = demo
    log_in(client)
    families = people.customers_in_segment(kk.db, active.id, "families")
    assert 0 < len(families) < 750
    page = client.get(PAGE, params={"segment": "families"})
    assert '<option value="families" selected>' in page.text
    expected = dfg_counts(kk, events_log(active.id, journey).where(one_of("customer", families)))
    assert page_edges(page.text) == expected
    assert page_edges(page.text) != page_edges(client.get(PAGE).text)
    unknown = client.get(PAGE, params={"segment": "martians"})
    assert "Tuntematon segmentti" in unknown.text
    assert page_edges(unknown.text) == page_edges(client.get(PAGE).text)


def test_outcome_filter_keeps_whole_journeys_that_reached_the_goal_or_not(
    client: TestClient, kk: bootstrap.Kokemus, demo: tuple[ActiveWorkspace, Journey]
) -> None:
    from kokemus.analytics.logs import literal

    active, journey = demo
    assert journey.goal is not None
    log_in(client)
    reached = f"activity = {literal(journey.goal)}"
    base = events_log(active.id, journey)
    won = client.get(PAGE, params={"outcome": "reached"})
    assert '<option value="reached" selected>' in won.text
    assert page_edges(won.text) == dfg_counts(kk, base.of_cases(reached))
    lost = client.get(PAGE, params={"outcome": "not_reached"})
    assert page_edges(lost.text) == dfg_counts(kk, base.without_cases(reached))
    # Together they are every journey; apart they differ.
    together = {k: page_edges(won.text).get(k, 0) + page_edges(lost.text).get(k, 0)
                for k in page_edges(won.text).keys() | page_edges(lost.text).keys()}
    assert together == page_edges(client.get(PAGE).text)
    assert page_edges(won.text) != page_edges(lost.text)
    odd = client.get(PAGE, params={"outcome": "maybe"})
    assert "Tuntematon lopputulos" in odd.text
    assert page_edges(odd.text) == page_edges(client.get(PAGE).text)
