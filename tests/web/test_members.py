"""Owners manage their workspace's people, keys and customers' personal data in the UI."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.domain.events import Customer
from kokemus.domain.privacy import ConsentStatement
from kokemus.services import access, audit, consents
from kokemus.services import workspaces as workspace_service
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people
from kokemus.workspace import document
from tests.conftest import STARTER
from tests.web.test_pages import PASSWORD, csrf, log_in


@pytest.fixture
def owner(client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> TestClient:
    access.create_user(kk.db, "olli", PASSWORD)
    access.grant(kk.db, "olli", workspace.slug, "owner")
    log_in(client, username="olli")
    return client


def token(client: TestClient, path: str = "/w/my-company/members") -> str:
    return csrf(client.get(path).text)


def test_an_owner_adds_a_new_person_whose_password_is_shown_once(
    owner: TestClient, kk: bootstrap.Kokemus
) -> None:
    made = owner.post("/w/my-company/members",
                      data={"username": "uusi", "role": "analyst", "csrf": token(owner)})
    assert made.status_code == 200
    password = re.search(r'id="new-password">.*?<code>([^<]+)</code>', made.text, re.S)
    assert password is not None
    assert password.group(1) not in owner.get("/w/my-company/members").text  # once only
    assert access.list_users(kk.db, "my-company")[1]["roles"] == {"my-company": "analyst"}
    rows, _ = audit.entries(kk.db)
    assert [(r["actor"], r["action"], r["target"]) for r in rows[:2]] == [
        ("user:olli", "role.grant", "uusi"), ("user:olli", "user.create", "uusi")]
    # the new person signs in with it and reads as an analyst
    owner.cookies.clear()
    assert log_in(owner, username="uusi", password=password.group(1)).status_code == 200
    assert owner.get("/w/my-company/scores").status_code == 200
    assert owner.get("/w/my-company/members").status_code == 403


def test_an_owner_changes_and_removes_roles_but_not_their_own(
    owner: TestClient, kk: bootstrap.Kokemus
) -> None:
    access.create_user(kk.db, "eeva", PASSWORD)
    access.grant(kk.db, "eeva", "my-company", "agent")
    changed = owner.post("/w/my-company/members",
                         data={"username": "eeva", "role": "editor", "csrf": token(owner)})
    assert "Käyttäjällä eeva on nyt rooli editor" in changed.text
    assert access.role_in(kk.db, 2, "my-company") == "editor"
    mine = owner.post("/w/my-company/members",
                      data={"username": "olli", "role": "agent", "csrf": token(owner)})
    assert mine.status_code == 422 and "Et voi muuttaa omaa rooliasi" in mine.text
    bad = owner.post("/w/my-company/members",
                     data={"username": "eeva", "role": "boss", "csrf": token(owner)})
    assert bad.status_code == 422 and "Tuntematon rooli" in bad.text
    forged = owner.post("/w/my-company/members/eeva/revoke", data={"csrf": "x"})
    assert forged.status_code == 400 and access.role_in(kk.db, 2, "my-company") == "editor"
    gone = owner.post("/w/my-company/members/eeva/revoke", data={"csrf": token(owner)})
    assert "poistettiin rooli" in gone.text
    assert access.role_in(kk.db, 2, "my-company") is None


def test_keys_are_created_shown_once_and_revoked_only_in_this_workspace(
    owner: TestClient, kk: bootstrap.Kokemus
) -> None:
    made = owner.post("/w/my-company/keys",
                      data={"name": "crm", "scope": ["ingest", "read"], "csrf": token(owner)})
    secret = re.search(r'id="new-key">.*?<code>(kk_[^<]+)</code>', made.text, re.S)
    assert secret is not None
    key = {"Authorization": f"Bearer {secret.group(1)}"}
    none = owner.post("/w/my-company/keys", data={"name": "x", "csrf": token(owner)})
    assert none.status_code == 422 and "scopes must be some of" in none.text
    # a key of another workspace cannot be revoked from here, even by its prefix
    other = document.load(STARTER).model_copy(update={"workspace": "other-company"})
    workspace_service.apply(kk.db, other)
    foreign = access.create_key(kk.db, "other-company", "theirs", {"ingest"})
    refused = owner.post(f"/w/my-company/keys/{foreign.split('_')[1]}/revoke",
                         data={"csrf": token(owner)})
    assert refused.status_code == 404
    assert access.verify_key(kk.db, foreign) is not None
    prefix = secret.group(1).split("_")[1]
    done = owner.post(f"/w/my-company/keys/{prefix}/revoke", data={"csrf": token(owner)})
    assert f"Avain {prefix} mitätöitiin" in done.text
    assert owner.get("/api/v1/scores", headers=key).status_code == 401


def test_an_owner_exports_and_erases_a_customer(
    owner: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    people.upsert_customers(kk.db, workspace.id, [
        Customer(id="aino", email="aino@example.fi", name="Aino Aalto")], now)
    ingest_events([{"id": "o-1", "type": "order_placed", "customer": "aino",
                    "channel": "web", "occurred_at": "2026-05-01T10:00:00+03:00",
                    "properties": {"phone": "040 123"}}], workspace, kk.events)
    consents.record(kk.db, workspace, "aino", ConsentStatement(
        purpose="marketing", granted=True, channel="web", text_version="v2"),
        source="test", actor="test")
    page = owner.get("/w/my-company/privacy?customer=aino")
    assert "Aino Aalto" in page.text and "aino@example.fi" in page.text
    assert re.search(r"Markkinointi: <strong>sallittu</strong>", page.text)
    exported = owner.get("/w/my-company/privacy/export?customer=aino")
    assert exported.headers["content-disposition"].endswith("my-company-aino.json")
    data = json.loads(exported.text)
    assert data["customer"]["name"] == "Aino Aalto"
    assert [e["id"] for e in data["events"]] == ["o-1"]
    assert owner.get("/w/my-company/privacy/export?customer=nobody").status_code == 404
    wrong = owner.post("/w/my-company/privacy/erase", data={
        "customer": "aino", "confirm": "ain", "csrf": token(owner, "/w/my-company/privacy")})
    assert wrong.status_code == 422
    assert people.get_customer(kk.db, workspace.id, "aino") is not None
    erased = owner.post("/w/my-company/privacy/erase", data={
        "customer": "aino", "confirm": "aino", "csrf": token(owner, "/w/my-company/privacy")})
    assert erased.status_code == 200 and 'id="erased"' in erased.text
    assert people.get_customer(kk.db, workspace.id, "aino") is None
    rows, _ = audit.entries(kk.db, workspace="my-company")
    assert [(r["actor"], r["action"]) for r in rows[:2]] == [
        ("user:olli", "customer.erase"), ("user:olli", "customer.export")]
