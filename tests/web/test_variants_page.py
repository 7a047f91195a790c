"""The variant explorer over the demo data: its figures equal the analytics', pages walk every
variant once, the map's filters and its own apply, bad input is named and dropped."""

from __future__ import annotations

import html as markup
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.analytics import journeys
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import Log, events_log, literal
from kokemus.domain.journeys import Journey
from kokemus.services import ingest
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import variants
from kokemus.web.journey_map import without_repeats
from tests.web.test_journey_map import demo  # noqa: F401  (the fixture)
from tests.web.test_pages import log_in

MAP = "/w/kodinkone/journeys/purchase"
PAGE = f"{MAP}/variants"
Demo = tuple[ActiveWorkspace, Journey]
ROW = re.compile(r'<tr class="variant-row[^"]*" data-rank="(\d+)" data-cases="(\d+)" '
                 r'data-path="([^"]*)">.*?<td class="num variant-cases">([^<]+)</td>', re.S)


def rows(html: str) -> list[tuple[int, list[str], int]]:
    """(rank, path, cases) per table row; the cases as printed (thousands separators)."""
    found = []
    for rank, cases, path, printed in ROW.findall(html):
        assert int(re.sub(r"\D", "", printed)) == int(cases)
        found.append((int(rank), path.split(), int(cases)))
    return found


def stat(html: str, name: str) -> str:
    found = re.search(rf'id="stat-{name}"><span class="stat-value">([^<]+)<', html)
    assert found, name
    return found.group(1)


def expected(kk: bootstrap.Kokemus, log: Log) -> list[tuple[int, list[str], int]]:
    with kk.events.reading() as cursor:
        table = journeys.variants(DuckDBEngine(cursor), log).to_pylist()
    return [(i, list(r["variant"]), int(r["cases"])) for i, r in enumerate(table, 1)]


def all_pages(client: TestClient, params: dict[str, str]) -> list[tuple[int, list[str], int]]:
    """Every row, following the page's own "next" links."""
    found: list[tuple[int, list[str], int]] = []
    answer = client.get(PAGE, params=params)
    while True:
        assert answer.status_code == 200
        assert 'role="alert"' not in answer.text
        found.extend(rows(answer.text))
        following = re.search(r'<a href="([^"]+)" rel="next"', answer.text)
        if not following:
            return found
        answer = client.get(markup.unescape(following.group(1)))


