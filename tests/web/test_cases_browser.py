"""An agent works a case in a real headless Chromium, in Finnish: her department's inbox
(and not another's), the case beside the customer's timeline and answer, taking it,
starting work, a note and the resolution, every step in the history; no script error,
nothing wider than the window. An owner's page at 1,400 px keeps its header inside too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Browser, Page, expect

from kokemus import bootstrap
from kokemus.domain.roles import Role
from kokemus.services import access
from kokemus.services import cases as service
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from tests.web.test_browser import browser, page, pytestmark, server  # noqa: F401
from tests.web.test_surveys_pages import response, store

SHOT = "/tmp/kokemus-case.png"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def too_wide(tab: Page) -> list[str]:
    found: list[str] = tab.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .map(e => e.tagName + (e.id ? '#' + e.id : '')).slice(0, 10)""")
    return found


def sign_in(tab: Page, base: str, path: str, username: str) -> None:
    tab.goto(f"{base}{path}")
    tab.get_by_label("Käyttäjätunnus").fill(username)
    tab.get_by_label("Salasana").fill("salasana123")
    tab.get_by_role("button", name="Kirjaudu").click()
    expect(tab).to_have_url(f"{base}{path}")


def test_an_agent_works_a_case_in_finnish(server: str, page: Page,  # noqa: F811
                                          browser: Browser,  # noqa: F811
                                          kk: bootstrap.Kokemus,
                                          workspace: ActiveWorkspace) -> None:
    for name, role in (("aino", Role.AGENT), ("olli", Role.OWNER)):
        access.create_user(kk.db, name, "salasana123")
        access.grant(kk.db, name, workspace.slug, role)
    service.set_departments(kk.db, workspace, "aino", ["logistics"])
    ingest_events([
        {"id": "o1", "type": "order_placed", "customer": "c1", "channel": "web",
         "occurred_at": T0.isoformat()},
        {"id": "d1", "type": "delivered", "customer": "c1", "channel": "web",
         "occurred_at": (T0 + timedelta(days=3)).isoformat()}], workspace, kk.events)
    store(kk, workspace, [response(1, nps=2, comment="Pesukone tuli rikki ja myöhässä")])
    now = datetime.now(UTC)
    for action, department, title, customer in (
            ("a1", "logistics", "Pesukone saapui rikki", "c1"),
            ("a2", "customer-service", "Laskun korjaus", "c2")):
        with kk.db.begin() as conn:
            service.open_case(conn, workspace.id, department=department, title=title,
                              customer=customer, account=None, priority="urgent",
                              rule="damaged", cause="d1", action_id=action,
                              sla_due_at=now + timedelta(hours=1), now=now - timedelta(hours=5))

    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    sign_in(page, server, "/w/my-company/cases", "aino")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tapaukset")
    rows = page.locator("table.cases-table tbody tr")
    expect(rows).to_have_count(1)
    expect(page.locator("#case-1")).to_contain_text("Pesukone saapui rikki")
    expect(page.locator("#case-1 .sla-at_risk")).to_have_text("Määräaika lähestyy")
    expect(page.get_by_text("Laskun korjaus")).to_have_count(0)
    expect(page.locator("#tab-logistics")).to_contain_text("Logistiikka")
    page.screenshot(path="/tmp/kokemus-cases.png", full_page=True)
    assert too_wide(page) == []

    page.get_by_role("link", name="Pesukone saapui rikki").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tapaus 1: Pesukone saapui rikki")
    expect(page.locator("#case-state")).to_have_text("Uusi")
    side = page.locator(".case-side")
    expect(side.get_by_role("heading", name="Asiakkaan aikajana ja vastaukset")).to_be_visible()
    expect(side.locator("#e-o1")).to_contain_text("Tilaus")
    expect(side.locator("#e-d1")).to_contain_text("Toimitus")
    expect(side.locator(".entry-response")).to_contain_text("Pesukone tuli rikki ja myöhässä")

    page.get_by_role("button", name="Ota itselle").click()
    expect(page.get_by_role("status")).to_have_text("Tapaus 1 on nyt käyttäjällä aino.")
    expect(page.locator("#case-state")).to_have_text("Vastuutettu")
    expect(page.locator("#case-assignee")).to_have_text("aino")
    page.get_by_role("button", name="Aloita työ").click()
    expect(page.locator("#case-state")).to_have_text("Työn alla")
    page.get_by_role("textbox", name="Muistiinpano").fill(
        "Uusi kone lähtee tänään, vanhaa ei odoteta.")
    page.get_by_role("button", name="Lisää muistiinpano").click()
    expect(page.get_by_role("status")).to_have_text("Muistiinpano lisättiin tapaukseen 1.")
    page.get_by_role("button", name="Merkitse ratkaistuksi").click()
    expect(page.locator("#case-state")).to_have_text("Ratkaistu")
    expect(page.get_by_role("button", name="Avaa uudelleen")).to_be_visible()
    history = page.locator("#case-history li")
    expect(history).to_have_count(6)
    expect(history.nth(0)).to_contain_text("sääntö damaged avasi tapauksen")
    expect(history.nth(4)).to_contain_text("aino kirjoitti")
    expect(history.nth(4).locator(".history-note")).to_have_text(
        "Uusi kone lähtee tänään, vanhaa ei odoteta.")
    expect(history.nth(5)).to_contain_text("aino vaihtoi tilaksi Ratkaistu")
    assert too_wide(page) == []
    page.screenshot(path=SHOT, full_page=True)

    page.get_by_role("link", name="Tapaukset", exact=True).first.click()
    expect(page.locator("table.cases-table")).to_have_count(0)
    expect(page.get_by_text("Ei tapauksia tällä rajauksella.")).to_be_visible()
    assert service.get(kk.db, workspace.id, 1).state == "resolved"
    assert problems == []

    # the owner's header, with every link of the nav, stays inside a 1,400 px window
    wide = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    sign_in(wide, server, "/w/my-company/cases/2", "olli")
    expect(wide.get_by_role("heading", level=1)).to_have_text("Tapaus 2: Laskun korjaus")
    assert wide.evaluate("document.documentElement.scrollWidth") <= 1400, too_wide(wide)
    assert too_wide(wide) == []
    wide.screenshot(path="/tmp/kokemus-case-owner.png")
    wide.context.close()
