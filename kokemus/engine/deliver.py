"""Delivery: the rules' outbox (table `actions`) emptied, each action once as far as its
receiver can tell.

engine/rules.py writes one planned row per action a rule decided on, with its idempotency
key (rule, action, cause) and, as JSON, what delivering needs. A worker here:

1. **claims** a batch of due rows in one short transaction by moving their `due_at` ahead
   by the lease (`KOKEMUS_ACTION_LEASE`), on the condition that they are still planned
   and due: a row another worker claimed is no longer due, so two workers (PostgreSQL:
   `FOR UPDATE SKIP LOCKED`, each takes rows the other did not lock) never both take it;
2. **delivers** them with no database lock held, stopping to start new ones when half the
   lease is gone (the rest are handed back, due at once);
3. **records** each outcome in a second transaction: done, skipped with the reason,
   postponed, retried later, or dead. A decision other than done applies only while the
   row is still this worker's (`due_at` is still its lease).

What reaches a system outside (an email, a webhook) cannot be sent and recorded
atomically, so the choice is explicit: **at least once, with every copy carrying the same
id** (`webhooks.message_id` of the key: the `webhook-id` header, the email's Message-ID).
A worker killed after the receiver took a message and before its outcome was written
(outcomes are written in a thread of their own every 10 messages or a fifth of a second,
and the worker waits when 40 are unwritten) leaves the row planned
under its lease; when the lease runs out the row is delivered again, with the same id, and
the receiver can fold the two. What is only a row in the app store (a survey invitation,
a case) is written in the same transaction as the outcome: exactly once.

Before anything reaches a customer, the contact pressure is checked at delivery:

- the rule was removed or disabled since it decided -> skipped "rule removed/disabled";
- the consent the rule's trigger asks for (`when.consent`) was withdrawn since ->
  skipped "no consent"; an `email` (marketing automation) to a customer whose newest
  `marketing` statement withdraws it -> skipped "unsubscribed";
- no customer, or an email to one without an address -> skipped "no customer"/"no email";
- a message to the customer (email, notice) during the workspace's quiet hours
  (`feedback.quiet_hours`) -> due again when they end;
- an `email` to a customer who got `contact.cap` messages within `contact.per` (survey
  invitations, emails and notices, engine/contact.py) -> skipped "contact cap"; a notice
  (`notify`) is counted but never held back: it is about the customer's own business;
- a survey action plans an invitation, which the invitation dispatcher then holds to the
  survey policy (opt-out, the `surveys` consent, `feedback.cap`) like any other.

A failed delivery waits 1 min, 5 min, 30 min, 2 h, then 6 h; the sixth failure, or one
that retrying cannot mend (a template that does not render, a recipient refused for good,
a receiver answering `410 Gone`), makes the row dead with the reason, listed by
`kokemus actions list --status dead` and the Actions page, and put back by `kokemus
actions retry` or the page's button. When the mail server or a webhook's receiver cannot
be reached, the rest of the run's rows for it wait a minute without spending a try.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

from jinja2 import TemplateError
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Connection, Engine, and_, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kokemus import bootstrap
from kokemus.bootstrap import Kokemus
from kokemus.config import Settings
from kokemus.domain.errors import Invalid, NotFound
from kokemus.domain.rules import (
    Action,
    CallWebhook,
    Notify,
    OpenCase,
    Rule,
    SendEmail,
    SendSurvey,
)
from kokemus.domain.texts import Text, localized
from kokemus.engine import contact, webhooks
from kokemus.engine.dispatch import quiet_until
from kokemus.engine.mail import Mailer, SendError
from kokemus.services import actions as service
from kokemus.services import consents, workspaces
from kokemus.services.feedback import language_for, new_id
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.tables import actions, customers, invitations
from kokemus.storage.tables import consents as consent_table
from kokemus.workspace import templates

log = logging.getLogger("kokemus.engine")

MAX_ATTEMPTS = 6
BACKOFF = (60, 300, 1800, 7200, 21600)  # seconds after the 1st, 2nd, ... 5th failure
WAIT_SECONDS = 60  # a row not tried because its mail server or receiver is down now
BATCH = 200  # rows claimed at once
FLUSH_ROWS = 10  # outcomes written at the latest after this many...
FLUSH_SECONDS = 0.2  # ...or this long
STATUSES = ("planned", "done", "skipped", "dead")
# The last lines of a rule's email (marketing), above its unsubscribe link.
UNSUBSCRIBE = {
    "fi": "Etkö halua enää näitä viestejä? Peru ne tästä:",
    "en": "Rather not get these emails? Unsubscribe here:",
    "sv": "Vill du inte längre få dessa meddelanden? Avsluta här:",
}

_ACTION: TypeAdapter[Action] = TypeAdapter(Action)
_COLUMNS = (actions.c.id, actions.c.workspace_id, actions.c.rule, actions.c.action,
            actions.c.kind, actions.c.key, actions.c.customer, actions.c.cause,
            actions.c.payload, actions.c.attempts, actions.c.created_at)


@dataclass
class Delivered:
    """What a delivery run did."""

    done: Counter[str] = field(default_factory=Counter)  # by kind
    skipped: Counter[str] = field(default_factory=Counter)  # by reason
    postponed: int = 0  # quiet hours: due again when they end
    retrying: int = 0  # failed; tried again after the backoff
    dead: int = 0  # given up, with the reason
    waiting: int = 0  # the mail server or receiver was down: not tried in this run
    released: int = 0  # claimed but not started before half the lease was gone

    @property
    def delivered(self) -> int:
        return sum(self.done.values())

    def as_dict(self) -> dict[str, Any]:
        return {"done": dict(self.done), "skipped": dict(self.skipped),
                "postponed": self.postponed, "retrying": self.retrying, "dead": self.dead,
                "waiting": self.waiting, "released": self.released}

    def busy(self) -> bool:
        return bool(self.done or self.skipped or self.retrying or self.dead)


def deliver(kk: Kokemus, now: datetime | None = None, *, mailer: Mailer | None = None,
            poster: webhooks.Poster | None = None, limit: int | None = None,
            stop: Callable[[], bool] | None = None) -> Delivered:
    """Deliver every due action (at most `limit`; until `stop()` says so, between batches),
    see the module's text. `now` fixes the clock (tests); by default each batch reads it."""
    fixed = now.astimezone(UTC) if now is not None else None
    clock: Callable[[], datetime] = (lambda: fixed) if fixed else (lambda: datetime.now(UTC))
    own_mail, own_post = mailer is None, poster is None
    poster = poster or webhooks.Poster(networks=kk.settings.webhook_allowed)
    run = _Run(kk, clock, mailer or Mailer(kk.settings), poster)
    try:
        while (limit is None or run.taken < limit) and not (stop is not None and stop()):
            if not run.batch(BATCH if limit is None else min(BATCH, limit - run.taken)):
                break
    finally:
        run.outcomes.close()
        if own_mail:
            run.mailer.close()
        if own_post:
            run.poster.close()
    return run.done


