"""The journey map in a real headless Chromium: the SVG map, the designed path, recolouring."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from kokemus import bootstrap
from kokemus.demo import generate
from kokemus.services import access
from kokemus.web import i18n
from tests.web.test_browser import browser, page, server
from tests.web.test_everyday_browser import WIDTHS, Tab, tabs

pytestmark = pytest.mark.browser
__all__ = ["browser", "page", "server", "tabs"]  # the fixtures, shared with the overview's test

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
    expect(graph.locator("path.designed-track")).to_have_count(8)
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


# Every label of the map whose box overlaps another's (the browser's own text measures);
# a touchpoint's own lines (name, count) are one label.
_OVERLAPS = """() => {
  const boxes = [...document.querySelectorAll(
      '#journey-graph text.node-name, #journey-graph text.node-cases, '
      + '#journey-graph text.edge-label, #journey-graph text.stage-name')]
    .map(t => { const b = t.getBBox(); return {t: t.textContent, b, g: t.parentNode}; });
  const out = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    // the lines of one touchpoint's label are set 13 units apart: their boxes touch
    if (boxes[i].g === boxes[j].g && boxes[i].g.tagName === 'g') continue;
    const a = boxes[i].b, c = boxes[j].b;
    if (a.x + 0.5 < c.x + c.width && c.x + 0.5 < a.x + a.width
        && a.y + 0.5 < c.y + c.height && c.y + 0.5 < a.y + a.height)
      out.push(boxes[i].t + ' / ' + boxes[j].t);
  }
  return out;
}"""


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_the_map_in_both_languages_at_desktop_and_phone_widths(
    server: str, browser: Browser, tabs: list[Tab], kk: bootstrap.Kokemus, language: str
) -> None:
    """The shop's 20-touchpoint map, the machinery dealer's map per account and the store's
    episodes: at 1,400 and 390 px nothing wider than the window (the map scrolls in its own
    box), no catalog key shown, no script error, no label over another."""
    generate.run(kk, customers=1500, end=date(2026, 6, 30))
    access.create_user(kk.db, "anna", "salasana123", admin=True)
    pages = {"shop": "/w/kodinkone/journeys/purchase",
             "shop-lost": "/w/kodinkone/journeys/purchase?outcome=not_reached&colour=dropoff",
             "dealer-accounts": "/w/konekauppa/journeys/excavator-purchase?cases=account",
             "store-episodes": "/w/asiakkaan-valinta/journeys/automated-service"}
    for width in WIDTHS:
        tab = Tab(browser, width, language)
        tabs.append(tab)
        tab.sign_in(server, "anna")
        for name, path in pages.items():
            tab.page.goto(f"{server}{path}")
            graph = tab.page.locator("svg#journey-graph")
            expect(graph).to_be_visible()
            assert tab.page.evaluate(_OVERLAPS) == [], (name, width, language)
            if name == "shop-lost":
                expect(graph).to_have_attribute("data-colour", "compare")
            tab.check(f"journey-map-{name}")
