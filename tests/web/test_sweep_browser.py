"""Every page of the demo in a real headless Chromium, in Finnish and English, at 1,400 and
390 px: the page is no wider than the window, no catalog key shows as itself, the Finnish
page shows none of the English UI strings, and nothing logs a script or policy error. A
screenshot of each page is kept in SWEEP_DIR (ignored by git; the path is printed)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from kokemus import bootstrap
from kokemus.config import Settings
from kokemus.demo import generate
from kokemus.services import access, feedback, workspaces
from kokemus.services.actions import unsubscribe_token
from kokemus.services.ingest import ingest_customers
from kokemus.storage.tables import accounts, cases, customers
from kokemus.web import i18n
from tests.web.test_browser import browser, pytestmark, server  # noqa: F401

SWEEP_DIR = Path(os.environ.get("KOKEMUS_SWEEP_DIR",
                                Path(__file__).resolve().parents[2] / "test-artefacts" / "sweep"))
WS = "kodinkone-rule"  # the appliance shop with its damage rule: it has cases and rules too
B2B = "konekauppa"  # the machinery dealer: accounts
# A catalog key left untranslated shows as itself: "value_page.title", "nav.rules".
SECTIONS = sorted({key.split(".")[0] for key in i18n.catalog("en")}, key=len, reverse=True)
UNTRANSLATED = re.compile(rf"\b(?:{'|'.join(SECTIONS)})\.[a-z_]+(?:\.[a-z_]+)*\b")
FILES = (".md", ".yaml", ".html", ".css", ".json", ".jsonl", ".csv")  # "docs/rules.md" is no key


def english_only() -> frozenset[str]:
    """The English UI strings a Finnish page must not show: whole catalog strings without
    placeholders that are not also Finnish strings (names such as "NPS" are the same in
    both and so are not in it)."""
    en, fi = i18n.catalog("en"), i18n.catalog("fi")
    finnish = set(fi.values())
    return frozenset(v.strip() for k, v in en.items()
                     if "{" not in v and v != fi.get(k) and v not in finnish
                     and re.search("[a-z]{3}", v) and len(v.strip()) >= 4)


ENGLISH = english_only()

# Texts of the page: each element's own text, and the labels a reader may be told; not what
# is written as code (YAML in an editor, a command, a file name), nor an id a select offers
# as itself (a question's id in the survey builder).
_TEXTS = """() => {
  const own = [...document.querySelectorAll('body, body *')]
    .filter(e => !e.closest('textarea, pre, code, kbd, samp'))
    .filter(e => !(e.tagName === 'OPTION' && e.textContent.trim() === e.value)).flatMap(e =>
    [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent.trim()));
  const labels = [...document.querySelectorAll('[aria-label],[title],[placeholder],[alt]')]
    .flatMap(e => ['aria-label', 'title', 'placeholder', 'alt']
      .map(a => (e.getAttribute(a) || '').trim()));
  const titles = [...document.querySelectorAll('title')].map(e => e.textContent.trim());
  return [...own, ...labels, ...titles].filter(Boolean);
}"""
# Only the page's own text, for the event types: a placeholder may show a filter's syntax.
_OWN = """() => [...document.querySelectorAll('body, body *')]
  .filter(e => !e.closest('textarea, pre, code, kbd, samp'))
  .flatMap(e => [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent))"""
_WIDER = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
               && !e.closest('.scroll-x'))
  .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
            + (e.className && typeof e.className === 'string'
               ? '.' + e.className.trim().split(/\\s+/).join('.') : ''))
  .slice(0, 6)"""


@dataclass(frozen=True)
class Demo:
    response: str
    customer: str
    account: str
    case: int
    journey: str
    survey: str
    rule: str
    link: dict[str, str]  # language -> a survey link of a customer who reads it
    unsubscribe: str
    named: frozenset[str]  # the event types the demo's workspaces name


