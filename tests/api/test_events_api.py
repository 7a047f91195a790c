"""POST /api/v1/events: batches, idempotency, per-item rejects, bad input, auth."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from kokemus.bootstrap import Kokemus
from kokemus.services import access
from kokemus.services.workspaces import ActiveWorkspace


def event(i: int, **changes: Any) -> dict[str, Any]:
    base = {"id": f"e{i}", "type": "order_placed", "customer": f"c{i % 3}", "channel": "web",
            "occurred_at": "2026-03-01T10:00:00+02:00", "properties": {"sum": i}}
    base.update(changes)
    return base


def stored(kk: Kokemus, ws: ActiveWorkspace) -> list[tuple[Any, ...]]:
    with kk.events.reading() as cur:
        return cur.execute(
            "SELECT id, seq, type, touchpoint, occurred_at, properties FROM events "
            "WHERE workspace_id = ? ORDER BY seq", [ws.id]).fetchall()


def test_batch_is_stored_with_mapped_touchpoints_and_utc_times(
        client: TestClient, auth: dict[str, str], kk: Kokemus, workspace: ActiveWorkspace) -> None:
    batch = [event(1), event(2, type="delivered"), event(3, type="page_viewed")]
    answer = client.post("/api/v1/events", json=batch, headers=auth)
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    rows = stored(kk, workspace)
    assert [(r[0], r[3]) for r in rows] == [("e1", "order"), ("e2", "delivery"), ("e3", None)]
    assert rows[0][4].isoformat() == "2026-03-01T08:00:00+00:00"
    assert rows[0][5] == '{"sum":1}'


def test_single_event_object_is_accepted(
        client: TestClient, auth: dict[str, str], kk: Kokemus, workspace: ActiveWorkspace) -> None:
    answer = client.post("/api/v1/events", json=event(7), headers=auth)
    assert answer.json()["accepted"] == 1
    assert len(stored(kk, workspace)) == 1


def test_retried_batch_stores_nothing_twice_and_sequence_grows(
        client: TestClient, auth: dict[str, str], kk: Kokemus, workspace: ActiveWorkspace) -> None:
    batch = [event(i) for i in range(50)]
    first = client.post("/api/v1/events", json=batch, headers=auth).json()
    again = client.post("/api/v1/events", json=[*batch, event(50)], headers=auth).json()
    assert first == {"accepted": 50, "duplicates": 0, "rejected": []}
    assert again == {"accepted": 1, "duplicates": 50, "rejected": []}
    rows = stored(kk, workspace)
    assert len(rows) == 51
    seqs = [r[1] for r in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == 51
    assert rows[-1][0] == "e50"


def test_duplicate_ids_within_one_batch_are_stored_once(
        client: TestClient, auth: dict[str, str], kk: Kokemus, workspace: ActiveWorkspace) -> None:
    answer = client.post("/api/v1/events", json=[event(1), event(1)], headers=auth).json()
    assert answer["accepted"] == 1 and answer["duplicates"] == 1
    assert len(stored(kk, workspace)) == 1


def test_bad_items_are_rejected_by_index_and_good_ones_kept(
        client: TestClient, auth: dict[str, str], kk: Kokemus, workspace: ActiveWorkspace) -> None:
    batch = [
        event(0),
        event(1, occurred_at="2026-03-01T10:00:00"),
        event(2, colour="red"),
        event(3, channel="fax"),
        {"id": "e4", "type": "order_placed"},
        event(5, touchpoint="nowhere"),
        event(6),
        "not an object",
        '{"id": "e8", "type": "order_placed", "customer": "c", "channel": "web", '
        '"occurred_at": "2026-03-01T10:00:00Z"}',
    ]
    answer = client.post("/api/v1/events", json=batch, headers=auth)
    assert answer.status_code == 200
    body = answer.json()
    assert body["accepted"] == 2
    reasons = {r["index"]: r["reason"] for r in body["rejected"]}
    # A string is not an event, even one holding an event's JSON.
    assert sorted(reasons) == [1, 2, 3, 4, 5, 7, 8]
    assert reasons[1] == "occurred_at: Input should have timezone info"
    assert reasons[2] == "colour: unknown field"
    assert "unknown channel 'fax'" in reasons[3]
    assert "customer: required field is missing" in reasons[4]
    assert "unknown touchpoint 'nowhere'" in reasons[5]
    assert [r[0] for r in stored(kk, workspace)] == ["e0", "e6"]


def test_all_rejected_is_422(client: TestClient, auth: dict[str, str]) -> None:
    answer = client.post("/api/v1/events", json=[event(1, occurred_at="yesterday")],
                         headers=auth)
    assert answer.status_code == 422
    assert answer.json()["rejected"][0]["index"] == 0


def test_malformed_json_is_400_and_stores_nothing(
        client: TestClient, auth: dict[str, str], kk: Kokemus, workspace: ActiveWorkspace) -> None:
    client.post("/api/v1/events", json=[event(1)], headers=auth)
    answer = client.post("/api/v1/events", content=b'[{"id": "e2", ', headers={
        **auth, "Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_json"
    assert [r[0] for r in stored(kk, workspace)] == ["e1"]


def test_oversized_batch_is_413_and_stores_nothing(
        client: TestClient, auth: dict[str, str], kk: Kokemus, workspace: ActiveWorkspace) -> None:
    answer = client.post("/api/v1/events", json=[event(i) for i in range(10_001)], headers=auth)
    assert answer.status_code == 413
    assert answer.json() == {
        "error": "batch_too_large", "limit": 10_000,
        "message": "a batch holds at most 10000 items; this one has 10001"}
    assert stored(kk, workspace) == []


def test_empty_batch_is_422(client: TestClient, auth: dict[str, str]) -> None:
    answer = client.post("/api/v1/events", json=[], headers=auth)
    assert answer.status_code == 422 and answer.json()["error"] == "empty_batch"


def test_missing_unknown_and_revoked_keys_are_401(
        client: TestClient, kk: Kokemus, workspace: ActiveWorkspace) -> None:
    assert client.post("/api/v1/events", json=[event(1)]).status_code == 401
    wrong = {"Authorization": "Bearer kk_deadbeef_nope"}
    answer = client.post("/api/v1/events", json=[event(1)], headers=wrong)
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
    key = access.create_key(kk.db, workspace.slug, "old", {"ingest"})
    access.revoke_key(kk.db, key.split("_")[1])
    answer = client.post("/api/v1/events", json=[event(1)],
                         headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 401


def test_key_without_ingest_scope_is_403(
        client: TestClient, kk: Kokemus, workspace: ActiveWorkspace) -> None:
    key = access.create_key(kk.db, workspace.slug, "reader", {"read"})
    answer = client.post("/api/v1/events", json=[event(1)],
                         headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 403
    assert "lacks the 'ingest' scope" in answer.json()["message"]


def test_another_workspace_is_403_whether_it_exists_or_not(
        client: TestClient, auth: dict[str, str], kk: Kokemus) -> None:
    from kokemus.services import workspaces
    from kokemus.workspace import document
    from tests.conftest import STARTER

    answer = client.post("/api/v1/events", json=[event(1)],
                         headers={**auth, "X-Kokemus-Workspace": "no-such"})
    assert answer.status_code == 403 and answer.json()["error"] == "forbidden"
    unknown = answer.json()
    other = document.loads(STARTER.read_text().replace("workspace: my-company",
                                                       "workspace: other"))
    workspaces.apply(kk.db, other)
    answer = client.post("/api/v1/events", json=[event(1)],
                         headers={**auth, "X-Kokemus-Workspace": "other"})
    assert answer.status_code == 403 and answer.json() == unknown  # existence not confirmed


def test_one_workspace_never_sees_another_workspaces_data(
        client: TestClient, auth: dict[str, str], kk: Kokemus) -> None:
    from kokemus.services import workspaces
    from kokemus.workspace import document
    from tests.conftest import STARTER

    workspaces.apply(kk.db, document.loads(
        STARTER.read_text().replace("workspace: my-company", "workspace: other")))
    other_key = access.create_key(kk.db, "other", "o", {"ingest", "read"})
    other_auth = {"Authorization": f"Bearer {other_key}"}
    client.post("/api/v1/events", json=[event(1), event(2)], headers=auth)
    # The same event id in another workspace is a different event, not a duplicate.
    assert client.post("/api/v1/events", json=[event(1)], headers=other_auth).json()[
        "accepted"] == 1
    client.post("/api/v1/customers", json={"id": "c1", "name": "Anna"}, headers=auth)
    assert client.get("/api/v1/stats", headers=auth).json() == {
        "events": 2, "customers": 1, "accounts": 0}
    assert client.get("/api/v1/stats", headers=other_auth).json() == {
        "events": 1, "customers": 0, "accounts": 0}
    assert client.get("/api/v1/customers/c1", headers=other_auth).status_code == 404


def test_openapi_document_describes_ingestion(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    body = spec["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"][1]["maxItems"] == 10_000
    event_schema = spec["components"]["schemas"]["Event"]
    assert event_schema["additionalProperties"] is False
    assert {"id", "type", "customer", "channel", "occurred_at"} <= set(event_schema["required"])


def test_revoked_key_stops_working_once_its_cache_entry_expires(
        client: TestClient, kk: Kokemus, workspace: ActiveWorkspace) -> None:
    key = access.create_key(kk.db, workspace.slug, "soon revoked", {"ingest"})
    headers = {"Authorization": f"Bearer {key}"}
    assert client.post("/api/v1/events", json=[event(1)], headers=headers).status_code == 200
    access.revoke_key(kk.db, key.split("_")[1])
    client.app.state.keys.seconds = 0  # type: ignore[attr-defined]
    assert client.post("/api/v1/events", json=[event(2)], headers=headers).status_code == 401