def test_explorer_needs_a_login(client: TestClient, demo: Demo) -> None:  # noqa: F811
    answer = client.get(PAGE, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/login?next={PAGE}"


def test_counts_equal_the_analytics_and_pages_walk_every_variant(
    client: TestClient, kk: bootstrap.Kokemus, demo: Demo  # noqa: F811
) -> None:
    active, journey = demo
    log_in(client)
    log = without_repeats(events_log(active.id, journey))
    truth = expected(kk, log)
    assert len(truth) > variants.PAGE_SIZE  # the demo has more than one page
    first = client.get(PAGE)
    assert first.status_code == 200
    assert "default-src 'self'" in first.headers["content-security-policy"]
    assert "<script" not in first.text
    assert rows(first.text) == truth[:50]
    cases = sum(n for _, _, n in truth)
    assert cases == 750
    assert stat(first.text, "cases") == "750"
    assert stat(first.text, "variants") == str(len(truth))
    top = sum(n for _, _, n in truth[:10])
    assert stat(first.text, "top") == f"{100 * top / cases:.1f}".replace(".", ",") + "\u00a0%"
    # An accessible table: a caption, column and row headers.
    assert re.search(r'<caption>Variantit 1–50/\d+, yleisin ensin \(sivu 1/\d+\)</caption>',
                     first.text)
    assert first.text.count('<th scope="row" class="num">') == 50
    second = client.get(PAGE, params={"page": "2"})
    assert rows(second.text)[0][0] == 51
    assert rows(second.text) == truth[50:100]
    assert 'aria-current="page">2</a>' in second.text
    assert re.search(r'<a href="[^"]+" rel="prev"', second.text)
    everything = all_pages(client, {})
    assert everything == truth
    assert sum(n for _, _, n in everything) == cases
    # The cumulative share of the last variant is every journey.
    last = client.get(PAGE, params={"page": str(-(-len(truth) // 50))}).text
    assert "100,0\u00a0%</td>" in last


def test_filters_are_the_maps_and_pages_keep_them(
    client: TestClient, kk: bootstrap.Kokemus, demo: Demo  # noqa: F811
) -> None:
    active, journey = demo
    log_in(client)
    params = {"channel": "web", "from": "2026-02-01"}
    page = client.get(PAGE, params=params)
    assert '<option value="web" selected>Verkkokauppa</option>' in page.text
    log = events_log(active.id, journey).on_channels(["web"]).between(
        datetime(2026, 2, 1, tzinfo=UTC))
    truth = expected(kk, without_repeats(log))
    assert rows(page.text) == truth[:50]
    assert truth != expected(kk, without_repeats(events_log(active.id, journey)))
    # Links to other pages carry the filters.
    for href in re.findall(r'<nav class="pager".*?</nav>', page.text, re.S)[0:1]:
        for link in re.findall(r'href="([^"]+)"', href):
            query = parse_qs(urlsplit(markup.unescape(link)).query)
            assert query["channel"] == ["web"] and query["from"] == ["2026-02-01"]
    if len(truth) > 50:
        assert all_pages(client, params) == truth
    # Repeats kept: the raw paths, longer, as the analytics give them.
    kept = client.get(PAGE, params={"repeats": "keep"})
    assert '<option value="keep" selected>' in kept.text
    assert rows(kept.text) == expected(kk, events_log(active.id, journey))[:50]
    assert rows(kept.text) != rows(client.get(PAGE).text)


def test_through_keeps_only_journeys_that_pass_the_touchpoint(
    client: TestClient, kk: bootstrap.Kokemus, demo: Demo  # noqa: F811
) -> None:
    active, journey = demo
    log_in(client)
    page = client.get(PAGE, params={"through": "customer-service"})
    assert '<option value="customer-service" selected>' in page.text
    shown = rows(page.text)
    assert shown and all("customer-service" in path for _, path, _ in shown)
    base = events_log(active.id, journey)
    truth = expected(kk, without_repeats(base.of_cases("activity = 'customer-service'")))
    assert all_pages(client, {"through": "customer-service"}) == truth
    everything = dict((" ".join(p), n) for _, p, n in expected(kk, without_repeats(base)))
    assert {" ".join(p): n for _, p, n in truth} == {
        p: n for p, n in everything.items() if "customer-service" in p.split()}
    assert int(re.sub(r"\D", "", stat(page.text, "cases"))) == sum(n for _, _, n in truth) < 750


def test_designed_badge_and_goal(
    client: TestClient, kk: bootstrap.Kokemus, demo: Demo  # noqa: F811
) -> None:
    active, journey = demo
    assert journey.goal is not None
    designed = list(journey.designed_path)
    truth = expected(kk, without_repeats(events_log(active.id, journey)))
    assert not [p for _, p, _ in truth if p == designed]  # the demo's customers stray
    # Three customers travel the designed path, the second repeating a step (merged).
    start = datetime(2026, 5, 4, 9, tzinfo=UTC)
    events = [{"id": f"by-design-{c}-{i}", "type": "visit", "customer": f"by-design-{c}",
               "channel": "web", "touchpoint": step,
               "occurred_at": (start + timedelta(hours=i)).isoformat()}
              for c in range(3) for i, step in enumerate(designed)]
    events.append({**events[len(designed) + 2], "id": "by-design-again",
                   "occurred_at": (start + timedelta(hours=2, minutes=30)).isoformat()})
    done = ingest.ingest_events(events, active, kk.events)
    assert done.accepted == len(events) and not done.rejected
    log_in(client)
    truth = expected(kk, without_repeats(events_log(active.id, journey)))
    on_design = [(rank, n) for rank, path, n in truth if path == designed]
    assert len(on_design) == 1 and on_design[0][1] == 3
    rank, cases = on_design[0]
    html = client.get(PAGE, params={"page": str(1 + (rank - 1) // 50)}).text
    row = re.search(rf'<tr class="variant-row designed-row" data-rank="{rank}".*?</tr>', html,
                    re.S)
    assert row and "suunnitellun mukainen" in row.group(0)
    assert "saavuttaa tavoitteen" in row.group(0)
    assert html.count('badge-designed') == 1
    assert stat(html, "designed") == str(cases)
    # Badges follow the paths: the goal badge on exactly the rows whose path has the goal.
    for body in re.findall(r'<tr class="variant-row.*?</tr>', html, re.S):
        path = re.search(r'data-path="([^"]*)"', body)
        assert path
        assert ("badge-reaches" in body) == (journey.goal in path.group(1).split())
    # Designed touchpoints as the map styles them; the goal marked.
    assert f'class="step designed goal" data-touchpoint="{journey.goal}"' in html
    # (search is off the designed path and in most variants, so on every page of them)
    assert 'class="step off-path" data-touchpoint="search"' in html
    # Not reached: no variant reaches the goal, none is as designed.
    lost = client.get(PAGE, params={"outcome": "not_reached"}).text
    assert "badge-reaches" not in lost and "badge-designed" not in lost
    assert stat(lost, "designed") == "0"
    with kk.events.reading() as cursor:
        follow = journeys.cases_following(
            DuckDBEngine(cursor), without_repeats(events_log(active.id, journey)), designed)
    assert follow == cases
    # Repeats kept, the second customer's path differs from the design.
    kept = client.get(PAGE, params={"repeats": "keep"}).text
    assert stat(kept, "designed") == "2"


def test_map_links_to_the_explorer_with_its_filters(
    client: TestClient, demo: Demo  # noqa: F811
) -> None:
    log_in(client)
    # With one outcome shown the map compares with the other (drop-off would be all 0 %).
    params = {"channel": "web", "outcome": "reached", "colour": "compare"}
    page = client.get(MAP, params=params)
    link = re.search(r'<a href="([^"]+)" id="all-variants">Kaikki variantit →</a>', page.text)
    assert link
    target = markup.unescape(link.group(1))
    assert urlsplit(target).path == PAGE
    assert parse_qs(urlsplit(target).query) == {k: [v] for k, v in params.items()}
    explorer = client.get(target)
    assert '<option value="web" selected>' in explorer.text
    assert '<option value="reached" selected>' in explorer.text
    # ... and back to the map with the same filters.
    back = re.search(r'<a href="([^"]+)" id="map-link">', explorer.text)
    assert back and parse_qs(urlsplit(markup.unescape(back.group(1))).query) == {
        k: [v] for k, v in params.items()}


@pytest.mark.parametrize("params, notice", [
    ({"through": "moon"}, "Tuntematon kosketuspiste"),
    ({"through": "<script>"}, "Tuntematon kosketuspiste"),
    ({"page": "kaksi"}, "Sivu ei ole sivunumero"),
    ({"page": "0"}, "Sivu ei ole sivunumero"),
    ({"page": "-3"}, "Sivu ei ole sivunumero"),
    ({"page": "99999999999999999999"}, "Sivu ei ole sivunumero"),
    ({"page": "400"}, "Näillä rajauksilla ei ole sellaista sivua"),
    ({"repeats": "maybe"}, "Tuntematon valinta toistoille"),
    ({"channel": "moon"}, "Tuntematon kanava"),
])
def test_bad_input_is_named_and_dropped(
    client: TestClient, demo: Demo, params: dict[str, str], notice: str  # noqa: F811
) -> None:
    log_in(client)
    plain = rows(client.get(PAGE).text)
    answer = client.get(PAGE, params=params)
    assert answer.status_code == 422  # named on the page it asked for
    assert notice in answer.text
    assert "<script>" not in answer.text
    assert rows(answer.text) == plain


def test_english_explorer_and_unknown_pages(client: TestClient, demo: Demo) -> None:  # noqa: F811
    log_in(client)
    client.get(f"/language/en?next={PAGE}")
    english = client.get(PAGE, params={"through": "payment"}).text
    assert '<html lang="en"' in english
    for text in ("<h1>Path variants</h1>", "Distinct variants", "Passes through",
                 "Cumulative share", "reaches the goal", "Home delivery",
                 "Only the journeys that pass the chosen touchpoint"):
        assert text in english, text
    assert "Polkuvariantit" not in english
    # Thousands separators are the language's: an English comma in the summary's n.
    assert re.fullmatch(r"\d{1,3}(,\d{3})*", stat(english, "cases"))
    assert client.get("/w/kodinkone/journeys/nope/variants").status_code == 404
    assert client.get("/w/nope/journeys/purchase/variants").status_code == 404


def test_an_empty_selection_says_so(client: TestClient, demo: Demo) -> None:  # noqa: F811
    log_in(client)
    page = client.get(PAGE, params={"from": "2030-01-01"})
    assert page.status_code == 200
    assert "Näillä rajauksilla ei ole yhtään tapahtumaa" in page.text
    assert rows(page.text) == [] and 'role="alert"' not in page.text
    assert stat(page.text, "variants") == "0"


def test_page_numbers_keep_ends_and_neighbours() -> None:
    assert variants.page_numbers(1, 1) == [1]
    assert variants.page_numbers(1, 9) == [1, 2, 3, 0, 9]
    assert variants.page_numbers(5, 9) == [1, 0, 3, 4, 5, 6, 7, 0, 9]
    assert variants.page_numbers(9, 9) == [1, 0, 7, 8, 9]
    assert variants.page_numbers(4, 9) == [1, 2, 3, 4, 5, 6, 0, 9]


def test_through_is_a_literal() -> None:
    # The touchpoint is checked against the journey's ids first; the SQL quotes it anyway.
    log = variants.explorer_log(Log("SELECT 1"), variants.Explore(through="o'brien"))
    assert literal("o'brien") in log.sql
