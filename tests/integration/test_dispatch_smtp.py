"""Dispatching invitations to a real SMTP server on loopback (aiosmtpd), with the contact
cap, quiet hours, opt-outs and retries, over real stores."""

from __future__ import annotations

import email
import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as email_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select, update

from kokemus.analytics import ordering
from kokemus.bootstrap import Kokemus
from kokemus.config import Settings
from kokemus.engine import worker as worker_module
from kokemus.engine.dispatch import MAX_ATTEMPTS, dispatch, quiet_until
from kokemus.engine.mail import Mailer
from kokemus.engine.triggers import plan
from kokemus.services import feedback, ingest
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.tables import invitations
from tests.integration.test_triggers import DELIVERED, event, ingest_events, utc, with_surveys

BASE = "https://cx.example.fi"
DUE = DELIVERED + timedelta(hours=2)  # 14:00 in Helsinki


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """An SMTP server on loopback that keeps what it receives; stop and start it again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.envelopes: list[Envelope] = []
        self.peers: list[object] = []  # the client's address and port, per message
        self.refuse: set[str] = set()
        self._controller: Controller | None = None

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        self.peers.append(session.peer)
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(e.original_content or b"", policy=email_policy)
                for e in self.envelopes]  # type: ignore[misc]


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None, inbox: Inbox) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url,
                    secret_key="test-secret", smtp_host="127.0.0.1", smtp_port=inbox.port,
                    public_url=BASE, mail_from="Yritykseni <kysely@yritys.example>")


@pytest.fixture
def people(kk: Kokemus, workspace: ActiveWorkspace) -> ActiveWorkspace:
    ingest.ingest_customers([
        {"id": "aino", "email": "aino@example.fi", "name": "Aino", "language": "fi"},
        {"id": "emma", "email": "emma@example.com", "name": "Emma", "language": "en"},
        {"id": "silent", "language": "fi"},  # no email address
    ], workspace, kk.db)
    return workspace


def status(kk: Kokemus, event_id: str) -> dict[str, Any]:
    with kk.db.connect() as conn:
        row = conn.execute(select(invitations).where(invitations.c.event_id == event_id)).first()
    assert row is not None
    return dict(row._mapping)


def text_body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def html_body(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def test_a_delivery_gets_one_email_in_the_customers_language(
        kk: Kokemus, people: ActiveWorkspace, inbox: Inbox, settings: Settings) -> None:
    ingest_events(kk, people, event("e-fi", "aino"), event("e-en", "emma"))
    assert plan(kk, DELIVERED).invited == 2
    early = dispatch(kk, DUE - timedelta(minutes=1))
    assert early.sent == 0 and not inbox.envelopes  # not due before 2 h

    done = dispatch(kk, DUE)
    assert done.sent == 2
    assert sorted(e.rcpt_tos[0] for e in inbox.envelopes) == ["aino@example.fi",
                                                            "emma@example.com"]
    by_to = {str(m["To"]): m for m in inbox.messages}
    fi = by_to["Aino <aino@example.fi>"]
    en = by_to["Emma <emma@example.com>"]
    assert fi["Subject"] == "Toimituksen jälkeen – Yritykseni"
    assert en["Subject"] == "After delivery – My company"
    assert "Hei Aino," in text_body(fi) and "Toimitus" in text_body(fi)
    assert "Kuinka todennäköisesti suosittelisit Yritykseni" in text_body(fi)
    assert "Hello Emma," in text_body(en) and "Delivery" in text_body(en)
    assert "How likely are you to recommend My company" in text_body(en)
    assert 'lang="fi"' in html_body(fi) and 'lang="en"' in html_body(en)
    assert (fi["Content-Language"], en["Content-Language"]) == ("fi", "en")
    for message in (fi, en):
        assert message["Message-ID"].endswith("@yritys.example>")
        assert message["Date"]
        assert message["From"] == "Yritykseni <kysely@yritys.example>"

    # the link in the email opens the survey for that customer, in that language
    inv = status(kk, "e-fi")
    assert (inv["status"], inv["attempts"]) == ("sent", 1)
    assert utc(inv["sent_at"]) == DUE
    assert utc(inv["expires_at"]) == DUE + timedelta(days=14)
    tokens = set(re.findall(re.escape(BASE) + r"/s/([\w.\-]+)(?=\s)", text_body(fi)))
    assert len(tokens) == 1
    opened = feedback.open_link(kk, "test-secret", tokens.pop(), DUE + timedelta(hours=1))
    assert opened.invitation["id"] == inv["id"]
    assert (opened.language, opened.survey.id) == ("fi", "after-delivery")

    # the scale as eleven one-click links, 0..10, in both parts; the opt-out link and header
    for body in (text_body(fi), html_body(fi)):
        values = re.findall(r"/s/[\w.\-]+\?recommend=(\d+)", body)
        assert values == [str(v) for v in range(11)]
    assert 'aria-label="0, Ei lainkaan todennäköistä"' in html_body(fi)
    opt_out = re.search(re.escape(BASE) + r"/s/[\w.\-]+/opt-out", text_body(fi))
    assert opt_out is not None
    assert fi["List-Unsubscribe"] == f"<{opt_out.group(0)}>"
    assert opt_out.group(0) in html_body(fi)

    # never sent twice: the next runs find nothing due
    assert dispatch(kk, DUE + timedelta(hours=1)).sent == 0
    assert dispatch(kk, DUE + timedelta(days=1)).sent == 0
    assert len(inbox.envelopes) == 2


def test_one_click_answer_from_the_email_link(
        kk: Kokemus, people: ActiveWorkspace, inbox: Inbox) -> None:
    ingest_events(kk, people, event("e1", "emma"))
    plan(kk, DELIVERED)
    dispatch(kk, DUE)
    body = text_body(inbox.messages[0])
    nine = re.search(r"/s/([\w.\-]+)\?recommend=9\b", body)
    assert nine is not None
    opened = feedback.open_link(kk, "test-secret", nine.group(1), DUE)
    assert opened.survey.check({"recommend": 9}) == {"recommend": 9}


CES_SURVEY = """\
  - id: after-order
    name: {fi: Tilauksen jälkeen, en: After the order}
    touchpoint: order
    intro: {fi: "Miten tilaaminen sujui?", en: "How did ordering go?"}
    trigger: {event: order_placed, delay: 0s}
    questions:
      - {id: effort, type: ces, required: true}
