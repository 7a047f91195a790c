"""The survey editor and the response browser in a real headless Chromium."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from playwright.sync_api import Page, expect

from kokemus import bootstrap
from kokemus.services import access
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses
from kokemus.workspace import document
from tests.web.test_browser import browser, page, server

pytestmark = pytest.mark.browser
__all__ = ["browser", "page", "server"]  # the fixtures, shared with the overview's test

SCREENSHOT = Path(os.environ.get("KOKEMUS_SURVEYS_SCREENSHOT", "/tmp/kokemus-survey-edit.png"))


def sign_in(page: Page, server: str, path: str) -> None:
    page.goto(f"{server}{path}")
    page.get_by_label("Käyttäjätunnus").fill("anna")
    page.get_by_label("Salasana").fill("salasana123")
    page.get_by_role("button", name="Kirjaudu").click()


def test_edit_a_survey_in_the_browser(
    server: str, page: Page, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", workspace.slug, "editor")
    sign_in(page, server, "/w/my-company")
    page.get_by_role("link", name="Kyselyt").click()
    expect(page).to_have_url(f"{server}/w/my-company/surveys")
    row = page.locator("#survey-after-delivery")
    expect(row).to_contain_text("Toimituksen jälkeen")
    expect(row.locator(".trigger-delay")).to_have_text("2\u00a0h jälkeen")

    row.get_by_role("link", name="Muokkaa").click()
    expect(page).to_have_url(f"{server}/w/my-company/surveys/after-delivery")
    box = page.get_by_role("textbox", name="Kysely YAML-muodossa")
    text = box.input_value()
    assert text.startswith("id: after-delivery\n")  # no line lost to the textarea

    box.fill(text.replace("touchpoint: delivery", "touchpoint: moon"))
    page.get_by_role("button", name="Tallenna", exact=True).click()
    expect(page.locator("#problems")).to_contain_text("Rivi 5")
    expect(page.locator("#problems")).to_contain_text("unknown touchpoint 'moon'")
    expect(box).to_have_value(text.replace("touchpoint: delivery", "touchpoint: moon"))

    box.fill(text.replace("delay: 2h", "delay: 4h"))
    page.get_by_role("button", name="Tallenna", exact=True).click()
    expect(page.locator("#notice")).to_contain_text("versioksi 2")
    expect(box).to_have_value(text.replace("delay: 2h", "delay: 4h"))
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.get_by_label("Otanta (%)").fill("50")
    page.get_by_role("button", name="Tallenna käynnistys").click()
    expect(page.locator("#notice")).to_contain_text("versioksi 3")

    page.get_by_role("link", name="Kyselyt").first.click()
    expect(row.locator(".trigger-delay")).to_have_text("4\u00a0h jälkeen")
    expect(row.locator(".trigger-sample")).to_have_text("otos 50\u00a0%")
    exported = document.dump(workspace_service.get(kk.db, "my-company").document)
    assert "delay: 4h" in exported and "sample: 0.5" in exported


def test_filter_responses_in_the_browser(
    server: str, page: Page, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", workspace.slug, "agent")
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    rows = []
    for i, (nps, comment) in enumerate([(10, "Loistavaa"), (3, "Kone tuli rikki"),
                                        (8, None), (1, "Asentaja ei tullut")]):
        at = start + timedelta(hours=i)
        rows.append({
            "workspace_id": workspace.id, "id": f"r{i}", "survey": "after-delivery",
            "invitation": None, "customer": f"c{i}", "account": None, "role": None,
            "segments": [], "touchpoint": "delivery", "channel": "web", "source": "api",
            "language": "fi", "event_id": None, "answers": json.dumps({"recommend": nps}),
            "nps": nps, "ces": None, "csat": None, "comment": comment, "complete": True,
            "started_at": at, "updated_at": at, "revision": 1})
    responses.insert_many(kk.events, pa.Table.from_pylist(rows, schema=responses.SCHEMA))

    sign_in(page, server, "/w/my-company")
    page.get_by_role("link", name="Vastaukset").first.click()
    expect(page).to_have_url(f"{server}/w/my-company/responses")
    table = page.locator("table.responses tbody tr")
    expect(table).to_have_count(4)

    page.get_by_label("Pisteluokka").select_option("nps:detractor")
    page.get_by_role("button", name="Suodata").click()
    expect(table).to_have_count(2)
    expect(page.locator("#r-r1")).to_contain_text("arvostelija")

    page.get_by_label("Kommentissa on").fill("RIKKI")
    page.get_by_role("button", name="Suodata").click()
    expect(table).to_have_count(1)
    expect(table.first).to_contain_text("Kone tuli rikki")
    expect(page.get_by_label("Pisteluokka")).to_have_value("nps:detractor")

    table.first.locator("a[href*=\"/responses/\"]").click()  # the other link: the timeline
    expect(page).to_have_url(f"{server}/w/my-company/responses/r1")
    expect(page.get_by_text("Kuinka todennäköisesti suosittelisit Yritykseni")).to_be_visible()
