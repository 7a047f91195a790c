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


@pytest.fixture
def carried(home: Path) -> Path:  # noqa: F811
    # the same 40 orders, each delivered by a carrier: Kiito for the even customers (c20,
    # c22, ..., c38 of the 21 broken), Posti for the odd
    rows = events(40)
    for row in rows:
        if row["type"] == "delivered":
            i = int(str(row["customer"])[1:])
            row["properties"] = {"carrier": "Kiito" if i % 2 == 0 else "Posti"}
    with open_stores(home) as kk:
        ingest_events(rows, workspace_service.get(kk.db, "my-company"), kk.events)
    return home


def test_lists_and_costs_where(carried: Path) -> None:
    """--where narrows the list and the costs as it does the scorecard, the page and the
    API; a filter that is not one is an error naming it, never a traceback."""
    kiito = ("--where", "property:carrier=Kiito")
    broken = json.loads(run("list", "broken", "--as-of", AS_OF, *kiito, "-o", "json").output)
    assert sorted(r["customer"] for r in broken) == sorted(f"c{i}" for i in range(20, 40, 2))
    table = run("list", "broken", "--as-of", AS_OF, *kiito).output
    assert "10 occurrences" in table and "where property:carrier=Kiito" in table
    kept = json.loads(run("list", "kept", "--as-of", AS_OF, *kiito,
                          "--where", "channel=web", "-o", "json").output)
    assert sorted(r["customer"] for r in kept) == sorted(f"c{i}" for i in range(0, 19, 2))
    assert json.loads(run("list", "broken", "--as-of", AS_OF, *kiito,
                          "--where", "channel=phone", "-o", "json").output) == []

    def judged(*where: str) -> int:
        rows = json.loads(run("costs", "--as-of", AS_OF, *where, "-o", "json").output)
        first = next(r for r in rows if r["commitment"] == "delivered-48h")
        return int(first["kept"]["occurrences"] + first["broken"]["occurrences"])

    assert judged() == 40 and judged(*kiito) == 20
    assert judged("--where", "property:carrier=Posti") == 20
    assert "where property:carrier=Kiito" in run("costs", "--as-of", AS_OF, *kiito).output

    for bad, says in ((["list", "broken", "--where", "carrier=Kiito"],
                       "where: no breakdown 'carrier'"),
                      (["costs", "--where", "property:colour=red"],
                       "where: no event property 'colour' (known: carrier)"),
                      (["list", "kept", "--where", "event:delivered=perhaps"],
                       "where: event:delivered is yes or no"),
                      (["costs", "--where", "property:carrier"], "is not <breakdown>=<value>")):
        result = runner.invoke(app, ["promises", *bad], env={"COLUMNS": "200"})
        assert result.exit_code == 1, (bad, result.output)
        assert says in " ".join(result.output.split()), (bad, result.output)
        assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


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
