"""`kokemus feedback ...` and the worker in `kokemus serve`, as a user runs them, with a real
SMTP server on loopback."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from kokemus.cli import app
from tests.cli.test_cli import home  # noqa: F401  (the fixture)
from tests.cli.test_serve import KOKEMUS, free_port
from tests.integration.test_dispatch_smtp import Inbox, inbox  # noqa: F401  (the fixture)

runner = CliRunner()
QUIET = '  quiet_hours: {start: "21:00", end: "08:00", timezone: Europe/Helsinki}'


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def mailing(home: Path, inbox: Inbox,  # noqa: F811
            monkeypatch: pytest.MonkeyPatch) -> Path:
    """The home folder with customers, no quiet hours (the test runs at any hour) and the
    SMTP settings pointing at the loopback server."""
    monkeypatch.setenv("KOKEMUS_SMTP_PORT", str(inbox.port))
    monkeypatch.setenv("KOKEMUS_PUBLIC_URL", "https://cx.example.fi")
    text = (home / "workspace.yaml").read_text(encoding="utf-8")
    assert QUIET in text
    (home / "workspace.yaml").write_text(text.replace(QUIET, "  quiet_hours: null"),
                                         encoding="utf-8")
    invoke("apply", "workspace.yaml")
    invoke("import", "customers", str(write_jsonl(home / "customers.jsonl", [
        {"id": "c1", "email": "c1@example.com", "language": "en"},
        {"id": "c2", "email": "c2@example.fi", "language": "fi"},
    ])))
    return home


def delivered(folder: Path, *customers: str, hours_ago: float = 3) -> None:
    at = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()
    invoke("import", "events", str(write_jsonl(folder / "events.jsonl", [
        {"id": f"d-{c}", "type": "delivered", "customer": c, "channel": "web",
         "occurred_at": at} for c in customers])))


def serving(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=1).is_success
    except httpx.TransportError:
        return False


def listing(*args: str) -> dict[str, Any]:
    return json.loads(invoke("feedback", "invitations", "-o", "json", *args))  # type: ignore[no-any-return]


def test_plan_send_list_and_opt_out(mailing: Path, inbox: Inbox) -> None:  # noqa: F811
    delivered(mailing, "c1")
    assert "planned 1 invitations from 1 new events" in invoke("feedback", "plan")
    assert "planned 0 invitations from 0 new events" in invoke("feedback", "plan")
    listed = listing()
    assert listed["counts"] == {"planned": 1, "sent": 0, "answered": 0, "skipped": 0,
                                "failed": 0}
    assert listed["invitations"][0]["customer"] == "c1"

    sent = invoke("feedback", "send")
    assert "sent 1 emails" in sent
    assert [e.rcpt_tos for e in inbox.envelopes] == [["c1@example.com"]]
    assert "sent 0 emails" in invoke("feedback", "send")  # never twice

    rows = list(csv.DictReader(io.StringIO(invoke(
        "feedback", "invitations", "--status", "sent", "-o", "csv"))))
    assert [(r["customer"], r["status"], r["event_type"], r["attempts"]) for r in rows] == [
        ("c1", "sent", "delivered", "1")]
    table = invoke("feedback", "invitations")
    assert "planned: 0  sent: 1" in table and "c1" in table

    assert "c2 gets no more surveys from 'my-company'" in invoke("feedback", "opt-out", "c2")
    unknown = invoke("feedback", "opt-out", "c9")
    assert "not a known customer yet" in unknown
    delivered(mailing, "c2")
    both = invoke("feedback", "run")
    assert "planned 1 invitations" in both and "1 opted out" in both
    assert len(inbox.envelopes) == 1
    assert listing("--status", "skipped")["invitations"][0]["reason"] == "opted out"


def test_bad_status_is_refused(mailing: Path) -> None:
    result = runner.invoke(app, ["feedback", "invitations", "--status", "lost"])
    assert result.exit_code == 2
    assert "lost" in result.output


def serve_until(port: int, done: Callable[[], bool], *options: str) -> None:
    """Run `kokemus serve` until it answers and `done()` holds (30 s at most), then stop it
    as a service manager does (SIGTERM), and check that it ended cleanly."""
    env = {**os.environ, "KOKEMUS_WORKER_INTERVAL": "0.2"}
    proc = subprocess.Popen([*KOKEMUS, "serve", "--port", str(port), *options], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (serving(port) and done()):
            time.sleep(0.1)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 0, output


def test_serve_runs_the_worker_and_stops_cleanly(mailing: Path, inbox: Inbox) -> None:  # noqa: F811
    delivered(mailing, "c1", "c2")
    serve_until(free_port(), lambda: len(inbox.envelopes) >= 2)
    assert sorted(e.rcpt_tos[0] for e in inbox.envelopes) == ["c1@example.com",
                                                            "c2@example.fi"]
    assert listing()["counts"]["sent"] == 2  # recorded, with the stores closed cleanly


def test_serve_without_the_worker_sends_nothing(mailing: Path, inbox: Inbox) -> None:  # noqa: F811
    delivered(mailing, "c1")
    started = time.monotonic()
    serve_until(free_port(), lambda: time.monotonic() - started > 2, "--no-worker")
    assert not inbox.envelopes
    assert listing()["counts"]["planned"] == 0  # nothing planned either


def test_an_engine_command_waits_for_the_workers_run(home: Path) -> None:  # noqa: F811
    """Inside a server, `feedback plan` and the worker never plan at the same time."""
    import threading

    from kokemus.engine.worker import RUNS

    finished = threading.Event()
    outputs: list[str] = []

    def plan() -> None:
        outputs.append(runner.invoke(app, ["feedback", "plan"]).output)
        finished.set()

    with RUNS:  # the worker's run in progress
        thread = threading.Thread(target=plan)
        thread.start()
        assert not finished.wait(1.0)
    assert finished.wait(30)
    thread.join()
    assert "planned" in outputs[0]
