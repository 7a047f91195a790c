"""`kokemus worker` killed with SIGKILL in the middle of its batches, again and again, with a
real SMTP server and a real webhook receiver on loopback counting what arrives: nothing
is lost, and what arrives twice carries the id it arrived with the first time (the
Message-ID, the webhook-id), so the receiver can fold it. Two workers side by side on
PostgreSQL deliver every action exactly once between them.

The figures (kills, messages, duplicates) are printed; `pytest -s` shows them."""

from __future__ import annotations

import email
import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from email.policy import default as email_policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from kokemus.bootstrap import Kokemus
from kokemus.config import Settings
from kokemus.engine import webhooks
from kokemus.engine.deliver import _Outcomes
from kokemus.services import ingest
from kokemus.services.feedback import new_id
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.tables import actions
from tests.cli.test_serve import KOKEMUS
from tests.conftest import PG_URL
from tests.engine.test_deliver import (
    EMAIL,
    HOOK,
    SECRET,
    SECRET_ENV,
    Receiver,
    apply,
    cause,
    receiver,  # noqa: F401  (the fixture)
    workspace_text,
)
from tests.integration.test_dispatch_smtp import Inbox, inbox  # noqa: F401  (the fixture)

QUIET = '  quiet_hours: {start: "21:00", end: "08:00", timezone: Europe/Helsinki}'
EMAILS, HOOKS = 1000, 4000
KILLS = 8


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None, inbox: Inbox) -> Settings:  # noqa: F811
    return Settings(data_dir=tmp_path / "data", database_url=database_url,
                    secret_key="test-secret", smtp_port=inbox.port,
                    mail_from="Yritykseni <palvelu@yritys.example>")


def stocked(kk: Kokemus, port: int, emails: int, hooks: int) -> tuple[ActiveWorkspace,
                                                                       set[str]]:
    """The workspace (no quiet hours: the test runs at any hour), a customer per email and
    the outbox rows; returns the ids every message must arrive with."""
    text = workspace_text(port).replace(QUIET, "  quiet_hours: null")
    ws = apply(kk, text)
    ingest.ingest_customers([{"id": f"c{i}", "email": f"c{i}@example.fi", "name": f"C{i}",
                              "language": "fi"} for i in range(emails)], ws, kk.db)
    rule = next(r for r in ws.document.rules if r.id == "damaged")
    now = datetime.now(UTC)
    rows = []
    for index, n in ((EMAIL, emails), (HOOK, hooks)):
        for i in range(n):
            customer = f"c{i % max(emails, 1)}"
            happened = cause(f"{index}-{i}")
            payload = {"rule": "damaged", "action": index, "do": rule.actions[index].do,
                       "customer": customer, "cause": happened,
                       "params": rule.actions[index].model_dump(mode="json")}
            rows.append({"id": new_id(), "workspace_id": ws.id, "rule": "damaged",
                         "action": index, "kind": rule.actions[index].do,
                         "key": f"damaged:{index}:{happened['id']}", "customer": customer,
                         "cause": happened["id"], "payload": json.dumps(payload),
                         "status": "planned", "reason": None, "attempts": 0, "due_at": now,
                         "done_at": None, "created_at": now})
    with kk.db.begin() as conn:
        conn.execute(insert(actions), rows)
    return ws, {webhooks.message_id(ws.id, r["key"]) for r in rows}


def worker_env(settings: Settings, inbox: Inbox, lease: float) -> dict[str, str]:  # noqa: F811
    env = {**os.environ, "KOKEMUS_DATA_DIR": str(settings.data_dir),
           "KOKEMUS_SMTP_PORT": str(inbox.port), "KOKEMUS_MAIL_FROM": settings.mail_from,
           "KOKEMUS_SECRET_KEY": "test-secret", "KOKEMUS_ACTION_LEASE": str(lease),
           "KOKEMUS_WEBHOOK_NETWORKS": "127.0.0.0/8",
           SECRET_ENV: SECRET}
    if settings.database_url:
        env["KOKEMUS_DATABASE_URL"] = settings.database_url
    return env


