"""The timeline of a demo customer whose machine the carrier damaged, in a real headless
Chromium, in Finnish and in English: the broken express promise as a badge, the wait that
broke it marked with its department hand-off, no script and no policy violation."""

from __future__ import annotations

from datetime import UTC, date, datetime

from playwright.sync_api import Page, expect

from kokemus import bootstrap
from kokemus.analytics import timeline
from kokemus.demo import generate
from kokemus.domain.texts import localized
from kokemus.services import access, workspaces
from tests.web.test_browser import browser, page, pytestmark, server  # noqa: F401

SHOT = "/tmp/kokemus-timeline.png"
AS_OF = "2026-06-30"


def damaged_customer(kk: bootstrap.Kokemus) -> str:
    """The first demo customer with an express order that the carrier damaged."""
    ws = workspaces.get(kk.db, "kodinkone")
    with kk.events.reading() as cur:
        rows = cur.execute("""
            SELECT customer FROM events WHERE workspace_id = ? GROUP BY customer
            HAVING bool_or(type = 'delivery_damaged')
               AND bool_or(type = 'express_delivery_selected')
               AND bool_or(type = 'installation_completed')
            ORDER BY customer LIMIT 1""", [ws.id]).fetchall()
    assert rows, "the demo planted no damaged express delivery"
    return str(rows[0][0])


def test_a_damaged_customers_timeline_in_chromium(server: str, page: Page,  # noqa: F811
                                                  kk: bootstrap.Kokemus) -> None:
    generate.run(kk, customers=3000, days=60, seed=7, end=date(2026, 6, 30))
    access.create_user(kk.db, "aino", "salasana123")
    access.grant(kk.db, "aino", "kodinkone", "agent")
    customer = damaged_customer(kk)
    ws = workspaces.get(kk.db, "kodinkone")
    found = timeline.read(kk.db, kk.events, ws, customer=customer,
                          as_of=datetime(2026, 7, 1, tzinfo=UTC))
    assert found is not None
    express = next(p for p in found.promises.to_pylist()
                   if p["commitment"] == "express-installed-48h")
    assert express["verdict"] == "broken" and express["gap_to"] is not None
    names = {d.id: d.name for d in ws.document.departments}

    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    url = f"{server}/w/kodinkone/customers/{customer}?as_of={AS_OF}"
    page.goto(url)  # to the sign-in page, and back here after it
    page.get_by_label("Käyttäjätunnus").fill("aino")
    page.get_by_label("Salasana").fill("salasana123")
    page.get_by_role("button", name="Kirjaudu").click()
    expect(page).to_have_url(url)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Aikajana: asiakas {customer}")
    start = page.locator(f"#e-{express['occurrence']}")
    expect(start.locator(".promise-badge.verdict-broken").first).to_contain_text(
        "Lupaus rikottu")
    expect(start).to_contain_text("Pikatoimitus asennettu 48 tunnissa tilauksesta")
    gap = page.locator(f"#gap-{express['gap_from']}")
    expect(gap).to_be_visible()
    before = localized(names[express["from_department"]], "fi")
    after = localized(names[express["to_department"]], "fi")
    expect(gap.locator(".handoff")).to_contain_text(f"Luovutus: {before} → {after}")
    # the gap sits between its two events, in the page's order
    order = page.locator(".entry").evaluate_all("nodes => nodes.map(n => n.id)")
    assert (order.index(f"e-{express['gap_from']}") < order.index(f"gap-{express['gap_from']}")
            < order.index(f"e-{express['gap_to']}"))
    expect(page.locator(".day-heading").first).to_contain_text("2026")
    page.screenshot(path=SHOT, full_page=True)

    page.get_by_role("link", name="EN", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Timeline: customer {customer}")
    expect(start.locator(".promise-badge.verdict-broken").first).to_contain_text(
        "Promise broken")
    expect(start).to_contain_text("Express order installed within 48 h")
    before = localized(names[express["from_department"]], "en")
    after = localized(names[express["to_department"]], "en")
    expect(gap.locator(".handoff")).to_contain_text(f"Hand-off: {before} → {after}")
    assert problems == []
