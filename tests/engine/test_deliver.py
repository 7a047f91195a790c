"""Delivering the rules' outbox over real stores, a real SMTP server and a real HTTP
receiver on loopback: each action once, in the customer's language, signed as Standard
Webhooks says, retried with backoff, dead-lettered and re-driven, and held to the contact
pressure (quiet hours, consent, unsubscribe, the contact cap) at delivery.

Rows are written as engine/rules.py writes them (the contract in the outbox's table and
payload), so these tests stand on their own."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from kokemus import bootstrap
from kokemus.bootstrap import Kokemus
from kokemus.config import Settings
from kokemus.domain.privacy import ConsentStatement
from kokemus.engine import webhooks
from kokemus.engine.deliver import BACKOFF, MAX_ATTEMPTS, claim, deliver
from kokemus.engine.dispatch import dispatch
from kokemus.services import actions as action_service
from kokemus.services import consents, ingest
from kokemus.services import workspaces as workspace_service
from kokemus.services.feedback import new_id
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.tables import actions, audit_log, cases, invitations
from kokemus.workspace import document
from tests.conftest import STARTER
from tests.integration.test_dispatch_smtp import Inbox, free_port, inbox, text_body  # noqa: F401

NOW = datetime(2026, 6, 3, 10, 0, tzinfo=UTC)  # 13:00 in Helsinki: not quiet
SECRET = "whsec_" + base64.b64encode(b"kokemus-test-secret-0123456789").decode()
SECRET_ENV = "KOKEMUS_TEST_HOOK_SECRET"

RULES = """
rules:
  - id: damaged
    name: {fi: Vaurio, en: Damage}
    when: {on: event, event: delivery_damaged}
    actions:
      - do: email
        subject:
          fi: "Pahoittelemme, {{ customer.name }}"
          en: "We are sorry, {{ customer.name }}"
        body:
          fi: "Hei {{ customer.name }}! Kuljettaja {{ cause.properties.carrier }} vaurioitti \\
            tilauksesi {{ cause.id }}. Uusi kone on matkalla."
          en: "Hi {{ customer.name }}! The carrier {{ cause.properties.carrier }} damaged \\
            your order {{ cause.id }}. A new machine is on its way."
      - do: notify
        via: email
        subject: {fi: "Toimitus", en: "Delivery"}
        body: {fi: "Kerromme heti: {{ cause.type }}", en: "Telling you at once: {{ cause.type }}"}
      - do: webhook
        url: "http://127.0.0.1:PORT/hooks/logistics"
        secret_env: KOKEMUS_TEST_HOOK_SECRET
      - do: webhook
        url: "http://127.0.0.1:PORT/hooks/custom"
        secret_env: KOKEMUS_TEST_HOOK_SECRET
        body: '{"order": {{ cause.id|tojson }}, "who": {{ customer.name|tojson }}, "n": 1}'
      - do: notify
        via: sms
        body: {fi: "Tilaus {{ cause.id }} on matkalla", en: "Order {{ cause.id }} is on its way"}
        url: "http://127.0.0.1:PORT/hooks/sms"
        secret_env: KOKEMUS_TEST_HOOK_SECRET
      - do: survey
        survey: after-delivery
      - do: case
        department: logistics
        title: {fi: Vaurio toimituksessa, en: Damaged delivery}
        priority: high
        sla: 4h
      - do: start_sequence
        sequence: recovery
  - id: offers
    name: {fi: Tarjoukset, en: Offers}
    when: {on: event, event: order_placed, consent: marketing}
    actions:
      - do: email
        subject: {fi: Tarjous, en: An offer}
        body: {fi: "Hei {{ customer.name }}", en: "Hi {{ customer.name }}"}
  - id: broken
    name: {fi: Rikki, en: Broken}
    when: {on: event, event: order_placed}
    actions:
      - do: email
        subject: {fi: "{{ ''.__class__.__mro__[1].__subclasses__() }}", en: x}
        body: {fi: "x", en: x}
      - do: email
        subject: {fi: "{{ 'x' * 99999999 }}", en: x}
        body: {fi: "x", en: x}
  - id: dormant
    name: {fi: Lepää, en: Dormant}
    enabled: false
    when: {on: event, event: order_placed}
    actions:
      - do: webhook
        url: "http://127.0.0.1:PORT/hooks/dormant"
        secret_env: KOKEMUS_TEST_HOOK_SECRET
