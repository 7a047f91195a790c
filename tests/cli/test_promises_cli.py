"""`kokemus promises` over events stored in the folder's real event store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kokemus.cli import app
from kokemus.services import workspaces as workspace_service
from kokemus.services.ingest import ingest_events
from tests.cli.test_cli import home, open_stores  # noqa: F401  (the fixture)
from tests.web.test_pages import events

runner = CliRunner()
AS_OF = "2026-04-01"


@pytest.fixture
def ordered(home: Path) -> Path:  # noqa: F811
    # 40 orders in March, delivered 30 + i hours later: 19 within 48 h, 21 later
    with open_stores(home) as kk:
        ws = workspace_service.get(kk.db, "my-company")
        ingest_events(events(40), ws, kk.events)
    return home


def run(*args: str) -> Any:
    result = runner.invoke(app, ["promises", *args], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    return result


def test_scorecard_as_json_and_table(ordered: Path) -> None:
    rows = json.loads(run("--as-of", AS_OF, "--output", "json").output)
    assert [(r["commitment"], r["kept"], r["broken"], r["n"]) for r in rows] == [
        ("delivered-48h", 19, 21, 40)]
    assert rows[0]["keep_rate"] == pytest.approx(47.5)
    assert rows[0]["low"] == pytest.approx(32.94, abs=0.01)
    assert rows[0]["limit_h"] == 48
    table = run("--as-of", AS_OF).output
    assert "delivered-48h" in table and "48 (33–63)" in table
    weeks = json.loads(run("--as-of", AS_OF, "--by", "week", "--output", "json").output)
    assert sum(r["n"] for r in weeks) == 40 and all("week" in r for r in weeks)
    departments = json.loads(run("--as-of", AS_OF, "--by", "department", "-o", "json").output)
    assert departments[0]["department"] == "logistics" and departments[0]["n"] == 40


def test_lists_and_costs(ordered: Path) -> None:
    broken = json.loads(run("list", "broken", "--as-of", AS_OF, "-o", "json").output)
    assert len(broken) == 21 and {r["customer"] for r in broken} == {
        f"c{i}" for i in range(19, 40)}
    assert broken[0]["started"] > broken[-1]["started"]  # the latest first
    table = run("list", "broken", "--as-of", AS_OF, "--limit", "5").output
    assert "5 of 21 occurrences" in table
    # 39 h after the first order (09:00 + i min): c0..c9 delivered, c10..c36 past 80 % of
    # 48 h (38.4 h), c37..c39 not yet
    early = json.loads(run("list", "at_risk", "--as-of", "2026-03-04T00:00:00",
                           "-o", "json").output)
    assert sorted(r["customer"] for r in early) == sorted(f"c{i}" for i in range(10, 37))
    unknown = runner.invoke(app, ["promises", "list", "broken", "--commitment", "nope"])
    assert unknown.exit_code != 0 and "no commitment 'nope'" in unknown.output
    costs = json.loads(run("costs", "--as-of", AS_OF, "-o", "json").output)
    assert costs[0]["commitment"] == "delivered-48h"


def test_advance_marks_each_occurrence_once(home: Path) -> None:  # noqa: F811
    from datetime import UTC, datetime, timedelta

    late = (datetime.now(UTC) - timedelta(hours=50)).isoformat()
    with open_stores(home) as kk:
        ws = workspace_service.get(kk.db, "my-company")
        ingest_events([{"id": "o1", "type": "order_placed", "customer": "c1",
                        "channel": "web", "occurred_at": late}], ws, kk.events)
    first = run("advance").output
    assert "marked 0 at risk and 1 breached now" in first
    again = run("advance").output
    assert "marked 0 at risk and 0 breached now" in again
    with open_stores(home) as kk, kk.events.reading() as cur:
        rows = cur.execute("SELECT type, customer FROM events WHERE type LIKE 'promise_%'"
                           ).fetchall()
    assert rows == [("promise_breached", "c1")]


def test_signals(home: Path) -> None:  # noqa: F811
    result = runner.invoke(app, ["signals", "-o", "json"])
    assert result.exit_code == 0, result.output
    found = {s["id"]: s for s in json.loads(result.output)}
    assert found["no_social_listening"]["fired"] and not found["complaints_rising"]["fired"]
    table = runner.invoke(app, ["signals"], env={"COLUMNS": "160"}).output
    assert "no social listening" in table and "high" in table
