"""The figures the docs show are recomputed here, so a doc cannot drift from the method:
docs/api.md's scores answer through the real API, docs/feedback.md's worked example and
sample sizes through the score functions."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient

from kokemus.bootstrap import Kokemus
from kokemus.domain import scores
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses
from tests.analytics.test_scores import many, table_of

DOCS = Path(__file__).parents[2] / "docs"


def shown(doc_value: float, computed: float) -> bool:
    """`computed` printed with as many decimals as the doc shows gives the doc's figure."""
    decimals = max(0, -Decimal(str(doc_value)).as_tuple().exponent)  # type: ignore[operator]
    return round(computed, decimals) == doc_value


def api_example(name: str) -> dict[str, Any]:
    """The object the docs/api.md scores example gives for `name` (one line of JSON)."""
    text = (DOCS / "api.md").read_text()
    found = re.search(rf'"{name}": (\{{"kind"[^}}]*\}})', text)
    assert found, f"no {name} example in docs/api.md"
    return dict(orjson.loads(found.group(1)))


def test_api_scores_example_is_what_the_api_answers(
        client: TestClient, auth: dict[str, str], kk: Kokemus,
        workspace: ActiveWorkspace) -> None:
    # the example's counts: n = 400 NPS answers (200 promoters, 80 detractors), 405 responses
    rows = (many(200, nps=10) + many(120, nps=8) + many(80, nps=3) + many(5, ces=4))
    responses.insert_many(kk.events, table_of(rows, workspace_id=workspace.id))
    answer = client.get("/api/v1/scores", headers=auth).json()
    doc = api_example("nps")
    nps = answer["overall"]["nps"]
    assert answer["overall"]["responses"] == 405
    assert (nps["kind"], nps["n"], nps["enough"]) == (doc["kind"], doc["n"], doc["enough"])
    for figure in ("value", "low", "high"):
        assert shown(doc[figure], nps[figure]), (figure, doc[figure], nps[figure])


def test_feedback_worked_example_and_sample_sizes() -> None:
    text = " ".join((DOCS / "feedback.md").read_text().split())
    found = re.search(r"(\d+) answers, (\d+) promoters, (\d+) detractors → NPS (\d+), "
                      r"interval (\d+) to (\d+)\. An NPS margin of ±(\d+) points needs about "
                      r"([\d,]+) answers, ±(\d+) about ([\d,]+)\.", text)
    assert found, "the worked example in docs/feedback.md changed form"
    n, p, d, value, low, high, m1, n1, m2, n2 = (int(g.replace(",", "")) for g in found.groups())
    score = scores.nps(p, n - p - d, d)
    assert score.value is not None and score.low is not None and score.high is not None
    assert (round(score.value), round(score.low), round(score.high)) == (value, low, high)
    assert scores.margin_sample_size(m1) == n1
    assert scores.margin_sample_size(m2) == n2