"""
# the indexes of the damaged rule's actions
EMAIL, NOTICE, HOOK, CUSTOM, SMS, SURVEY, CASE, SEQUENCE = range(8)


# -- a webhook receiver on loopback ------------------------------------------------------

@dataclass
class Call:
    path: str
    id: str
    timestamp: str
    signature: str
    body: bytes
    verified: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on loopback that keeps every webhook call, checks its signature with
    the test secret and answers `status` (or, in turn, the statuses queued in `answers`)."""

    port: int = field(default_factory=free_port)
    calls: list[Call] = field(default_factory=list)
    status: int = 204
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    delay: float = 0.0  # seconds before each answer
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ids(self) -> Counter[str]:
        with self._lock:
            return Counter(c.id for c in self.calls)

    def start(self) -> Receiver:
        receiver = self
        key = webhooks.secret_key(SECRET)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # kept-alive connections, as real receivers do

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing arrived
                    self.close_connection = True
                    return
                head = self.headers
                msg_id, ts = head.get("webhook-id", ""), head.get("webhook-timestamp", "0")
                sig = head.get("webhook-signature", "")
                call = Call(self.path, msg_id, ts, sig, body,
                            webhooks.verify(key, msg_id, ts, sig, body))
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.calls.append(call)
                    status, extra = (receiver.answers.pop(0) if receiver.answers
                                     else (receiver.status, {}))
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a worker killed mid-request resets its connection: expected here

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


# -- stores, the workspace and outbox rows -----------------------------------------------

@pytest.fixture
def settings(tmp_path: Path, database_url: str | None, inbox: Inbox) -> Settings:  # noqa: F811
    return Settings(data_dir=tmp_path / "data", database_url=database_url,
                    secret_key="test-secret", smtp_port=inbox.port,
                    mail_from="Yritykseni <palvelu@yritys.example>", action_lease=60,
                    webhook_networks="127.0.0.0/8")  # the receivers listen on loopback


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return SECRET


def workspace_text(port: int, extra: str = "") -> str:
    return STARTER.read_text(encoding="utf-8") + extra + RULES.replace("PORT", str(port))


def apply(kk: Kokemus, text: str) -> ActiveWorkspace:
    workspace_service.apply(kk.db, document.loads(text))
    return workspace_service.get(kk.db, "my-company")


@pytest.fixture
def ws(kk: Kokemus, receiver: Receiver, secret: str) -> ActiveWorkspace:
    active = apply(kk, workspace_text(receiver.port))
    ingest.ingest_customers([
        {"id": "aino", "email": "aino@example.fi", "name": "Aino", "language": "fi",
         "account": "acme"},
        {"id": "emma", "email": "emma@example.com", "name": "Emma", "language": "en"},
        {"id": "silent", "name": "Sami", "language": "fi"},  # no email address
    ], active, kk.db)
    return active


def cause(ident: str, kind: str = "delivery_damaged", **properties: Any) -> dict[str, Any]:
    return {"id": ident, "type": kind, "occurred_at": (NOW - timedelta(minutes=5)).isoformat(),
            "channel": "web", "touchpoint": "delivery",
            "properties": properties or {"carrier": "Kiito"}}


def plan(kk: Kokemus, ws: ActiveWorkspace, rule: str, index: int, customer: str | None,
         cause_data: dict[str, Any], *, due: datetime = NOW,
         params: dict[str, Any] | None = None) -> str:
    """One outbox row as engine/rules.py writes it; returns its id."""
    found = next(r for r in ws.document.rules if r.id == rule)
    action = found.actions[index]
    payload = {"rule": rule, "action": index, "do": action.do, "customer": customer,
               "cause": cause_data, "params": params or action.model_dump(mode="json")}
    ident = new_id()
    with kk.db.begin() as conn:
        conn.execute(insert(actions).values(
            id=ident, workspace_id=ws.id, rule=rule, action=index, kind=action.do,
            key=f"{rule}:{index}:{cause_data['id']}", customer=customer,
            cause=cause_data["id"], payload=json.dumps(payload), status="planned",
            reason=None, attempts=0, due_at=due, done_at=None, created_at=due))
    return ident


