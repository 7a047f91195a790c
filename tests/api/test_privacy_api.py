"""Export, erasure and consent through the API: scopes, answers and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from kokemus.bootstrap import Kokemus
from kokemus.domain.events import Customer
from kokemus.services import access, audit
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_export_erase_and_consents(client: TestClient, kk: Kokemus,
                                   workspace: ActiveWorkspace, auth: dict[str, str]) -> None:
    people.upsert_customers(kk.db, workspace.id, [
        Customer(id="aino", email="aino@example.fi", name="Aino Aalto")], NOW)
    event = {"id": "o-1", "type": "order_placed", "customer": "aino", "channel": "web",
             "occurred_at": "2026-05-01T10:00:00+03:00", "properties": {"phone": "040 123"}}
    assert client.post("/api/v1/events", json=event, headers=auth).status_code in (200, 202)
    secret = access.create_key(kk.db, workspace.slug, "dpo", {"admin"})
    admin = {"Authorization": f"Bearer {secret}"}
    prefix = secret.split("_")[1]

    # consent: recorded with ingest, read with read
    stated = client.post("/api/v1/customers/aino/consents", headers=auth, json={
        "purpose": "marketing", "granted": True, "channel": "web", "text_version": "v2",
        "at": "2026-05-02T09:00:00Z"})
    assert stated.status_code == 201 and stated.json()["purpose"] == "marketing"
    bad = client.post("/api/v1/customers/aino/consents", headers=auth,
                      json={"purpose": "spam", "granted": True})
    assert bad.status_code == 422
    read = client.get("/api/v1/customers/aino/consents", headers=auth).json()
    assert read["current"]["marketing"]["allowed"] is True
    assert read["current"]["device_actions"] == {"allowed": False, "by": "default"}
    assert [h["text_version"] for h in read["history"]] == ["v2"]

    # export and erasure need admin
    assert client.get("/api/v1/customers/aino/export", headers=auth).status_code == 403
    assert client.delete("/api/v1/customers/aino", headers=auth).status_code == 403
    exported = client.get("/api/v1/customers/aino/export", headers=admin)
    assert exported.status_code == 200
    body = exported.json()
    assert body["customer"]["name"] == "Aino Aalto"
    assert body["events"][0]["properties"] == {"phone": "040 123"}
    assert body["consents"]["history"][0]["channel"] == "web"
    assert client.get("/api/v1/customers/nobody/export", headers=admin).status_code == 404

    erased = client.delete("/api/v1/customers/aino", headers=admin)
    assert erased.status_code == 200
    assert {k: erased.json()[k] for k in ("profile", "events", "consents", "mode")} == {
        "profile": True, "events": 1, "consents": 1, "mode": "anonymize"}
    assert client.get("/api/v1/customers/aino", headers=auth).status_code == 404
    assert client.delete("/api/v1/customers/aino", headers=admin).status_code == 404
    entries, _ = audit.entries(kk.db, workspace=workspace.slug)
    assert [(e["action"], e["actor"]) for e in entries[:2]] == [
        ("customer.erase", f"key:{prefix}"), ("customer.export", f"key:{prefix}")]
    with kk.events.reading() as cur:
        assert cur.execute("SELECT count(*) FROM events WHERE customer = 'aino' "
                           "OR properties IS NOT NULL").fetchall() == [(0,)]
