"""GET /api/v1/customers/{id}/timeline and /api/v1/accounts/{id}/timeline over the real
stores: the events, answers and verdicts with the hand-off, as_of, and 404 for the unknown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from kokemus.bootstrap import Kokemus
from kokemus.services import access
from kokemus.services import workspaces as workspace_service
from kokemus.services.ingest import ingest_accounts, ingest_customers, ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.workspace import document
from tests.conftest import STARTER
from tests.web.test_surveys_pages import response, store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
D = timedelta(days=1)


@pytest.fixture
def history(kk: Kokemus, workspace: ActiveWorkspace) -> None:
    ingest_events([
        {"id": "o1", "type": "order_placed", "customer": "c1", "channel": "web",
         "occurred_at": T0.isoformat(), "properties": {"order": "A-1"}},
        {"id": "d1", "type": "delivered", "customer": "c1", "channel": "web",
         "occurred_at": (T0 + 3 * D).isoformat()},
        {"id": "o2", "type": "order_placed", "customer": "p1", "channel": "web",
         "account": "acme", "occurred_at": T0.isoformat()},
        {"id": "d2", "type": "delivered", "customer": "p2", "channel": "web",
         "occurred_at": (T0 + D).isoformat()},
    ], workspace, kk.events)
    ingest_accounts([{"id": "acme", "name": "Acme Oy", "stakeholders": [
        {"customer": "p1", "role": "decider"}, {"customer": "p2", "role": "finance"}]}],
        workspace, kk.db)
    store(kk, workspace, [{**response(1, nps=2, comment="Myöhässä"), "customer": "c1",
                           "started_at": T0 + 3 * D + timedelta(hours=2)}])


def test_a_customers_timeline(client: TestClient, auth: dict[str, str], history: None) -> None:
    answer = client.get("/api/v1/customers/c1/timeline",
                        params={"as_of": "2026-03-10T00:00:00Z"}, headers=auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["customer"] == "c1" and body["account"] is None
    assert body["time_zone"] == "Europe/Helsinki"
    assert [(e["id"], e["touchpoint"], e["department"]) for e in body["events"]] == [
        ("o1", "order", "sales"), ("d1", "delivery", "logistics")]
    assert body["events"][0]["properties"] == {"order": "A-1"}
    [answered] = body["responses"]
    assert (answered["nps"], answered["comment"], answered["department"]) == (
        2, "Myöhässä", "logistics")
    [promise] = body["promises"]
    assert (promise["promise"], promise["commitment"], promise["verdict"]) == (
        "fast-delivery", "delivered-48h", "broken")
    assert promise["used_s"] == 3 * 86400 and promise["limit_s"] == 48 * 3600
    assert promise["gap"] == {
        "seconds": 3 * 86400.0, "from_event": "o1", "to_event": "d1",
        "from_time": "2026-03-02T09:00:00Z", "to_time": "2026-03-05T09:00:00Z",
        "from_touchpoint": "order", "to_touchpoint": "delivery",
        "from_department": "sales", "to_department": "logistics"}


def test_as_of_leaves_out_what_came_later(client: TestClient, auth: dict[str, str],
                                          history: None) -> None:
    body = client.get("/api/v1/customers/c1/timeline", params={"as_of": "2026-03-03T09:00"},
                      headers=auth).json()
    assert [e["id"] for e in body["events"]] == ["o1"]
    assert body["responses"] == []
    [promise] = body["promises"]
    assert promise["verdict"] == "open" and promise["at_risk"] is False
    assert promise["gap"] is None
    assert body["as_of"].startswith("2026-03-03T09:00:00")


def test_an_accounts_timeline_takes_its_people(client: TestClient, auth: dict[str, str],
                                               history: None) -> None:
    answer = client.get("/api/v1/accounts/acme/timeline",
                        params={"as_of": "2026-03-10T00:00:00Z"}, headers=auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["account"] == "acme" and body["people"] == ["p1", "p2"]
    assert [(e["id"], e["customer"]) for e in body["events"]] == [("o2", "p1"), ("d2", "p2")]


def test_unknown_ids_are_404_in_the_error_shape(client: TestClient, auth: dict[str, str],
                                                kk: Kokemus, workspace: ActiveWorkspace,
                                                history: None) -> None:
    for path in ("/api/v1/customers/nobody/timeline", "/api/v1/accounts/nobody/timeline"):
        answer = client.get(path, headers=auth)
        assert answer.status_code == 404
        assert answer.json()["error"] == "not_found"
    # a customer known only in the app store has an empty timeline, not a 404
    ingest_customers([{"id": "quiet"}], workspace, kk.db)
    body = client.get("/api/v1/customers/quiet/timeline", headers=auth).json()
    assert body["events"] == body["responses"] == body["promises"] == []


def test_needs_the_read_scope(client: TestClient, kk: Kokemus, workspace: ActiveWorkspace,
                              history: None) -> None:
    key = access.create_key(kk.db, workspace.slug, "ingest-only", {"ingest"})
    answer = client.get("/api/v1/customers/c1/timeline",
                        headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 403
    assert client.get("/api/v1/customers/c1/timeline").status_code == 401


def test_a_bad_as_of_is_422(client: TestClient, auth: dict[str, str], history: None) -> None:
    answer = client.get("/api/v1/customers/c1/timeline", params={"as_of": "eilen"},
                        headers=auth)
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid"


def test_a_segment_condition_reads_the_customers_own_segments(
        client: TestClient, auth: dict[str, str], kk: Kokemus, workspace: ActiveWorkspace,
        history: None) -> None:
    text = STARTER.read_text(encoding="utf-8").replace(
        "        within: 48h\n", "        within: 48h\n        segments: [households]\n", 1)
    assert "segments: [households]" in text
    workspace_service.apply(kk.db, document.loads(text))
    ingest_customers([{"id": "c1", "segments": ["households"]}, {"id": "p1"}], workspace,
                     kk.db)
    params = {"as_of": "2026-03-10T00:00:00Z"}
    mine = client.get("/api/v1/customers/c1/timeline", params=params, headers=auth).json()
    assert [p["verdict"] for p in mine["promises"]] == ["broken"]
    theirs = client.get("/api/v1/accounts/acme/timeline", params=params, headers=auth).json()
    assert [p["verdict"] for p in theirs["promises"]] == ["not_applicable"]
