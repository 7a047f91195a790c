"""Engine benchmark, part `delivery` (issue 12): the actions outbox delivered by
engine/deliver.py to a loopback SMTP server and a loopback webhook receiver. Progress goes
to stderr; run alone, the last stdout line is one JSON object with the figures; bench/
engine.py runs it as its part `delivery`.

    python bench/engine_delivery.py                          # 3,000 emails, 10,000 webhooks
    python bench/engine_delivery.py --emails 1000 --webhooks 5000
    KOKEMUS_DATABASE_URL=postgresql://... python bench/engine_delivery.py   # PostgreSQL store

Method, on a fresh data folder (SQLite app store unless KOKEMUS_DATABASE_URL names one):

- The receivers run in a child process of their own (they would otherwise share this
  process's interpreter lock with the worker): an aiosmtpd server that keeps every
  message's Message-ID, and an HTTP/1.1 server (keep-alive, as receivers are) that checks
  each call's Standard Webhooks signature and keeps its webhook-id.
- The outbox: `--emails` rows of a rule's `email` action (a subject and body template per
  language rendered in the sandbox from the customer and the event), one customer each
  (so the contact cap holds nobody back), and `--webhooks` rows of a `webhook` action with
  the default JSON body, written as engine/rules.py writes them, all due.
- `smtp_per_s`: emails / seconds of one `deliver` run over the email rows (claim, the
  contact checks in a few queries per batch, render, send, the outcomes written every 20
  messages); `webhook_per_s` likewise over the webhook rows (sign, POST).
- The floor, in the same run against the same receivers: `smtp_floor_per_s` sends the same
  number of already composed messages over one SMTP connection, and
  `webhook_floor_per_s` POSTs the same number of already signed bodies over one kept-alive
  connection: what the network and the receivers allow with no outbox at all.
  `smtp_ratio_to_floor` and `webhook_ratio_to_floor` are the floor's rate over the
  worker's.
- `lost`: rows whose id never reached its receiver; `doubled`: arrivals beyond the first
  of an id (the worker is not killed here; tests/engine/test_deliver_kill.py kills it);
  both over emails and webhooks, counted by the receivers. `undone`: rows not `done`.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

SECRET = "whsec_" + base64.b64encode(b"kokemus-bench-secret-0123456789").decode()
SECRET_ENV = "KOKEMUS_BENCH_HOOK_SECRET"
RULES = """
rules:
  - id: damaged
    name: {fi: Vaurio, en: Damage}
    when: {on: event, event: delivery_damaged}
    actions:
      - do: email
        subject: {fi: "Pahoittelemme, {{ customer.name }}", en: "Sorry, {{ customer.name }}"}
        body:
          fi: "Hei {{ customer.name }}! Kuljettaja {{ cause.properties.carrier }} vaurioitti
            tilauksesi {{ cause.id }}. Uusi kone on matkalla."
          en: "Hi {{ customer.name }}! The carrier {{ cause.properties.carrier }} damaged
            your order {{ cause.id }}. A new machine is on its way."
      - do: webhook
        url: "http://127.0.0.1:PORT/hooks/logistics"
        secret_env: KOKEMUS_BENCH_HOOK_SECRET
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------- the receivers

