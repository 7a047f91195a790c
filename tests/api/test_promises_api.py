"""GET /api/v1/promises: the scorecard, the occurrences and the costs over the real stores."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kokemus.bootstrap import Kokemus
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from tests.web.test_pages import events

AS_OF = "2026-04-01T00:00:00Z"


def test_scorecard_occurrences_and_costs(client: TestClient, kk: Kokemus,
                                         workspace: ActiveWorkspace,
                                         auth: dict[str, str]) -> None:
    ingest_events(events(40), workspace, kk.events)  # 19 kept, 21 broken (48 h)
    card = client.get("/api/v1/promises", params={"as_of": AS_OF}, headers=auth).json()
    (commitment,) = card["commitments"]
    overall = commitment["overall"]
    assert (overall["kept"], overall["broken"], overall["open"]) == (19, 21, 0)
    assert overall["keep_rate"]["value"] == 47.5 and overall["keep_rate"]["n"] == 40
    assert round(overall["keep_rate"]["low"], 2) == 32.94
    assert commitment["limit_s"] == 48 * 3600 and card["min_occurrences"] == 30
    assert sum(w["kept"] for w in commitment["weeks"]) == 19
    by_channel = client.get("/api/v1/promises", params={"as_of": AS_OF, "by": "channel"},
                            headers=auth).json()
    assert [g["key"] for g in by_channel["commitments"][0]["groups"]] == ["web"]
    assert client.get("/api/v1/promises", params={"by": "colour"},
                      headers=auth).status_code == 422

    listed = client.get("/api/v1/promises/occurrences",
                        params={"verdict": "broken", "as_of": AS_OF, "limit": 5},
                        headers=auth).json()
    assert listed["total"] == 21 and len(listed["occurrences"]) == 5
    assert all(o["verdict"] == "broken" for o in listed["occurrences"])
    unknown = client.get("/api/v1/promises/occurrences",
                         params={"verdict": "broken", "commitment": "nope"}, headers=auth)
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_commitment"

    costs = client.get("/api/v1/promises/costs", params={"as_of": AS_OF},
                       headers=auth).json()
    assert costs["commitments"][0]["commitment"] == "delivered-48h"
    assert client.get("/api/v1/promises").status_code == 401
