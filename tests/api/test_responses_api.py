"""Invitations and responses through the API, over the real stores."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.services import access, feedback
from kokemus.services.ingest import ingest_customers
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses


@pytest.fixture
def people(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    ingest_customers([{"id": "aino", "language": "fi"}, {"id": "emma", "language": "en"}],
                     workspace, kk.db)


def test_invitation_gives_a_working_link(client: TestClient, auth: dict[str, str],
                                         kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
                                         people: None) -> None:
    made = client.post("/api/v1/invitations", headers=auth,
                       json={"survey": "after-delivery", "customer": "emma", "channel": "web"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert set(body) == {"id", "link", "expires_at"}
    link = urlsplit(body["link"])
    assert f"{link.scheme}://{link.netloc}" == kk.settings.base_url
    assert datetime.fromisoformat(body["expires_at"]) > datetime.now(UTC)
    stored = feedback.get_invitation(kk.db, body["id"])
    assert stored is not None
    assert (stored["customer"], stored["channel"], stored["touchpoint"]) == (
        "emma", "web", "delivery")
    page = client.get(link.path + "?embed=1")
    assert page.status_code == 200 and "After delivery" in page.text
    client.post(link.path, data={"shown": "recommend", "recommend": "10", "embed": "1"})
    row = responses.get(kk.events, workspace.id, body["id"])
    assert row is not None and row["source"] == "widget" and row["channel"] == "web"


def test_invitation_errors(client: TestClient, auth: dict[str, str], people: None) -> None:
    unknown = client.post("/api/v1/invitations", headers=auth,
                          json={"survey": "nope", "customer": "emma"})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "unknown_survey"
    assert unknown.json()["known"] == ["after-delivery"]
    nobody = client.post("/api/v1/invitations", headers=auth,
                         json={"survey": "after-delivery", "customer": "nobody"})
    assert nobody.status_code == 404 and "nobody" in nobody.json()["message"]
    extra = client.post("/api/v1/invitations", headers=auth,
                        json={"survey": "after-delivery", "customer": "emma", "colour": "red"})
    assert extra.status_code == 422
    assert client.post("/api/v1/invitations", json={"survey": "after-delivery",
                                                     "customer": "emma"}).status_code == 401


def test_response_saved_then_updated_by_the_same_id(client: TestClient, auth: dict[str, str],
                                                    kk: bootstrap.Kokemus,
                                                    workspace: ActiveWorkspace,
                                                    people: None) -> None:
    first = client.post("/api/v1/responses", headers=auth, json={
        "id": "call-1", "survey": "after-delivery", "customer": "aino", "channel": "phone",
        "answers": {"recommend": 5}})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["id"] == "call-1" and body["revision"] == 1 and body["complete"] is False
    assert body["source"] == "api" and body["channel"] == "phone"
    assert body["language"] == "fi" and body["nps"] == 5 and "workspace_id" not in body
    second = client.post("/api/v1/responses", headers=auth, json={
        "id": "call-1", "survey": "after-delivery", "channel": "phone",
        "answers": {"why": "Slow", "effort": 3}, "complete": True})
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["revision"] == 2 and body["complete"] is True and body["customer"] == "aino"
    assert body["answers"] == {"recommend": 5, "effort": 3, "why": "Slow"}
    assert responses.count(kk.events, workspace.id) == 1
    read = client.get("/api/v1/responses/call-1", headers=auth)
    assert read.status_code == 200
    assert read.json()["answers"] == body["answers"] and read.json()["comment"] == "Slow"
    # Without an id every post is a new response (a kiosk's anonymous answer).
    kiosk = client.post("/api/v1/responses", headers=auth, json={
        "survey": "after-delivery", "channel": "web", "language": "en",
        "answers": {"recommend": 10}, "complete": True})
    assert kiosk.status_code == 200 and kiosk.json()["id"] != "call-1"
    assert kiosk.json()["customer"] is None and kiosk.json()["language"] == "en"
    assert responses.count(kk.events, workspace.id) == 2


def test_invalid_answers_name_each_question(client: TestClient, auth: dict[str, str],
                                            kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
                                            people: None) -> None:
    client.post("/api/v1/responses", headers=auth, json={
        "id": "r1", "survey": "after-delivery", "answers": {"recommend": 9}})
    bad = client.post("/api/v1/responses", headers=auth, json={
        "id": "r1", "survey": "after-delivery",
        "answers": {"recommend": 11, "effort": "easy", "colour": "red"}})
    assert bad.status_code == 422
    problems = {p["question"]: p["reason"] for p in bad.json()["problems"]}
    assert problems == {"colour": "no such question in this survey",
                        "recommend": "11 is outside the scale 0-10",
                        "effort": "expected a number on the scale 1-7, got the text 'easy'"}
    required = client.post("/api/v1/responses", headers=auth, json={
        "survey": "after-delivery", "answers": {"effort": 2}, "complete": True})
    assert required.status_code == 422
    assert required.json()["problems"] == [{"question": "recommend",
                                            "reason": "an answer is required"}]
    row = responses.get(kk.events, workspace.id, "r1")
    assert row is not None and row["answers"] == {"recommend": 9} and row["revision"] == 1
    assert responses.count(kk.events, workspace.id) == 1


def test_unknown_survey_customer_and_touchpoint(client: TestClient, auth: dict[str, str],
                                                people: None) -> None:
    survey = client.post("/api/v1/responses", headers=auth,
                         json={"survey": "nope", "answers": {}})
    assert survey.status_code == 404 and survey.json()["known"] == ["after-delivery"]
    customer = client.post("/api/v1/responses", headers=auth, json={
        "survey": "after-delivery", "customer": "ghost", "answers": {"recommend": 1}})
    assert customer.status_code == 404 and customer.json()["error"] == "unknown_customer"
    touchpoint = client.post("/api/v1/responses", headers=auth, json={
        "survey": "after-delivery", "touchpoint": "moon", "answers": {"recommend": 1}})
    assert touchpoint.status_code == 404
    assert touchpoint.json()["known"] == ["delivery", "order"]
    extra = client.post("/api/v1/responses", headers=auth, json={
        "survey": "after-delivery", "answers": {}, "score": 5})
    assert extra.status_code == 422
    assert client.get("/api/v1/responses/none", headers=auth).status_code == 404


def test_response_to_an_invitation_answers_it(client: TestClient, auth: dict[str, str],
                                              kk: bootstrap.Kokemus, people: None) -> None:
    made = client.post("/api/v1/invitations", headers=auth, json={
        "survey": "after-delivery", "customer": "emma", "channel": "phone"}).json()
    saved = client.post("/api/v1/responses", headers=auth, json={
        "id": made["id"], "survey": "after-delivery", "answers": {"recommend": 8},
        "complete": True})
    assert saved.status_code == 200
    assert saved.json()["invitation"] == made["id"] and saved.json()["customer"] == "emma"
    stored = feedback.get_invitation(kk.db, made["id"])
    assert stored is not None and stored["status"] == "answered"
    # The link is then used up.
    assert client.get(urlsplit(made["link"]).path).status_code == 410
    other = client.post("/api/v1/responses", headers=auth, json={
        "id": made["id"], "survey": "after-delivery", "customer": "aino", "answers": {}})
    assert other.status_code == 409


def test_scopes(client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    reader = access.create_key(kk.db, workspace.slug, "reader", {"read"})
    headers = {"Authorization": f"Bearer {reader}"}
    post = client.post("/api/v1/responses", headers=headers,
                       json={"survey": "after-delivery", "answers": {}})
    assert post.status_code == 403
    assert client.get("/api/v1/responses/x", headers=headers).status_code == 404