def row(kk: Kokemus, ident: str) -> dict[str, Any]:
    with kk.db.connect() as conn:
        found = conn.execute(select(actions).where(actions.c.id == ident)).mappings().first()
    assert found is not None
    return dict(found)


def key_of(kk: Kokemus, ident: str) -> str:
    r = row(kk, ident)
    return webhooks.message_id(int(r["workspace_id"]), str(r["key"]))


# -- email --------------------------------------------------------------------------------

def test_an_email_reaches_each_customer_once_in_their_language(
        kk: Kokemus, ws: ActiveWorkspace, inbox: Inbox) -> None:  # noqa: F811
    fi = plan(kk, ws, "damaged", EMAIL, "aino", cause("ord-1"))
    en = plan(kk, ws, "damaged", EMAIL, "emma", cause("ord-2", carrier="Rahtisiili"))
    later = plan(kk, ws, "damaged", EMAIL, "emma", cause("ord-3"), due=NOW + timedelta(hours=1))

    done = deliver(kk, NOW)
    assert done.done == {"email": 2} and not done.skipped
    by_to = {str(m["To"]): m for m in inbox.messages}
    aino, emma = by_to["Aino <aino@example.fi>"], by_to["Emma <emma@example.com>"]
    assert aino["Subject"] == "Pahoittelemme, Aino"
    assert text_body(aino).startswith("Hei Aino! Kuljettaja Kiito vaurioitti tilauksesi ord-1.")
    assert emma["Subject"] == "We are sorry, Emma"
    assert "The carrier Rahtisiili damaged your order ord-2." in text_body(emma)
    assert aino["Message-ID"] == f"<{key_of(kk, fi)}@yritys.example>"
    assert emma["Message-ID"] == f"<{key_of(kk, en)}@yritys.example>"
    assert aino["Content-Language"] == "fi" and aino["Auto-Submitted"] == "auto-generated"
    for ident in (fi, en):
        assert row(kk, ident)["status"] == "done" and row(kk, ident)["attempts"] == 1
        assert row(kk, ident)["done_at"] == NOW
    assert row(kk, later)["status"] == "planned"  # not due yet

    assert deliver(kk, NOW).delivered == 0  # a second run sends nothing again
    assert len(inbox.envelopes) == 2
    assert deliver(kk, NOW + timedelta(hours=1)).done == {"email": 1}
    assert len(inbox.envelopes) == 3


def test_templates_run_in_the_bounded_sandbox_and_a_refused_one_is_dead_at_once(
        kk: Kokemus, ws: ActiveWorkspace, inbox: Inbox) -> None:  # noqa: F811
    escape = plan(kk, ws, "broken", 0, "aino", cause("o-1", "order_placed"))
    huge = plan(kk, ws, "broken", 1, "aino", cause("o-2", "order_placed"))
    done = deliver(kk, NOW)
    assert done.dead == 2 and done.delivered == 0
    assert not inbox.envelopes
    assert row(kk, escape)["status"] == "dead"
    assert row(kk, escape)["reason"].startswith("template: ")
    assert "__subclasses__" in row(kk, escape)["reason"] or "unsafe" in row(kk, escape)[
        "reason"] or "attribute" in row(kk, escape)["reason"]
    assert row(kk, huge)["reason"] == "template: a value longer than 65,536 characters or items"
    assert row(kk, escape)["attempts"] == 1


# -- webhooks -------------------------------------------------------------------------------

