"""The gaps and key-driver pages in a real headless Chromium, in Finnish and English: no
script, no policy violation, a touchpoint's gap chart with a bar per dimension and the
importance x performance quadrant with a point per driver, their figures as <title>s."""

from __future__ import annotations

import re

import numpy as np
import orjson
from playwright.sync_api import Page, expect

from kokemus import bootstrap
from kokemus.services import access
from tests.analytics.test_scores import store
from tests.integration.test_drivers import EXTRA
from tests.integration.test_gaps import ANSWERS, QUALITY, answers_of
from tests.web.test_browser import browser, page, pytestmark, server  # noqa: F401

SHOT = "/tmp/kokemus-gaps.png"


def stored(kk: bootstrap.Kokemus) -> None:
    from kokemus.services import workspaces as workspace_service
    from kokemus.workspace import document
    from tests.conftest import STARTER

    text = STARTER.read_text(encoding="utf-8").replace(
        "target: {ces: 6.0}", "target: {ces: 6.0, attributes: {reliability: 6.0}}")
    workspace_service.apply(kk.db, document.loads(text + QUALITY + EXTRA), source="test")
    rng = np.random.default_rng(1)
    rows: list[dict[str, object]] = []
    for i in range(60):  # the hand-made answers, fifteen times over
        rows.append({"survey": "quality", "customer": f"c{i}",
                     "answers": answers_of(ANSWERS[i % 4])})
        latent = rng.normal()
        packing = int(np.clip(round(3 + latent + rng.normal(0, 0.7)), 1, 5))
        courier = int(np.clip(round(3 + 0.3 * latent + rng.normal()), 1, 5))
        nps = int(np.clip(round(6 + 1.5 * (packing - 3) + 0.5 * (courier - 3)
                                + rng.normal()), 0, 10))
        rows.append({"survey": "parts", "customer": f"c{i}", "nps": nps,
                     "answers": orjson.dumps({"recommend": nps, "packing": packing,
                                              "courier": courier}).decode()})
    store(kk, [{**r, "id": f"r{k}"} for k, r in enumerate(rows)])


def test_gaps_and_drivers_pages_in_chromium(server: str, page: Page,  # noqa: F811
                                            kk: bootstrap.Kokemus) -> None:
    stored(kk)
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", "my-company", "analyst")
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    page.goto(f"{server}/login?next=/w/my-company/gaps")
    page.get_by_label("Käyttäjätunnus").fill("anna")
    page.get_by_label("Salasana").fill("salasana123")
    page.get_by_role("button", name="Kirjaudu").click()
    expect(page).to_have_url(f"{server}/w/my-company/gaps")
    expect(page.get_by_role("heading", name="Missä kokemus jää vajaaksi")).to_be_visible()
    chart = page.locator("#gap-chart-delivery")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 80
    bars = chart.locator(".bars_marks path")
    expect(bars).to_have_count(5)  # the five RATER dimensions
    # reliability: per respondent (-3.5, -0.5, -1, -4.5), fifteen times: mean -2.375
    expect(chart.locator(".bars_marks path title").nth(1)).to_contain_text(
        "Luotettavuus: \u22122,38")
    row = page.locator("#items-delivery tr[data-key='reliability'].dimension")
    expect(row).to_contain_text("\u22122,38")
    expect(row).to_contain_text("n = 60")
    expect(page.locator("#items-delivery tr[data-key='reliability'].item")).to_contain_text(
        "6,0")  # the target
    page.screenshot(path=SHOT, full_page=True)

    page.goto(f"{server}/w/my-company/drivers")
    expect(page.get_by_role("heading", name="Mitä korjata ensin")).to_be_visible()
    quadrant = page.locator("#quadrant")
    expect(quadrant).to_be_visible()
    points = quadrant.locator(".points_marks path")
    # a point per driver judged; the six perceptions of four repeated answer patterns are
    # collinear, and those the others determine are left out
    rows = page.locator("#drivers tbody tr")
    expect(points).to_have_count(rows.count())
    assert 3 <= rows.count() < 8
    expect(page.locator("#dropped")).to_contain_text("delivery:quality.")
    expect(points.first.locator("title")).to_contain_text("tärkeys")
    expect(page.locator("#r2")).to_contain_text(re.compile(r"0,\d\d"))
    page.screenshot(path="/tmp/kokemus-drivers.png", full_page=True)

    page.goto(f"{server}/language/en")
    page.goto(f"{server}/w/my-company/gaps")
    expect(page.get_by_role("heading", name="Where the experience falls short")).to_be_visible()
    titles = page.locator("#gap-chart-delivery .bars_marks path title")
    expect(titles.nth(1)).to_have_text(re.compile(r"^Reliability: \u22122\.38 .*n = 60$"))
    page.goto(f"{server}/w/my-company/drivers")
    expect(page.get_by_role("heading", name="What to fix first")).to_be_visible()
    expect(page.locator("#quadrant .points_marks path title").first).to_have_text(
        re.compile(r"importance \d+% \(\d+%\u2009–\u2009\d+%\), performance \d+%, n = 60$"))
    expect(page.locator("#quadrant")).to_contain_text("Fix first")
    assert problems == []
