"""`kokemus value|kano|outcomes|silent|comments` over a folder's real stores: the same
figures as the analytics, in a table and as JSON."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from kokemus.cli import app
from kokemus.services import workspaces as workspace_service
from kokemus.services.ingest import ingest_events
from kokemus.storage import responses
from tests.analytics.test_insights_small import EXTRA, answer
from tests.cli.test_cli import home, open_stores  # noqa: F401  (the fixture)

runner = CliRunner()


@pytest.fixture
def answered(home: Path) -> Path:  # noqa: F811
    (home / "workspace.yaml").write_text((home / "workspace.yaml").read_text() + EXTRA)
    result = runner.invoke(app, ["apply", "workspace.yaml"])
    assert result.exit_code == 0, result.output
    rows = [answer(i, 10 if i % 2 else 2, {
        "eov": {"saves_time": 5 if i % 2 else 2},
        "features": {"tracking": {"functional": "expect", "dysfunctional": "dislike"}}},
        ces=7 if i % 2 else 2, comment="Nopea toimitus" if i % 2 else "Kone tuli rikki")
        for i in range(40)]
    with open_stores(home) as kk:
        ws = workspace_service.get(kk.db, "my-company")
        for row in rows:
            row["workspace_id"] = ws.id
        responses.insert_many(kk.events, pa.Table.from_pylist(rows, schema=responses.SCHEMA))
        ingest_events([{"id": f"o{i}", "type": "order_placed", "customer": f"c{i}",
                        "channel": "web", "occurred_at": (
                            rows[i]["started_at"] + timedelta(days=5)).isoformat()}
                       for i in range(1, 40, 2)]
                      + [{"id": "late", "type": "delivered", "customer": "x", "channel": "web",
                          "occurred_at": (rows[0]["started_at"]
                                          + timedelta(days=200)).isoformat()}],
                      ws, kk.events)
    return home


def run(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_value_kano_outcomes_silent_comments(answered: Path) -> None:
    found = json.loads(run("value", "-o", "json").stdout)
    saves = next(e for e in found["elements"] if e["element"] == "saves_time")
    assert saves["n"] == 40 and saves["perceived"] == 20
    assert "saves_time" in run("value").stdout
    kano = json.loads(run("kano", "-o", "json").stdout)["features"]
    assert kano[0]["feature"] == "tracking" and kano[0]["category"] == "M"
    assert "must-be" in run("kano").stdout
    outcome = json.loads(run("outcomes", "repurchase", "-o", "json").stdout)
    bands = {g["group"]: g for g in outcome["by_effort"]}
    assert bands["easy"]["share"]["value"] == pytest.approx(100.0)
    assert bands["hard"]["share"]["value"] == pytest.approx(0.0)
    assert outcome["easy_vs_hard"]["significant"]
    assert "easy - hard: +100.0 points" in run("outcomes").stdout
    silent = json.loads(run("silent", "-o", "json").stdout)
    order = next(m for m in silent["moments"] if m["touchpoint"] == "order")
    assert order["per_year"] == pytest.approx(468_000)
    assert "468,000" in run("silent").stdout
    said = json.loads(run("comments", "-o", "json").stdout)
    assert said["comments"] == 40
    assert {w["term"] for w in said["words"] if w["z"] > 0} >= {"rikki", "kone"}
    assert "rikki" in run("comments").stdout
    churn = json.loads(run("outcomes", "churn", "-o", "json").stdout)
    assert churn["events"] == ["account_closed"] and churn["overall"]["value"] == 0
    unknown = runner.invoke(app, ["value", "--survey", "nope"])
    assert unknown.exit_code != 0 and "no survey 'nope'" in unknown.output
