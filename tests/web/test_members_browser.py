"""Roles in a real headless Chromium: an owner adds a colleague as an analyst, the
colleague signs in with the password shown once and meets what an analyst may do, in
Finnish and in English."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from kokemus import bootstrap
from kokemus.services import access
from kokemus.services.workspaces import ActiveWorkspace
from tests.web.test_browser import browser, page, server

pytestmark = pytest.mark.browser
__all__ = ["browser", "page", "server"]


def sign_in(page: Page, server: str, username: str, password: str) -> None:
    page.goto(f"{server}/login")
    page.get_by_label("Käyttäjätunnus").fill(username)
    page.get_by_label("Salasana").fill(password)
    page.get_by_role("button", name="Kirjaudu").click()


def test_an_owner_adds_an_analyst_who_reads_but_cannot_edit(
    server: str, page: Page, browser: Browser, kk: bootstrap.Kokemus,
    workspace: ActiveWorkspace
) -> None:
    access.create_user(kk.db, "olli", "salasana123")
    access.grant(kk.db, "olli", workspace.slug, "owner")
    sign_in(page, server, "olli", "salasana123")
    page.locator("#ws-my-company-name a").click()  # from the home page
    page.get_by_role("link", name="Käyttäjät").click()
    expect(page).to_have_url(f"{server}/w/my-company/members")
    page.locator("form.grid").first.get_by_label("Käyttäjätunnus").fill("aila")
    page.locator("form.grid").first.get_by_label("Rooli").select_option("analyst")
    page.get_by_role("button", name="Anna rooli").click()
    expect(page.locator("#new-password")).to_contain_text("Käyttäjä aila luotiin")
    password = page.locator("#new-password code").inner_text()
    expect(page.locator("#member-aila")).to_contain_text("käytössä")

    context = browser.new_context(locale="en-GB")
    colleague = context.new_page()
    sign_in(colleague, server, "aila", password)
    expect(colleague).to_have_url(f"{server}/")
    colleague.locator("#ws-my-company-name a").click()
    expect(colleague).to_have_url(f"{server}/w/my-company")
    colleague.get_by_role("link", name="EN", exact=True).click()
    nav = colleague.get_by_role("navigation", name="Main menu")
    expect(nav.get_by_role("link", name="Scores")).to_be_visible()
    expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    colleague.get_by_role("link", name="Surveys").click()
    colleague.get_by_role("link", name="View").first.click()
    expect(colleague.get_by_role("textbox", name="Survey as YAML")).to_have_attribute(
        "readonly", "")
    expect(colleague.get_by_role("button", name="Save", exact=True)).to_have_count(0)
    colleague.goto(f"{server}/w/my-company/members")
    expect(colleague.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(colleague.locator("article")).to_contain_text("Your role (analyst)")
    context.close()
