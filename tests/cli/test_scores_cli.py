"""`kokemus scores` over responses stored in the folder's real event store."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kokemus.cli import app
from kokemus.services import workspaces as workspace_service
from kokemus.storage import responses
from tests.analytics.test_scores import many, table_of
from tests.cli.test_cli import home, open_stores  # noqa: F401  (the fixture)

runner = CliRunner()
MARCH, APRIL = datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 4, 8, tzinfo=UTC)


@pytest.fixture
def answered(home: Path) -> Path:  # noqa: F811
    # delivery by email: 40 answers, NPS 30 (16 promoters, 12 passives, 4... see below);
    # support by phone: 10 answers, too few for the starter's minimum of 30
    rows = (many(20, nps=10, ces=7, csat=5, started_at=MARCH)
            + many(12, nps=8, ces=4, csat=4, started_at=MARCH)
            + many(8, nps=2, ces=2, csat=1, started_at=APRIL)
            + many(10, nps=0, touchpoint="support", channel="phone", started_at=APRIL))
    with open_stores(home) as kk:
        ws = workspace_service.get(kk.db, "my-company")
        responses.insert_many(kk.events, table_of(rows, workspace_id=ws.id))
    return home


def run(*args: str) -> Any:
    result = runner.invoke(app, ["scores", *args])
    assert result.exit_code == 0, result.output
    return result


def test_overall_scores_as_json(answered: Path) -> None:
    [overall] = json.loads(run("-o", "json").stdout)
    assert overall["by"] == "all" and overall["responses"] == 50
    # 20 promoters, 12 passives, 18 detractors of 50: NPS 4
    assert overall["nps"]["n"] == 50 and overall["nps"]["value"] == pytest.approx(4.0)
    assert overall["nps"]["enough"] and overall["nps"]["low"] < 4 < overall["nps"]["high"]
    assert overall["ces"]["n"] == 40 and overall["ces"]["value"] == pytest.approx(
        (140 + 48 + 16) / 40)
    assert overall["csat"]["value"] == pytest.approx(80.0)


def test_breakdown_table_says_too_few_answers(answered: Path) -> None:
    text = run("--by", "touchpoint").stdout
    assert "delivery" in text and "support" in text
    assert "too few answers" in text  # support: 10 answers below 30
    data = {r["key"]: r for r in json.loads(run("--by", "touchpoint", "-o", "json").stdout)}
    assert data["support"]["nps"] == {"kind": "nps", "n": 10, "value": -100.0,
                                      "low": data["support"]["nps"]["low"],
                                      "high": data["support"]["nps"]["high"], "enough": False}
    assert data["delivery"]["nps"]["enough"] and data["delivery"]["nps"]["value"] == 30.0


def test_filters_and_csv(answered: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(
        run("--by", "month", "--since", "2026-04-01", "-o", "csv").stdout)))
    assert [(r["month"], r["nps_n"]) for r in rows] == [("2026-04-01", "18")]
    [phone] = json.loads(run("--channel", "phone", "-o", "json").stdout)
    assert phone["nps"]["n"] == 10
    [march] = json.loads(run("--until", "2026-03-31", "-o", "json").stdout)
    assert march["nps"]["n"] == 32


def test_compare_two_periods(answered: Path) -> None:
    result = json.loads(run("compare", "--before", "2026-03-01..2026-03-31",
                            "--after", "2026-04-01..2026-04-30", "-o", "json").stdout)
    nps = result["changes"]["nps"]
    assert nps["before"]["value"] == pytest.approx(62.5) and nps["after"]["value"] == -100
    assert nps["significant"] is False  # the 18 April answers are below the minimum n
    assert "no" in run("compare", "--before", "2026-03-01..2026-03-31",
                       "--after", "2026-04-01..2026-04-30").stdout


def test_bad_input_is_one_clear_message(answered: Path) -> None:
    result = runner.invoke(app, ["scores", "--survey", "nope"])
    assert result.exit_code == 1 and "no survey 'nope'" in result.output
    result = runner.invoke(app, ["scores", "compare", "--before", "march", "--after", "x"])
    assert result.exit_code == 1 and "YYYY-MM-DD..YYYY-MM-DD" in result.output
