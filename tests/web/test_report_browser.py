"""The report over the demo in a real headless Chromium at 1,400 px: the page in Finnish and
English shows every section the report has (or why it is left out) with the report's own
figures and its charts, logs no script or policy error, is no wider than the window and
cuts no chart's text; the one-file HTML opened from disk asks for nothing but itself."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from kokemus import bootstrap
from kokemus.demo import generate
from kokemus.services import access, report, workspaces
from kokemus.web import i18n, report_view
from kokemus.web.report import html_file
from tests.web.test_browser import browser, pytestmark, server  # noqa: F401
from tests.web.test_value_browser import UNTRANSLATED, clipped_labels, shown_text

WIDTH = 1400
SHOT = "/tmp/kokemus-report-{language}.png"


@pytest.fixture
def wide(browser: Browser) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def check(page: Page, found: report.Report, language: str) -> None:
    t = i18n.translator(language)
    expect(page.locator("html")).to_have_attribute("lang", language)
    for name, key in report_view.TITLES.items():
        section = page.locator(f"#report-{name}")
        if name in found.missing:
            expect(section).to_contain_text(t("report.left_out", why=found.missing[name]))
        elif name in found.sections or name == "fixes":
            expect(section.get_by_role("heading", level=2)).to_have_text(t(key))
        else:
            expect(section).to_have_count(0)
    # the fixes as the report ranks them, each with its gain
    fixes = page.locator("#report-fixes li.fix")
    expect(fixes).to_have_count(len(found.fixes))
    for i, f in enumerate(found.fixes):
        expect(fixes.nth(i)).to_have_attribute("data-what", f.what)
        expect(fixes.nth(i)).to_contain_text(t("report.gain", gain=i18n.number(f.gain, language,
                                                                              1)))
    # the drop-off's counts and the value section's respondents, as the report has them
    for journey in found.sections["dropoff"]:
        counts = journey["outcomes"]
        row = page.locator("#report-dropoff tbody tr").first
        for state in ("reached", "in_flight", "lost"):
            expect(row).to_contain_text(i18n.number(counts[state], language))
    expect(page.locator("#report-value")).to_contain_text(
        i18n.number(found.sections["value"]["respondents"], language))
    for chart in ("fixes-chart", "promises-chart", "value-nps-chart", "dropoff-chart"):
        expect(page.locator(f"#{chart}")).to_be_visible()

    # the report's own content (the site's header is the other pages' browser tests')
    wider = page.evaluate("""() => [...document.querySelectorAll('main *')]
        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .map(e => e.tagName + (e.id ? '#' + e.id : '')).slice(0, 10)""")
    assert wider == []
    # no chart's text is cut: more than an eighth of a label outside its figure
    assert clipped_labels(page, "svg.closest('figure')") == []
    assert UNTRANSLATED.findall(shown_text(page)) == []


def test_the_report_in_chromium(server: str, wide: Page, kk: bootstrap.Kokemus,  # noqa: F811
                                tmp_path: Path) -> None:
    generate.run(kk, customers=3000, end=date(2026, 6, 30))
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", "kodinkone", "analyst")
    ws = workspaces.get(kk.db, "kodinkone")
    problems: list[str] = []
    wide.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    wide.on("pageerror", lambda e: problems.append(str(e)))

    wide.goto(f"{server}/login?next=/w/kodinkone/report")
    wide.get_by_label("Käyttäjätunnus").fill("anna")
    wide.get_by_label("Salasana").fill("salasana123")
    wide.get_by_role("button", name="Kirjaudu").click()
    expect(wide).to_have_url(f"{server}/w/kodinkone/report")
    check(wide, report.build(kk, ws, language="fi"), "fi")
    wide.screenshot(path=SHOT.format(language="fi"), full_page=True)

    wide.goto(f"{server}/language/en")
    wide.goto(f"{server}/w/kodinkone/report")
    found = report.build(kk, ws, language="en")
    check(wide, found, "en")
    wide.screenshot(path=SHOT.format(language="en"), full_page=True)
    assert problems == []

    # the file: opened from disk, it asks for nothing but itself
    written = tmp_path / "report.html"
    written.write_text(html_file(found, ws, "en"), encoding="utf-8")
    asked: list[str] = []
    wide.on("request", lambda r: asked.append(r.url))
    wide.goto(written.as_uri())
    check(wide, found, "en")
    assert asked == [written.as_uri()]
    assert problems == []