def demo(kk: bootstrap.Kokemus, settings: Settings, base: str) -> Demo:
    generate.run(kk, customers=1500, end=date(2026, 6, 30), scenarios=generate.WITH_RULE)
    ws = workspaces.get(kk.db, WS)
    doc = ws.document
    with kk.events.reading() as cur:
        first = cur.execute(
            "SELECT id, customer FROM responses WHERE workspace_id = ? ORDER BY id LIMIT 1",
            [ws.id]).fetchone()
    assert first, "the demo has no responses"
    response, customer = first
    secret = bootstrap.secret_key(settings)
    links: dict[str, str] = {}
    with kk.db.connect() as conn:
        account = conn.execute(select(accounts.c.id).where(
            accounts.c.workspace_id == workspaces.get(kk.db, B2B).id).limit(1)).scalar_one()
        case = conn.execute(select(cases.c.number).where(cases.c.workspace_id == ws.id)
                            .order_by(cases.c.number).limit(1)).scalar_one()
        for language in i18n.LANGUAGES:
            reader = conn.execute(select(customers.c.id).where(
                customers.c.workspace_id == ws.id, customers.c.language == language)
                .limit(1)).scalar()
            if reader is None:  # the demo's customers all read one language: make one
                reader = f"sweep-{language}"
                ingest_customers([{"id": reader, "language": language}], ws, kk.db)
            survey = next(s for s in doc.surveys if s.enabled).id
            invitation = feedback.invite(kk.db, ws, survey, reader, channel="email",
                                         now=datetime.now(UTC))
            links[language] = feedback.link(base, secret, invitation)
    return Demo(
        response=str(response), customer=str(customer), account=str(account), case=int(case),
        journey=doc.journeys[0].id, survey=doc.surveys[0].id,
        rule=doc.rules[0].id if doc.rules else "new", link=links,
        unsubscribe=unsubscribe_token(secret, ws.id, str(customer)),
        named=frozenset(doc.events) | frozenset(workspaces.get(kk.db, B2B).document.events))


def pages(d: Demo) -> list[tuple[str, str]]:
    """(name, path) of every page a signed-in owner sees."""
    w = f"/w/{WS}"
    return [
        ("home", "/"), ("overview", w), ("scores", f"{w}/scores"), ("responses", f"{w}/responses"),
        ("response", f"{w}/responses/{d.response}"),
        ("journey-map", f"{w}/journeys/{d.journey}"),
        ("variants", f"{w}/journeys/{d.journey}/variants"),
        ("promises", f"{w}/promises"), ("gaps", f"{w}/gaps"), ("drivers", f"{w}/drivers"),
        ("value", f"{w}/value"), ("signals", f"{w}/signals"), ("report", f"{w}/report"),
        ("timeline", f"{w}/customers/{d.customer}"),
        ("account", f"/w/{B2B}/accounts/{d.account}"),
        ("cases", f"{w}/cases"), ("recovery", f"{w}/cases/recovery"),
        ("case", f"{w}/cases/{d.case}"),
        ("rules", f"{w}/rules"), ("rule-edit", f"{w}/rules/{d.rule}"),
        ("rule-new", f"{w}/rules/new"),
        ("actions", f"{w}/actions"), ("surveys", f"{w}/surveys"),
        ("survey-edit", f"{w}/surveys/{d.survey}"), ("survey-new", f"{w}/surveys/new"),
        ("survey-build", f"{w}/surveys/{d.survey}/build"),
        ("survey-build-new", f"{w}/surveys/new/build"),
        ("members", f"{w}/members"), ("audit", f"{w}/audit"), ("instance-audit", "/audit"),
        ("privacy", f"{w}/privacy"), ("not-found", "/w/no-such-workspace"),
    ]