def test_webhooks_are_signed_as_standard_webhooks_says(
        kk: Kokemus, ws: ActiveWorkspace, receiver: Receiver) -> None:
    hook = plan(kk, ws, "damaged", HOOK, "aino", cause("ord-7"))
    custom = plan(kk, ws, "damaged", CUSTOM, "aino", cause("ord-7"))
    sms = plan(kk, ws, "damaged", SMS, "emma", cause("ord-8"))
    done = deliver(kk, NOW)
    assert done.done == {"webhook": 2, "notify:sms": 1}
    calls = {c.path: c for c in receiver.calls}
    assert len(receiver.calls) == 3 and all(c.verified for c in receiver.calls)
    default = calls["/hooks/logistics"]
    assert default.id == key_of(kk, hook) and default.id.startswith("msg_")
    assert "." not in default.id  # the spec signs id.timestamp.body
    assert abs(int(default.timestamp) - datetime.now(UTC).timestamp()) < 60
    assert default.signature.startswith("v1,")
    body = default.json
    assert body["type"] == "kokemus.action"
    assert body["timestamp"] == cause("ord-7")["occurred_at"]
    assert body["data"]["key"] == "damaged:2:ord-7"
    assert body["data"]["cause"]["properties"] == {"carrier": "Kiito"}
    assert body["data"]["customer"]["email"] == "aino@example.fi"
    assert calls["/hooks/custom"].json == {"order": "ord-7", "who": "Aino", "n": 1}
    assert calls["/hooks/custom"].id == key_of(kk, custom) != default.id
    text = calls["/hooks/sms"].json
    assert text["type"] == "kokemus.notify" and calls["/hooks/sms"].id == key_of(kk, sms)
    assert text["data"]["via"] == "sms" and text["data"]["text"] == "Order ord-8 is on its way"
    # a signature made with another secret does not verify
    other = webhooks.secret_key("whsec_" + base64.b64encode(b"x" * 24).decode())
    assert not webhooks.verify(other, default.id, default.timestamp, default.signature,
                               default.body)


def test_the_spec_signature_of_a_known_message() -> None:
    """The reference libraries' own example (standard-webhooks, test vectors)."""
    key = webhooks.secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    assert webhooks.sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")


def test_a_failing_receiver_is_tried_with_backoff_then_dead_then_re_driven(
        kk: Kokemus, ws: ActiveWorkspace, receiver: Receiver) -> None:
    ident = plan(kk, ws, "damaged", HOOK, "aino", cause("ord-9"))
    receiver.status = 500
    receiver.answers = [(503, {"Retry-After": "120"})]
    at = NOW
    waits = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        done = deliver(kk, at)
        state = row(kk, ident)
        assert state["attempts"] == attempt
        if attempt < MAX_ATTEMPTS:
            assert done.retrying == 1 and state["status"] == "planned"
            waits.append((state["due_at"] - at).total_seconds())
            assert deliver(kk, state["due_at"] - timedelta(seconds=1)).retrying == 0
            at = state["due_at"]
    assert waits == [120, *BACKOFF[1:]]  # Retry-After of the 503 was longer than 1 min
    assert state["status"] == "dead"
    assert state["reason"] == "gave up after 6 tries: the receiver answered 500"
    assert set(receiver.ids) == {key_of(kk, ident)}  # the same id on every attempt

    receiver.status = 200
    assert action_service.retry(kk.db, ws, [ident], actor="user:owner", now=at) == 1
    again = row(kk, ident)
    assert (again["status"], again["attempts"], again["due_at"]) == ("planned", 0, at)
    assert deliver(kk, at).done == {"webhook": 1}
    assert row(kk, ident)["status"] == "done"
    assert receiver.ids == {key_of(kk, ident): MAX_ATTEMPTS + 1}
    with kk.db.connect() as conn:
        audited = conn.execute(select(audit_log.c.actor, audit_log.c.detail).where(
            audit_log.c.action == "actions.retry")).all()
    assert audited == [("user:owner", {"count": 1})]


def test_gone_is_dead_at_once_and_an_unreachable_receiver_costs_one_try(
        kk: Kokemus, ws: ActiveWorkspace, receiver: Receiver) -> None:
    receiver.status = 410
    gone = plan(kk, ws, "damaged", HOOK, "aino", cause("g-1"))
    assert deliver(kk, NOW).dead == 1
    assert row(kk, gone)["status"] == "dead" and "410 Gone" in row(kk, gone)["reason"]

    receiver.stop()
    first = plan(kk, ws, "damaged", HOOK, "aino", cause("d-1"), due=NOW - timedelta(seconds=1))
    second = plan(kk, ws, "damaged", CUSTOM, "aino", cause("d-2"))
    done = deliver(kk, NOW)
    assert (done.retrying, done.waiting) == (1, 1)
    tried, waited = row(kk, first), row(kk, second)
    assert tried["attempts"] == 1 and tried["due_at"] == NOW + timedelta(seconds=BACKOFF[0])
    assert "ConnectionRefused" in tried["reason"]
    assert waited["attempts"] == 0 and waited["reason"].startswith("waiting for 127.0.0.1:")
    assert waited["due_at"] == NOW + timedelta(seconds=60)