"""


def test_contact_cap_across_surveys(kk: Kokemus, people: ActiveWorkspace, inbox: Inbox,
                                    tmp_path: Path) -> None:
    ws = with_surveys(kk, tmp_path, CES_SURVEY)
    ingest_events(kk, ws, event("d1", "aino"))
    plan(kk, DELIVERED)
    assert dispatch(kk, DUE).sent == 1
    # a week later an order triggers the other survey: within the 14-day cap
    week = DUE + timedelta(days=7)
    ingest_events(kk, ws, event("o1", "aino", type="order_placed", at=week))
    plan(kk, week)
    capped = dispatch(kk, week)
    assert (capped.sent, capped.skipped["contact cap"]) == (0, 1)
    assert (status(kk, "o1")["status"], status(kk, "o1")["reason"]) == ("skipped", "contact cap")
    # after the cap, the next one goes out; its first question is CES: a 1..7 scale
    later = DUE + timedelta(days=15)
    ingest_events(kk, ws, event("o2", "aino", type="order_placed", at=later))
    plan(kk, later)
    assert dispatch(kk, later).sent == 1
    ces = inbox.messages[-1]
    assert ces["Subject"] == "Tilauksen jälkeen – Yritykseni"
    assert "Miten tilaaminen sujui?" in text_body(ces)
    assert re.findall(r"\?effort=(\d+)", text_body(ces)) == [str(v) for v in range(1, 8)]


def test_two_invitations_due_in_one_run_reach_a_customer_once(
        kk: Kokemus, people: ActiveWorkspace, inbox: Inbox) -> None:
    ingest_events(kk, people, event("first", "emma"),
                  event("second", "emma", at=DELIVERED + timedelta(minutes=5)))
    plan(kk, DELIVERED)
    done = dispatch(kk, DUE + timedelta(minutes=5))
    assert (done.sent, done.skipped["contact cap"]) == (1, 1)
    assert status(kk, "first")["status"] == "sent"
    assert status(kk, "second")["reason"] == "contact cap"
    assert len(inbox.envelopes) == 1


def test_quiet_hours_hold_an_email_until_morning(
        kk: Kokemus, people: ActiveWorkspace, inbox: Inbox) -> None:
    evening = datetime(2026, 6, 2, 18, 0, tzinfo=UTC)  # 21:00 in Helsinki (UTC+3)
    ingest_events(kk, people, event("late", "emma", at=evening))
    plan(kk, evening)
    eleven_pm = evening + timedelta(hours=2)  # due at 23:00 in Helsinki
    held = dispatch(kk, eleven_pm)
    assert (held.sent, held.postponed) == (0, 1)
    inv = status(kk, "late")
    morning = datetime(2026, 6, 3, 5, 0, tzinfo=UTC)  # 08:00 in Helsinki
    assert (inv["status"], utc(inv["due_at"])) == ("planned", morning)
    assert dispatch(kk, morning - timedelta(minutes=1)).sent == 0
    assert dispatch(kk, morning).sent == 1
    assert len(inbox.envelopes) == 1


def test_quiet_period_edges() -> None:
    from kokemus.domain.surveys import QuietHours

    quiet = QuietHours(start="21:00", end="08:00", timezone="Europe/Helsinki")
    winter = datetime(2026, 1, 10, 21, 30, tzinfo=UTC)  # 23:30 in Helsinki (UTC+2)
    assert quiet_until(winter, quiet) == datetime(2026, 1, 11, 6, 0, tzinfo=UTC)
    after_midnight = datetime(2026, 1, 10, 0, 30, tzinfo=UTC)  # 02:30 local
    assert quiet_until(after_midnight, quiet) == datetime(2026, 1, 10, 6, 0, tzinfo=UTC)
    assert quiet_until(datetime(2026, 1, 10, 6, 0, tzinfo=UTC), quiet) is None  # 08:00
    assert quiet_until(datetime(2026, 1, 10, 18, 59, tzinfo=UTC), quiet) is None  # 20:59
    lunch = QuietHours(start="12:00", end="13:00", timezone="UTC")  # not across midnight
    assert quiet_until(datetime(2026, 1, 10, 12, 30, tzinfo=UTC), lunch) == datetime(
        2026, 1, 10, 13, 0, tzinfo=UTC)
    assert quiet_until(datetime(2026, 1, 10, 13, 0, tzinfo=UTC), lunch) is None
    assert quiet_until(winter, None) is None


def test_opt_out_and_missing_address_are_honoured(
        kk: Kokemus, people: ActiveWorkspace, inbox: Inbox) -> None:
    feedback.opt_out(kk.db, people.id, "aino", source="email", now=DELIVERED)
    ingest_events(kk, people, event("e-aino", "aino"), event("e-silent", "silent"),
                  event("e-emma", "emma"))
    plan(kk, DELIVERED)
    done = dispatch(kk, DUE)
    assert (done.sent, done.skipped["opted out"], done.skipped["no email"]) == (1, 1, 1)
    assert status(kk, "e-aino")["reason"] == "opted out"
    assert status(kk, "e-silent")["reason"] == "no email"
    assert [e.rcpt_tos for e in inbox.envelopes] == [["emma@example.com"]]


def test_smtp_down_is_retried_not_lost_and_sent_when_back(
        kk: Kokemus, people: ActiveWorkspace, inbox: Inbox) -> None:
    ingest_events(kk, people, event("e1", "emma"), event("e2", "aino"))
    plan(kk, DELIVERED)
    inbox.stop()
    down = dispatch(kk, DUE)
    # the first try fails; the run stops trying the server and the other waits untouched
    assert (down.sent, down.retrying, down.waiting) == (0, 1, 1)
    tried = [status(kk, e) for e in ("e1", "e2")]
    assert sorted(t["attempts"] for t in tried) == [0, 1]
    failed_once = next(t for t in tried if t["attempts"] == 1)
    assert failed_once["status"] == "planned" and "Connection" in failed_once["reason"]
    assert utc(failed_once["due_at"]) == DUE + timedelta(minutes=5)  # backoff

    inbox.start()  # the same port, back up
    back = dispatch(kk, DUE + timedelta(minutes=5))
    assert back.sent == 2
    assert sorted(e.rcpt_tos[0] for e in inbox.envelopes) == ["aino@example.fi",
                                                            "emma@example.com"]
    assert dispatch(kk, DUE + timedelta(hours=3)).sent == 0
    assert len(inbox.envelopes) == 2


def test_five_failures_make_it_failed_with_the_reason(
        kk: Kokemus, people: ActiveWorkspace, inbox: Inbox) -> None:
    ingest_events(kk, people, event("e1", "emma"))
    plan(kk, DELIVERED)
    inbox.stop()
    at, waits = DUE, []
    for _ in range(MAX_ATTEMPTS + 2):  # a retry may fall in quiet hours and wait for 08:00
        dispatch(kk, at)
        inv = status(kk, "e1")
        if inv["status"] == "failed":
            break
        waits.append(utc(inv["due_at"]) - at)
        at = utc(inv["due_at"])
    assert (inv["status"], inv["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert waits[:3] == [timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)]
    assert inv["reason"].startswith("gave up after 5 attempts")
    inbox.start()
    assert dispatch(kk, at + timedelta(days=1)).sent == 0 and not inbox.envelopes


def test_a_refused_address_fails_at_once(kk: Kokemus, people: ActiveWorkspace,
                                         inbox: Inbox) -> None:
    inbox.refuse.add("emma@example.com")
    ingest_events(kk, people, event("e1", "emma"), event("e2", "aino"))
    plan(kk, DELIVERED)
    done = dispatch(kk, DUE)
    assert (done.sent, done.failed) == (1, 1)
    inv = status(kk, "e1")
    assert (inv["status"], inv["attempts"]) == ("failed", 1)
    assert "550" in inv["reason"]


def test_web_invitations_are_made_available_without_email(
        kk: Kokemus, people: ActiveWorkspace, inbox: Inbox, tmp_path: Path) -> None:
    ws = with_surveys(kk, tmp_path, "", replace=("      sample: 1.0",
                                                  "      sample: 1.0\n      channel: web"))
    ingest_events(kk, ws, event("w1", "silent", at=datetime(2026, 6, 2, 18, tzinfo=UTC)))
    plan(kk, DELIVERED)
    night = datetime(2026, 6, 2, 20, tzinfo=UTC)  # 23:00 local: the widget shows it anyway
    done = dispatch(kk, night)
    assert (done.web, done.sent) == (1, 0)
    inv = status(kk, "w1")
    assert (inv["status"], utc(inv["sent_at"])) == ("sent", night)
    assert utc(inv["expires_at"]) == night + timedelta(days=14)
    assert not inbox.envelopes


def test_a_claimed_invitation_is_not_sent_by_another_dispatcher(
        kk: Kokemus, people: ActiveWorkspace, inbox: Inbox) -> None:
    ingest_events(kk, people, event("e1", "emma"))
    plan(kk, DELIVERED)
    # another dispatcher claimed it (its lease), then crashed before recording the send
    with kk.db.begin() as conn:
        conn.execute(update(invitations).values(attempts=1, due_at=DUE + timedelta(minutes=5)))
    assert dispatch(kk, DUE).sent == 0
    # at least once: when the lease runs out, it is sent (again, if the crash came after)
    assert dispatch(kk, DUE + timedelta(minutes=5)).sent == 1
    assert status(kk, "e1")["attempts"] == 2


def test_the_worker_thread_plans_and_sends_until_stopped(
        kk: Kokemus, people: ActiveWorkspace, inbox: Inbox, tmp_path: Path) -> None:
    ws = with_surveys(kk, tmp_path, "", replace=(
        '  quiet_hours: {start: "21:00", end: "08:00", timezone: Europe/Helsinki}',
        "  quiet_hours: null"))
    now = datetime.now(UTC)
    ingest_events(kk, ws, event("recent", "emma", at=now - timedelta(hours=3)))
    worker = worker_module.Worker(kk, interval=0.05).start()
    try:
        for _ in range(200):
            if inbox.envelopes:
                break
            time.sleep(0.05)
    finally:
        worker.stop()
    assert not worker._thread.is_alive()
    assert [e.rcpt_tos for e in inbox.envelopes] == [["emma@example.com"]]
    runs = worker.runs
    time.sleep(0.2)
    assert worker.runs == runs  # stopped for good
    # Its first run also put the journeys in case order for the sequence analytics.
    with kk.events.reading() as cursor:
        assert not ordering.stale(cursor)
        assert cursor.execute("SELECT case_id, activity FROM journeys_by_customer"
                              ).fetchall() == [("emma", "delivery")]


def test_mailer_reuses_one_connection(settings: Settings, inbox: Inbox) -> None:
    with Mailer(settings) as mailer:
        for i in range(3):
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = (
                "a@example.com", f"b{i}@example.com", f"m{i}")
            message.set_content("x")
            mailer.send(message)
    assert [e.rcpt_tos[0] for e in inbox.envelopes] == [f"b{i}@example.com" for i in range(3)]
    assert len(set(inbox.peers)) == 1  # one connection (one client port) for all three
