"""The variant explorer in a real headless Chromium: from the map to every variant, page by
page, with the map's filter kept and no script needed."""

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

SCREENSHOT = Path(os.environ.get("KOKEMUS_VARIANTS_SCREENSHOT", "/tmp/kokemus-variants.png"))
MAP = "/w/kodinkone/journeys/purchase"


def test_from_the_map_to_all_variants_and_onwards(
    server: str, page: Page, kk: bootstrap.Kokemus
) -> None:
    generate.run(kk, customers=1500, end=date(2026, 6, 30))
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", "kodinkone", "agent")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{server}{MAP}?outcome=reached")
    page.get_by_label("Käyttäjätunnus").fill("anna")
    page.get_by_label("Salasana").fill("salasana123")
    page.get_by_role("button", name="Kirjaudu").click()
    expect(page).to_have_url(f"{server}{MAP}?outcome=reached")
    reached = page.locator("#stat-cases .stat-value").inner_text()

    page.get_by_role("link", name="Kaikki variantit").click()
    expect(page).to_have_url(f"{server}{MAP}/variants?outcome=reached&colour=time")
    expect(page.get_by_role("heading", name="Polkuvariantit", level=1)).to_be_visible()
    expect(page.get_by_role("combobox", name="Lopputulos")).to_have_value("reached")
    expect(page.locator("#stat-cases .stat-value")).to_have_text(reached)
    table = page.get_by_role("table")
    expect(table.locator("caption")).to_contain_text("Variantit 1–")
    rows = table.locator("tbody tr")
    first_page = rows.count()
    assert 0 < first_page <= 50
    # Every variant reached the goal: each row has the badge.
    expect(table.locator(".badge-reaches")).to_have_count(first_page)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Without the outcome filter there are several pages; forward to the second.
    page.get_by_role("combobox", name="Lopputulos").select_option("")
    page.get_by_role("button", name="Päivitä").click()
    expect(rows).to_have_count(50)
    expect(rows.first.locator("th")).to_have_text("1")
    page.get_by_role("navigation", name="Varianttien sivut").get_by_role(
        "link", name="Seuraava").click()
    expect(page).to_have_url(f"{server}{MAP}/variants?colour=time&page=2")
    expect(rows.first.locator("th")).to_have_text("51")
    expect(page.locator('.pager a[aria-current="page"]')).to_have_text("2")
    page.get_by_role("link", name="Edellinen").click()
    expect(rows.first.locator("th")).to_have_text("1")
    assert not errors, errors