def test_a_webhook_into_the_servers_own_network_is_refused_without_a_call(
        kk: Kokemus, ws: ActiveWorkspace, receiver: Receiver) -> None:
    # the same loopback receiver the other tests reach, with the allowance taken away
    guarded = webhooks.Poster(networks=())
    ident = plan(kk, ws, "damaged", HOOK, "aino", cause("ssrf-1"))
    try:
        done = deliver(kk, NOW, poster=guarded)
    finally:
        guarded.close()
    assert done.dead == 1 and not receiver.calls
    reason = row(kk, ident)["reason"]
    assert "127.0.0.1" in reason and "webhook_networks" in reason


@pytest.mark.parametrize(("address", "allowed"), [
    ("93.184.216.34", True), ("2606:4700::1111", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False),
    ("192.168.1.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
    ("0.0.0.0", False), ("224.0.0.1", False), ("::1", False), ("fe80::1%eth0", False),
    ("fd00::1", False), ("::ffff:10.0.0.1", False), ("::ffff:93.184.216.34", True),
])
def test_only_public_addresses_are_called_by_default(address: str, allowed: bool) -> None:
    assert webhooks.allowed_address(address) is allowed


def test_the_setting_opens_named_networks_only() -> None:
    networks = Settings(webhook_networks="10.0.0.0/8, 127.0.0.1").webhook_allowed
    assert webhooks.allowed_address("10.200.0.7", networks)
    assert webhooks.allowed_address("::ffff:127.0.0.1", networks)
    assert not webhooks.allowed_address("127.0.0.2", networks)
    assert not webhooks.allowed_address("192.168.0.1", networks)
    with pytest.raises(ValueError, match="not an address"):
        Settings(webhook_networks="intranet")


def test_a_missing_secret_is_a_failure_that_names_the_variable(
        kk: Kokemus, ws: ActiveWorkspace, receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV)
    ident = plan(kk, ws, "damaged", HOOK, "aino", cause("s-1"))
    assert deliver(kk, NOW).retrying == 1
    assert SECRET_ENV in row(kk, ident)["reason"] and not receiver.calls
    monkeypatch.setenv(SECRET_ENV, "not base64!")
    assert deliver(kk, NOW + timedelta(minutes=1)).retrying == 1
    assert "base64" in row(kk, ident)["reason"]


# -- contact pressure ----------------------------------------------------------------------

def test_quiet_hours_hold_messages_to_customers_but_not_to_systems(
        kk: Kokemus, ws: ActiveWorkspace, inbox: Inbox, receiver: Receiver) -> None:  # noqa: F811
    night = datetime(2026, 6, 3, 20, 30, tzinfo=UTC)  # 23:30 in Helsinki
    email = plan(kk, ws, "damaged", EMAIL, "aino", cause("q-1"), due=night)
    sms = plan(kk, ws, "damaged", SMS, "aino", cause("q-1"), due=night)
    hook = plan(kk, ws, "damaged", HOOK, "aino", cause("q-1"), due=night)
    done = deliver(kk, night)
    assert done.postponed == 2 and done.done == {"webhook": 1}
    morning = datetime(2026, 6, 4, 5, 0, tzinfo=UTC)  # 08:00 in Helsinki
    for ident in (email, sms):
        held = row(kk, ident)
        assert (held["status"], held["due_at"], held["reason"], held["attempts"]) == (
            "planned", morning, "quiet hours", 0)
    assert row(kk, hook)["status"] == "done"
    assert not inbox.envelopes
    assert deliver(kk, morning).done == {"email": 1, "notify:sms": 1}
    assert len(inbox.envelopes) == 1


def test_consent_unsubscribe_and_missing_addresses_skip_with_the_reason(
        kk: Kokemus, ws: ActiveWorkspace, inbox: Inbox) -> None:  # noqa: F811
    # the offers rule asks for marketing consent: Aino granted it, then withdrew it
    for granted, at in ((True, NOW - timedelta(days=9)), (False, NOW - timedelta(days=1))):
        consents.record(kk.db, ws, "aino", ConsentStatement(
            purpose="marketing", granted=granted, at=at), source="api", actor="test")
    consents.record(kk.db, ws, "emma", ConsentStatement(purpose="marketing", granted=True),
                    source="api", actor="test")
    withdrawn = plan(kk, ws, "offers", 0, "aino", cause("o-1", "order_placed"))
    granted = plan(kk, ws, "offers", 0, "emma", cause("o-2", "order_placed"))
    # the damaged rule asks for none, but an email is marketing: Aino unsubscribed from it
    unsubscribed = plan(kk, ws, "damaged", EMAIL, "aino", cause("o-3"))
    notice = plan(kk, ws, "damaged", NOTICE, "aino", cause("o-3"))  # a service notice
    no_email = plan(kk, ws, "damaged", EMAIL, "silent", cause("o-4"))
    nobody = plan(kk, ws, "damaged", EMAIL, None, cause("o-5"))
    done = deliver(kk, NOW)
    assert done.skipped == {"no consent": 1, "unsubscribed": 1, "no email": 1,
                            "no customer": 1}
    assert done.done == {"email": 1, "notify:email": 1}
    for ident, reason in ((withdrawn, "no consent"), (unsubscribed, "unsubscribed"),
                          (no_email, "no email"), (nobody, "no customer")):
        assert (row(kk, ident)["status"], row(kk, ident)["reason"]) == ("skipped", reason)
    assert {row(kk, granted)["status"], row(kk, notice)["status"]} == {"done"}
    assert sorted(str(m["To"]) for m in inbox.messages) == ["Aino <aino@example.fi>",
                                                            "Emma <emma@example.com>"]


def test_the_contact_cap_counts_invitations_emails_and_notices(
        kk: Kokemus, receiver: Receiver, secret: str, inbox: Inbox) -> None:  # noqa: F811
    ws = apply(kk, workspace_text(receiver.port, "contact: {cap: 3, per: 7d}\n"))
    ingest.ingest_customers([{"id": "aino", "email": "aino@example.fi", "name": "Aino",
                              "language": "fi"}], ws, kk.db)
    with kk.db.begin() as conn:  # an invitation sent two days ago counts
        conn.execute(insert(invitations).values(
            id=new_id(), workspace_id=ws.id, survey="after-delivery", customer="aino",
            channel="email", event_id="old", due_at=NOW - timedelta(days=2), status="sent",
            attempts=1, sent_at=NOW - timedelta(days=2), created_at=NOW))
    notice = plan(kk, ws, "damaged", NOTICE, "aino", cause("c-1"), due=NOW - timedelta(seconds=2))
    first = plan(kk, ws, "damaged", EMAIL, "aino", cause("c-2"), due=NOW - timedelta(seconds=1))
    second = plan(kk, ws, "damaged", EMAIL, "aino", cause("c-3"))
    done = deliver(kk, NOW)
    assert done.done == {"notify:email": 1, "email": 1}
    assert done.skipped == {"contact cap": 1}
    assert row(kk, notice)["status"] == row(kk, first)["status"] == "done"
    assert row(kk, second)["reason"] == "contact cap"
    # a notice is about the customer's own business: never held back by the cap
    late = plan(kk, ws, "damaged", NOTICE, "aino", cause("c-4"))
    assert deliver(kk, NOW).done == {"notify:email": 1}
    assert row(kk, late)["status"] == "done"
    # ... and the invitation dispatcher counts the rules' messages too
    with kk.db.begin() as conn:
        conn.execute(insert(invitations).values(
            id="inv-new", workspace_id=ws.id, survey="after-delivery", customer="aino",
            channel="email", event_id="new", due_at=NOW, status="planned", attempts=0,
            created_at=NOW))
    assert dispatch(kk, NOW).skipped == {"contact cap": 1}
    # a week later the window has moved on
    week = NOW + timedelta(days=7, minutes=1)
    again = plan(kk, ws, "damaged", EMAIL, "aino", cause("c-5"), due=week)
    assert deliver(kk, week).done == {"email": 1} and row(kk, again)["status"] == "done"


# -- what stays in the app store: survey invitations and cases -----------------------------

def test_a_survey_action_plans_one_invitation_per_survey_and_cause(
        kk: Kokemus, ws: ActiveWorkspace) -> None:
    first = plan(kk, ws, "damaged", SURVEY, "aino", cause("ord-5"))
    assert deliver(kk, NOW).done == {"survey": 1}
    with kk.db.connect() as conn:
        made = conn.execute(select(invitations)).mappings().all()
    assert len(made) == 1
    inv = made[0]
    assert (inv["survey"], inv["customer"], inv["event_id"], inv["status"], inv["due_at"],
            inv["channel"], inv["touchpoint"]) == (
        "after-delivery", "aino", "ord-5", "planned", NOW, "email", "delivery")
    assert row(kk, first)["reason"] == "invitation planned"
    # the same cause again (a crash before the outcome, or a re-drive): no second invitation
    with kk.db.begin() as conn:
        conn.execute(update(actions).where(actions.c.id == first).values(
            status="planned", due_at=NOW))
    assert deliver(kk, NOW).done == {"survey": 1}
    assert row(kk, first)["reason"] == "invitation planned before"
    with kk.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(invitations)).scalar() == 1


