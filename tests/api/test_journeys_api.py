"""GET /api/v1/journeys/...: the analyses over HTTP, scoped to the key's workspace."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kokemus.bootstrap import Kokemus
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace


def seed(kk: Kokemus, workspace: ActiveWorkspace) -> None:
    rows = [("e1", "c1", "order_placed", "2026-01-01T10:00:00Z"),
            ("e2", "c1", "delivered", "2026-01-02T10:00:00Z"),
            ("e3", "c2", "order_placed", "2026-01-05T10:00:00Z")]
    ingest_events([{"id": i, "customer": c, "type": t, "channel": "web", "occurred_at": ts}
                   for i, c, t, ts in rows], workspace, kk.events)


def test_dfg_and_variants(client: TestClient, auth: dict[str, str], kk: Kokemus,
                          workspace: ActiveWorkspace) -> None:
    seed(kk, workspace)
    dfg = client.get("/api/v1/journeys/dfg", params={"journey": "purchase"}, headers=auth)
    assert dfg.json() == {"n": 1, "rows": [{"source": "order", "target": "delivery",
                                             "count": 1, "median_s": 86400.0,
                                             "p90_s": 86400.0}]}
    variants = client.get("/api/v1/journeys/variants", headers=auth).json()
    assert [(r["variant"], r["cases"]) for r in variants["rows"]] == [
        (["order"], 1), (["order", "delivery"], 1)]
    later = client.get("/api/v1/journeys/variants", params={"since": "2026-01-03T00:00:00Z"},
                       headers=auth).json()
    assert [r["variant"] for r in later["rows"]] == [["order"]]


def test_unknown_journey_is_404(client: TestClient, auth: dict[str, str]) -> None:
    answer = client.get("/api/v1/journeys/dfg", params={"journey": "x"}, headers=auth)
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


def test_channels_and_committee(client: TestClient, auth: dict[str, str], kk: Kokemus,
                                workspace: ActiveWorkspace) -> None:
    seed(kk, workspace)
    switching = client.get("/api/v1/journeys/channels", headers=auth).json()
    assert switching["pairs"]["rows"][0]["from_channel"] == "web"
    assert switching["multichannel"]["rows"] == [
        {"cases": 2, "multichannel_cases": 0, "share": 0.0}]
    committee = client.get("/api/v1/journeys/committee", headers=auth).json()
    assert committee["accounts"]["n"] == 0  # the starter shop sells to households only


def test_conformance_dropoff_funnel(client: TestClient, auth: dict[str, str], kk: Kokemus,
                                    workspace: ActiveWorkspace) -> None:
    seed(kk, workspace)
    result = client.get("/api/v1/journeys/purchase/conformance", headers=auth).json()
    assert result["conformance"]["rows"][0]["cases"] == 2
    assert result["conformance"]["rows"][0]["fitness"] == 1.0
    lost = client.get("/api/v1/journeys/purchase/dropoff", headers=auth).json()
    assert lost["outcomes"]["rows"] == [{"reached": 1, "in_flight": 1, "lost": 0}]
    steps = client.get("/api/v1/journeys/funnel", params={"step": ["order", "delivery"]},
                       headers=auth).json()
    assert [r["cases"] for r in steps["rows"]] == [2, 1]
    assert client.get("/api/v1/journeys/nope/conformance", headers=auth).status_code == 404


def test_segment_and_outcome(client: TestClient, auth: dict[str, str], kk: Kokemus,
                             workspace: ActiveWorkspace) -> None:
    seed(kk, workspace)
    client.post("/api/v1/customers", json={"id": "c2", "segments": ["vip"]}, headers=auth)
    vip = client.get("/api/v1/journeys/variants", params={"segment": "vip"},
                     headers=auth).json()
    assert [r["variant"] for r in vip["rows"]] == [["order"]]
    done = client.get("/api/v1/journeys/dfg", params={"journey": "purchase",
                                                      "outcome": "reached"}, headers=auth)
    assert done.json()["n"] == 1
    assert client.get("/api/v1/journeys/dfg", params={"outcome": "reached"},
                      headers=auth).status_code == 422
