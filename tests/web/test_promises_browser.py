"""The promise scorecard in a real headless Chromium, in Finnish and English: no script, no
policy violation, the weekly keep-rate chart drawn, a broken occurrence opening the
customer's timeline."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from kokemus import bootstrap
from kokemus.services import access
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from tests.web.test_browser import browser, page, pytestmark, server  # noqa: F401

SHOT = "/tmp/kokemus-promises.png"


def test_promises_page_in_chromium(server: str, page: Page,  # noqa: F811
                                   kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", workspace.slug, "analyst")
    monday = datetime(2026, 3, 2, 9, tzinfo=UTC)
    items: list[dict[str, object]] = []
    for w in range(6):  # six weeks of ten orders; week w has w + 1 late deliveries
        for i in range(10):
            at = monday + timedelta(days=7 * w, minutes=i)
            who = f"w{w}-c{i}"
            late = i <= w
            items += [{"id": f"o-{who}", "type": "order_placed", "customer": who,
                       "channel": "web", "occurred_at": at.isoformat()},
                      {"id": f"d-{who}", "type": "delivered", "customer": who,
                       "channel": "web",
                       "occurred_at": (at + timedelta(hours=60 if late else 20)).isoformat()}]
    ingest_events(items, workspace, kk.events)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    page.goto(f"{server}/login?next=/w/my-company/promises")
    page.get_by_label("Käyttäjätunnus").fill("anna")
    page.get_by_label("Salasana").fill("salasana123")
    page.get_by_role("button", name="Kirjaudu").click()
    expect(page).to_have_url(f"{server}/w/my-company/promises")
    expect(page.get_by_role("heading", name="Lupausten pitäminen", exact=True)).to_be_visible()
    card = page.locator("#commitment-delivered-48h")
    # 60 orders, 21 late: 39 kept, 65 %
    expect(card.locator(".keep-rate")).to_contain_text("65\u00a0%")
    expect(card).to_contain_text("n = 60")
    chart = page.locator("#trend-delivered-48h")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 50
    points = chart.locator(".points_marks path")  # one per week, its figure as <title>
    expect(points).to_have_count(6)
    expect(points.first.locator("title")).to_contain_text("2.3.2026: 90\u00a0%")
    expect(page.locator("#broken-heading")).to_contain_text("Rikotut (21)")
    page.screenshot(path=SHOT, full_page=True)

    page.goto(f"{server}/language/en")
    page.goto(f"{server}/w/my-company/promises")
    expect(page.get_by_role("heading", name="Promise scorecard", exact=True)).to_be_visible()
    titles = page.locator("#trend-delivered-48h .points_marks path title")
    expect(titles.first).to_have_text(re.compile(r"^2 Mar 2026: 90% .*n = 10$"))
    expect(page.locator("#departments")).to_contain_text("Logistics")
    first = page.locator("#broken tbody a").first
    customer = first.inner_text()
    first.click()
    expect(page).to_have_url(f"{server}/w/my-company/customers/{customer}")
    assert problems == []
