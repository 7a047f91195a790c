"""The everyday pages in a real headless Chromium, in Finnish and English, at 1,400 and 390
px (the form also at 360 px): the home page's week, the responses with the customer's name
opening the timeline, the score trends, and the phone form with its brand, one-row scale and
follow-up in place. On each: no horizontal overflow, no catalog key shown as itself, no
script or policy error; a screenshot of each is kept in ARTEFACTS (ignored by git)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from kokemus import bootstrap
from kokemus.analytics import headlines
from kokemus.domain.brand import Brand
from kokemus.domain.events import Customer
from kokemus.services import access, feedback
from kokemus.services import promises as promise_service
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people
from kokemus.web import home, i18n
from kokemus.workspace import document
from tests.conftest import STARTER
from tests.web.test_browser import browser, pytestmark, server
from tests.web.test_home_page import now, week
from tests.web.test_survey_brand import DATA_URI
from tests.web.test_value_browser import UNTRANSLATED, clipped_labels, shown_text

ARTEFACTS = Path(os.environ.get("KOKEMUS_ARTEFACTS_DIR", Path(__file__).resolve().parents[2]
                                / "test-artefacts" / "everyday"))
WIDTHS = (1400, 390)
BRAND = "#b4005a"
__all__ = ["browser", "now", "pytestmark", "server", "week"]

# Elements wider than the window that are not inside a box that scrolls on its own (a wide
# table in .overflow-auto scrolls there, and the page stays put).
_WIDER = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .filter(e => !e.closest('.overflow-auto'))
  .map(e => e.tagName + (e.id ? '#' + e.id : '') + (e.className && e.className.baseVal === undefined
        ? '.' + String(e.className).split(' ')[0] : '')).slice(0, 10)"""


class Tab:
    """A page at one width and language that collects script and policy errors."""

    def __init__(self, browser: Browser, width: int, language: str) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900},
                                           locale="fi-FI" if language == "fi" else "en-GB")
        self.page = self.context.new_page()
        self.width, self.language = width, language
        self.errors: list[str] = []
        self.page.on("console",
                     lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def sign_in(self, base: str, username: str, path: str = "/") -> None:
        self.page.goto(f"{base}/language/{self.language}")
        self.page.goto(f"{base}/login?next={path}")
        self.page.locator("input[name=username]").fill(username)
        self.page.locator("input[name=password]").fill("salasana123")
        self.page.locator("form button[type=submit]").click()
        expect(self.page).to_have_url(f"{base}{path}")

    def check(self, name: str) -> None:
        """Nothing wider than the window, no key untranslated, no error; the screenshot."""
        page = self.page
        expect(page.locator("html")).to_have_attribute("lang", self.language)
        wider = page.evaluate(_WIDER)
        assert page.evaluate("document.documentElement.scrollWidth") <= self.width, wider
        assert wider == [], (name, self.width, self.language)
        assert UNTRANSLATED.findall(shown_text(page)) == [], name
        assert self.errors == [], (name, self.errors)
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / f"{name}-{self.language}-{self.width}.png"),
                        full_page=True)


@pytest.fixture
def tabs(browser: Browser) -> Iterator[list[Tab]]:
    opened: list[Tab] = []
    yield opened
    for tab in opened:
        tab.context.close()