def claim(db: Engine, now: datetime, lease_until: datetime, n: int) -> list[dict[str, Any]]:
    """Take up to `n` due planned rows: their `due_at` becomes `lease_until`, in one
    transaction; returns them, oldest first."""
    pick = (select(actions.c.id)
            .where(actions.c.status == "planned", actions.c.due_at <= now)
            .order_by(actions.c.due_at, actions.c.id).limit(n))
    if db.dialect.name == "postgresql":
        # A row another worker holds is passed over. The pick is a CTE, run once: as an
        # `IN (subquery)` PostgreSQL may run it again for each row it joins, and each run
        # picks anew (it took more than `n` rows so).
        picked = pick.with_for_update(skip_locked=True).cte("picked")
        chosen = actions.c.id == picked.c.id
    else:  # SQLite: one writer at a time, the whole statement under its lock
        chosen = actions.c.id.in_(pick.scalar_subquery())
    stmt = (update(actions)
            .where(chosen, actions.c.status == "planned", actions.c.due_at <= now)
            .values(due_at=lease_until).returning(*_COLUMNS))
    with db.begin() as conn:
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
    return sorted(rows, key=lambda r: (r["created_at"], r["id"]))


# What a row's outcome writes. Done: whoever holds it (it was delivered, whatever came
# after); the rest only while this worker's lease is still on it.
_DONE = (update(actions)
         .where(actions.c.id == bindparam("_id"), actions.c.status == "planned")
         .values(status="done", reason=bindparam("_reason"), attempts=bindparam("_attempts"),
                 done_at=bindparam("_at")))
