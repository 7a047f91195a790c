"""The journey map in a real headless Chromium: the SVG map, the designed path, recolouring."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from kokemus import bootstrap
from kokemus.demo import generate
from kokemus.services import access
from tests.web.test_browser import browser, page, server

pytestmark = pytest.mark.browser
__all__ = ["browser", "page", "server"]  # the fixtures, shared with the overview's test

SCREENSHOT = Path(os.environ.get("KOKEMUS_MAP_SCREENSHOT", "/tmp/kokemus-journey-map.png"))


def test_journey_map_draws_the_designed_path_and_switches_colouring(
    server: str, page: Page, kk: bootstrap.Kokemus
) -> None:
    generate.run(kk, customers=1500, end=date(2026, 6, 30))
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", "kodinkone", "agent")

    page.goto(f"{server}/w/kodinkone")
    page.get_by_label("Käyttäjätunnus").fill("anna")
    page.get_by_label("Salasana").fill("salasana123")
    page.get_by_role("button", name="Kirjaudu").click()
    page.get_by_role("link", name="Avaa polkukartta").first.click()
    expect(page).to_have_url(f"{server}/w/kodinkone/journeys/purchase")
    expect(page.get_by_role("heading", name="Ostopolku")).to_be_visible()

    graph = page.locator("svg#journey-graph")
    expect(graph).to_be_visible()
    expect(graph).to_have_attribute("data-colour", "time")
    # The designed path: nine touchpoints on the highlighted track, drawn as designed nodes.
    expect(graph.locator("g.node.designed")).to_have_count(9)
    expect(graph.locator("line.designed-track")).to_have_count(8)
    expect(graph.locator("g.node.designed").first).to_contain_text("Tuotesivu")
    designed = graph.locator('g.edge.designed[data-source="checkout"][data-target="payment"]')
    expect(designed).to_have_attribute("opacity", "1")
    off_path = graph.locator('g.edge.off-path[data-source="search"][data-target="product-page"]')
    expect(off_path).to_have_attribute("opacity", "0.45")
    box = graph.bounding_box()
    assert box and box["width"] > 1000 and box["height"] > 250
    time_colour = off_path.get_attribute("data-colour")
    expect(page.locator("#map-legend")).to_contain_text("Mediaaniaika")
    expect(page.locator("svg#journey-sankey")).to_be_visible()
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.get_by_role("radio", name="Poistuminen").check()
    page.get_by_role("button", name="Päivitä").click()
    expect(page).to_have_url(
        f"{server}/w/kodinkone/journeys/purchase?from=&to=&channel=&segment=&outcome=&by=&where="
        "&colour=dropoff")
    expect(graph).to_have_attribute("data-colour", "dropoff")
    expect(page.locator("#map-legend")).to_contain_text("ei päätynyt tavoitteeseen")
    assert off_path.get_attribute("data-colour") != time_colour
    expect(graph.locator("g.node.designed")).to_have_count(9)
    graph.screenshot(path=str(SCREENSHOT.with_name(SCREENSHOT.stem + "-dropoff.png")))

    page.get_by_role("combobox", name="Kanava").select_option(label="Mobiili")
    page.get_by_role("button", name="Päivitä").click()
    expect(page.get_by_role("combobox", name="Kanava")).to_have_value("mobile")
    expect(page.locator("#stat-cases .stat-value")).not_to_have_text("750")
