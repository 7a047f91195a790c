"""The scores page in a real headless Chromium: no script, no policy violation, the charts
drawn, the breakdown chosen by the form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from kokemus import bootstrap
from kokemus.services import access
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses
from tests.analytics.test_scores import many, table_of
from tests.web.test_browser import browser, page, pytestmark, server  # noqa: F401

SHOT = "/tmp/kokemus-scores.png"


def test_scores_page_in_chromium(server: str, page: Page,  # noqa: F811
                                 kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", workspace.slug, "analyst")
    week = datetime(2026, 3, 2, 10, tzinfo=UTC)
    rows = []
    for w in range(8):  # eight weeks, NPS rising; phone answers too few to show
        at = week + timedelta(days=7 * w)
        rows += (many(30 + 5 * w, nps=10, ces=6, csat=5, started_at=at)
                 + many(20, nps=8, ces=4, csat=4, started_at=at)
                 + many(25 - 2 * w, nps=3, ces=2, csat=2, started_at=at)
                 + many(2, nps=0, channel="phone", started_at=at))
    responses.insert_many(kk.events, table_of(rows, workspace_id=workspace.id))
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    page.goto(f"{server}/login?next=/w/my-company")
    page.get_by_label("Käyttäjätunnus").fill("anna")
    page.get_by_label("Salasana").fill("salasana123")
    page.get_by_role("button", name="Kirjaudu").click()
    page.locator("#scores-link").click()
    expect(page).to_have_url(f"{server}/w/my-company/scores")
    expect(page.get_by_role("heading", name="Tulokset", exact=True)).to_be_visible()
    expect(page.locator("#card-nps .score-n")).to_have_text("n = 700")
    for kind in ("nps", "ces", "csat"):
        chart = page.locator(f"#trend-{kind}")
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 50
        points = chart.locator(".points_marks path")  # one per week, its figure as <title>
        expect(points).to_have_count(8)
        expect(points.first.locator("title")).to_contain_text("2.3.2026: ")
        expect(points.last.locator("title")).to_contain_text("20.4.2026: ")
    expect(page.locator("#movement-nps")).to_contain_text("ei merkitsevää muutosta")

    page.locator("select[name=by]").select_option("channel")
    page.get_by_role("button", name="Näytä").click()
    # the trend left automatic (weeks: the median week has 77 answers, not fewer than 30)
    expect(page).to_have_url(f"{server}/w/my-company/scores?from=&to=&survey=&by=channel"
                             "&trend=&where=")
    expect(page.locator('#breakdown tr[data-key="phone"]')).to_contain_text(
        "liian vähän vastauksia")
    expect(page.locator('#breakdown tr[data-key="email"] .kind-nps')).to_contain_text("n = 684")
    page.screenshot(path=SHOT, full_page=True)

    # the same charts in English: their axis, dates and tooltips follow the language
    page.goto(f"{server}/language/en")
    page.goto(f"{server}/w/my-company/scores")
    nps = page.locator("#trend-nps")
    expect(nps.locator(".points_marks path title").first).to_have_text(
        re.compile(r"^2 Mar 2026: -?\d+ \(.*\), n = 77$"))
    expect(nps.locator("text", has_text="Week")).to_have_count(1)
    expect(nps.locator("text", has_text="20 Apr")).to_have_count(1)
    assert problems == []
