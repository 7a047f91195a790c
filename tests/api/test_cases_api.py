"""/api/v1/cases for a help desk that mirrors cases: list with filters, changes since a
moment, one case with its history, changes with the key as who, every refusal a documented
status with the one error shape, and nothing of another workspace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.domain.roles import Role
from kokemus.services import access
from kokemus.services import cases as service
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.workspace import document
from tests.conftest import STARTER

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def open_case(kk: bootstrap.Kokemus, ws: ActiveWorkspace, action: str, *,
              department: str = "logistics", customer: str = "c1",
              minutes: int = 0) -> None:
    with kk.db.begin() as conn:
        service.open_case(conn, ws.id, department=department,
                          title={"fi": "Kone rikki", "en": "Machine broken"},
                          customer=customer, account=None, priority="high", rule="damaged",
                          cause="e1", action_id=action, sla_due_at=None,
                          now=T0 + timedelta(minutes=minutes))


@pytest.fixture
def desk(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> dict[str, str]:
    """Three cases, an agent of logistics, and keys: read only, and a help desk's."""
    access.create_user(kk.db, "aino", "salasana123")
    access.grant(kk.db, "aino", workspace.slug, Role.AGENT)
    service.set_departments(kk.db, workspace, "aino", ["logistics"])
    open_case(kk, workspace, "a1")
    open_case(kk, workspace, "a2", customer="c2", minutes=1)
    open_case(kk, workspace, "a3", department="customer-service", customer="c3", minutes=2)
    read = access.create_key(kk.db, workspace.slug, "bi", {"read"})
    helpdesk = access.create_key(kk.db, workspace.slug, "helpdesk", {"read", "cases"})
    return {"read": f"Bearer {read}", "desk": f"Bearer {helpdesk}",
            "prefix": helpdesk.split("_")[1]}


def test_list_filters_and_pages(client: TestClient, desk: dict[str, str]) -> None:
    headers = {"Authorization": desk["read"]}
    answer = client.get("/api/v1/cases", headers=headers)
    assert answer.status_code == 200
    body = answer.json()
    assert body["total"] == 3 and [c["number"] for c in body["cases"]] == [3, 2, 1]
    first = body["cases"][2]
    assert first["title"] == {"fi": "Kone rikki", "en": "Machine broken"}
    assert (first["state"], first["priority"], first["department"], first["rule"]) == (
        "new", "high", "logistics", "damaged")
    assert first["sla_due_at"] == "2026-03-03T09:00:00Z"  # the default policy: 1 d, high
    for query, numbers in (("department=logistics", [2, 1]),
                           ("department=logistics&department=customer-service", [3, 2, 1]),
                           ("customer=c2", [2]), ("state=resolved", []),
                           ("state=new&limit=1&offset=1", [2]), ("open=true", [3, 2, 1]),
                           ("unassigned=true", [3, 2, 1]), ("assignee=nobody", [])):
        found = client.get(f"/api/v1/cases?{query}", headers=headers).json()
        assert [c["number"] for c in found["cases"]] == numbers, query
    assert client.get("/api/v1/cases?state=done", headers=headers).status_code == 422
    assert client.get("/api/v1/cases?limit=0", headers=headers).status_code == 422


def test_a_help_desk_works_a_case_and_mirrors_the_changes(
        client: TestClient, desk: dict[str, str], kk: bootstrap.Kokemus,
        workspace: ActiveWorkspace) -> None:
    headers = {"Authorization": desk["desk"]}
    start = datetime.now(UTC) - timedelta(seconds=1)
    answer = client.patch("/api/v1/cases/2", headers=headers,
                          json={"assignee": "aino", "state": "in_progress",
                                "note": "Soitettu asiakkaalle"})
    assert answer.status_code == 200, answer.text
    case = answer.json()
    assert (case["state"], case["assignee"]) == ("in_progress", "aino")
    assert [(h["kind"], h["state"] or h["assignee"] or h["body"], h["actor"])
            for h in case["history"]] == [
        ("opened", "new", "rule:damaged"), ("assigned", "aino", f"key:{desk['prefix']}"),
        ("state", "assigned", f"key:{desk['prefix']}"),
        ("state", "in_progress", f"key:{desk['prefix']}"),
        ("note", "Soitettu asiakkaalle", f"key:{desk['prefix']}")]
    note = client.post("/api/v1/cases/2/notes", headers=headers, json={"body": "Uusi kone"})
    assert note.status_code == 201 and note.json()["history"][-1]["body"] == "Uusi kone"
    # what changed since the mirror last looked: the least recently changed first
    changed = client.get("/api/v1/cases", headers=headers,
                         params={"updated_since": start.isoformat()}).json()
    assert [c["number"] for c in changed["cases"]] == [2]
    mine = client.get("/api/v1/cases?assignee=aino", headers=headers).json()
    assert [c["number"] for c in mine["cases"]] == [2]
    got = client.get("/api/v1/cases/2", headers={"Authorization": desk["read"]}).json()
    assert got["history"][-1]["body"] == "Uusi kone"


