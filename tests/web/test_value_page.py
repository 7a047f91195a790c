"""The value page over a small store: every section shows its figures with n and
intervals, in Finnish and English; too few answers say so; no section breaks without data."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.services import workspaces as workspace_service
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.workspace import document
from tests.analytics.test_insights_small import EXTRA, answer
from tests.conftest import STARTER
from tests.web.test_pages import anna, log_in  # noqa: F401  (the fixture)
from tests.web.test_surveys_pages import store


@pytest.fixture
def answered(client: TestClient, kk: bootstrap.Kokemus, anna: str) -> ActiveWorkspace:  # noqa: F811
    doc = document.loads(STARTER.read_text() + EXTRA.replace("min_answers: 30", ""))
    workspace_service.apply(kk.db, doc.model_copy(update={
        "feedback": doc.feedback.model_copy(update={"min_answers": 5})}))
    ws = workspace_service.get(kk.db, doc.workspace)
    rows = [answer(i, 10 if i % 2 else 2, {
        "eov": {"saves_time": 5 if i % 2 else 2, "informs": 2},
        "features": {"tracking": {"functional": "expect", "dysfunctional": "dislike"}}},
        ces=7 if i % 2 else 2, comment="Nopea toimitus, kiitos" if i % 2 else "Kone tuli rikki")
        for i in range(40)]
    store(kk, ws, rows)
    ingest_events([{"id": f"o{i}", "type": "order_placed", "customer": f"c{i}",
                    "channel": "web",
                    "occurred_at": (rows[i]["started_at"] + timedelta(days=5)).isoformat()}
                   for i in range(1, 40, 2)]
                  + [{"id": "late", "type": "delivered", "customer": "x", "channel": "web",
                      "occurred_at": (rows[0]["started_at"] + timedelta(days=200)).isoformat()}],
                  ws, kk.events)
    log_in(client)
    return ws


def test_every_section_in_finnish(client: TestClient, answered: ActiveWorkspace) -> None:
    answer_ = client.get("/w/my-company/value")
    assert answer_.status_code == 200
    html = answer_.text
    assert "Asiakasarvon elementit" in html and "Säästää aikaa" in html
    row = re.search(r'<tr id="element-saves_time">(.*?)</tr>', html, re.S)
    assert row and "50\u00a0%" in row.group(1) and "luvattu" in row.group(1)
    assert re.search(r'<tr id="count-1">.*?100.*?</tr>', html, re.S)  # promoters: 1 element
    assert 'id="value-nps-chart"' in html
    assert "pakollinen" in html and 'id="kano-chart"' in html
    easy = re.search(r'<tr id="outcome-easy">(.*?)</tr>', html, re.S)
    assert easy and "100\u00a0%" in easy.group(1)
    assert "+100 prosenttiyksikköä" in html
    assert "468\u202f000\u00a0€" in html  # the order touchpoint sized as the article's bus
    assert re.search(r'id="terms-detractor".*?rikki', html, re.S)
    assert re.search(r'id="terms-promoter".*?kiitos', html, re.S)
    assert "Mainitsijoiden NPS" in html


def test_english_and_choices(client: TestClient, answered: ActiveWorkspace) -> None:
    client.get("/language/en")
    html = client.get("/w/my-company/value?outcome=churn&days=30").text
    assert "Elements of value" in html and "Saves time" in html
    assert "Churn" in html and "account_closed" in html
    assert "must-be" in html
    bad = client.get("/w/my-company/value?from=2026-13-01")
    assert bad.status_code == 422 and "not a date" in bad.text


def test_an_empty_workspace_says_what_is_missing(
    client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace, anna: str  # noqa: F811
) -> None:
    log_in(client)
    html = client.get("/w/my-company/value").text
    assert 'id="value-none"' in html and 'id="kano-none"' in html
    assert 'id="outcomes-none"' in html and "insights.outcomes.repurchase" in html
    assert 'id="silent-none"' in html
