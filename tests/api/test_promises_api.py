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


def test_occurrences_and_costs_take_the_scorecards_filters(client: TestClient, kk: Kokemus,
                                                           workspace: ActiveWorkspace,
                                                           auth: dict[str, str]) -> None:
    # the even orders go by Kiito: of its 20, orders 0-18 kept (10), 20-38 broken (10)
    carried = [{**e, "properties": {"carrier": "Kiito" if int(str(e["id"]).split("-")[-1]) % 2
                                    == 0 else "Rahtisiili"}}
               if e["type"] == "order_placed" else e for e in events(40)]
    ingest_events(carried, workspace, kk.events)
    kiito = {"as_of": AS_OF, "where": "property:carrier=Kiito"}
    listed = client.get("/api/v1/promises/occurrences", params={**kiito, "verdict": "broken"},
                        headers=auth).json()
    assert listed["total"] == 10 and listed["where"] == ["property:carrier=Kiito"]
    assert {o["customer"] for o in listed["occurrences"]} == {f"c{i}" for i in range(20, 40, 2)}
    both = client.get("/api/v1/promises/occurrences", headers=auth, params=[
        ("verdict", "kept"), ("as_of", AS_OF), ("where", "property:carrier=Kiito"),
        ("where", "commitment=delivered-48h"), ("where", "event:delivered=yes")]).json()
    assert both["total"] == 10
    everyone = client.get("/api/v1/promises/occurrences",
                          params={"verdict": "broken", "as_of": AS_OF}, headers=auth).json()
    assert everyone["total"] == 21 and "where" not in everyone

    costs = client.get("/api/v1/promises/costs", params=kiito, headers=auth).json()
    assert costs["where"] == ["property:carrier=Kiito"]
    first = costs["commitments"][0]
    assert first["commitment"] == "delivered-48h"
    assert (first["kept"]["occurrences"], first["broken"]["occurrences"]) == (10, 10)

    # the same refusals as the scorecard's, with the known properties named
    for route in ("/api/v1/promises", "/api/v1/promises/occurrences", "/api/v1/promises/costs"):
        for bad in ("carrier=Kiito", "event:delivered=maybe", "property:colour=red",
                    "event:nope=yes", "property:carrier"):
            refused = client.get(route, params={"verdict": "broken", "where": bad},
                                 headers=auth)
            assert refused.status_code == 422, (route, bad)
        named = client.get(route, params={"verdict": "broken", "where": "property:colour=red"},
                           headers=auth).json()
        assert "carrier" in named["message"], route
        many = [("verdict", "broken")] + [("where", "channel=web")] * 9
        assert client.get(route, params=many, headers=auth).status_code == 422, route
