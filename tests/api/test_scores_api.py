"""GET /api/v1/scores and /api/v1/scores/compare over responses in the real event store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from kokemus.bootstrap import Kokemus
from kokemus.services import access
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses
from tests.analytics.test_scores import many, table_of

MARCH, APRIL = datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 4, 8, tzinfo=UTC)


@pytest.fixture
def answered(kk: Kokemus, workspace: ActiveWorkspace) -> None:
    rows = (many(200, nps=10, ces=6, csat=5, started_at=MARCH, segments=["b2b"])
            + many(120, nps=8, ces=4, csat=3, started_at=MARCH)
            + many(80, nps=3, ces=2, csat=1, started_at=MARCH)
            + many(300, nps=10, started_at=APRIL, channel="web")
            + many(100, nps=0, started_at=APRIL, channel="web")
            + many(10, nps=0, touchpoint="support", started_at=APRIL))
    responses.insert_many(kk.events, table_of(rows, workspace_id=workspace.id))


def test_overall_and_by_touchpoint(client: TestClient, auth: dict[str, str],
                                   answered: None) -> None:
    answer = client.get("/api/v1/scores", params={"since": "2026-03-01",
                                                  "until": "2026-04-01"}, headers=auth)
    assert answer.status_code == 200
    body = answer.json()
    assert body["min_answers"] == 30
    nps = body["overall"]["nps"]
    assert nps["n"] == 400 and nps["value"] == pytest.approx(30.0)
    assert round(nps["low"]) == 22 and round(nps["high"]) == 37 and nps["enough"]
    assert body["overall"]["csat"]["value"] == pytest.approx(50.0)
    groups = client.get("/api/v1/scores", params={"by": "touchpoint"},
                        headers=auth).json()["groups"]
    assert [(g["key"], g["nps"]["n"], g["nps"]["enough"]) for g in groups] == [
        ("delivery", 800, True), ("support", 10, False)]


def test_filters_and_trends(client: TestClient, auth: dict[str, str], answered: None) -> None:
    def get(**params: str) -> dict[str, object]:
        answer = client.get("/api/v1/scores", params=params, headers=auth)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    web = get(channel="web")["overall"]
    assert web["nps"]["n"] == 400 and web["nps"]["value"] == 50.0  # type: ignore[index]
    assert get(segment="b2b")["overall"]["nps"]["n"] == 200  # type: ignore[index]
    months = get(by="month")["groups"]
    assert [(m["key"], m["nps"]["n"]) for m in months] == [  # type: ignore[attr-defined]
        ("2026-03-01", 400), ("2026-04-01", 410)]


def test_compare_two_periods(client: TestClient, auth: dict[str, str], answered: None) -> None:
    answer = client.get("/api/v1/scores/compare", headers=auth, params={
        "before": "2026-03-01..2026-03-31", "after": "2026-04-01..2026-04-30",
        "touchpoint": "delivery"})
    assert answer.status_code == 200
    nps = answer.json()["changes"]["nps"]
    assert nps["before"]["value"] == pytest.approx(30.0)
    assert nps["after"]["value"] == pytest.approx(50.0)
    assert nps["difference"] == pytest.approx(20.0) and nps["significant"] is True
    assert answer.json()["changes"]["csat"]["significant"] is False  # no April CSAT


def test_bad_requests(client: TestClient, auth: dict[str, str], kk: Kokemus,
                      workspace: ActiveWorkspace) -> None:
    bad = client.get("/api/v1/scores/compare", headers=auth,
                     params={"before": "march", "after": "2026-04-01..2026-04-30"})
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text
    assert client.get("/api/v1/scores", params={"by": "colour"},
                      headers=auth).status_code == 422
    assert client.get("/api/v1/scores", params={"survey": "nope"},
                      headers=auth).status_code == 404
    assert client.get("/api/v1/scores").status_code == 401
    ingest_only = access.create_key(kk.db, workspace.slug, "ingest", {"ingest"})
    denied = client.get("/api/v1/scores", headers={"Authorization": f"Bearer {ingest_only}"})
    assert denied.status_code == 403
