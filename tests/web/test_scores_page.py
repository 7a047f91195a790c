"""The scores page over responses in the real event store, through the app's HTTP interface."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from kokemus.bootstrap import Kokemus
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses
from tests.analytics.test_scores import many, table_of
from tests.web.test_pages import anna, log_in  # noqa: F401  (the fixture)

WEEK1 = datetime(2026, 3, 2, 10, tzinfo=UTC)
WEEK2 = WEEK1 + timedelta(days=7)


def store(kk: Kokemus, workspace: ActiveWorkspace, rows: list[dict[str, object]]) -> None:
    responses.insert_many(kk.events, table_of(rows, workspace_id=workspace.id))


@pytest.fixture
def answered(kk: Kokemus, workspace: ActiveWorkspace) -> None:
    # week 1: 200 promoters, 120 passives, 80 detractors (NPS 30, 22-37), all delivery/email;
    # week 2: 280/80/40 (NPS 60); 10 support answers by phone: too few for the minimum 30
    store(kk, workspace,
          many(200, nps=10, ces=7, csat=5, started_at=WEEK1)
          + many(120, nps=8, ces=4, csat=3, started_at=WEEK1)
          + many(80, nps=3, ces=2, csat=2, started_at=WEEK1)
          + many(280, nps=10, started_at=WEEK2) + many(80, nps=7, started_at=WEEK2)
          + many(40, nps=1, started_at=WEEK2)
          + many(10, nps=0, touchpoint="support", channel="phone", started_at=WEEK2))


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(div|tr|table)>', html, re.S)
    assert found, f"no element {element_id}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1)))


def test_needs_a_login(client: TestClient, workspace: ActiveWorkspace) -> None:
    answer = client.get("/w/my-company/scores", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/w/my-company/scores"


def test_cards_breakdown_and_latest_change(client: TestClient, anna: str,  # noqa: F811
                                           answered: None) -> None:
    log_in(client)
    page = client.get("/w/my-company/scores?from=2026-03-01&to=2026-03-08",
                      headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "Content-Security-Policy" in page.headers and "<script" not in page.text
    client.get("/language/en")
    html = client.get("/w/my-company/scores?from=2026-03-01&to=2026-03-08").text
    nps = text_of(html, "card-nps")
    assert "30" in nps and "22 – 37" in nps and "n = 400" in nps
    csat = text_of(html, "card-csat")  # 200 fives of 400 answers
    assert "n = 400" in csat and "50 %" in csat and "45 – 55" in csat
    # all weeks: support has 10 answers, below the minimum -> "too few answers"
    html = client.get("/w/my-company/scores?by=channel").text
    phone = re.search(r'<tr data-key="phone">(.*?)</tr>', html, re.S)
    assert phone and "too few answers" in phone.group(1) and "−100" not in phone.group(1)
    email = re.search(r'<tr data-key="email">(.*?)</tr>', html, re.S)
    assert email and "45" in email.group(1)  # (480 - 120) / 800
    # week 2 against week 1: NPS 30 -> 58 (10 support detractors included), significant
    movement = text_of(html, "movement-nps")
    assert "significant change" in movement and "no significant" not in movement
    assert "too few answers to judge" in text_of(html, "movement-csat")


def chart_of(html: str, element_id: str) -> str:
    found = re.search(rf'<svg[^>]*id="{element_id}".*?</svg>', html, re.S)
    assert found, f"no chart {element_id}"
    return found.group(0)


def tips(svg: str) -> list[str]:
    """The tooltips of the chart's data points (the first <title> names the chart)."""
    return re.findall(r"<title>(.*?)</title>", svg)[1:]


def labels(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_trend_charts_are_svg_with_interval_bands(client: TestClient, anna: str,  # noqa: F811
                                                  answered: None) -> None:
    log_in(client)
    html = client.get("/w/my-company/scores?trend=week").text
    svg = chart_of(html, "trend-nps")
    # week 1: NPS 30 (22-37) of 400; week 2: (280 - 50) / 410 = 56, the support answers in
    first, second = tips(svg)
    assert first == "2.3.2026: 30 (22\u2009–\u200937), n = 400"
    assert re.fullmatch(r"9\.3\.2026: 56 \(\d\d\u2009–\u2009\d\d\), n = 410", second)
    assert 'class="mark-area role-mark band_marks"' in svg
    assert {"2.3.2026", "9.3.", "Viikko", "NPS"} <= set(labels(svg))
    assert "<script" not in svg and "style=" not in svg
    # CSAT has answers only in week 1: one point, 50 % of 400
    csat = tips(chart_of(html, "trend-csat"))
    assert csat == ["2.3.2026: 50\u00a0% (45\u00a0%\u2009–\u200955\u00a0%), n = 400"]
    month = client.get("/w/my-company/scores?trend=month").text
    assert "maalis 2026" in labels(chart_of(month, "trend-ces"))
    client.get("/language/en")
    english = chart_of(client.get("/w/my-company/scores?trend=week").text, "trend-nps")
    assert tips(english)[0] == "2 Mar 2026: 30 (22\u2009–\u200937), n = 400"
    assert {"2 Mar 2026", "9 Mar", "Week"} <= set(labels(english))


def test_finnish_and_too_few_answers_everywhere(client: TestClient, anna: str,  # noqa: F811
                                                kk: Kokemus,
                                                workspace: ActiveWorkspace) -> None:
    store(kk, workspace, many(12, nps=9, ces=6, csat=4, started_at=WEEK1))
    log_in(client)
    client.get("/language/fi")
    html = client.get("/w/my-company/scores").text
    assert "Tulokset" in html
    for kind in ("nps", "ces", "csat"):
        card = text_of(html, f"card-{kind}")
        assert "liian vähän vastauksia" in card and "n = 12" in card
    # too few answers: a hollow point that says so, and no figure in any tooltip (a week
    # of 12 answers is drawn by month unless weeks are asked for: tests/web/test_scores_trend)
    for kind in ("nps", "ces", "csat"):
        few = tips(chart_of(html, f"trend-{kind}"))
        assert few == ["maalis 2026: liian vähän vastauksia (n = 12)"]
    weekly = client.get("/w/my-company/scores?trend=week").text
    for kind in ("nps", "ces", "csat"):
        few = tips(chart_of(weekly, f"trend-{kind}"))
        assert few == ["2.3.2026: liian vähän vastauksia (n = 12)"]
    assert "ei merkitsevää" not in html  # one week only: nothing to compare


def test_unknown_workspace_and_bad_parameters(client: TestClient, anna: str,  # noqa: F811
                                              workspace: ActiveWorkspace) -> None:
    log_in(client)
    assert client.get("/w/nope/scores").status_code == 404
    page = client.get("/w/my-company/scores?by=colour&trend=year&from=x&survey=nope")
    assert page.status_code == 422 and "Ei vielä vastauksia" in page.text
    assert "Alkupäivä ei ole päivämäärä" in page.text  # the one value that was not used
    assert 'href="/w/my-company/scores"' in client.get("/w/my-company").text
