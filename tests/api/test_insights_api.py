"""GET /api/v1/gaps and /api/v1/drivers: the same figures as the services, each with its
n and interval; an unknown touchpoint or outcome is a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.services import access
from kokemus.services import workspaces as workspace_service
from kokemus.workspace import document
from tests.analytics.test_scores import store
from tests.conftest import STARTER
from tests.integration.test_drivers import EXTRA, answers
from tests.integration.test_gaps import ANSWERS, QUALITY, answers_of


@pytest.fixture
def key(kk: bootstrap.Kokemus) -> str:
    text = STARTER.read_text(encoding="utf-8") + QUALITY + EXTRA
    workspace_service.apply(kk.db, document.loads(text), source="test")
    rows = answers(120) + [{"survey": "quality", "customer": f"q{i}",
                            "answers": answers_of(ANSWERS[i % 4])} for i in range(40)]
    store(kk, [{**r, "id": f"r{k}"} for k, r in enumerate(rows)])
    return access.create_key(kk.db, "my-company", "test", {"read"})


def test_gaps(client: TestClient, key: str) -> None:
    found = client.get("/api/v1/gaps", headers={"Authorization": f"Bearer {key}"})
    assert found.status_code == 200, found.text
    body = found.json()
    (tp,) = [t for t in body["touchpoints"] if t["experience"]["items"]]
    reliability = next(d for d in tp["experience"]["dimensions"]
                       if d["dimension"] == "reliability")
    assert reliability["gap"]["value"] == pytest.approx(-2.375)
    assert reliability["gap"]["n"] == 40 and reliability["gap"]["enough"]
    assert tp["experience"]["servqual"]["weights_from"] == "equal"
    unknown = client.get("/api/v1/gaps?touchpoint=nowhere",
                         headers={"Authorization": f"Bearer {key}"})
    assert unknown.status_code == 404 and "nowhere" in unknown.text


def test_drivers(client: TestClient, key: str) -> None:
    found = client.get("/api/v1/drivers?resamples=50",
                       headers={"Authorization": f"Bearer {key}"})
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["outcome"] == "nps" and body["missing"] == "pairwise"
    assert body["drivers"][0]["driver"] == "delivery:packing"
    total = sum(d["weight"] for d in body["drivers"])
    assert total == pytest.approx(body["r2"])
    assert all(0 <= d["low"] <= d["share"] <= d["high"] <= 1 for d in body["drivers"])
    bad = client.get("/api/v1/drivers?outcome=happiness",
                     headers={"Authorization": f"Bearer {key}"})
    assert bad.status_code in (400, 422) and "happiness" in bad.text
    assert np.isfinite(body["r2"])
