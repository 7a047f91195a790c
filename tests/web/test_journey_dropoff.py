"""The journey map's drop-off by group over the demo: what the appliance shop plants shows on
the page (every express order comes with installation, 55 % of the others want it, so the
standard orders are the journeys lost before the installation), the figures equal the
analytics', a `where` narrows the whole map, and a breakdown the data does not know is named
with those it knows."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.analytics import breakdowns, dropoff
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import events_log
from kokemus.domain.journeys import Journey
from kokemus.services.workspaces import ActiveWorkspace
from tests.web.test_journey_map import PAGE, demo  # noqa: F401  (the fixture)
from tests.web.test_pages import log_in

INSTALLED_STANDARD = 0.55  # kokemus/demo/appliance_shop.py: of the standard orders


def row_text(html: str, table: str, key: str) -> str:
    found = re.search(rf'id="{table}".*?<tr data-key="{key}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"no row {key} in #{table}"
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def analytics(kk: bootstrap.Kokemus, ws: ActiveWorkspace, journey: Journey,
              by: str) -> dict[str, dropoff.Group]:
    with kk.events.reading() as cursor:
        engine = DuckDBEngine(cursor)
        found = dropoff.groups(engine, events_log(ws.id, journey), [journey.goal or ""],
                               breakdowns.parse(by), breakdowns.Source(ws.id, engine.dialect),
                               min_n=ws.document.feedback.min_answers)
    return {g.key: g for g in found}


def test_dropoff_by_delivery_shows_the_standard_orders_lost(
    client: TestClient, kk: bootstrap.Kokemus,
    demo: tuple[ActiveWorkspace, Journey],  # noqa: F811
) -> None:
    ws, journey = demo
    log_in(client)
    client.get("/language/en")
    page = client.get(PAGE, params={"by": "property:delivery"})
    assert page.status_code == 200
    html = page.text
    assert '<option value="property:delivery" selected>' in html
    assert "Drop-off by event property: delivery" in html
    groups = analytics(kk, ws, journey, "property:delivery")
    express, standard = groups["express"], groups["standard"]
    # planted: express always with installation, so none lost; of the standard orders the
    # 45 % who want no installation never reach it
    assert express.lost == 0 and express.reached > 50
    low, high = standard.lost_share.low, standard.lost_share.high
    assert low is not None and high is not None
    assert low < 100 * (1 - INSTALLED_STANDARD) < high
    text = row_text(html, "breakdown", "standard")
    assert (f"{standard.reached} {standard.in_flight} {standard.lost} "
            f"{standard.lost_share.value:.0f}\u00a0%") in text
    assert f"n = {standard.reached + standard.lost}" in text
    assert "0\u00a0% (0\u2009–\u2009" in row_text(html, "breakdown", "express")
    worst = re.search(r'id="worst".*?<tbody>\s*<tr data-key="([^"]+)"', html, re.S)
    assert worst and worst.group(1) == "standard"
    assert "significantly worse" in row_text(html, "worst", "standard")
    # a group's name narrows the map to its journeys
    assert "where=property%3Adelivery%3Dstandard" in html

    narrowed = client.get(PAGE, params={"by": "property:delivery",
                                        "where": "property:delivery=express"}).text
    assert 'value="property:delivery=express"' in narrowed
    cases = re.search(r'id="stat-cases"><span class="stat-value">([^<]+)', narrowed)
    assert cases and int(re.sub(r"\D", "", cases.group(1))) == (
        express.reached + express.in_flight + express.lost)
    assert row_text(narrowed, "breakdown", "express")
    assert 'data-key="standard"' not in narrowed

    client.get("/language/fi")
    fi = client.get(PAGE, params={"by": "property:delivery"}).text
    assert "Poistuminen: tapahtuman ominaisuus: delivery" in fi
    assert f"{standard.lost_share.value:.0f}\u00a0%" in row_text(fi, "breakdown", "standard")
    assert "merkitsevästi huonompi" in row_text(fi, "worst", "standard")


def test_an_unknown_breakdown_or_filter_is_named(
    client: TestClient, demo: tuple[ActiveWorkspace, Journey],  # noqa: F811
) -> None:
    log_in(client)
    client.get("/language/en")
    page = client.get(PAGE, params={"by": "property:colour", "where": "event:nope=yes"})
    assert page.status_code == 422
    errors = re.search(r'id="filter-errors"[^>]*>(.*?)</div>', page.text, re.S)
    assert errors and "colour" in errors.group(1) and "carrier" in errors.group(1)
    assert 'id="dropoff-breakdown"' not in page.text
    assert client.get(PAGE, params={"by": "channel"}).status_code == 422  # a map filter
    assert client.get(PAGE, params={"where": "carrier=Kiito"}).status_code == 422
    assert client.get(PAGE, params={"by": "x" * 5000}).status_code == 422
    # without a breakdown the page is as before
    plain = client.get(PAGE)
    assert plain.status_code == 200 and 'id="dropoff-breakdown"' not in plain.text