_DECIDED = (update(actions)
            .where(actions.c.id == bindparam("_id"), actions.c.status == "planned",
                   actions.c.due_at == bindparam("_lease"))
            .values(status=bindparam("_status"), reason=bindparam("_reason"),
                    attempts=bindparam("_attempts"), due_at=bindparam("_due"),
                    done_at=bindparam("_at")))


class Permanent(Exception):
    """A delivery that trying again cannot mend: the row dies at once."""


@dataclass
class _Row:
    row: dict[str, Any]
    lease: datetime
    workspace: ActiveWorkspace
    payload: dict[str, Any]
    action: Action

    @property
    def id(self) -> str:
        return str(self.row["id"])

    @property
    def customer(self) -> str | None:
        value = self.row["customer"]
        return None if value is None else str(value)


class _Run:
    def __init__(self, kk: Kokemus, clock: Callable[[], datetime], mailer: Mailer,
                 poster: webhooks.Poster) -> None:
        self.kk = kk
        self.db = kk.db
        self.settings: Settings = kk.settings
        self.clock = clock
        self.mailer = mailer
        self.poster = poster
        self.done = Delivered()
        self.taken = 0
        self.lease = timedelta(seconds=kk.settings.action_lease)
        self.smtp_down: str | None = None
        self.down: dict[tuple[str, str, int], str] = {}  # receivers that did not answer
        self.sent: Counter[tuple[int, str]] = Counter()  # messages to customers this run
        self.outcomes = _Outcomes(self.db)
        self.secret = bootstrap.secret_key(kk.settings)
        self._workspaces: dict[int, ActiveWorkspace | None] = {}

    # -- the batch ---------------------------------------------------------------------

    def batch(self, n: int) -> bool:
        """Claim and deliver one batch; False when nothing was due."""
        now = self.clock()
        lease = now + self.lease
        rows = claim(self.db, now, lease, n)
        if not rows:
            return False
        self.taken += len(rows)
        deadline = time.monotonic() + self.lease.total_seconds() / 2
        parsed: list[_Row] = []
        for row in rows:
            item = self._parse(row, lease, now)
            if item is not None:
                parsed.append(item)
        facts = _Facts.load(self.db, parsed, now)
        for i, item in enumerate(parsed):
            if i and time.monotonic() > deadline:
                for rest in parsed[i:]:
                    self._decide(rest, "planned", "released", due=now)
                self.done.released += len(parsed) - i
                break
            try:
                self._one(item, facts)
            except Permanent as exc:
                self._fail(item, str(exc), permanent=True)
            except Exception as exc:  # a bug must not stop the other rows
                log.exception("delivering action %s failed", item.id)
                self._fail(item, f"{type(exc).__name__}: {exc}")
        return True

    def _parse(self, row: dict[str, Any], lease: datetime, now: datetime) -> _Row | None:
        ws = self._workspace(int(row["workspace_id"]))
        if ws is None:
            return None  # deleted meanwhile: its actions went with it
        try:
            payload = json.loads(row["payload"])
            action = _ACTION.validate_python(payload["params"])
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            reason = f"payload: {_first_line(exc)}"
            self._decide_raw(row, lease, "dead", reason, attempts=int(row["attempts"]) + 1,
                             due=lease, at=now)
            self.done.dead += 1
            return None
        return _Row(row, lease, ws, payload, action)

    def _workspace(self, workspace_id: int) -> ActiveWorkspace | None:
        if workspace_id not in self._workspaces:
            try:
                self._workspaces[workspace_id] = workspaces.get_by_id(self.db, workspace_id)
            except NotFound:
                self._workspaces[workspace_id] = None
        return self._workspaces[workspace_id]

    # -- one action ----------------------------------------------------------------------

    def _one(self, item: _Row, facts: _Facts) -> None:
        ws, action = item.workspace, item.action
        rule = next((r for r in ws.document.rules if r.id == item.row["rule"]), None)
        if rule is None:
            return self._skip(item, "rule removed")
        if not rule.enabled:
            return self._skip(item, "rule disabled")
        key = (ws.id, item.customer or "")
        purpose = getattr(rule.when, "consent", None)
        if purpose and item.customer and key not in facts.consented.get((ws.id, purpose), ()):
            return self._skip(item, "no consent")
        if isinstance(action, SendSurvey):
            return self._survey(item, action)
        if isinstance(action, OpenCase):
            return self._case(item, action, rule, facts)
        if isinstance(action, CallWebhook):
            return self._webhook(item, action, rule, facts)
        if isinstance(action, SendEmail | Notify):
            return self._message(item, action, rule, facts)
        return self._skip(item, "sequences: next issue")

    def _message(self, item: _Row, action: SendEmail | Notify, rule: Rule,
                 facts: _Facts) -> None:
        """An email or a notice to the customer."""
        ws = item.workspace
        if item.customer is None:
            return self._skip(item, "no customer")
        key = (ws.id, item.customer)
        person = facts.people.get(key)
        notice = isinstance(action, Notify)
        if not notice and key in facts.unsubscribed:
            return self._skip(item, "unsubscribed")
        by_email = not isinstance(action, Notify) or action.via == "email"
        if by_email and not (person or {}).get("email"):
            return self._skip(item, "no email")
        now = self.clock()
        end = quiet_until(now, ws.document.feedback.quiet_hours)
        if end is not None:
            self._decide(item, "planned", "quiet hours", due=end)
            self.done.postponed += 1
            return None
        policy = ws.document.contact
        if not notice and facts.recent[key] + self.sent[key] >= policy.cap:
            return self._skip(item, "contact cap")
        language = language_for(ws, person)
        context = _context(ws, person or {"id": item.customer}, item.payload, rule, language)
        msg_id = webhooks.message_id(ws.id, str(item.row["key"]))
        if by_email:
            if self.smtp_down is not None:
                return self._wait(item, f"waiting for the mail server: {self.smtp_down}")
            subject = getattr(action, "subject", None)
            assert subject is not None  # a notify by email has one (domain/rules.py)
            text = render(action.body, language, context)
            unsubscribe = None
            if not notice:  # marketing: the customer may say no to more (RFC 8058)
                unsubscribe = service.unsubscribe_link(self.settings.base_url, self.secret,
                                                       ws.id, item.customer)
                footer = UNSUBSCRIBE.get(language, UNSUBSCRIBE["en"])
                text = f"{text.rstrip()}\n\n-- \n{footer}\n{unsubscribe}\n"
            message = _email(self.settings, render(subject, language, context), text,
                             person or {}, language, msg_id, now, unsubscribe)
            try:
                self.mailer.send(message)
            except SendError as exc:
                if exc.permanent:
                    raise Permanent(str(exc)) from exc
                self.smtp_down = str(exc)
                return self._fail(item, str(exc))
        else:
            assert isinstance(action, Notify) and action.url and action.secret_env
            body = _envelope("kokemus.notify", msg_id, item, ws, context, {
                "via": action.via, "language": language,
                "subject": render(action.subject, language, context)
                if action.subject else None,
                "text": render(action.body, language, context)})
            if not self._post(item, str(action.url), action.secret_env, msg_id, body):
                return None
        self.sent[key] += 1
        return self._deliver(item)

    def _webhook(self, item: _Row, action: CallWebhook, rule: Rule, facts: _Facts) -> None:
        ws = item.workspace
        person = facts.people.get((ws.id, item.customer or ""))
        language = language_for(ws, person)
        customer = person or ({"id": item.customer} if item.customer else None)
        context = _context(ws, customer, item.payload, rule, language)
        msg_id = webhooks.message_id(ws.id, str(item.row["key"]))
        if action.body is not None:
            rendered = render(action.body, language, context)
            try:
                body = json.dumps(json.loads(rendered), ensure_ascii=False,
                                  separators=(",", ":")).encode()
            except ValueError as exc:
                raise Permanent(f"body is not JSON once rendered: {exc}") from exc
        else:
            body = _envelope("kokemus.action", msg_id, item, ws, context, {})
        if self._post(item, str(action.url), action.secret_env, msg_id, body):
            self._deliver(item)

    def _post(self, item: _Row, url: str, secret_env: str, msg_id: str, body: bytes) -> bool:
        """Sign and POST; True when the receiver took it (else the outcome is written)."""
        origin = webhooks.origin_of(url)
        if origin in self.down:
            self._wait(item, f"waiting for {origin[1]}:{origin[2]}: {self.down[origin]}")
            return False
        secret = os.environ.get(secret_env)
        if not secret:
            self._fail(item, f"no signing secret: environment variable {secret_env} is not "
                             "set in the worker")
            return False
        try:
            key = webhooks.secret_key(secret)
        except webhooks.SecretError as exc:
            self._fail(item, f"{secret_env}: {exc}")
            return False
        head = webhooks.headers(key, msg_id, int(time.time()), body)
        try:
            answer = self.poster.post(url, body, head)
        except webhooks.AddressRefused as exc:
            raise Permanent(str(exc)) from exc
        except webhooks.CallError as exc:
            self.down[origin] = str(exc)
            self._fail(item, f"{origin[1]}:{origin[2]}: {exc}")
            return False
        if 200 <= answer.status < 300:
            return True
        if answer.status == 410:
            raise Permanent("the receiver answered 410 Gone: it wants no more")
        self._fail(item, f"the receiver answered {answer.status}", after=answer.retry_after)
        return False

    def _survey(self, item: _Row, action: SendSurvey) -> None:
        ws = item.workspace
        survey = ws.document.survey(action.survey)
        if survey is None:
            return self._skip(item, "survey removed")
        if item.customer is None:
            return self._skip(item, "no customer")
        now = self.clock()
        cause = item.payload.get("cause") or {}
        occurred = _moment(cause.get("occurred_at")) or now
        row = {
            "id": new_id(), "workspace_id": ws.id, "survey": survey.id,
            "customer": item.customer,
            "touchpoint": survey.touchpoint or cause.get("touchpoint"),
            "channel": survey.trigger.channel if survey.trigger else "email",
            "event_id": str(item.row["cause"])[:200],
            "event_type": (str(cause["type"])[:64] if cause.get("type") else None),
            "occurred_at": occurred, "due_at": now, "status": "planned", "reason": None,
            "attempts": 0, "sent_at": None, "expires_at": None, "opened_at": None,
            "answered_at": None, "created_at": now,
        }
        insert = pg_insert if self.db.dialect.name == "postgresql" else sqlite_insert
        with self.db.begin() as conn:
            made = conn.execute(insert(invitations).values(**row).on_conflict_do_nothing(
                index_elements=["workspace_id", "survey", "event_id"])
                .returning(invitations.c.id)).first() is not None
            self._done_in(conn, item, "invitation planned" if made else
                          "invitation planned before")
        self.done.done["survey"] += 1

    def _case(self, item: _Row, action: OpenCase, rule: Rule, facts: _Facts) -> None:
        """A case for the department, opened in the same transaction as the row's done
        (services/cases.py keys it by the row: opening twice opens one)."""
        from kokemus.services import cases

        ws = item.workspace
        now = self.clock()
        person = facts.people.get((ws.id, item.customer or ""))
        sla_due = (cases.due_at(ws.document.cases, action.priority, now, action.sla)
                   if action.sla is not None else None)
        try:
            with self.db.begin() as conn:
                case_id = cases.open_case(
                    conn, ws.id, department=action.department, title=action.title,
                    customer=item.customer, account=(person or {}).get("account"),
                    priority=action.priority, rule=rule.id, cause=str(item.row["cause"]),
                    action_id=item.id, sla_due_at=sla_due, now=now,
                    actor=cases.Actor(f"rule:{rule.id}"))
                self._done_in(conn, item, f"case {case_id}")
        except (Invalid, NotFound) as exc:
            raise Permanent(f"case: {exc}") from exc
        self.done.done["case"] += 1

    # -- outcomes ----------------------------------------------------------------------

    def _deliver(self, item: _Row) -> None:
        """The receiver took it: written with the next outcomes."""
        self.outcomes.add("done", {"_id": item.id, "_reason": None,
                                  "_attempts": int(item.row["attempts"]) + 1,
                                  "_at": self.clock()})
        self.done.done[_kind(item)] += 1

    def _done_in(self, conn: Connection, item: _Row, reason: str) -> None:
        conn.execute(_DONE, {"_id": item.id, "_reason": reason,
                             "_attempts": int(item.row["attempts"]) + 1, "_at": self.clock()})

    def _skip(self, item: _Row, reason: str) -> None:
        self._decide(item, "skipped", reason, at=self.clock())
        self.done.skipped[reason] += 1

    def _wait(self, item: _Row, reason: str) -> None:
        self._decide(item, "planned", reason, due=self.clock() + timedelta(seconds=WAIT_SECONDS))
        self.done.waiting += 1

    def _fail(self, item: _Row, reason: str, *, permanent: bool = False,
              after: float | None = None) -> None:
        attempts = int(item.row["attempts"]) + 1
        now = self.clock()
        if permanent or attempts >= MAX_ATTEMPTS:
            text = reason if permanent else f"gave up after {attempts} tries: {reason}"
            self._decide(item, "dead", text, attempts=attempts, at=now)
            self.done.dead += 1
            return
        wait = max(BACKOFF[attempts - 1], min(after or 0, BACKOFF[-1]))
        self._decide(item, "planned", reason, attempts=attempts,
                     due=now + timedelta(seconds=wait))
        self.done.retrying += 1

    def _decide(self, item: _Row, status: str, reason: str, *, attempts: int | None = None,
                due: datetime | None = None, at: datetime | None = None) -> None:
        self._decide_raw(item.row, item.lease, status, reason, attempts=attempts, due=due,
                         at=at)

    def _decide_raw(self, row: dict[str, Any], lease: datetime, status: str, reason: str, *,
                    attempts: int | None = None, due: datetime | None = None,
                    at: datetime | None = None) -> None:
        self.outcomes.add("decided", {
            "_id": row["id"], "_lease": lease, "_status": status, "_reason": reason[:300],
            "_attempts": int(row["attempts"]) if attempts is None else attempts,
            "_due": due or lease, "_at": at})


