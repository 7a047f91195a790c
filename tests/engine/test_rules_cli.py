"""`kokemus rules list / test / run` as a user runs them: a replay lists what a rule would
have fired and writes nothing; a run writes it to the outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from typer.testing import CliRunner

from kokemus.cli import app
from kokemus.storage.tables import actions, rule_cursors
from tests.cli.test_cli import home, open_stores  # noqa: F401  (the fixture)

runner = CliRunner()

RULES = """
rules:
  - id: damaged-delivery
    name: {fi: Vaurioitunut toimitus, en: Damaged delivery}
    when:
      on: event
      event: delivered
      where: {damaged: true, carrier: {in: [Kiito, Rahtisiili]}}
      segments: [households]
    actions:
      - do: notify
        subject: {fi: Pahoittelumme, en: We are sorry}
        body: {fi: "Lähetämme uuden koneen heti.", en: "We send a new machine at once."}
      - {do: case, department: logistics, title: {fi: Vaurio, en: Damage}, priority: high}
  - id: detractor
    name: Detractor
    enabled: false
    when: {on: answer, nps: {lte: 6}}
    actions:
      - {do: case, department: customer-service, title: Soita asiakkaalle}
"""


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def with_history(folder: Path) -> None:
    """The rules applied, four customers, and deliveries over the last 40 days."""
    workspace = folder / "workspace.yaml"
    workspace.write_text(workspace.read_text(encoding="utf-8") + RULES, encoding="utf-8")
    invoke("apply", "workspace.yaml")
    invoke("import", "customers", str(write_jsonl(folder / "customers.jsonl", [
        {"id": "c1", "segments": ["households"]}, {"id": "c2", "segments": ["households"]},
        {"id": "c3"}, {"id": "c4", "segments": ["households"]}])))
    now = datetime.now(UTC)

    def delivered(ident: str, customer: str, days: float, **properties: Any) -> dict[str, Any]:
        return {"id": ident, "type": "delivered", "customer": customer, "channel": "web",
                "occurred_at": (now - timedelta(days=days)).isoformat(),
                "properties": properties}

    invoke("import", "events", str(write_jsonl(folder / "events.jsonl", [
        delivered("d1", "c1", 2, damaged=True, carrier="Kiito"),
        delivered("d2", "c2", 10, damaged=True, carrier="Rahtisiili"),
        delivered("d3", "c3", 3, damaged=True, carrier="Kiito"),  # not a household
        delivered("d4", "c4", 35, damaged=True, carrier="Kiito"),  # before the 30 days
        delivered("d5", "c1", 1, damaged=False, carrier="Kiito"),
        delivered("d6", "c2", 1, damaged="true", carrier="Kiito"),  # a string, not true
    ])))


def outbox_rows(folder: Path) -> int:
    with open_stores(folder) as kk, kk.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(actions)).scalar_one())


def test_rules_list_shows_triggers_actions_and_what_was_written(home: Path) -> None:  # noqa: F811
    with_history(home)
    listed = json.loads(invoke("rules", "list", "--output", "json"))
    assert listed == [
        {"id": "damaged-delivery", "enabled": True, "on": "event",
         "when": 'event delivered; damaged = true; carrier in ["Kiito", "Rahtisiili"]; '
                 "segments households",
         "actions": ["notify", "case"], "written": 0},
        {"id": "detractor", "enabled": False, "on": "answer", "when": "answer; nps <= 6",
         "actions": ["case"], "written": 0},
    ]
    table = invoke("rules", "list")
    assert "damaged-delivery" in table and "2 rules" in table


def test_rules_test_replays_the_history_and_writes_nothing(home: Path) -> None:  # noqa: F811
    with_history(home)
    text = invoke("rules", "test", "damaged-delivery", "--since", "30d")
    assert ('rule damaged-delivery (event delivered; damaged = true; carrier in ["Kiito", '
            '"Rahtisiili"]; segments households) would have fired 2 times in the last 30d, '
            "4 actions; 1 outside its segments, roles or consent, or held out; nothing was "
            "written or sent") in " ".join(text.split())
    assert "delivered d1" in text and "delivered d2" in text and "d3" not in text
    replayed = json.loads(invoke("rules", "test", "damaged-delivery", "--since", "30d",
                                 "-o", "json"))
    assert (replayed["matched"], replayed["not_targeted"], replayed["fired"]) == (3, 1, 2)
    assert [(c["id"], c["customer"], c["actions"]) for c in replayed["causes"]] == [
        ("d2", "c2", ["notify", "case"]), ("d1", "c1", ["notify", "case"])]  # oldest first
    wider = json.loads(invoke("rules", "test", "damaged-delivery", "--since", "40d",
                              "-o", "json"))
    assert [c["id"] for c in wider["causes"]] == ["d4", "d2", "d1"]
    # a disabled rule can be tried before it is switched on
    assert json.loads(invoke("rules", "test", "detractor", "-o", "json"))["fired"] == 0
    assert outbox_rows(home) == 0
    with open_stores(home) as kk, kk.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(rule_cursors)).scalar_one() == 0


def test_rules_test_takes_an_unapplied_rule_from_a_file(home: Path) -> None:  # noqa: F811
    with_history(home)
    draft = home / "draft.yaml"
    draft.write_text((home / "workspace.yaml").read_text(encoding="utf-8").replace(
        "segments: [households]\n    actions", "segments: []\n    actions"), encoding="utf-8")
    replayed = json.loads(invoke("rules", "test", "damaged-delivery", "--file", "draft.yaml",
                                 "-o", "json"))
    assert [c["id"] for c in replayed["causes"]] == ["d2", "d3", "d1"]


def test_rules_test_says_what_is_wrong(home: Path) -> None:  # noqa: F811
    with_history(home)
    unknown = runner.invoke(app, ["rules", "test", "nope"])
    assert unknown.exit_code == 1
    assert "no rule 'nope' in workspace 'my-company' (known: damaged-delivery, detractor)" in (
        " ".join(unknown.output.split()))
    bad = runner.invoke(app, ["rules", "test", "damaged-delivery", "--since", "a month"])
    assert bad.exit_code == 2 and "not a duration" in bad.output


def test_rules_run_writes_the_outbox_once(home: Path) -> None:  # noqa: F811
    with_history(home)
    first = invoke("rules", "run")
    # d2 and d4 are older than a week: an imported history does not fire; c3 is no household
    assert ("rules: 2 actions planned from 1 cause (6 new events, 0 answers read; 4 matched, "
            "1 outside segments, roles or consent or held out, 2 too old;"
            ) in " ".join(first.split())
    again = invoke("rules", "run")
    assert "rules: 0 actions planned from 0 causes (0 new events" in " ".join(again.split())
    assert outbox_rows(home) == 2
    listed = json.loads(invoke("rules", "list", "--output", "json"))
    assert listed[0]["written"] == 2