def test_a_case_action_opens_one_case_for_the_department(
        kk: Kokemus, ws: ActiveWorkspace) -> None:
    ident = plan(kk, ws, "damaged", CASE, "aino", cause("ord-6"))
    assert deliver(kk, NOW).done == {"case": 1}
    with kk.db.connect() as conn:
        opened = conn.execute(select(cases)).mappings().all()
    assert len(opened) == 1
    case = opened[0]
    assert (case["department"], case["customer"], case["account"], case["priority"],
            case["rule"], case["cause"], case["action_id"], case["state"]) == (
        "logistics", "aino", "acme", "high", "damaged", "ord-6", ident, "new")
    assert case["sla_due_at"] == NOW + timedelta(hours=4)
    assert row(kk, ident)["reason"] == f"case {case['id']}"
    with kk.db.begin() as conn:  # delivered again: the case it opened, none more
        conn.execute(update(actions).where(actions.c.id == ident).values(
            status="planned", due_at=NOW))
    assert deliver(kk, NOW).done == {"case": 1}
    with kk.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(cases)).scalar() == 1


# -- what is not delivered ------------------------------------------------------------------

def test_sequences_removed_or_disabled_rules_and_bad_payloads(
        kk: Kokemus, ws: ActiveWorkspace, receiver: Receiver) -> None:
    sequence = plan(kk, ws, "damaged", SEQUENCE, "aino", cause("x-1"))
    dormant = plan(kk, ws, "dormant", 0, "aino", cause("x-2", "order_placed"))
    bad = plan(kk, ws, "damaged", HOOK, "aino", cause("x-3"), params={"do": "webhook"})
    gone = plan(kk, ws, "damaged", EMAIL, "aino", cause("x-4"))
    with kk.db.begin() as conn:
        conn.execute(update(actions).where(actions.c.id == gone).values(rule="no-such-rule"))
    done = deliver(kk, NOW)
    assert done.skipped == {"sequences: next issue": 1, "rule disabled": 1,
                            "rule removed": 1}
    assert done.dead == 1
    assert row(kk, sequence)["reason"] == "sequences: next issue"
    assert row(kk, dormant)["reason"] == "rule disabled"
    assert row(kk, bad)["status"] == "dead" and row(kk, bad)["reason"].startswith("payload: ")
    assert not receiver.calls


