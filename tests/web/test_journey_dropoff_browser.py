"""Drop-off by group on the journey map in a real headless Chromium, in Finnish and English,
as a user finds the demo's planted finding: broken down by the order's delivery, the standard
orders are the journeys lost before the installation (55 % of them want one; every express
order comes with it), "where is it worst?" says so first, and a group's name narrows the map
to its journeys."""

from __future__ import annotations

from datetime import date

from playwright.sync_api import Page, expect

from kokemus import bootstrap
from kokemus.demo import generate
from kokemus.services import access, workspaces
from kokemus.web import i18n
from tests.web.test_browser import browser, page, pytestmark, server  # noqa: F401
from tests.web.test_journey_dropoff import INSTALLED_STANDARD, analytics

MAP = "/w/kodinkone/journeys/purchase"


def test_dropoff_by_delivery_in_chromium(server: str, page: Page,  # noqa: F811
                                         kk: bootstrap.Kokemus) -> None:
    generate.run(kk, customers=1500, end=date(2026, 6, 30))
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", "kodinkone", "agent")
    ws = workspaces.get(kk.db, "kodinkone")
    journey = next(j for j in ws.document.journeys if j.id == "purchase")
    groups = analytics(kk, ws, journey, "property:delivery")
    standard, express = groups["standard"], groups["express"]
    assert standard.lost_share.value is not None and standard.lost_share.low is not None
    assert standard.lost_share.high is not None
    assert standard.lost_share.low < 100 * (1 - INSTALLED_STANDARD) < standard.lost_share.high
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(f"{server}/login?next={MAP}")
    page.get_by_label("Käyttäjätunnus").fill("anna")
    page.get_by_label("Salasana").fill("salasana123")
    page.get_by_role("button", name="Kirjaudu").click()
    expect(page).to_have_url(f"{server}{MAP}")
    expect(page.locator("#dropoff-breakdown")).to_have_count(0)
    page.get_by_label("Poistuminen ryhmittäin").select_option(
        label="tapahtuman ominaisuus: delivery")
    page.get_by_role("button", name="Päivitä").click()
    expect(page.get_by_role("heading", name="Poistuminen: tapahtuman ominaisuus: delivery",
                            exact=True)).to_be_visible()
    row = page.locator('#breakdown tr[data-key="standard"]')
    expect(row.locator("td").nth(0)).to_have_text(i18n.number(standard.reached, "fi"))
    expect(row.locator("td").nth(2)).to_have_text(i18n.number(standard.lost, "fi"))
    share = f"{i18n.number(standard.lost_share.value, 'fi')}\u00a0%"
    expect(row.locator(".lost-share")).to_contain_text(share)
    expect(row.locator(".lost-share")).to_contain_text(
        f"n = {standard.reached + standard.lost}")
    expect(page.locator('#breakdown tr[data-key="express"] .lost-share')).to_contain_text(
        "0\u00a0%")
    first = page.locator("#worst tbody tr").first
    expect(first).to_have_attribute("data-key", "standard")
    expect(first).to_contain_text("merkitsevästi huonompi")
    page.locator("#dropoff-breakdown").screenshot(path="/tmp/kokemus-journey-dropoff.png")

    # a group's name narrows the whole map to its journeys
    page.locator('#breakdown tr[data-key="express"] th a').click()
    expect(page.locator("input[name=where]").first).to_have_value("property:delivery=express")
    expect(page.locator("#stat-cases .stat-value")).to_have_text(
        i18n.number(express.reached + express.in_flight + express.lost, "fi"))
    expect(page.locator('#breakdown tr[data-key="standard"]')).to_have_count(0)

    page.goto(f"{server}/language/en")
    page.goto(f"{server}{MAP}")
    page.get_by_label("Drop-off by").select_option(label="event property: delivery")
    page.get_by_role("button", name="Update").click()
    expect(page.get_by_role("heading", name="Drop-off by event property: delivery",
                            exact=True)).to_be_visible()
    expect(page.locator('#breakdown tr[data-key="standard"] .lost-share')).to_contain_text(
        f"{i18n.number(standard.lost_share.value, 'en')}\u00a0%")
    expect(page.locator("#worst tbody tr").first).to_contain_text("significantly worse")
    assert problems == []