def receivers(smtp_port: int, http_port: int, pipe: Connection) -> None:
    """The child process: both servers until asked for their counts."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from aiosmtpd.controller import Controller

    from kokemus.engine import webhooks

    key = webhooks.secret_key(SECRET)
    mails: Counter[str] = Counter()
    hooks: Counter[str] = Counter()
    bad = [0]
    lock = threading.Lock()

    class Mailbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            head = (envelope.original_content or b"").split(b"\r\n\r\n", 1)[0]
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"message-id:"):
                    ident = line.split(b":", 1)[1].strip().strip(b"<>").split(b"@")[0]
                    with lock:
                        mails[ident.decode()] += 1
            return "250 OK"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            ident = self.headers.get("webhook-id", "")
            ok = webhooks.verify(key, ident, self.headers.get("webhook-timestamp", "0"),
                                 self.headers.get("webhook-signature", ""), body)
            with lock:
                hooks[ident] += 1
                bad[0] += not ok
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", http_port), Handler)
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, daemon=True).start()
    pipe.send("ready")
    while pipe.recv() == "count":
        with lock:
            pipe.send((dict(mails), dict(hooks), bad[0]))
    http.shutdown()
    smtp.stop()


# ---------------------------------------------------------------------------- the run

def part_delivery(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from sqlalchemy import func, insert, select

    from kokemus import bootstrap
    from kokemus.config import Settings
    from kokemus.engine import deliver as delivery
    from kokemus.engine import webhooks
    from kokemus.engine.mail import Mailer
    from kokemus.services import ingest, workspaces
    from kokemus.services.feedback import new_id
    from kokemus.storage.tables import actions
    from kokemus.workspace import document

    emails, hooks = args.emails, args.webhooks
    smtp_port, http_port = free_port(), free_port()
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("fork").Process(
        target=receivers, args=(smtp_port, http_port, child), daemon=True)
    server.start()
    assert parent.recv() == "ready"
    os.environ[SECRET_ENV] = SECRET
    settings = Settings(data_dir=folder / "data", secret_key="bench-secret",
                        smtp_port=smtp_port, mail_from="Bench <bench@kokemus.example>",
                        webhook_networks="127.0.0.0/8")  # the receiver is on loopback
    kk = bootstrap.build(settings)
    try:
        starter = (Path(document.__file__).parent / "starter.yaml").read_text("utf-8")
        text = (starter.replace('  quiet_hours: {start: "21:00", end: "08:00", '
                                'timezone: Europe/Helsinki}', "  quiet_hours: null")
                + RULES.replace("PORT", str(http_port)))
        workspaces.apply(kk.db, document.loads(text))
        ws = workspaces.get(kk.db, "my-company")
        ingest.ingest_customers([
            {"id": f"c{i}", "email": f"c{i}@example.fi", "name": f"Asiakas {i}",
             "language": "fi" if i % 3 else "en"} for i in range(max(emails, 1))], ws, kk.db)
        rule = ws.document.rules[0]
        expected: dict[int, set[str]] = {0: set(), 1: set()}

        def stock(index: int, n: int) -> None:
            now = datetime.now(UTC)
            action = rule.actions[index]
            rows = []
            for i in range(n):
                cause = {"id": f"ord-{index}-{i}", "type": "delivery_damaged",
                         "occurred_at": now.isoformat(), "channel": "web",
                         "touchpoint": "delivery", "properties": {"carrier": "Kiito"}}
                key = f"damaged:{index}:{cause['id']}"
                payload = {"rule": "damaged", "action": index, "do": action.do,
                           "customer": f"c{i % max(emails, 1)}", "cause": cause,
                           "params": action.model_dump(mode="json")}
                rows.append({"id": new_id(), "workspace_id": ws.id, "rule": "damaged",
                             "action": index, "kind": action.do, "key": key,
                             "customer": payload["customer"], "cause": cause["id"],
                             "payload": json.dumps(payload), "status": "planned",
                             "reason": None, "attempts": 0, "due_at": now, "done_at": None,
                             "created_at": now})
                expected[index].add(webhooks.message_id(ws.id, key))
            with kk.db.begin() as conn:
                for i in range(0, len(rows), 2000):
                    conn.execute(insert(actions), rows[i:i + 2000])

        figures: dict[str, Any] = {}
        # the floors: the receivers with no outbox in front of them
        from email.message import EmailMessage

        mailer = Mailer(settings)
        messages = []
        for i in range(emails):
            m = EmailMessage()
            m["Subject"], m["From"], m["To"] = "Floor", settings.mail_from, f"c{i}@example.fi"
            m["Message-ID"] = f"<floor-{i}@kokemus.example>"
            m.set_content(f"Hei Asiakas {i}! Kuljettaja Kiito vaurioitti tilauksesi.")
            messages.append(m)
        started = time.perf_counter()
        for m in messages:
            mailer.send(m)
        figures["smtp_floor_per_s"] = round(emails / (time.perf_counter() - started))
        mailer.close()
        key = webhooks.secret_key(SECRET)
        bodies = [(f"floor-{i}", json.dumps({"type": "floor", "data": {"i": i}}).encode())
                  for i in range(hooks)]
        signed = [(b, webhooks.headers(key, ident, int(time.time()), b)) for ident, b in bodies]
        url = f"http://127.0.0.1:{http_port}/floor"
        with webhooks.Poster(networks=settings.webhook_allowed) as poster:
            started = time.perf_counter()
            for body, head in signed:
                assert 200 <= poster.post(url, body, head).status < 300
            figures["webhook_floor_per_s"] = round(hooks / (time.perf_counter() - started))
        log(f"floors: SMTP {figures['smtp_floor_per_s']}/s, webhooks "
            f"{figures['webhook_floor_per_s']}/s")

        stock(0, emails)
        started = time.perf_counter()
        done = delivery.deliver(kk)
        seconds = time.perf_counter() - started
        assert done.done.get("email", 0) == emails, done.as_dict()
        figures["smtp_per_s"] = round(emails / seconds)
        log(f"delivery: {emails:,} emails in {seconds:.2f} s: {figures['smtp_per_s']}/s")

        stock(1, hooks)
        started = time.perf_counter()
        done = delivery.deliver(kk)
        seconds = time.perf_counter() - started
        assert done.done.get("webhook", 0) == hooks, done.as_dict()
        figures["webhook_per_s"] = round(hooks / seconds)
        log(f"delivery: {hooks:,} webhooks in {seconds:.2f} s: {figures['webhook_per_s']}/s")

        parent.send("count")
        mails, calls, unsigned = parent.recv()
        got = Counter({k: v for k, v in mails.items() if not k.startswith("floor-")})
        got.update({k: v for k, v in calls.items() if not k.startswith("floor-")})
        wanted = expected[0] | expected[1]
        with kk.db.connect() as conn:
            undone = int(conn.execute(select(func.count()).select_from(actions).where(
                actions.c.status != "done")).scalar_one())
        figures.update({
            "smtp_ratio_to_floor": round(figures["smtp_floor_per_s"] / figures["smtp_per_s"],
                                         2),
            "webhook_ratio_to_floor": round(
                figures["webhook_floor_per_s"] / figures["webhook_per_s"], 2),
            "delivery_emails": emails, "delivery_webhooks": hooks,
            "lost": len(wanted - set(got)), "doubled": sum(n - 1 for n in got.values()),
            "unsigned": unsigned, "undone": undone,
            "delivery_store": kk.db.dialect.name,
        })
        log(f"delivery: lost {figures['lost']}, doubled {figures['doubled']}, "
            f"bad signatures {unsigned}")
        return figures
    finally:
        kk.close()
        parent.send("stop")
        server.join(10)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--emails", type=int, default=3_000,
                        help="delivery: email actions delivered.")
    parser.add_argument("--webhooks", type=int, default=10_000,
                        help="delivery: webhook actions delivered.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kokemus-bench-delivery-"))
    try:
        result = part_delivery(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
