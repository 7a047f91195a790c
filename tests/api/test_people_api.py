"""Customers and B2B accounts with stakeholders, by API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kokemus.bootstrap import Kokemus
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people


def test_customers_are_created_and_replaced(
        client: TestClient, auth: dict[str, str]) -> None:
    batch = [{"id": "c1", "email": "anna@example.fi", "language": "fi", "segments": ["households"]},
             {"id": "c2", "email": "not-an-email"},
             {"id": "c3", "language": "de"}]
    answer = client.post("/api/v1/customers", json=batch, headers=auth).json()
    assert answer["accepted"] == 1
    assert [r["index"] for r in answer["rejected"]] == [1, 2]
    client.post("/api/v1/customers", json={"id": "c1", "name": "Anna", "language": "en"},
                headers=auth)
    got = client.get("/api/v1/customers/c1", headers=auth).json()
    assert got["name"] == "Anna" and got["language"] == "en"


def test_account_stakeholders_get_their_buying_roles(
        client: TestClient, auth: dict[str, str], kk: Kokemus,
        workspace: ActiveWorkspace) -> None:
    client.post("/api/v1/customers", json={"id": "p1", "name": "Pekka"}, headers=auth)
    account = {"id": "a1", "name": "Maanrakennus Oy", "stakeholders": [
        {"customer": "p1", "role": "decider"}, {"customer": "p2", "role": "researcher"}]}
    answer = client.post("/api/v1/accounts", json=account, headers=auth)
    assert answer.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert people.account_stakeholders(kk.db, workspace.id, "a1") == [
        {"id": "p1", "role": "decider"}, {"id": "p2", "role": "researcher"}]
    # The known person keeps their name; the new one is created.
    assert people.get_customer(kk.db, workspace.id, "p1")["name"] == "Pekka"  # type: ignore[index]
    stats = client.get("/api/v1/stats", headers=auth).json()
    assert stats == {"events": 0, "customers": 2, "accounts": 1}


def test_account_without_name_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    answer = client.post("/api/v1/accounts", json=[{"id": "a1"}], headers=auth)
    assert answer.status_code == 422
    assert answer.json()["rejected"] == [{"index": 0, "reason": "name: required field is missing"}]