class _Outcomes:
    """Outcomes written in a thread of their own, in one transaction every FLUSH_ROWS rows
    or FLUSH_SECONDS, while the worker goes on delivering: the commit's wait (an fsync on
    SQLite, a round trip on PostgreSQL) overlaps the next messages instead of adding to
    them. A write that fails is logged; its rows stay under their lease and are delivered
    again when it runs out, with the same ids."""

    MAX_PENDING = 4 * FLUSH_ROWS  # the worker waits beyond this many unwritten outcomes

    def __init__(self, db: Engine) -> None:
        self.db = db
        self._pending: dict[str, list[dict[str, Any]]] = {"done": [], "decided": []}
        self._size = 0
        self._writing = False
        self._hurry = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="kokemus-outcomes",
                                        daemon=True)
        self._thread.start()

    def add(self, kind: str, params: dict[str, Any]) -> None:
        """An outcome to write: `done` (_DONE's parameters) or `decided` (_DECIDED's)."""
        with self._cond:
            while self._size >= self.MAX_PENDING:
                self._cond.wait()
            self._pending[kind].append(params)
            self._size += 1
            if self._size >= FLUSH_ROWS:
                self._cond.notify_all()

    def drain(self) -> None:
        """Wait until every outcome added so far is written."""
        with self._cond:
            while self._size or self._writing:
                self._hurry = True
                self._cond.notify_all()
                self._cond.wait()

    def close(self) -> None:
        self.drain()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._cond:
                until = time.monotonic() + FLUSH_SECONDS
                while (not self._closed and not self._hurry and self._size < FLUSH_ROWS
                       and (left := until - time.monotonic()) > 0):
                    self._cond.wait(left)
                if self._closed and not self._size:
                    return
                taken = {k: v for k, v in self._pending.items() if v}
                self._pending = {"done": [], "decided": []}
                self._size, self._hurry, self._writing = 0, False, bool(taken)
                self._cond.notify_all()
            if not taken:
                continue
            try:
                with self.db.begin() as conn:
                    for kind, rows in taken.items():
                        conn.execute(_DONE if kind == "done" else _DECIDED, rows)
            except Exception:
                log.exception("writing %d delivery outcomes failed; their actions are "
                              "delivered again when their lease runs out",
                              sum(map(len, taken.values())))
            finally:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()