@pytest.fixture
def staff(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> ActiveWorkspace:
    """An analyst, and a second workspace she may not see; named customers."""
    other = document.load(STARTER).model_copy(update={"workspace": "other-company"})
    workspace_service.apply(kk.db, other, source="test")
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", workspace.slug, "analyst")
    people.upsert_customers(kk.db, workspace.id, [
        Customer(id=f"c{i}", name=f"Asiakas Nro {i}", language="fi") for i in range(300)],
        datetime(2026, 1, 1))
    return workspace


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_home_responses_and_scores(server: str, browser: Browser,
                                   tabs: list[Tab], kk: bootstrap.Kokemus,
                                   staff: ActiveWorkspace, week: headlines.Week,
                                   now: datetime, language: str) -> None:
    t = i18n.translator(language)
    with kk.events.reading() as cursor:
        found = headlines.week(cursor, staff.id, now, min_n=30,
                               commitments=promise_service.clocked(staff),
                               business_hours=staff.document.business_hours)
    nps = home.headline("nps", found.changes["nps"], language)
    for width in WIDTHS:
        tab = Tab(browser, width, language)
        tabs.append(tab)
        page = tab.page
        tab.sign_in(server, "anna")
        # home: her workspace only, the week's NPS as the engine counts it, and its move
        expect(page.get_by_role("heading", level=1)).to_have_text(t("home.title"))
        expect(page.locator(".home-card")).to_have_count(1)
        card = page.locator("#ws-my-company-nps")
        expect(card.locator(".headline-now .score-value")).to_have_text(nps.value)
        expect(card).to_contain_text(t("home.up", difference=nps.difference))
        expect(card).to_contain_text(t("home.beyond"))
        expect(page.locator("#ws-my-company-responses .stat-value")).to_have_text(
            i18n.number(found.responses[1], language))
        tab.check("home")

        # responses: names, and a name opens the customer's timeline
        page.locator("#ws-my-company-responses").click()
        expect(page).to_have_url(f"{server}/w/my-company/responses")
        first = page.locator("table.responses tbody tr").first
        name = first.locator("td.customer a")
        expect(name).to_have_text("Asiakas Nro 119")  # the newest answer's customer
        tab.check("responses")
        name.click()
        expect(page).to_have_url(f"{server}/w/my-company/customers/c119")
        expect(page.get_by_role("heading", level=1)).to_contain_text("c119")
        assert tab.errors == []

        # scores: the trend by week (two weeks of 120), charts inside their frames
        page.goto(f"{server}/w/my-company/scores")
        expect(page.locator("#trend-nps")).to_be_visible()
        expect(page.locator("#trend-coarsened")).to_have_count(0)
        expect(page.locator("#movements time").first).to_be_visible()
        assert clipped_labels(page) == []
        tab.check("scores")


def invitation_link(kk: bootstrap.Kokemus, ws: ActiveWorkspace, customer: str) -> str:
    invited = feedback.invite(kk.db, ws, "after-delivery", customer, channel="email",
                              now=datetime.now().astimezone())
    return "/s/" + feedback.sign("test-secret", invited["id"], invited["expires_at"])


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_the_phone_form(server: str, browser: Browser, tabs: list[Tab],
                        kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
                        language: str) -> None:
    doc = document.load(STARTER).model_copy(update={
        "brand": Brand(logo=DATA_URI, colour=BRAND)})
    workspace_service.apply(kk.db, doc, source="test")
    ws = workspace_service.get(kk.db, "my-company")
    people.upsert_customers(kk.db, ws.id, [
        Customer(id=f"{language}{w}", email=f"{language}{w}@example.fi", language=language)
        for w in (1400, 390, 360)], datetime(2026, 1, 1))
    t = i18n.translator(language)
    for width in (*WIDTHS, 360):
        tab = Tab(browser, width, language)
        tabs.append(tab)
        page = tab.page
        page.goto(server + invitation_link(kk, ws, f"{language}{width}"))
        expect(page.locator(".brand-logo img")).to_be_visible()
        # eleven buttons on one row, each inside the window and at least 24 px wide (WCAG
        # 2.2's smallest target)
        boxes = [page.locator("#q-recommend .scale-option").nth(i).bounding_box()
                 for i in range(11)]
        assert all(b is not None for b in boxes)
        tops = {round(b["y"]) for b in boxes if b}
        assert len(tops) == 1, (width, tops)
        assert all(b and b["x"] >= 0 and b["x"] + b["width"] <= width for b in boxes)
        assert all(b and b["width"] >= 24 for b in boxes), (width, boxes)
        lefts = [b["x"] for b in boxes if b]
        assert lefts == sorted(lefts)
        expect(page.locator("#q-recommend .question-progress")).to_have_text(
            t("survey.progress", number=1, of=3))
        # the follow-up waits hidden; a detractor's answer reveals it right below, in place
        why = page.locator("#q-why")
        expect(why).to_be_hidden()
        page.locator("#q-recommend .scale-option", has_text="3").click()
        expect(why).to_be_visible()
        nps_box, why_box = page.locator("#q-recommend").bounding_box(), why.bounding_box()
        assert nps_box and why_box and 0 <= why_box["y"] - (nps_box["y"] + nps_box["height"]) < 40
        expect(why.locator(".question-progress")).to_have_text(t("survey.follow_up"))
        # the brand's colour on the chosen answer
        chosen = page.locator("#q-recommend .scale-option", has_text="3")
        assert chosen.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(180, 0, 90)"
        page.locator("#q-recommend .scale-option", has_text="9").click()
        expect(why).to_be_hidden()
        page.locator("#q-recommend .scale-option", has_text="3").click()
        tab.check("form")
        why.locator("textarea").fill("Kuljettaja oli myöhässä.")
        page.locator("form.survey-form button[type=submit]").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(t("survey.thanks.title"))
        assert tab.errors == []