# -- leases ---------------------------------------------------------------------------------

def test_a_claim_is_a_lease_another_worker_waits_out(
        kk: Kokemus, ws: ActiveWorkspace, settings: Settings, receiver: Receiver) -> None:
    idents = [plan(kk, ws, "damaged", HOOK, "aino", cause(f"l-{i}")) for i in range(5)]
    lease = NOW + timedelta(seconds=60)
    with bootstrap.build(settings) as other:  # a second worker's own connections
        mine = claim(kk.db, NOW, lease, 3)
        theirs = claim(other.db, NOW, lease, 10)
        assert len(mine) == 3 and len(theirs) == 2
        assert {r["id"] for r in mine} | {r["id"] for r in theirs} == set(idents)
        assert claim(other.db, NOW + timedelta(seconds=59), lease, 10) == []
        # the holder died: when its lease has run out the rows are anyone's
        assert len(claim(other.db, lease, lease + timedelta(seconds=60), 10)) == 5
    assert deliver(kk, lease + timedelta(seconds=60)).done == {"webhook": 5}
    assert len(receiver.calls) == 5


def test_rows_not_started_before_half_the_lease_are_handed_back(
        ws: ActiveWorkspace, settings: Settings, receiver: Receiver) -> None:
    with bootstrap.build(settings.model_copy(update={"action_lease": 0.01})) as hasty:
        idents = [plan(hasty, ws, "damaged", HOOK, "aino", cause(f"h-{i}"),
                       due=NOW - timedelta(seconds=4 - i)) for i in range(4)]
        receiver.delay = 0.02  # the first call outlasts half the lease
        done = deliver(hasty, NOW, limit=4)
        assert done.done == {"webhook": 1} and done.released == 3
        assert row(hasty, idents[0])["status"] == "done"
        for ident in idents[1:]:
            handed = row(hasty, ident)
            assert (handed["status"], handed["due_at"], handed["attempts"]) == (
                "planned", NOW, 0)