def _kind(item: _Row) -> str:
    action = item.action
    if isinstance(action, Notify):
        return f"notify:{action.via}"
    return str(action.do)


@dataclass(frozen=True)
class _Facts:
    """What one batch's decisions need, read in a few queries for the whole batch."""

    people: dict[tuple[int, str], dict[str, Any]]
    consented: dict[tuple[int, str], set[tuple[int, str]]]  # (workspace, purpose) -> allowed
    unsubscribed: set[tuple[int, str]]  # newest `marketing` statement withdraws it
    recent: Counter[tuple[int, str]]  # messages within the contact period

    @classmethod
    def load(cls, db: Engine, batch: list[_Row], now: datetime) -> _Facts:
        people: dict[tuple[int, str], dict[str, Any]] = {}
        consented: dict[tuple[int, str], set[tuple[int, str]]] = {}
        unsubscribed: set[tuple[int, str]] = set()
        recent: Counter[tuple[int, str]] = Counter()
        by_workspace: dict[int, list[_Row]] = {}
        for item in batch:
            if item.customer:
                by_workspace.setdefault(item.workspace.id, []).append(item)
        for wid, items in by_workspace.items():
            ws = items[0].workspace
            wanted = sorted({str(i.customer) for i in items})
            with db.connect() as conn:
                for row in conn.execute(select(
                        customers.c.id, customers.c.email, customers.c.name,
                        customers.c.language, customers.c.segments, customers.c.account_id,
                        customers.c.role, customers.c.attributes).where(
                        customers.c.workspace_id == wid,
                        customers.c.id.in_(wanted))).mappings():
                    people[(wid, row["id"])] = _person(dict(row))
                emailed = sorted({str(i.customer) for i in items
                                  if i.action.do in ("email", "notify")})
                if emailed:
                    per = timedelta(seconds=ws.document.contact.per_seconds)
                    for customer, n in contact.messages(conn, wid, emailed, now - per,
                                                        now).items():
                        recent[(wid, customer)] = n
                marketing = sorted({str(i.customer) for i in items if i.action.do == "email"})
                unsubscribed.update((wid, c) for c in _withdrawn(conn, wid, marketing))
            purposes = {p for p in (getattr(r.when, "consent", None)
                                    for r in ws.document.rules) if p}
            for purpose in sorted(purposes):
                ok = consents.allowed(db, wid, wanted, purpose)
                consented[(wid, purpose)] = {(wid, c) for c in ok}
        return cls(people, consented, unsubscribed, recent)


