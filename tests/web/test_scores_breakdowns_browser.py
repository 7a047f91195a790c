"""Choosing the carrier on the scores page in a real headless Chromium, in Finnish and in
English: the breakdown selector offers the events' properties, the groups show their n,
the small carriers are pooled as "other", and "where is it worst?" names Kiito first."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from kokemus import bootstrap
from kokemus.services import access
from kokemus.services.workspaces import ActiveWorkspace
from tests.web.test_browser import browser, page, pytestmark, server  # noqa: F401
from tests.web.test_scores_breakdowns import carried


def test_choosing_the_carrier_on_the_scores_page(server: str, page: Page,  # noqa: F811
                                                 kk: bootstrap.Kokemus,
                                                 workspace: ActiveWorkspace) -> None:
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", workspace.slug, "analyst")
    carried(kk, workspace)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    page.goto(f"{server}/login?next=/w/my-company/scores")
    page.get_by_label("Käyttäjätunnus").fill("anna")
    page.get_by_label("Salasana").fill("salasana123")
    page.get_by_role("button", name="Kirjaudu").click()
    expect(page).to_have_url(f"{server}/w/my-company/scores")
    page.locator("select[name=by]").select_option(label="tapahtuman ominaisuus: carrier")
    page.get_by_role("button", name="Näytä").click()
    expect(page.get_by_role("heading", name="Jaottelu: tapahtuman ominaisuus: carrier",
                            exact=True)).to_be_visible()
    expect(page.locator('#breakdown tr[data-key="Kiito"] .kind-nps')).to_contain_text("n = 40")
    expect(page.locator('#breakdown tr[data-key="other"]')).to_contain_text(
        "muut (2 pientä ryhmää)")
    first = page.locator("#worst-nps tbody tr").first
    expect(first).to_have_attribute("data-key", "Kiito")
    expect(first).to_contain_text("merkitsevästi huonompi")

    # a group's name narrows the page to it
    page.locator('#breakdown tr[data-key="Kiito"] th a').click()
    expect(page.locator("#card-nps .score-n")).to_have_text("n = 40")
    expect(page.locator("input[name=where]").first).to_have_value("property:carrier=Kiito")

    page.goto(f"{server}/language/en")
    page.goto(f"{server}/w/my-company/scores")
    page.locator("select[name=by]").select_option(label="event property: carrier")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="By event property: carrier",
                            exact=True)).to_be_visible()
    expect(page.locator('#breakdown tr[data-key="other"]')).to_contain_text(
        "other (2 small groups)")
    expect(page.locator("#worst-nps tbody tr").first).to_contain_text("significantly worse")
    assert problems == []
