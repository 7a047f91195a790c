"""`kokemus worker` and `kokemus actions ...` as a user runs them: an event in, the rule
decides, the worker delivers to a real SMTP server and a real webhook receiver on
loopback in the same run; the outbox listed, a dead action shown and put back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from kokemus import bootstrap
from kokemus.cli import app
from kokemus.config import Settings
from kokemus.storage.tables import actions, cases, invitations
from tests.cli.test_cli import home  # noqa: F401  (the fixture)
from tests.engine.test_deliver import (  # noqa: F401  (fixtures)
    SECRET,
    SECRET_ENV,
    Receiver,
    receiver,
    workspace_text,
)
from tests.integration.test_dispatch_smtp import Inbox, inbox  # noqa: F401  (the fixture)

runner = CliRunner()
QUIET = '  quiet_hours: {start: "21:00", end: "08:00", timezone: Europe/Helsinki}'


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def shop(home: Path, inbox: Inbox, receiver: Receiver,  # noqa: F811
         monkeypatch: pytest.MonkeyPatch) -> Path:
    """The home folder with the rules (no quiet hours: the test runs at any hour), the
    customers and the SMTP and signing settings."""
    monkeypatch.setenv("KOKEMUS_SMTP_PORT", str(inbox.port))
    monkeypatch.setenv("KOKEMUS_MAIL_FROM", "Yritykseni <palvelu@yritys.example>")
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv("KOKEMUS_WEBHOOK_NETWORKS", "127.0.0.0/8")
    (home / "workspace.yaml").write_text(
        workspace_text(receiver.port).replace(QUIET, "  quiet_hours: null"), encoding="utf-8")
    invoke("apply", "workspace.yaml")
    (home / "customers.jsonl").write_text(json.dumps(
        {"id": "aino", "email": "aino@example.fi", "name": "Aino", "language": "fi"}) + "\n")
    invoke("import", "customers", "customers.jsonl")
    return home


def listing(*args: str) -> dict[str, Any]:
    return json.loads(invoke("actions", "list", "-o", "json", *args))  # type: ignore[no-any-return]


def test_the_worker_decides_and_delivers_in_one_run_and_the_outbox_is_listed(
        shop: Path, inbox: Inbox, receiver: Receiver) -> None:  # noqa: F811
    at = (datetime.now(UTC) - timedelta(minutes=3)).isoformat()
    (shop / "events.jsonl").write_text(json.dumps(
        {"id": "ord-77", "type": "delivery_damaged", "customer": "aino", "channel": "web",
         "occurred_at": at, "properties": {"carrier": "Kiito"}}) + "\n")
    invoke("import", "events", "events.jsonl")

    invoke("worker", "--once")
    found = listing()
    assert found["counts"] == {"planned": 0, "done": 7, "skipped": 1, "dead": 0}
    by_kind = {(a["kind"], a["action"]): a for a in found["actions"]}
    assert by_kind[("start_sequence", 7)]["reason"] == "sequences: next issue"
    assert {a["key"] for a in found["actions"]} == {f"damaged:{i}:ord-77" for i in range(8)}
    subjects = sorted(str(m["Subject"]) for m in inbox.messages)
    assert subjects == ["Pahoittelemme, Aino", "Toimitus"]
    assert sorted(c.path for c in receiver.calls) == ["/hooks/custom", "/hooks/logistics",
                                                      "/hooks/sms"]
    assert all(c.verified for c in receiver.calls)
    with bootstrap.build(Settings()) as kk, kk.db.connect() as conn:
        assert conn.execute(select(cases.c.department, cases.c.cause)).all() == [
            ("logistics", "ord-77")]
        assert conn.execute(select(invitations.c.survey, invitations.c.event_id)).all() == [
            ("after-delivery", "ord-77")]

    invoke("worker", "--once")  # a second run: nothing twice
    assert len(inbox.envelopes) == 2 and len(receiver.calls) == 3
    # the survey's invitation came due in that run: Aino had her three messages of the
    # week (the email, the notice by email and the one by SMS), the contact cap
    with bootstrap.build(Settings()) as kk, kk.db.connect() as conn:
        assert conn.execute(select(invitations.c.status, invitations.c.reason)).all() == [
            ("skipped", "contact cap")]

    table = invoke("actions", "list", "--kind", "webhook")
    assert "2 actions" in table and "done" in table
    csv_text = invoke("actions", "list", "-o", "csv", "--status", "skipped")
    assert csv_text.splitlines()[0].startswith("id,rule,action,kind")
    assert len(csv_text.strip().splitlines()) == 2


def test_a_dead_action_is_shown_and_put_back(shop: Path, receiver: Receiver) -> None:  # noqa: F811
    at = (datetime.now(UTC) - timedelta(minutes=3)).isoformat()
    (shop / "events.jsonl").write_text(json.dumps(
        {"id": "ord-78", "type": "delivery_damaged", "customer": "aino", "channel": "web",
         "occurred_at": at}) + "\n")
    invoke("import", "events", "events.jsonl")
    receiver.status = 410
    invoke("worker", "--once")
    dead = listing("--status", "dead")["actions"]
    assert {a["kind"] for a in dead} == {"webhook", "notify"}
    one = dead[0]["id"]
    shown = json.loads(invoke("actions", "show", one))
    assert shown["status"] == "dead" and shown["payload"]["cause"]["id"] == "ord-78"
    assert "410 Gone" in shown["reason"]

    receiver.status = 204
    assert "1 action put back" in invoke("actions", "retry", one)
    assert "2 actions put back" in invoke("actions", "retry", "--dead")
    refused = runner.invoke(app, ["actions", "retry", "no-such-id"])
    assert refused.exit_code == 1 and "not a dead action" in refused.output
    assert "delivered 3 actions (1 notify:sms, 2 webhook)" in invoke("actions", "deliver")
    assert listing("--status", "dead")["actions"] == []
    with bootstrap.build(Settings()) as kk, kk.db.begin() as conn:
        conn.execute(update(actions).values(status="dead"))
    assert "8 actions put back" in invoke("actions", "retry", "--dead")
