"""Who may see what in the web UI: every workspace page and form walked with every role,
an instance administrator, and an owner of another workspace (who gets 404, never data).

The expected permission of each route is written down here; a route that is not listed
fails the walk, so a new page cannot be added without saying who may see it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route

from kokemus import bootstrap
from kokemus.domain.roles import Permission, Role
from kokemus.services import access, cases
from kokemus.services import rules as rule_service
from kokemus.services import workspaces as workspace_service
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.workspace import document
from tests.conftest import STARTER
from tests.web.test_pages import PASSWORD, csrf, log_in
from tests.web.test_surveys_pages import response, store

# (method, path) -> the permission it needs. Paths as the router declares them.
EXPECTED: dict[tuple[str, str], Permission] = {
    ("GET", "/w/{slug}"): Permission.VIEW,
    ("GET", "/w/{slug}/journeys/{journey_id}"): Permission.VIEW,
    ("GET", "/w/{slug}/journeys/{journey_id}/variants"): Permission.VIEW,
    ("GET", "/w/{slug}/responses"): Permission.VIEW,
    ("GET", "/w/{slug}/responses/{response_id}"): Permission.VIEW,
    ("GET", "/w/{slug}/customers/{customer_id}"): Permission.VIEW,
    ("GET", "/w/{slug}/accounts/{account_id}"): Permission.VIEW,
    ("GET", "/w/{slug}/cases"): Permission.VIEW,
    ("GET", "/w/{slug}/cases/{number}"): Permission.VIEW,
    ("POST", "/w/{slug}/cases"): Permission.WORK,
    ("POST", "/w/{slug}/cases/{number}/assign"): Permission.WORK,
    ("POST", "/w/{slug}/cases/{number}/state"): Permission.WORK,
    ("POST", "/w/{slug}/cases/{number}/notes"): Permission.WORK,
    ("GET", "/w/{slug}/cases/recovery"): Permission.ANALYSE,
    ("GET", "/w/{slug}/scores"): Permission.ANALYSE,
    ("GET", "/w/{slug}/promises"): Permission.ANALYSE,
    ("GET", "/w/{slug}/value"): Permission.ANALYSE,
    ("GET", "/w/{slug}/gaps"): Permission.ANALYSE,
    ("GET", "/w/{slug}/drivers"): Permission.ANALYSE,
    ("GET", "/w/{slug}/signals"): Permission.ANALYSE,
    ("GET", "/w/{slug}/report"): Permission.ANALYSE,
    ("GET", "/w/{slug}/surveys"): Permission.ANALYSE,
    ("GET", "/w/{slug}/surveys/{survey_id}"): Permission.ANALYSE,
    ("GET", "/w/{slug}/surveys/new"): Permission.EDIT,
    ("POST", "/w/{slug}/surveys/new"): Permission.EDIT,
    ("POST", "/w/{slug}/surveys/{survey_id}"): Permission.EDIT,
    ("POST", "/w/{slug}/surveys/{survey_id}/trigger"): Permission.EDIT,
    ("POST", "/w/{slug}/surveys/{survey_id}/remove"): Permission.EDIT,
    ("GET", "/w/{slug}/surveys/{survey_id}/build"): Permission.ANALYSE,
    ("POST", "/w/{slug}/surveys/{survey_id}/build"): Permission.EDIT,
    ("POST", "/w/{slug}/surveys/{survey_id}/tests/clear"): Permission.EDIT,
    ("GET", "/w/{slug}/rules"): Permission.ANALYSE,
    ("GET", "/w/{slug}/rules/{rule_id}"): Permission.ANALYSE,
    ("POST", "/w/{slug}/rules/{rule_id}/preview"): Permission.ANALYSE,
    ("GET", "/w/{slug}/rules/new"): Permission.EDIT,
    ("POST", "/w/{slug}/rules/{rule_id}"): Permission.EDIT,
    ("GET", "/w/{slug}/actions"): Permission.ANALYSE,
    ("POST", "/w/{slug}/actions/retry"): Permission.EDIT,
    ("GET", "/w/{slug}/audit"): Permission.MANAGE,
    ("GET", "/w/{slug}/members"): Permission.MANAGE,
    ("POST", "/w/{slug}/members"): Permission.MANAGE,
    # before the revoke below, which takes the agent's role (and departments) away
    ("POST", "/w/{slug}/members/{username}/departments"): Permission.MANAGE,
    ("POST", "/w/{slug}/members/{username}/revoke"): Permission.MANAGE,
    ("POST", "/w/{slug}/keys"): Permission.MANAGE,
    ("POST", "/w/{slug}/keys/{prefix}/revoke"): Permission.MANAGE,
    ("GET", "/w/{slug}/privacy"): Permission.MANAGE,
    ("GET", "/w/{slug}/privacy/export"): Permission.MANAGE,
    ("POST", "/w/{slug}/privacy/erase"): Permission.MANAGE,
}
VALUES = {"slug": "my-company", "journey_id": "purchase", "survey_id": "after-delivery",
          "response_id": "r001", "username": "agent", "prefix": "", "customer_id": "c1",
          "account_id": "a1", "number": "1", "rule_id": "broken-order"}
# Words only the workspace's own pages show: none may reach an outsider.
SECRETS = ("Yritykseni", "Ostopolku", "Toimitus kahdessa päivässä", "Kone tuli rikki",
           "Tilaus", "Pesukone saapui rikki")


def routes(items: list[Any]) -> list[APIRoute | Route]:
    """Every route, through included routers (FastAPI keeps them as their own objects)."""
    flat: list[APIRoute | Route] = []
    for item in items:
        inner = getattr(item, "original_router", None)
        if inner is not None:
            flat += routes(inner.routes)
        elif isinstance(item, APIRoute | Route):
            flat.append(item)
    return flat


def workspace_routes(client: TestClient) -> list[tuple[str, str]]:
    found = []
    for route in routes(client.app.routes):  # type: ignore[attr-defined]
        if route.path.startswith("/w/{slug}"):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                found.append((method, route.path))
    return found


@pytest.fixture
def people(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> dict[str, ActiveWorkspace]:
    other = document.load(STARTER).model_copy(update={"workspace": "other-company"})
    workspace_service.apply(kk.db, other)
    ingest_events([{"id": "e1", "type": "order_placed", "customer": "c1", "channel": "web",
                    "account": "a1", "occurred_at": "2026-03-02T09:00:00+00:00"}],
                  workspace, kk.events)
    store(kk, workspace, [response(1, nps=3, comment="Kone tuli rikki")])
    rule_service.add_rule(kk.db, "my-company", (
        "id: broken-order\nname: {fi: Rikki, en: Broken}\nenabled: false\n"
        "when: {on: event, event: order_placed}\nactions:\n"
        "- {do: case, department: logistics, title: {fi: Rikki, en: Broken}}\n"), "root")
    for role in Role:
        access.create_user(kk.db, role.value, PASSWORD)
        access.grant(kk.db, role.value, "my-company", role)
    # a case of the agent's department: the case pages are walked with it
    cases.set_departments(kk.db, workspace, "agent", ["logistics"])
    with kk.db.begin() as conn:
        cases.open_case(conn, workspace.id, department="logistics",
                        title="Pesukone saapui rikki", customer="c1", account=None,
                        priority="high", rule=None, cause=None, action_id=None,
                        sla_due_at=None, now=datetime.now(UTC))
    access.create_user(kk.db, "outsider", PASSWORD)
    access.grant(kk.db, "outsider", "other-company", Role.OWNER)
    access.create_user(kk.db, "root", PASSWORD, admin=True)
    VALUES["prefix"] = access.create_key(kk.db, "my-company", "crm", {"ingest"}).split("_")[1]
    return {"mine": workspace, "other": workspace_service.get(kk.db, "other-company")}


def call(client: TestClient, method: str, path: str) -> tuple[int, str]:
    url = path.format(**VALUES)
    if method == "GET":
        answer = client.get(url, follow_redirects=False)
    else:
        token = csrf(client.get("/login").text) if "csrf" in client.get("/login").text else ""
        answer = client.post(url, data={"csrf": token, "text": "id: x", "version": "1"},
                             follow_redirects=False)
    return answer.status_code, answer.text


def test_every_workspace_route_says_who_may_use_it(client: TestClient) -> None:
    assert sorted(workspace_routes(client)) == sorted(EXPECTED)


@pytest.mark.parametrize("role", list(Role))
def test_each_role_reaches_what_it_may_and_nothing_more(
    client: TestClient, people: dict[str, ActiveWorkspace], role: Role
) -> None:
    assert log_in(client, username=role.value).status_code == 200
    for (method, path), permission in EXPECTED.items():
        status, html = call(client, method, path)
        if role.allows(permission):
            assert status not in (403, 404), (role, method, path, status)
        else:
            assert status == 403, (role, method, path, status)
            assert "Ei oikeutta" in html
            for secret in ("Kone tuli rikki", "id: after-delivery", "Pesukone saapui rikki"):
                assert secret not in html, (role, path, secret)
    # the other workspace does not exist for them, not even in the selector
    assert client.get("/w/other-company").status_code == 404
    assert "other-company" not in client.get("/w/my-company").text


def test_a_user_of_another_workspace_gets_404_and_no_data(
    client: TestClient, people: dict[str, ActiveWorkspace]
) -> None:
    log_in(client, username="outsider")
    for method, path in EXPECTED:
        status, html = call(client, method, path)
        assert status == 404, (method, path, status)
        for secret in SECRETS[2:]:
            assert secret not in html, (path, secret)
    # an unknown workspace answers exactly like one they may not see: no confirmation
    unknown = client.get("/w/no-such-company")
    hidden = client.get("/w/my-company")
    assert unknown.status_code == hidden.status_code == 404
    assert (unknown.text.replace("no-such-company", "X")
            == hidden.text.replace("my-company", "X"))
    # their own workspace works, and the home page shows it alone
    home = client.get("/")
    assert home.url.path == "/"
    assert 'id="ws-other-company"' in home.text and 'id="ws-my-company"' not in home.text


def test_an_administrator_reaches_every_workspace(
    client: TestClient, people: dict[str, ActiveWorkspace]
) -> None:
    log_in(client, username="root")
    for method, path in EXPECTED:
        status, _ = call(client, method, path)
        assert status not in (403, 404), (method, path, status)
    page = client.get("/w/my-company").text
    assert "other-company" in page  # the selector lists both


def test_an_analyst_reads_a_survey_but_gets_no_save_button(
    client: TestClient, people: dict[str, ActiveWorkspace]
) -> None:
    log_in(client, username="analyst")
    page = client.get("/w/my-company/surveys/after-delivery").text
    assert "readonly" in page
    assert "Tallenna" not in page and "/remove" not in page
    nav = client.get("/w/my-company").text
    assert "/w/my-company/scores" in nav and "/w/my-company/audit" not in nav
    log_in(client, username="agent")
    nav = client.get("/w/my-company").text
    assert "/w/my-company/responses" in nav
    assert "/w/my-company/scores" not in nav and "/w/my-company/surveys" not in nav


def test_a_revoked_role_is_gone_on_the_next_request(
    client: TestClient, kk: bootstrap.Kokemus, people: dict[str, ActiveWorkspace]
) -> None:
    log_in(client, username="editor")
    assert client.get("/w/my-company/surveys").status_code == 200
    access.grant(kk.db, "editor", "my-company", Role.AGENT)
    assert client.get("/w/my-company/surveys").status_code == 403
    access.revoke(kk.db, "editor", "my-company")
    assert client.get("/w/my-company").status_code == 404
    page = client.get("/")
    assert "kokemus users grant editor WORKSPACE" in page.text


def test_a_user_without_any_role_sees_how_to_get_one(
    client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    access.create_user(kk.db, "newcomer", PASSWORD)
    page = log_in(client, username="newcomer")
    assert page.status_code == 200
    assert re.search(r"kokemus users grant newcomer WORKSPACE", page.text)
    assert "Yritykseni" not in page.text


@pytest.mark.parametrize("path", ["/w/my-company/scores", "/w/my-company/responses",
                                  "/w/my-company/journeys/purchase",
                                  "/w/my-company/journeys/purchase/variants"])
def test_dates_past_the_calendars_edge_are_a_named_422_on_every_page(
    client: TestClient, people: dict[str, ActiveWorkspace], path: str
) -> None:
    log_in(client, username="owner")
    for query in ({"to": "9999-12-31"}, {"from": "0001-01-01"}, {"to": "2026-02-30"}):
        page = client.get(path, params=query)
        assert page.status_code == 422, (path, query)
        assert "ei ole päivämäärä" in page.text, (path, query)
    assert client.get(path, params={"from": "2026-01-01", "to": "2026-12-31"}
                      ).status_code == 200