@dataclass
class Sweep:
    page: Page
    language: str
    width: int
    problems: list[str]
    console: list[str]
    status: int = 200  # the status the open page was sent with
    named: frozenset[str] = frozenset()  # event types to be shown by their names

    def check(self, name: str) -> None:
        """The open page: wider than the window, a key untranslated, English in Finnish,
        a script or policy error; its screenshot kept."""
        where = f"{self.language} {self.width}px {name}"
        page = self.page
        scroll = page.evaluate("document.documentElement.scrollWidth")
        if scroll > self.width:
            self.problems.append(f"{where}: {scroll} px wide: {page.evaluate(_WIDER)}")
        texts: list[str] = page.evaluate(_TEXTS)
        keys = sorted({k for text in texts for k in UNTRANSLATED.findall(text)
                       if not k.endswith(FILES)})
        if keys:
            self.problems.append(f"{where}: untranslated {keys[:8]}")
        own = " ".join(page.evaluate(_OWN))
        # an id with an underscore, not a word of the text ("delivered"), nor the syntax of a
        # filter ("event:delivery_damaged=yes"); a Finnish page shows none at all
        types = sorted(e for e in self.named if ("_" in e or self.language == "fi")
                       and re.search(rf"(?<!event:)\b{e}\b", own))
        if types:
            self.problems.append(f"{where}: event types by their ids {types[:8]}")
        if self.language == "fi":
            english = sorted({text for text in texts if text in ENGLISH})
            if english:
                self.problems.append(f"{where}: English {english[:8]}")
        page.wait_for_load_state()
        # the browser logs a page sent with an error status as an error: not one here
        said = f"the server responded with a status of {self.status} "
        errors = [m for m in self.console if self.status == 200 or said not in m]
        if errors:
            self.problems.append(f"{where}: console {errors[:3]}")
        self.console.clear()
        SWEEP_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SWEEP_DIR / f"{name}-{self.language}-{self.width}.png"),
                        full_page=True)

    def visit(self, name: str, url: str, status: int = 200) -> None:
        response = self.page.goto(url)
        got = response.status if response else 0
        if got != status:
            self.problems.append(f"{self.language} {self.width}px {name}: HTTP {got}")
        self.status = status
        self.check(name)


@pytest.mark.parametrize("language", i18n.LANGUAGES)
@pytest.mark.parametrize("width", [1400, 390])
def test_every_page_of_the_demo(server: str, browser: Browser,  # noqa: F811
                                kk: bootstrap.Kokemus, settings: Settings,
                                language: str, width: int) -> None:
    assert {"Customer promises", "Touchpoint"} <= ENGLISH  # the check has strings to find
    d = demo(kk, settings, server)
    access.create_user(kk.db, "olli", "salasana123", admin=True)
    access.create_user(kk.db, "aino", "salasana123")
    access.grant(kk.db, "aino", WS, "agent")
    # the browser asks for the page's language too: the hosted form's messages follow it
    context = browser.new_context(viewport={"width": width, "height": 900},
                                  locale="fi-FI" if language == "fi" else "en-GB")
    page = context.new_page()
    sweep = Sweep(page, language, width, [], [], named=d.named)
    page.on("console", lambda m: sweep.console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: sweep.console.append(str(e)))

    page.goto(f"{server}/language/{language}")
    sweep.visit("login", f"{server}/login")
    page.locator("input[name=username]").fill("olli")
    page.locator("input[name=password]").fill("wrong password")
    page.locator("form button[type=submit]").click()
    sweep.status = 401
    sweep.check("login-failed")
    page.locator("input[name=password]").fill("salasana123")
    page.locator("form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)
    for name, path in pages(d):
        sweep.visit(name, server + path, 404 if name == "not-found" else 200)

    # the hosted form in the customer's language, and its messages
    page.context.clear_cookies()
    sweep.visit("form", d.link[language])
    page.locator("form[action$='/opt-out'] button").click()
    sweep.check("form-opted-out")
    sweep.visit("form-bad-link", f"{server}/s/not-a-link", 404)
    sweep.visit("unsubscribe", f"{server}/u/{d.unsubscribe}")

    # a page the reader may not open: an agent and the rules
    page.goto(f"{server}/language/{language}")
    page.goto(f"{server}/login")
    page.locator("input[name=username]").fill("aino")
    page.locator("input[name=password]").fill("salasana123")
    page.locator("form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)
    sweep.visit("forbidden", f"{server}/w/{WS}/rules", 403)

    context.close()
    print(f"\nscreenshots: {SWEEP_DIR}")
    assert not sweep.problems, "\n".join(sweep.problems)
