"""The customer's timeline page: days in the workspace's time zone and the reader's
language, touchpoint, channel and department names, answers inline, verdict badges, the
breaking gap with its hand-off; an account's people together; unknown ids are 404."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.services import access
from kokemus.services.ingest import ingest_accounts, ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from tests.web.test_pages import log_in
from tests.web.test_surveys_pages import response, store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Monday, 11.00 in Helsinki
D = timedelta(days=1)
PAGE = "/w/my-company/customers/c1"


@pytest.fixture
def agent(client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> TestClient:
    """An agent (the least role that sees journeys and answers), signed in, and a customer
    whose order waited three days at the order desk before it was delivered."""
    ingest_events([
        {"id": "o1", "type": "order_placed", "customer": "c1", "channel": "web",
         "occurred_at": T0.isoformat(), "properties": {"order": "A-1"}},
        {"id": "d1", "type": "delivered", "customer": "c1", "channel": "web",
         "occurred_at": (T0 + 3 * D + 5 * timedelta(hours=1)).isoformat()},
        {"id": "o2", "type": "order_placed", "customer": "c2", "channel": "web",
         "occurred_at": T0.isoformat()},
        {"id": "o3", "type": "order_placed", "customer": "p1", "channel": "web",
         "account": "acme", "occurred_at": (T0 + D).isoformat()},
        {"id": "d3", "type": "delivered", "customer": "p2", "channel": "web",
         "occurred_at": (T0 + 2 * D).isoformat()},
    ], workspace, kk.events)
    ingest_accounts([{"id": "acme", "name": "Acme Oy", "stakeholders": [
        {"customer": "p1", "role": "decider"}, {"customer": "p2", "role": "finance"}]}],
        workspace, kk.db)
    store(kk, workspace, [{**response(1, nps=2, comment="Kolme päivää hiljaisuutta"),
                           "customer": "c1", "started_at": T0 + 4 * D}])
    access.create_user(kk.db, "aino", "salasana123")
    access.grant(kk.db, "aino", workspace.slug, "agent")
    log_in(client, username="aino")
    return client


def text(html: str) -> str:
    """The page's words without tags and with runs of space as one."""
    return re.sub(r"[ \t\n]+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_timeline_in_finnish(agent: TestClient) -> None:
    answer = agent.get(PAGE, params={"as_of": "2026-03-10"})
    assert answer.status_code == 200, answer.text
    words = text(answer.text)
    assert "Aikajana: asiakas c1" in words
    assert "maanantai 2. maaliskuuta 2026" in words
    assert "torstai 5. maaliskuuta 2026" in words
    # the order at 11.00 Helsinki time, at the order touchpoint owned by sales
    order = answer.text[answer.text.index('id="e-o1"'):answer.text.index('id="gap-o1"')]
    assert "11.00" in order and "Tilaus" in order and "Verkkokauppa" in order
    assert "Myynti" in text(order) and "order: A-1" in order
    assert "Lupaus rikottu" in order and "Toimitettu 48 tunnin kuluessa tilauksesta" in order
    assert "käytetty 3\u00a0vrk 5\u00a0h, raja 2\u00a0vrk" in order
    # the gap sits between the order and the delivery, and names the hand-off
    gap = answer.text[answer.text.index('id="gap-o1"'):answer.text.index('id="e-d1"')]
    assert "Luovutus: Myynti → Logistiikka, 3\u00a0vrk 5\u00a0h" in text(gap)
    assert "Rikkoi sitoumuksen: Toimitettu 48 tunnin kuluessa tilauksesta" in text(gap)
    # the answer inline, after the delivery, linked to the response
    assert answer.text.index('id="e-d1"') < answer.text.index('id="r-r001"')
    assert "NPS 2" in answer.text and "Kolme päivää hiljaisuutta" in answer.text
    assert 'href="/w/my-company/responses/r001"' in answer.text
    assert 'id="e-o2"' not in answer.text  # nobody else's events


def test_the_timeline_in_english(agent: TestClient) -> None:
    agent.get("/language/en")
    words = text(agent.get(PAGE, params={"as_of": "2026-03-10"}).text)
    assert "Timeline: customer c1" in words
    assert "Monday, 2 March 2026" in words
    assert "Order" in words and "Sales" in words and "Web shop" in words
    assert "Promise broken" in words and "Delivered within 48 h of the order" in words
    assert "used 3\u00a0d 5\u00a0h, limit 2\u00a0d" in words
    assert "Hand-off: Sales → Logistics, 3\u00a0d 5\u00a0h" in words


def test_as_of_shows_the_clock_running(agent: TestClient) -> None:
    words = text(agent.get(PAGE, params={"as_of": "2026-03-02"}).text)
    assert "Kesken" in words and "Lupaus rikottu" not in words and "Luovutus" not in words
    assert "torstai" not in words  # the delivery came later
    bad = agent.get(PAGE, params={"as_of": "eilen"})
    assert bad.status_code == 422 and "Päivä ei kelpaa" in bad.text


def test_an_account_shows_its_people_together(agent: TestClient) -> None:
    answer = agent.get("/w/my-company/accounts/acme", params={"as_of": "2026-03-10"})
    assert answer.status_code == 200
    assert "Aikajana: yritysasiakas acme" in text(answer.text)
    assert 'id="e-o3"' in answer.text and 'id="e-d3"' in answer.text
    assert 'href="/w/my-company/customers/p2"' in answer.text


def test_unknown_customer_is_the_not_found_page(agent: TestClient) -> None:
    for path in ("/w/my-company/customers/nobody", "/w/my-company/accounts/nobody"):
        answer = agent.get(path)
        assert answer.status_code == 404
        assert "Työtilaa ei löydy" in answer.text


def test_the_responses_browser_links_to_the_timeline(agent: TestClient) -> None:
    html = agent.get("/w/my-company/responses").text
    assert 'href="/w/my-company/customers/c1"' in html
