"""`kokemus gaps` and `kokemus drivers`: the same figures as the services, as JSON and as
tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kokemus.cli import app
from kokemus.services import workspaces as workspace_service
from kokemus.storage import responses
from kokemus.workspace import document
from tests.analytics.test_scores import table_of
from tests.cli.test_cli import home, open_stores  # noqa: F401  (the fixture)
from tests.integration.test_drivers import EXTRA, answers
from tests.integration.test_gaps import ANSWERS, QUALITY, answers_of

runner = CliRunner()


@pytest.fixture
def answered(home: Path) -> Path:  # noqa: F811
    text = (home / "workspace.yaml").read_text(encoding="utf-8") + QUALITY + EXTRA
    (home / "workspace.yaml").write_text(text, encoding="utf-8")
    with open_stores(home) as kk:
        workspace_service.apply(kk.db, document.loads(text), source="test")
        rows = answers(120) + [{"survey": "quality", "customer": f"q{i}",
                                "answers": answers_of(ANSWERS[i % 4])} for i in range(40)]
        responses.insert_many(kk.events, table_of([{**r, "id": f"r{k}"}
                                                   for k, r in enumerate(rows)]))
    return home


def test_gaps_and_drivers(answered: Path) -> None:
    result = runner.invoke(app, ["gaps", "--output", "json"])
    assert result.exit_code == 0, result.output
    (tp,) = [t for t in json.loads(result.output)["touchpoints"] if t["experience"]["items"]]
    reliability = next(d for d in tp["experience"]["dimensions"]
                       if d["dimension"] == "reliability")
    assert reliability["gap"]["value"] == pytest.approx(-2.375)
    table = runner.invoke(app, ["gaps"], env={"COLUMNS": "160"})
    assert table.exit_code == 0, table.output
    assert "SERVQUAL" in table.output and "reliability" in table.output
    found = runner.invoke(app, ["drivers", "--resamples", "50", "--output", "json"])
    assert found.exit_code == 0, found.output
    body = json.loads(found.output)
    assert body["drivers"][0]["driver"] == "delivery:packing"
    assert sum(d["weight"] for d in body["drivers"]) == pytest.approx(body["r2"])
    shown = runner.invoke(app, ["drivers", "--resamples", "50"], env={"COLUMNS": "160"})
    assert shown.exit_code == 0, shown.output
    assert "delivery:packing" in shown.output
    bad = runner.invoke(app, ["drivers", "--outcome", "happiness"])
    assert bad.exit_code != 0 and "happiness" in bad.output
