"""The report: the page, the one-file HTML that loads nothing, JSON and the terminal, and
the fixes ranked by the NPS points they are worth."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from kokemus.cli import app
from kokemus.domain.scores import Change, Score
from kokemus.services import promises, report
from kokemus.services.workspaces import ActiveWorkspace
from tests.cli.test_cli import home  # noqa: F401  (the fixture)
from tests.web.test_pages import anna, log_in  # noqa: F401  (the fixture)

AS_OF = datetime(2026, 7, 1, tzinfo=UTC)


def nps(value: float, n: int = 100) -> Score:
    return Score("nps", n, value, value - 10, value + 10, True, 5.0)


def test_fixes_are_ranked_by_the_nps_points_they_are_worth() -> None:
    # a commitment broken for 30 of 100, NPS 40 after kept and 0 after broken: 0.3 x 40 = 12
    cost = promises.Consequence(
        "p", "late", {"occurrences": 70}, {"occurrences": 30},
        Change("nps", nps(40), nps(0), -40.0, True), Change("ces", nps(0), nps(0), 0, False),
        None)
    groups = [
        # 10 % of the answers 50 points below the rest: 5; the same dimension again: left out
        {"dimension": "property:carrier", "key": "Kiito", "group": {"value": 0, "n": 50},
         "rest": {"value": 50}, "difference": -50.0, "low": -60, "high": -40, "share": 0.1},
        {"dimension": "property:carrier", "key": "Other", "group": {"value": 10, "n": 50},
         "rest": {"value": 50}, "difference": -40.0, "low": -50, "high": -30, "share": 0.1},
        {"dimension": "event:delivery_damaged", "key": "yes", "group": {"value": -70, "n": 20},
         "rest": {"value": 40}, "difference": -110.0, "low": -130, "high": -90, "share": 0.02}]
    found = report.fixes([cost], groups)
    assert [(f.what, round(f.gain, 2)) for f in found] == [
        ("late", 12.0), ("property:carrier=Kiito", 5.0), ("event:delivery_damaged=yes", 2.2)]
    assert report.fixes([], []) == []


def test_cli(home: Path) -> None:  # noqa: F811
    result = CliRunner().invoke(app, ["report", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "fixes" in json.loads(result.output)
    out = home / "report.html"
    written = CliRunner().invoke(app, ["report", "--format", "html", "-o", str(out),
                                       "--language", "fi"])
    assert written.exit_code == 0 and "Asiakaskokemusraportti" in out.read_text()
    terminal = CliRunner().invoke(app, ["report"], env={"COLUMNS": "160"})
    assert terminal.exit_code == 0 and "The three things to fix first" in terminal.output
    bad = CliRunner().invoke(app, ["report", "--language", "de"])
    assert bad.exit_code != 0


def test_page(client: TestClient, workspace: ActiveWorkspace,
              anna: str) -> None:  # noqa: F811
    log_in(client)
    client.get("/language/en")
    page = client.get("/w/my-company/report")
    assert page.status_code == 200 and "<script" not in page.text
    assert "The three things to fix first" in page.text
    assert "Nothing scores significantly worse than the rest" in page.text