def _withdrawn(conn: Connection, workspace_id: int, wanted: list[str]) -> set[str]:
    """Those of `wanted` whose newest `marketing` statement withdraws it."""
    newest: dict[str, bool] = {}
    for i in range(0, len(wanted), 5_000):
        for customer, granted in conn.execute(select(
                consent_table.c.customer, consent_table.c.granted).where(and_(
                consent_table.c.workspace_id == workspace_id,
                consent_table.c.purpose == "marketing",
                consent_table.c.customer.in_(wanted[i:i + 5_000])))
                .order_by(consent_table.c.at, consent_table.c.id)):
            newest[customer] = bool(granted)  # oldest first: the newest is written last
    return {c for c, granted in newest.items() if not granted}


def _person(row: dict[str, Any]) -> dict[str, Any]:
    """A customer as templates see it: plain data, nothing that reaches Python objects."""
    return {"id": row["id"], "email": row["email"], "name": row["name"],
            "language": row["language"], "segments": list(row["segments"] or []),
            "account": row["account_id"], "role": row["role"],
            "attributes": dict(row["attributes"] or {})}


# -- templates ---------------------------------------------------------------------------

_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP  # readable in the raw message, unlike base64


def render(text: Text, language: str, context: dict[str, Any]) -> str:
    """A template of the action in `language`, rendered in the bounded sandbox from plain
    data (Permanent when it does not render: trying again will not help)."""
    try:
        return templates.render(localized(text, language), context)
    except TemplateError as exc:
        raise Permanent(f"template: {_first_line(exc)}") from exc


