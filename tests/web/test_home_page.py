"""The home page over the real stores: each workspace's week (the last 7 days against the 7
before) as the scores API and the promises scorecard count the same data, and what each role
sees of it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.analytics import headlines
from kokemus.services import access
from kokemus.services import cases as case_service
from kokemus.services import promises as promise_service
from kokemus.services import workspaces as workspace_service
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses
from kokemus.web import home
from kokemus.workspace import document
from tests.conftest import STARTER
from tests.web.test_pages import log_in

PASSWORD = "salasana123"
# The last 7 days: 60 promoters, 20 passives, 40 detractors (NPS 17); the 7 before: 30, 20,
# 70 (NPS -33). A move of 50 points on 120 answers each: beyond the interval.
AFTER = [10] * 60 + [7] * 20 + [3] * 40
BEFORE = [9] * 30 + [8] * 20 + [0] * 70


def answer(i: int, at: datetime, nps: int, workspace_id: int) -> dict[str, Any]:
    return {"workspace_id": workspace_id, "id": f"r{i:04d}", "survey": "after-delivery",
            "invitation": None, "customer": f"c{i}", "account": None, "role": None,
            "segments": [], "touchpoint": "delivery", "channel": "web", "source": "api",
            "language": "fi", "event_id": None, "answers": json.dumps({"recommend": nps}),
            "nps": nps, "ces": 2 + i % 6, "csat": 1 + i % 5, "comment": None,
            "complete": True, "started_at": at, "updated_at": at, "revision": 1}


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def week(kk: bootstrap.Kokemus, workspace: ActiveWorkspace, now: datetime) -> headlines.Week:
    """Answers and orders in both periods of the week that ends today."""
    w = headlines.Week.ending(now.date())
    rows = []
    for period, scores in (("after", AFTER), ("before", BEFORE)):
        start, _ = w.moments(period)
        base = len(rows)
        rows += [answer(base + i, start + timedelta(minutes=70 * i), nps, workspace.id)
                 for i, nps in enumerate(scores)]
    # one answer from before the week, one from the future: in neither period
    rows.append(answer(9001, w.moments("before")[0] - timedelta(seconds=1), 0, workspace.id))
    responses.insert_many(kk.events, pa.Table.from_pylist(rows, schema=responses.SCHEMA))
    # orders: in the week before, 40 delivered in a day and 10 in three days; in the last
    # days, 30 in a day and 30 in three (the late ones' deliveries may be after now: open)
    events = []
    for period, fast, slow in (("before", 40, 10), ("after", 30, 30)):
        start, _ = w.moments(period)
        for i in range(fast + slow):
            ordered = start + timedelta(hours=2 * i)
            customer = f"{period}-{i}"
            events.append({"id": f"o-{customer}", "type": "order_placed",
                           "customer": customer, "channel": "web",
                           "occurred_at": ordered.isoformat()})
            delivered = ordered + timedelta(days=1 if i < fast else 3)
            if delivered < now:
                events.append({"id": f"d-{customer}", "type": "delivered",
                               "customer": customer, "channel": "web",
                               "occurred_at": delivered.isoformat()})
    ingest_events(events, workspace, kk.events)
    return w


def test_the_week_is_what_the_scores_api_and_the_scorecard_count(
    client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace, auth: dict[str, str],
    week: headlines.Week, now: datetime
) -> None:
    with kk.events.reading() as cursor:
        found = headlines.week(cursor, workspace.id, now, min_n=30,
                               commitments=promise_service.clocked(workspace),
                               business_hours=workspace.document.business_hours)
    assert found.week == week
    assert found.responses == (len(BEFORE), len(AFTER))
    api = client.get("/api/v1/scores/compare", headers=auth, params={
        "before": f"{week.before[0]}..{week.before[1]}",
        "after": f"{week.after[0]}..{week.after[1]}"})
    assert api.status_code == 200, api.text
    changes = api.json()["changes"]
    for kind in ("nps", "ces", "csat"):
        mine = found.changes[kind]
        assert mine.after.as_dict() == changes[kind]["after"], kind
        assert mine.before.as_dict() == changes[kind]["before"], kind
        assert mine.significant == changes[kind]["significant"], kind
    assert round(found.changes["nps"].after.value or 0) == 17
    assert round(found.changes["nps"].before.value or 0) == -33
    assert found.changes["nps"].significant
    # the keep rate: what the promises scorecard counts for the occurrences of each period
    for period in ("before", "after"):
        start, end = week.moments(period)
        card = promise_service.scorecard(kk, workspace, promise_service.Period(now, start, end))
        rate = card.cards[0].overall
        assert rate is not None
        side = found.changes["keep_rate"].before if period == "before" else \
            found.changes["keep_rate"].after
        assert side.n == rate.kept + rate.broken, period
        assert side.value == rate.rate.value, period
    before = found.changes["keep_rate"].before
    assert before.n == 50 and before.value == pytest.approx(80.0)  # 40 kept of 50


def test_the_page_shows_the_figures_and_the_direction(
    client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
    week: headlines.Week
) -> None:
    access.create_user(kk.db, "anna", PASSWORD)
    access.grant(kk.db, "anna", workspace.slug, "analyst")
    log_in(client)
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    nps = re.search(r'<li class="headline" id="ws-my-company-nps" data-direction="(\w+)">'
                    r'(.*?)</li>', html, re.S)
    assert nps, html
    assert nps.group(1) == "up"
    text = re.sub(r"<[^>]+>", " ", nps.group(2))
    assert "17" in text and "\u221233" in text and "▲ nousi +50" in text
    assert "luottamusvälin ulkopuolella" in text
    assert re.search(r'id="ws-my-company-responses".*?<span class="stat-value">120</span>',
                     html, re.S)
    assert f"{week.after[0].day}.{week.after[0].month}.\u2013" in html

    client.get("/language/en")
    english = client.get("/").text
    assert "▲ up +50" in english and "beyond the interval" in english


def test_each_role_sees_its_own_workspaces_and_figures(
    client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
    week: headlines.Week
) -> None:
    other = document.load(STARTER).model_copy(update={"workspace": "other-company"})
    workspace_service.apply(kk.db, other, source="test")
    now = datetime.now(UTC)
    for n, department in enumerate(("logistics", "logistics", "sales")):
        with kk.db.begin() as conn:
            case_service.open_case(conn, workspace.id, department=department, title="Tapaus",
                                   customer=f"c{n}", account=None, priority="normal",
                                   rule="r", cause=None, action_id=f"a{n}",
                                   sla_due_at=now + timedelta(days=1), now=now)
    access.create_user(kk.db, "aino", PASSWORD)
    access.grant(kk.db, "aino", workspace.slug, "agent")
    case_service.set_departments(kk.db, workspace, "aino", ["logistics"])
    access.create_user(kk.db, "root", PASSWORD, admin=True)

    # an agent: her workspace only, responses and her departments' open cases, no scores
    log_in(client, "aino")
    html = client.get("/").text
    assert 'id="ws-my-company"' in html and 'id="ws-other-company"' not in html
    assert re.search(r'id="ws-my-company-cases".*?<span class="stat-value">2</span>', html,
                     re.S)
    assert 'id="ws-my-company-nps"' not in html and 'id="ws-my-company-keep_rate"' not in html
    assert "asiakaspalvelija" in html
    assert re.search(r'id="ws-my-company-responses".*?<span class="stat-value">120</span>',
                     html, re.S)
    client.post("/logout", data={"csrf": re.search(r'name="csrf" value="([^"]+)"',
                                                   html).group(1)})  # type: ignore[union-attr]

    # an administrator: every workspace, every figure, every open case
    log_in(client, "root")
    html = client.get("/").text
    assert 'id="ws-my-company-nps"' in html and 'id="ws-other-company-nps"' in html
    assert re.search(r'id="ws-my-company-cases".*?<span class="stat-value">3</span>', html,
                     re.S)
    assert "ylläpitäjä" in html


def test_signed_out_the_home_page_asks_for_a_sign_in(client: TestClient,
                                                      workspace: ActiveWorkspace) -> None:
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"


def test_a_user_without_a_role_gets_the_empty_page(client: TestClient, kk: bootstrap.Kokemus,
                                                   workspace: ActiveWorkspace) -> None:
    access.create_user(kk.db, "anna", PASSWORD)
    log_in(client)
    page = client.get("/")
    assert page.status_code == 200 and 'class="home-card"' not in page.text


def test_a_headline_without_enough_answers_is_not_judged() -> None:
    from kokemus.domain import scores

    few = scores.nps(5, 0, 0, 30)
    many = scores.nps(20, 10, 10, 30)
    shown = home.headline("nps", scores.change(few, many), "en")
    assert shown.direction == "none" and shown.difference == "" and not shown.significant
    assert not shown.before_enough and shown.enough


def test_a_share_moves_in_percentage_points() -> None:
    from kokemus.domain import scores

    change = scores.change(scores.keep_rate(40, 50, 30), scores.keep_rate(30, 50, 30))
    assert home.headline("keep_rate", change, "fi").difference == "\u221220\u00a0%-yks."
    assert home.headline("keep_rate", change, "en").difference == "\u221220\u00a0pp"
    nps = scores.change(scores.nps(30, 10, 10, 30), scores.nps(20, 10, 20, 30))
    assert home.headline("nps", nps, "en").difference == "\u221240"  # NPS 40 -> 0: its points
