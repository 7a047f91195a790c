"""The hosted survey form and the widget in a real headless Chromium against a real server."""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from kokemus import bootstrap
from kokemus.services import feedback
from kokemus.services.ingest import ingest_customers
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses
from tests.web.test_browser import browser, page, server

pytestmark = pytest.mark.browser
__all__ = ["browser", "page", "server"]  # the fixtures, shared with the overview's test

SECRET = "test-secret"
SCREENSHOT = Path(os.environ.get("KOKEMUS_SURVEY_SCREENSHOT", "/tmp/kokemus-survey.png"))


@pytest.fixture
def people(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    ingest_customers([{"id": "aino", "language": "fi"}, {"id": "emma", "language": "en"}],
                     workspace, kk.db)


def link(server: str, kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
         customer: str) -> tuple[dict[str, Any], str]:
    invitation = feedback.invite(kk.db, workspace, "after-delivery", customer, channel="email",
                                 now=datetime.now(UTC))
    return invitation, feedback.link(server, SECRET, invitation)


def test_finnish_customer_answers_with_the_keyboard(server: str, page: Page,
                                                   kk: bootstrap.Kokemus,
                                                   workspace: ActiveWorkspace,
                                                   people: None) -> None:
    invitation, url = link(server, kk, workspace, "aino")
    page.goto(url)
    expect(page.locator("html")).to_have_attribute("lang", "fi")
    expect(page.get_by_role("heading", name="Toimituksen jälkeen")).to_be_visible()
    recommend = page.get_by_role("radiogroup", name=re.compile("Kuinka todennäköisesti"))
    expect(recommend.get_by_role("radio")).to_have_count(11)
    # Keyboard only: into the scale, choose 0, arrow up to 9; Tab to the effort scale, 1 -> 6.
    recommend.get_by_role("radio", name="0", exact=True).focus()
    page.keyboard.press("Space")
    for _ in range(9):
        page.keyboard.press("ArrowRight")
    expect(recommend.get_by_role("radio", name="9", exact=True)).to_be_checked()
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    effort = page.get_by_role("radiogroup", name=re.compile("teki asiani hoitamisesta helppoa"))
    expect(effort.get_by_role("radio", name="6", exact=True)).to_be_checked()
    page.keyboard.press("Tab")  # the CSAT scale, left unanswered
    page.keyboard.press("Tab")  # the send button
    expect(page.get_by_role("button", name="Lähetä", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Kiitos")).to_be_visible()
    expect(page.get_by_text("Kiitos vastauksestasi!")).to_be_visible()
    row = responses.get(kk.events, workspace.id, invitation["id"])
    assert row is not None and row["complete"] and row["source"] == "form"
    assert row["answers"] == {"recommend": 9, "effort": 6}


def test_english_detractor_is_asked_why(server: str, page: Page, kk: bootstrap.Kokemus,
                                        workspace: ActiveWorkspace, people: None) -> None:
    invitation, url = link(server, kk, workspace, "emma")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(url)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    recommend = page.get_by_role("radiogroup", name=re.compile("How likely"))
    why = page.get_by_label("What could we have done better?")
    expect(why).to_be_hidden()
    recommend.get_by_text("3", exact=True).click()
    # the question appears in place, below the scale: no page to load, nothing sent yet
    expect(why).to_be_visible()
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    why.fill("Call before you come.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    expect(page.get_by_text("Thank you for your answer!")).to_be_visible()
    row = responses.get(kk.events, workspace.id, invitation["id"])
    assert row is not None and row["complete"] and row["revision"] == 1
    assert row["answers"] == {"recommend": 3, "why": "Call before you come."}


def test_one_click_from_the_email_is_saved_by_send(server: str, page: Page,
                                                   kk: bootstrap.Kokemus,
                                                   workspace: ActiveWorkspace,
                                                   people: None) -> None:
    invitation = feedback.invite(kk.db, workspace, "after-delivery", "emma", channel="email",
                                 now=datetime.now(UTC))
    page.goto(feedback.link(server, SECRET, invitation, answer=("recommend", 10)))
    recommend = page.get_by_role("radiogroup", name=re.compile("How likely"))
    expect(recommend.get_by_role("radio", name="10", exact=True)).to_be_checked()
    expect(page.get_by_role("status")).to_contain_text("not saved yet")
    assert responses.get(kk.events, workspace.id, invitation["id"]) is None
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    row = responses.get(kk.events, workspace.id, invitation["id"])
    assert row is not None and row["answers"] == {"recommend": 10} and row["complete"]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Another site (its own origin) that embeds the widget: a folder served on loopback."""
    folder = tmp_path / "site"
    folder.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=folder))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_widget_on_another_site(server: str, page: Page, kk: bootstrap.Kokemus,
                                workspace: ActiveWorkspace, api_key: str, people: None,
                                site: tuple[Path, str]) -> None:
    # The site's backend asks for a signed link, its page includes the script.
    made = httpx.post(f"{server}/api/v1/invitations",
                      headers={"Authorization": f"Bearer {api_key}"},
                      json={"survey": "after-delivery", "customer": "emma", "channel": "web"})
    assert made.status_code == 201, made.text
    invitation = made.json()
    survey_link = invitation["link"].replace(kk.settings.base_url, server)
    folder, origin = site
    (folder / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>'
        '<body><h1>Your order has arrived</h1>'
        f'<script src="{server}/static/widget.js" data-kokemus-link="{survey_link}" '
        'data-kokemus-title="Tell us how it went"></script></body></html>', encoding="utf-8")
    page.goto(f"{origin}/index.html")
    panel = page.get_by_role("dialog", name="Tell us how it went")
    expect(panel).to_be_visible()
    frame = page.frame_locator("iframe.kokemus-widget-frame")
    frame.get_by_role("radiogroup", name=re.compile("How likely")).get_by_text(
        "10", exact=True).click()
    frame.get_by_role("button", name="Send", exact=True).click()
    expect(frame.get_by_role("heading", name="Thank you")).to_be_visible()
    row = responses.get(kk.events, workspace.id, invitation["id"])
    assert row is not None and row["complete"] and row["source"] == "widget"
    assert row["answers"] == {"recommend": 10} and row["channel"] == "web"
    page.get_by_role("button", name="Close").click()
    expect(panel).to_have_count(0)
