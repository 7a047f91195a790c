"""The value page over the demo in a real headless Chromium at 1,400 px, in Finnish and in
English: the elements of value, Kano and the outcomes show the figures the analytics find in
the same store, nothing is wider than the window, no catalog key shows untranslated, and the
page logs no script or policy error."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
from playwright.sync_api import Browser, Page, expect

from kokemus import bootstrap
from kokemus.analytics import kano, outcomes, value
from kokemus.analytics.scores import Filters
from kokemus.demo import generate
from kokemus.domain import kano as kano_math
from kokemus.services import access, workspaces
from kokemus.web import i18n
from tests.web.test_browser import browser, pytestmark, server  # noqa: F401

WIDTH = 1400
SHOT = "/tmp/kokemus-value-{language}.png"
# A catalog key left untranslated shows as itself: "value_page.title", "breakdowns.other".
SECTIONS = sorted({key.split(".")[0] for key in i18n.catalog("en")}, key=len, reverse=True)
UNTRANSLATED = re.compile(rf"\b(?:{'|'.join(SECTIONS)})\.[a-z_]+(?:\.[a-z_]+)*\b")


@pytest.fixture
def wide(browser: Browser) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def figures(kk: bootstrap.Kokemus) -> tuple[value.ValueReport, list[kano.Feature],
                                             outcomes.OutcomeReport, int]:
    """What the analytics find in the demo's appliance shop, as the page asks for it."""
    ws = workspaces.get(kk.db, "kodinkone")
    doc, min_n = ws.document, ws.document.feedback.min_answers
    with kk.events.reading() as cursor:
        found = value.report(cursor, ws.id, doc, Filters(), None, min_n)
        features = kano.report(cursor, ws.id, doc, Filters())
        after = outcomes.report(cursor, ws.id, doc.insights.outcomes, "repurchase", days=90,
                                filters=Filters(), min_n=min_n)
    return found, features, after, min_n


def clipped_labels(page: Page, frame: str = "svg") -> list[str]:
    """The charts' texts cut at their frame's edge (`frame`: a JavaScript expression of the
    `svg` element's box to measure against): more than an eighth of a text outside, so that
    a few pixels' difference between the fonts the server measured and the browser draws
    with do not count."""
    found: list[str] = page.evaluate(f"""() => [...document.querySelectorAll('svg.chart')]
        .flatMap(svg => {{
            const box = ({frame}).getBoundingClientRect();
            return [...svg.querySelectorAll('text')].filter(t => {{
                const r = t.getBoundingClientRect();
                const out = Math.max(box.left - r.left, r.right - box.right,
                                     box.top - r.top, r.bottom - box.bottom);
                return r.width > 0 && out > Math.max(r.width, r.height) / 8;
            }}).map(t => svg.id + ': ' + t.textContent);
        }})""")
    return found


def shown_text(page: Page) -> str:
    """Everything a reader may see: the text (SVG titles included) and the labels."""
    text: str = page.evaluate("""() => document.body.textContent + ' ' +
        [...document.querySelectorAll('[aria-label],[title],[placeholder]')]
          .map(e => ['aria-label', 'title', 'placeholder']
               .map(a => e.getAttribute(a) || '').join(' ')).join(' ')""")
    return text


def check(page: Page, language: str, kk: bootstrap.Kokemus) -> None:
    found, features, after, min_n = figures(kk)
    t = i18n.translator(language)

    def num(x: float) -> str:
        return i18n.number(x, language)

    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.get_by_role("heading", level=1)).to_have_text(t("value_page.title"))
    # elements of value: the respondents, and the most answered element's share and n
    expect(page.locator("#value-summary")).to_contain_text(num(found.respondents))
    asked = [e for e in found.elements if e.asked and e.share.enough]
    assert asked, "the demo asks about no element of value"
    top = max(asked, key=lambda e: e.n)
    assert top.share.value is not None
    row = page.locator(f"#element-{top.element}")
    expect(row).to_contain_text(f"{num(top.share.value)}\u00a0%")
    expect(row.locator("td").last).to_have_text(num(top.n))
    expect(page.locator("#value-nps-chart")).to_be_visible()
    # Kano: each feature's n and category, in the page's language
    if features:
        for f in features:
            feature = page.locator(f"#feature-{f.result.feature}")
            expect(feature.locator("td").first).to_have_text(num(f.result.n))
            if f.result.n >= min_n and f.result.category:
                name = t(f"value_page.kano.{kano_math.NAMES[f.result.category]}")
                expect(feature).to_contain_text(name)
            if f.result.worse is not None and f.result.worse < -0.005:  # a true minus sign
                expect(feature.locator("td").last).to_have_text(re.compile("^\u2212\\d"))
        expect(page.locator("#kano-chart")).to_be_visible()
    else:
        expect(page.locator("#kano-none")).to_be_visible()
    # outcomes after an answer: the responses judged
    expect(page.locator("#outcomes-summary")).to_contain_text(num(after.judged))
    expect(page.locator("#outcome-chart")).to_be_visible()

    wider = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .map(e => e.tagName + (e.id ? '#' + e.id : '')).slice(0, 10)""")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, wider
    assert wider == []
    # nor is a chart's text cut at its drawing's edge (an axis title longer than its axis)
    assert clipped_labels(page) == []
    assert UNTRANSLATED.findall(shown_text(page)) == []


def test_the_value_page_in_chromium(server: str, wide: Page,  # noqa: F811
                                    kk: bootstrap.Kokemus) -> None:
    generate.run(kk, customers=3000, end=date(2026, 6, 30))  # Kano n > 30
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", "kodinkone", "analyst")
    problems: list[str] = []
    wide.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    wide.on("pageerror", lambda e: problems.append(str(e)))

    wide.goto(f"{server}/login?next=/w/kodinkone/value")
    wide.get_by_label("Käyttäjätunnus").fill("anna")
    wide.get_by_label("Salasana").fill("salasana123")
    wide.get_by_role("button", name="Kirjaudu").click()
    expect(wide).to_have_url(f"{server}/w/kodinkone/value")
    check(wide, "fi", kk)
    wide.screenshot(path=SHOT.format(language="fi"), full_page=True)

    wide.goto(f"{server}/language/en")
    wide.goto(f"{server}/w/kodinkone/value")
    check(wide, "en", kk)
    wide.screenshot(path=SHOT.format(language="en"), full_page=True)
    assert problems == []
