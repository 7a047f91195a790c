"""`kokemus cases list / show / assign / move / resolve / note / departments / recovery`, as
an operator runs them: thin over services/cases.py, every change in the case's history as
the operating-system user, every refusal one clear line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kokemus.cli import app
from kokemus.services import cases, workspaces
from tests.cli.test_cli import home, open_stores  # noqa: F401  (the fixture)

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, result.output
    return " ".join(result.output.split())  # as one line, however the terminal wrapped it


def test_an_operator_works_a_case(home: Path,  # noqa: F811
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "ville")
    invoke("users", "create", "aino", "--workspace", "my-company", "--role", "agent")
    with open_stores(home) as kk:
        ws = workspaces.get(kk.db, "my-company")
        for i, department in enumerate(("logistics", "sales")):
            with kk.db.begin() as conn:
                cases.open_case(conn, ws.id, department=department, title=f"Tapaus {i}",
                                customer=f"c{i}", account=None, priority="normal",
                                rule="damaged", cause=None, action_id=f"a{i}",
                                sla_due_at=None, now=datetime(2026, 3, 2, tzinfo=UTC))

    listed = invoke("cases", "list")
    assert "2 cases" in listed and "Tapaus 0" in listed and "Tapaus 1" in listed
    only = json.loads(invoke("cases", "list", "--department", "logistics", "-o", "json"))
    assert [(c["number"], c["department"]) for c in only["cases"]] == [(1, "logistics")]
    assert "no department 'kitchen'" in refused("cases", "list", "--department", "kitchen")

    assert "does not work for department 'logistics' (theirs: none)" in refused(
        "cases", "assign", "1", "aino")
    assert "aino works the cases of: logistics in my-company" in invoke(
        "cases", "departments", "aino", "logistics")
    assert "case 1 is aino's (assigned)" in invoke("cases", "assign", "1", "aino")
    assert "cannot move to 'resolved' (from assigned: in_progress)" in refused(
        "cases", "resolve", "1")
    invoke("cases", "move", "1", "in_progress")
    assert "case 1 is resolved" in invoke("cases", "resolve", "1", "--note",
                                           "Uusi kone toimitettu")
    invoke("cases", "note", "1", "Asiakas kiitti")
    shown = json.loads(invoke("cases", "show", "1", "-o", "json"))
    assert shown["state"] == "resolved" and shown["assignee"] == "aino"
    assert [(h["kind"], h["actor"]) for h in shown["history"]][-3:] == [
        ("state", "cli:ville"), ("note", "cli:ville"), ("note", "cli:ville")]
    text = invoke("cases", "show", "1")
    assert "state: resolved" in text and "Uusi kone toimitettu" in text
    as_json = json.loads(invoke("cases", "list", "--all", "-o", "json"))
    assert [c["number"] for c in as_json["cases"]] == [2, 1]
    assert json.loads(invoke("cases", "list", "-o", "json"))["total"] == 1  # open only
    assert "no case 9" in refused("cases", "show", "9")
    recovery = json.loads(invoke("cases", "recovery", "-o", "json"))
    assert recovery["with_case"]["detractors"] == 0
