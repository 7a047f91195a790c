"""`kokemus customers export / erase / consent / consents`, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kokemus.cli import app
from tests.cli.test_cli import home  # noqa: F401  (the fixture)

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_consent_export_and_erase(home: Path) -> None:  # noqa: F811
    (home / "c.jsonl").write_text(json.dumps(
        {"id": "c1", "email": "c1@example.com", "name": "Cee Yksi"}) + "\n", encoding="utf-8")
    (home / "e.jsonl").write_text(json.dumps(
        {"id": "o1", "type": "order_placed", "customer": "c1", "channel": "web",
         "occurred_at": "2026-05-01T10:00:00Z", "properties": {"note": "ovikoodi 1234"}})
        + "\n", encoding="utf-8")
    invoke("import", "customers", "c.jsonl")
    invoke("import", "events", "e.jsonl")

    assert "c1: marketing granted" in invoke(
        "customers", "consent", "c1", "marketing", "--grant", "--channel", "store",
        "--text-version", "v1", "--at", "2026-05-02T09:00:00+0300")
    invoke("customers", "consent", "c1", "surveys", "--withdraw")
    state = json.loads(invoke("customers", "consents", "c1"))
    assert state["current"]["marketing"]["allowed"] is True
    assert state["current"]["marketing"]["at"].startswith("2026-05-02T06:00:00")
    assert state["current"]["surveys"]["allowed"] is False

    invoke("customers", "export", "c1", "-o", "c1.json")
    exported = json.loads((home / "c1.json").read_text(encoding="utf-8"))
    assert exported["customer"]["name"] == "Cee Yksi"
    assert exported["events"][0]["properties"] == {"note": "ovikoodi 1234"}
    assert [h["purpose"] for h in exported["consents"]["history"]] == ["marketing", "surveys"]

    refused = runner.invoke(app, ["customers", "erase", "c1"], input="n\n")
    assert refused.exit_code == 1
    said = invoke("customers", "erase", "c1", "--yes")
    assert "erased c1 from 'my-company': profile removed" in said
    assert "1 events and 0 responses anonymized" in said
    again = runner.invoke(app, ["customers", "erase", "c1", "--yes"])
    assert again.exit_code == 1 and "no customer 'c1'" in again.output
    left = json.loads(invoke("customers", "export", "c1"))
    assert left["customer"] is None and left["events"] == []
    assert left["opt_out"]["source"] == "cli"  # the withdrawal above: kept as suppression
