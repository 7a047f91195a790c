"""The survey builder in a real headless Chromium, in Finnish and English, at 1,400 and
390 px: a survey is built in the form (questions added, reordered and worded, a follow-up,
the trigger), previewed as a customer sees it, saved as the YAML a person would write (the
YAML editor shows the same text), and answered through its test link without any count or
score seeing the answer. Every page stays within the window, shows no catalog key and logs
no script or policy error. Screenshots are kept in ARTEFACTS (ignored by git)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, Locator, Page, expect

from kokemus import bootstrap
from kokemus.analytics import scores
from kokemus.services import access, survey_tests
from kokemus.services import surveys as survey_service
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses
from tests.web.test_browser import browser, server
from tests.web.test_survey_builder import BUILT

pytestmark = pytest.mark.browser
__all__ = ["browser", "server"]  # the fixtures, shared with the other browser tests

ARTEFACTS = Path(os.environ.get(
    "KOKEMUS_ARTEFACTS", Path(__file__).resolve().parents[2] / "test-artefacts")) / "builder"
KEY = re.compile(r"\b(?:builder|surveys|survey|roles)\.[a-z_]+\b")
# Words of each UI language the steps use.
WORDS = {
    "fi": {"add": "Lisää kysymys", "up": "Siirrä kysymys 3 ylös",
           "count": "Testivastauksia: 1"},
    "en": {"add": "Add question", "up": "Move question 3 up", "count": "Test answers: 1"},
}


class Checked:
    """A page whose script and policy errors are collected; `look` checks what a reader
    sees and keeps a screenshot."""

    def __init__(self, page: Page, name: str) -> None:
        self.page, self.name = page, name
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", self._error)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _error(self, error: Error) -> None:
        self.errors.append(str(error))

    def look(self, step: str) -> None:
        page = self.page
        wide = page.evaluate("() => document.documentElement.scrollWidth"
                             " - document.documentElement.clientWidth")
        culprits = page.evaluate("""() => [...document.querySelectorAll('body *')]
          .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
          .filter(e => !e.parentElement.closest('.desktop-scroll'))
          .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)""")
        assert wide <= 1, f"{step}: the page is {wide}px wider than the window: {culprits}"
        text = page.locator("body").inner_text()
        assert not KEY.search(text), f"{step}: untranslated {KEY.search(text)}"
        assert not self.errors, f"{step}: {self.errors[:3]}"
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / f"{self.name}-{step}.png"), full_page=True)


def field(page: Page, name: str) -> Locator:
    return page.locator(f'[name="{name}"]')


@pytest.mark.parametrize(("lang", "width"), [("fi", 1400), ("en", 1400), ("fi", 390),
                                             ("en", 390)])
def test_build_preview_save_and_try_a_survey(
        browser: Browser, server: str, kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
        lang: str, width: int) -> None:
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", workspace.slug, "editor")
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    seen = Checked(page, f"{lang}-{width}")
    words = WORDS[lang]
    page.goto(f"{server}/login")
    page.get_by_label("Käyttäjätunnus").fill("anna")
    page.get_by_label("Salasana").fill("salasana123")
    page.get_by_role("button", name="Kirjaudu").click()
    page.goto(f"{server}/language/{lang}?next=/w/my-company/surveys")
    page.locator("#new-survey").click()
    expect(page).to_have_url(f"{server}/w/my-company/surveys/new/build")
    # safe defaults: disabled, and the sampling rate is the person's to choose
    expect(page.locator("#f-enabled")).not_to_be_checked()
    expect(field(page, "trigger.sample")).to_have_value("")
    seen.look("new")

    page.locator("#new-type").select_option("single_choice")
    page.get_by_role("button", name=words["add"]).click()
    page.locator("#new-type").select_option("text")
    page.get_by_role("button", name=words["add"]).click()
    # the open question goes right after the NPS: dragged by its handle on a wide screen
    # (the builder's script), with the ↑ button on a phone (no script needed)
    if width >= 1000:
        # the drag's own events: Playwright's mouse drag starts no HTML5 drag in headless
        # Chromium, so the test sends what a drag sends
        data = page.evaluate_handle("() => new DataTransfer()")
        items = page.locator(".built-question")
        items.nth(2).locator(".drag-handle").dispatch_event("dragstart", {"dataTransfer": data})
        items.nth(1).dispatch_event("dragover", {"dataTransfer": data})
        with page.expect_navigation():
            items.nth(1).dispatch_event("drop", {"dataTransfer": data})
    else:
        page.get_by_role("button", name=words["up"]).click()
    expect(field(page, "questions.1.type")).to_have_value("text")
    expect(field(page, "questions.2.type")).to_have_value(
        "single_choice")

    values = {
        "id": "after-order", "name.fi": "Tilauksen jälkeen", "name.en": "After the order",
        "trigger.event": "order_placed", "trigger.sample": "10",
        "intro.fi": "Kerro, miten tilaaminen sujui.", "intro.en": "Tell us how ordering went.",
        "questions.1.id": "why", "questions.1.text.fi": "Miksi?", "questions.1.text.en": "Why?",
        "questions.2.id": "channel", "questions.2.text.fi": "Mistä kuulit meistä?",
        "questions.2.text.en": "Where did you hear of us?",
        "questions.2.options.0.id": "friend", "questions.2.options.0.text.fi": "Ystävältä",
        "questions.2.options.0.text.en": "From a friend",
        "questions.2.options.1.id": "ad", "questions.2.options.1.text.fi": "Mainoksesta",
        "questions.2.options.1.text.en": "From an ad"}
    for name, value in values.items():
        field(page, name).fill(value)
    page.locator('[id="f-questions.1.show_if"] summary').click()
    field(page, "questions.1.show_if.question").select_option("recommend")
    field(page, "questions.1.show_if.at_most").fill("6")
    field(page, "touchpoint").select_option("order")

    # the preview, before anything is saved: the real form in a phone and a desktop frame
    other = "en" if lang == "fi" else "fi"
    for code in (lang, other):
        page.locator(f"#preview-{code}").click()
        phone = page.frame_locator(".preview-phone")
        expect(phone.locator("h1")).to_have_text(values[f"name.{code}"])
        expect(phone.locator(".scale-ends")).to_contain_text(
            "Not at all likely" if code == "en" else "Ei lainkaan todennäköistä")
        expect(phone.locator("button[type=submit]")).to_be_disabled()
        width_in = page.locator(".preview-phone").evaluate(
            "f => f.contentDocument.documentElement.scrollWidth")
        assert width_in <= 390, f"the phone preview is {width_in}px wide"
        seen.look(f"preview-{code}")
    assert workspace_service.get(kk.db, "my-company").version == 1  # nothing saved yet

    page.locator("#save").click()
    expect(page).to_have_url(f"{server}/w/my-company/surveys/after-order/build")
    expect(page.locator("#notice")).to_be_visible()
    current = workspace_service.get(kk.db, "my-company")
    assert survey_service.survey_text(current.document, "after-order") == BUILT
    page.locator("#yaml-view summary").click()
    assert page.locator("#built-yaml").inner_text().rstrip("\n") == BUILT.rstrip("\n")
    seen.look("saved")
    page.locator("#yaml-link").click()  # the YAML editor shows the same document
    expect(page.locator("#survey-yaml")).to_have_value(BUILT)
    seen.look("yaml")

    # the test link, answered as a customer would on their own device
    page.goto(f"{server}/w/my-company/surveys/after-order/build")
    link = page.locator(f'.test-link[hreflang="{lang}"]').get_attribute("href")
    assert link
    tester = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    trying = Checked(tester, f"{lang}-{width}-test")
    tester.goto(f"{server}{link}")
    expect(tester.locator(".survey-test")).to_be_visible()
    tester.locator('label.scale-option:has(input[value="3"])').first.click()
    why = tester.locator("#input-why")
    if not why.is_visible():  # without the form's in-place follow-up: asked on the next page
        tester.locator("button[type=submit]").click()
    expect(why).to_be_visible()  # the follow-up, for a detractor
    trying.look("follow-up")
    why.fill("Toimitus myöhästyi")
    tester.locator("button[type=submit]").click()
    expect(tester.locator("h1")).to_be_visible()
    trying.look("thanks")
    tester.context.close()

    count, rows = survey_tests.recent(kk.db, workspace.id, "after-order")
    assert count == 1 and rows[0]["answers"] == {"recommend": 3, "why": "Toimitus myöhästyi"}
    assert rows[0]["language"] == lang
    assert responses.count(kk.events, workspace.id) == 0
    with kk.events.reading() as cur:
        assert scores.report(cur, workspace.id).overall.responses == 0
    page.reload()
    expect(page.locator("#test-count")).to_have_text(words["count"])
    seen.look("tested")
    context.close()