def test_refusals_are_documented_errors(client: TestClient, desk: dict[str, str],
                                        kk: bootstrap.Kokemus,
                                        workspace: ActiveWorkspace) -> None:
    headers = {"Authorization": desk["desk"]}
    bad = client.patch("/api/v1/cases/1", headers=headers, json={"state": "resolved"})
    assert bad.status_code == 409
    assert bad.json() == {
        "error": "invalid_move", "state": "new", "allowed": ["assigned"],
        "message": "a case in state 'new' cannot move to 'resolved' (from new: assigned)"}
    # all or nothing: the assignment goes with the refused move
    both = client.patch("/api/v1/cases/1", headers=headers,
                        json={"assignee": "aino", "state": "closed"})
    assert both.status_code == 409 and service.get(kk.db, workspace.id, 1).assignee is None
    other = client.patch("/api/v1/cases/3", headers=headers, json={"assignee": "aino"})
    assert other.status_code == 422 and other.json()["error"] == "invalid"
    assert "does not work for department 'customer-service'" in other.json()["message"]
    assert client.patch("/api/v1/cases/1", headers=headers, json={}).status_code == 422
    assert client.patch("/api/v1/cases/1", headers=headers,
                        json={"state": "new", "colour": "red"}).status_code == 422
    assert client.patch("/api/v1/cases/1", headers=headers,
                        json={"note": "   "}).status_code == 422
    missing = client.patch("/api/v1/cases/99", headers=headers, json={"note": "x"})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert client.get("/api/v1/cases/99", headers=headers).status_code == 404
    # a read-only key reads, and changes nothing
    refused = client.patch("/api/v1/cases/1", headers={"Authorization": desk["read"]},
                           json={"note": "x"})
    assert refused.status_code == 403 and "'cases' scope" in refused.json()["message"]
    assert client.get("/api/v1/cases").status_code == 401


def test_another_workspaces_key_sees_none_of_these_cases(
        client: TestClient, desk: dict[str, str], kk: bootstrap.Kokemus) -> None:
    workspace_service.apply(kk.db, document.load(STARTER).model_copy(
        update={"workspace": "other-company"}))
    key = access.create_key(kk.db, "other-company", "x", {"read", "cases"})
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/cases", headers=headers).json() == {"total": 0, "cases": []}
    assert client.get("/api/v1/cases/1", headers=headers).status_code == 404
    assert client.patch("/api/v1/cases/1", headers=headers,
                        json={"note": "x"}).status_code == 404


def test_the_recovery_report_and_the_openapi_document(client: TestClient,
                                                      desk: dict[str, str]) -> None:
    headers = {"Authorization": desk["read"]}
    answer = client.get("/api/v1/cases/recovery", headers=headers)
    assert answer.status_code == 200
    body = answer.json()
    assert body["with_case"]["detractors"] == 0 and body["difference"]["value"] is None
    assert body["window_s"] == 30 * 86400
    bad = client.get("/api/v1/cases/recovery?window=soon", headers=headers)
    assert bad.status_code == 422 and bad.json()["problems"][0]["loc"] == ["query", "window"]
    paths = client.get("/api/openapi.json").json()["paths"]
    assert set(paths["/api/v1/cases/{number}"]["patch"]["responses"]) == {
        "200", "400", "401", "403", "404", "409", "413", "422"}
    assert set(paths["/api/v1/cases"]["get"]["responses"]) == {
        "200", "401", "403", "404", "413", "422"}