def start(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """`kokemus worker`, its standard error appended to `log` (a pipe nobody reads could
    fill up and stop it)."""
    with log.open("ab") as sink:
        return subprocess.Popen([*KOKEMUS, "worker", "--interval", "0.2", *args], env=env,
                                stdout=subprocess.DEVNULL, stderr=sink)


def stop(proc: subprocess.Popen[bytes], log: Path) -> int:
    """SIGTERM once the worker is running (before its handler is in place the signal
    would end it as a kill); its exit code."""
    wait_for(lambda: "worker: every" in log.read_text(), 60)
    proc.send_signal(signal.SIGTERM)
    return proc.wait(30)


def message_ids(inbox: Inbox) -> Counter[str]:  # noqa: F811
    found: Counter[str] = Counter()
    for envelope in list(inbox.envelopes):
        message = email.message_from_bytes(envelope.original_content or b"",
                                           policy=email_policy)
        found[str(message["Message-ID"]).strip("<>").split("@")[0]] += 1
    return found


def planned(kk: Kokemus) -> int:
    with kk.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(actions).where(
            actions.c.status != "done")).scalar_one())


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.02)
    return check()


def outcome(expected: set[str], inbox: Inbox, receiver: Receiver,  # noqa: F811
            ) -> dict[str, Any]:
    got = message_ids(inbox) + receiver.ids
    return {"actions": len(expected), "arrived": sum(got.values()),
            "distinct": len(set(got) & expected), "lost": len(expected - set(got)),
            "strangers": len(set(got) - expected),
            "doubled": sum(n - 1 for n in got.values() if n > 1),
            "signatures_ok": all(c.verified for c in list(receiver.calls))}


def test_a_worker_killed_mid_batch_again_and_again_loses_nothing(
        kk: Kokemus, settings: Settings, inbox: Inbox,  # noqa: F811
        receiver: Receiver, tmp_path: Path) -> None:  # noqa: F811
    _, expected = stocked(kk, receiver.port, EMAILS, HOOKS)
    env = worker_env(settings, inbox, lease=2)
    chance = random.Random(12)
    kills: list[int] = []  # what had arrived at each kill
    while len(kills) < KILLS and planned(kk):
        before = len(inbox.envelopes) + len(receiver.calls)
        proc = start(env, tmp_path / "worker.log")
        # mid-batch: once it is delivering, after a moment of it
        moving = wait_for(lambda b=before: len(inbox.envelopes) + len(receiver.calls)
                          > b + 10, 60)
        time.sleep(chance.uniform(0.02, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert moving or not planned(kk), (tmp_path / "worker.log").read_text()
        kills.append(len(inbox.envelopes) + len(receiver.calls))
    assert len(kills) == KILLS, f"everything was delivered after {len(kills)} kills"
    log = tmp_path / "last.log"
    proc = start(env, log)
    try:
        assert wait_for(lambda: planned(kk) == 0, 180), f"{planned(kk)} not done"
    finally:
        assert stop(proc, log) == 0, log.read_text()
    figures = outcome(expected, inbox, receiver)
    figures.update(kills=KILLS, arrived_at_kills=kills,
                   doubled_emails=sum(n - 1 for n in message_ids(inbox).values()),
                   doubled_webhooks=sum(n - 1 for n in receiver.ids.values()))
    print("\nkill test:", json.dumps(figures))
    assert figures["lost"] == 0 and figures["strangers"] == 0
    assert figures["distinct"] == EMAILS + HOOKS
    assert figures["signatures_ok"]
    # at most the outcomes not yet written at each kill arrive twice: those waiting and
    # those being written
    assert figures["doubled"] <= KILLS * 2 * _Outcomes.MAX_PENDING
    with kk.db.connect() as conn:
        statuses = dict(conn.execute(select(actions.c.status, func.count())
                                     .group_by(actions.c.status)).all())
    assert statuses == {"done": EMAILS + HOOKS}


@pytest.mark.skipif(not PG_URL, reason="two workers side by side need the PostgreSQL store")
def test_two_workers_side_by_side_deliver_each_action_once(
        kk: Kokemus, settings: Settings, inbox: Inbox,  # noqa: F811
        receiver: Receiver, tmp_path: Path) -> None:  # noqa: F811
    _, expected = stocked(kk, receiver.port, EMAILS, HOOKS)
    env = worker_env(settings, inbox, lease=60)
    paths = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [start(env, path, "--deliver-only") for path in paths]
    try:
        assert wait_for(lambda: planned(kk) == 0, 180), f"{planned(kk)} not done"
    finally:
        codes = [stop(proc, path) for proc, path in zip(workers, paths, strict=True)]
    logs = [path.read_text() for path in paths]
    assert codes == [0, 0], logs
    figures = outcome(expected, inbox, receiver)
    shares = [sum(int(line.split("actions: ")[1].split()[0])
                  for line in log.splitlines() if "actions: " in line) for log in logs]
    figures["per_worker"] = shares
    print("\ntwo workers:", json.dumps(figures))
    assert figures["lost"] == 0 and figures["doubled"] == 0
    assert figures["arrived"] == EMAILS + HOOKS
    assert sum(shares) == EMAILS + HOOKS and all(shares), shares
