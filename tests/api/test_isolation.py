"""Workspaces kept apart on the API: every route walked with a key of another workspace
(all scopes) and the first workspace's own identifiers. Nothing of the first workspace may
come back, nothing of it may change, and no route may fail with a 5xx."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.services import access, cases, consents
from kokemus.services import workspaces as workspace_service
from kokemus.services.ingest import ingest_customers, ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people, responses
from kokemus.workspace import document
from tests.conftest import STARTER
from tests.web.test_roles import routes
from tests.web.test_surveys_pages import response, store

# identifiers and words that exist only in the first workspace
SECRET_CUSTOMER = "salainen-asiakas"
SECRETS = (SECRET_CUSTOMER, "salainen-tilaus", "Salainen kommentti", "salainen@example.fi",
           "salainen-tili", "Salainen tapaus")
PARAMS = {"customer_id": SECRET_CUSTOMER, "response_id": "r007", "journey": "purchase",
          "account_id": "salainen-tili", "number": "1"}
BODIES: dict[str, Any] = {
    "/api/v1/events": {"id": "salainen-tilaus", "type": "order_placed",
                       "customer": SECRET_CUSTOMER, "channel": "web",
                       "occurred_at": "2026-03-02T09:00:00+00:00"},
    "/api/v1/customers": {"id": SECRET_CUSTOMER, "name": "Vieras"},
    "/api/v1/accounts": {"id": "salainen-tili", "name": "Vieras Oy"},
    "/api/v1/invitations": {"survey": "after-delivery", "customer": SECRET_CUSTOMER},
    "/api/v1/responses": {"id": "r007", "survey": "after-delivery",
                          "customer": SECRET_CUSTOMER, "channel": "web",
                          "answers": {"recommend": 0}, "complete": True},
    "/api/v1/customers/{customer_id}/consents": {"purpose": "marketing", "granted": True},
    "/api/v1/cases/{number}": {"state": "closed", "note": "vieras"},
    "/api/v1/cases/{number}/notes": {"body": "vieras"},
}


@pytest.fixture
def two(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> dict[str, Any]:
    ingest_customers([{"id": SECRET_CUSTOMER, "email": "salainen@example.fi",
                       "account": "salainen-tili"}], workspace, kk.db)
    ingest_events([{"id": "salainen-tilaus", "type": "order_placed",
                    "customer": SECRET_CUSTOMER, "channel": "web",
                    "occurred_at": "2026-03-02T09:00:00+00:00"}], workspace, kk.events)
    store(kk, workspace, [{**response(7, nps=9, comment="Salainen kommentti"),
                           "customer": SECRET_CUSTOMER}])
    with kk.db.begin() as conn:
        cases.open_case(conn, workspace.id, department="logistics", title="Salainen tapaus",
                        customer=SECRET_CUSTOMER, account=None, priority="high", rule=None,
                        cause=None, action_id=None, sla_due_at=None, now=datetime.now(UTC))
    other = document.load(STARTER).model_copy(update={"workspace": "other-company"})
    workspace_service.apply(kk.db, other)
    key = access.create_key(kk.db, "other-company", "theirs",
                            {"ingest", "read", "cases", "admin"})
    return {"auth": {"Authorization": f"Bearer {key}"},
            "other": workspace_service.get(kk.db, "other-company")}


def api_routes(client: TestClient) -> list[tuple[str, str]]:
    return sorted((method, route.path) for route in routes(client.app.routes)  # type: ignore[attr-defined]
                  if route.path.startswith("/api/v1")
                  for method in (route.methods or set()) - {"HEAD"})


def test_no_route_gives_or_changes_another_workspaces_data(
    client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace, two: dict[str, Any]
) -> None:
    walked = api_routes(client)
    assert len(walked) >= 25
    for method, path in walked:
        url = path.format(**PARAMS)
        body = BODIES.get(path)
        answer = client.request(method, url, headers=two["auth"],
                                content=json.dumps(body) if body is not None else None)
        assert answer.status_code < 500, (method, path, answer.text)
        sent = url + json.dumps(body)
        for secret in SECRETS:  # what the caller sent may be echoed; nothing else may come
            if secret not in sent:
                assert secret not in answer.text, (method, path, secret)
        # naming the first workspace outright is refused
        named = client.request(method, url, headers={**two["auth"],
                                                      "X-Kokemus-Workspace": "my-company"},
                               content=json.dumps(body) if body is not None else None)
        assert named.status_code == 403, (method, path, named.status_code)
    # the first workspace is as it was: its customer, its answer, its consents
    kept = people.get_customer(kk.db, workspace.id, SECRET_CUSTOMER)
    assert kept is not None and kept["email"] == "salainen@example.fi"
    mine = responses.get(kk.events, workspace.id, "r007")
    assert mine is not None and mine["nps"] == 9 and mine["comment"] == "Salainen kommentti"
    assert consents.history(kk.db, workspace.id, SECRET_CUSTOMER) == []
    case = cases.get(kk.db, workspace.id, 1)
    assert case.state == "new" and len(cases.history(kk.db, case)) == 1
    with kk.events.reading() as cur:
        count = cur.execute("SELECT count(*) FROM events WHERE workspace_id = ?",
                            [workspace.id]).fetchone()
    assert count is not None and count[0] == 1