# -- unsubscribing --------------------------------------------------------------------------

def test_a_rule_email_can_be_unsubscribed_from_and_a_notice_cannot(
        kk: Kokemus, ws: ActiveWorkspace, inbox: Inbox, settings: Settings) -> None:  # noqa: F811
    from fastapi.testclient import TestClient

    from kokemus.api.app import create_app

    plan(kk, ws, "damaged", EMAIL, "aino", cause("u-1"), due=NOW - timedelta(seconds=1))
    plan(kk, ws, "damaged", NOTICE, "aino", cause("u-1"))
    assert deliver(kk, NOW).done == {"email": 1, "notify:email": 1}
    by_subject = {str(m["Subject"]): m for m in inbox.messages}
    email, notice = by_subject["Pahoittelemme, Aino"], by_subject["Toimitus"]
    assert notice["List-Unsubscribe"] is None and "/u/" not in text_body(notice)
    link = str(email["List-Unsubscribe"]).strip().strip("<>")
    assert link.startswith(f"{settings.base_url}/u/")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert text_body(email).replace("\r\n", "\n").rstrip().endswith(
        "Etkö halua enää näitä viestejä? Peru ne tästä:\n" + link)
    path = link.removeprefix(settings.base_url)
    with TestClient(create_app(settings, kk)) as client:
        asked = client.get(path)  # a link scanner opens it: nothing happens
        assert asked.status_code == 200 and "Peru viestit" in asked.text
        assert consents.current(kk.db, ws.id, "aino")["marketing"]["by"] == "default"
        # the mail system's one-click POST (RFC 8058)
        done = client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and "Viestit peruttu" in done.text
        again = client.post(path)  # twice: one statement
        assert again.status_code == 200
        forged = client.get(path[:-3] + "xyz")
        assert forged.status_code == 404 and "Linkki ei toimi" in forged.text
    history = consents.history(kk.db, ws.id, "aino")
    assert [(h["purpose"], h["granted"], h["source"]) for h in history] == [
        ("marketing", False, "link")]
    plan(kk, ws, "damaged", EMAIL, "aino", cause("u-2"), due=NOW - timedelta(seconds=1))
    plan(kk, ws, "damaged", NOTICE, "aino", cause("u-2"))
    done_again = deliver(kk, NOW)
    assert done_again.skipped == {"unsubscribed": 1}
    assert done_again.done == {"notify:email": 1}  # about her own order: still told