def _context(ws: ActiveWorkspace, customer: dict[str, Any] | None, payload: dict[str, Any],
             rule: Rule, language: str) -> dict[str, Any]:
    return {"customer": customer or {}, "cause": payload.get("cause") or {},
            "rule": {"id": rule.id, "name": localized(rule.name, language)},
            "company": localized(ws.document.name, language), "language": language}


def _email(settings: Settings, subject: str, body: str, person: dict[str, Any],
           language: str, msg_id: str, now: datetime, unsubscribe: str | None) -> Message:
    """A plain-text email. Built with the classic message classes: the header registry of
    `EmailMessage` parsed every header again and took 2 ms a message, most of the worker's
    time per email."""
    message = MIMEText(body, "plain", _UTF8)  # type: ignore[arg-type]  # a Charset works
    line = " ".join(subject.split())  # one line, whatever the template made
    message["Subject"] = line if line.isascii() else Header(line, "utf-8")  # type: ignore[assignment]
    name, address = parseaddr(settings.mail_from)
    message["From"] = formataddr((name, address), charset="utf-8")
    message["To"] = formataddr((person.get("name") or "", str(person["email"])),
                               charset="utf-8")
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = f"<{msg_id}@{_domain(settings)}>"
    message["Auto-Submitted"] = "auto-generated"
    message["Content-Language"] = language
    if unsubscribe is not None:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def _domain(settings: Settings) -> str:
    return parseaddr(settings.mail_from)[1].rpartition("@")[2] or "kokemus.invalid"


def _envelope(kind: str, msg_id: str, item: _Row, ws: ActiveWorkspace,
              context: dict[str, Any], extra: dict[str, Any]) -> bytes:
    """The default JSON body: Standard Webhooks' type, timestamp and data."""
    cause = item.payload.get("cause") or {}
    data = {"id": msg_id, "key": item.row["key"], "workspace": ws.slug,
            "rule": item.row["rule"], "action": item.row["action"],
            "customer": context["customer"] or None, "cause": cause, **extra}
    timestamp = cause.get("occurred_at") or item.row["created_at"].astimezone(UTC).isoformat()
    return json.dumps({"type": kind, "timestamp": timestamp, "data": data},
                      ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:250]
