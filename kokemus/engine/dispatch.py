"""Dispatch: due invitations are sent, held for the morning, or skipped with a reason.

The invitations table is the outbox. In due order, each planned invitation whose time has
come is decided on its own:

- the survey is gone from the workspace -> skipped "survey removed";
- the customer opted out -> skipped "opted out"; withdrew the `surveys` consent otherwise
  (the newest statement says no, see services/consents.py) -> skipped "no consent";
- its link would already have expired -> skipped "too late";
- an email invitation to a customer without an address -> skipped "no email";
- an email during the workspace's quiet hours -> due at the end of them, still planned
  (the widget's web invitations are shown while the customer is on the site, at any hour);
- the customer was invited (by any survey, on any channel) within the survey cap
  (`feedback.cap`), or already in this run, or got the workspace's `contact.cap` messages
  (invitations, rule emails and notices, engine/contact.py) within `contact.per` ->
  skipped "contact cap";
- otherwise web: sent (the site fetches the link through the API); email: sent by SMTP.

Sending an email and recording it cannot be one atomic step, so the choice is made
explicit: **at least once, with the duplicate window as small as it can be**. Before the
SMTP conversation the invitation is claimed in its own short transaction: attempts + 1 and
due_at moved to the next retry time (a lease), on the condition that nobody changed the row
since it was read, so two dispatchers never both send it. Then the email is sent (no
database lock is held while the network is slow), then marked sent in a second
transaction. A crash between the server's acceptance and that commit leaves the invitation
planned, and it is sent again when its lease runs out: the customer may get the same email
twice (the same Message-ID, so a mail system can fold them), but it is never lost. Every
other path sends at most once: a dispatch that sees the row sent, skipped or leased leaves
it alone. A failed send keeps the lease as the backoff (5 min, 30 min, 2 h, 6 h); the
fifth failure, or a recipient the server refuses for good, makes it failed with the
reason. When the server cannot be reached the run stops sending emails (the rest wait,
no attempt spent) and goes on with the other decisions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, bindparam, select, update

from kokemus import bootstrap
from kokemus.bootstrap import Kokemus
from kokemus.domain.surveys import QuietHours
from kokemus.engine import contact
from kokemus.engine.mail import Mailer, SendError, compose
from kokemus.services import consents, workspaces
from kokemus.services.feedback import language_for
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.tables import customers, invitations, opt_outs

MAX_ATTEMPTS = 5
RETRY_SECONDS = (300, 1800, 7200, 21600)  # wait after the 1st, 2nd, 3rd, 4th failure
BATCH = 500


@dataclass
class Dispatched:
    """What a dispatch run did."""

    sent: int = 0  # emails the SMTP server took
    web: int = 0  # web invitations made available to the widget
    postponed: int = 0  # quiet hours: due again when they end
    retrying: int = 0  # a send failed; tried again later
    failed: int = 0  # given up, with the reason
    waiting: int = 0  # the SMTP server was unreachable; not tried in this run
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "web": self.web, "postponed": self.postponed,
                "retrying": self.retrying, "failed": self.failed, "waiting": self.waiting,
                "skipped": dict(self.skipped)}


def dispatch(kk: Kokemus, now: datetime | None = None, mailer: Mailer | None = None) -> Dispatched:
    """Decide every due planned invitation (see the module's text); returns the counts."""
    now = (now or datetime.now(UTC)).astimezone(UTC)  # SQLite compares stored UTC as text
    own = mailer is None
    mail = mailer or Mailer(kk.settings)
    run = _Run(kk, now, mail)
    try:
        seen: set[str] = set()
        while True:
            batch = [r for r in _due(kk.db, now) if r["id"] not in seen]
            if not batch:
                break
            seen.update(r["id"] for r in batch)
            run.decide(batch)
    finally:
        if own:
            mail.close()
    return run.done


def _due(db: Engine, now: datetime) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(
            select(invitations).where(invitations.c.status == "planned",
                                      invitations.c.due_at <= now)
            .order_by(invitations.c.due_at, invitations.c.id).limit(BATCH)).mappings().all()
    return [dict(r) for r in rows]


class _Run:
    """One dispatch run: its counts, the customers it contacted, whether SMTP is up."""

    def __init__(self, kk: Kokemus, now: datetime, mailer: Mailer) -> None:
        self.kk = kk
        self.now = now
        self.mailer = mailer
        self.secret = bootstrap.secret_key(kk.settings)
        self.done = Dispatched()
        self.contacted: set[tuple[int, str]] = set()
        self.smtp_down = False
        self._workspaces: dict[int, ActiveWorkspace] = {}

    def workspace(self, workspace_id: int) -> ActiveWorkspace:
        if workspace_id not in self._workspaces:
            self._workspaces[workspace_id] = workspaces.get_by_id(self.kk.db, workspace_id)
        return self._workspaces[workspace_id]

    def decide(self, batch: list[dict[str, Any]]) -> None:
        facts = _Facts.load(self.kk.db, batch, self.now, self.workspace)
        changes: list[dict[str, Any]] = []  # decided without sending: written together

        def skip(inv: dict[str, Any], reason: str) -> None:
            changes.append({"_id": inv["id"], "status": "skipped", "reason": reason,
                            "due_at": inv["due_at"], "sent_at": None, "expires_at": None})
            self.done.skipped[reason] += 1

        for inv in batch:
            ws = self.workspace(inv["workspace_id"])
            policy = ws.document.feedback
            key = (ws.id, inv["customer"])
            person = facts.people.get(key)
            survey = ws.document.survey(inv["survey"])
            if survey is None:
                skip(inv, "survey removed")
            elif key in facts.refused:
                skip(inv, "opted out" if key in facts.opted_out else "no consent")
            elif inv["due_at"] + timedelta(seconds=policy.link_seconds) < self.now:
                skip(inv, "too late")
            elif inv["channel"] == "email" and not (person or {}).get("email"):
                skip(inv, "no email")
            elif inv["channel"] == "email" and (end := quiet_until(
                    self.now, policy.quiet_hours)) is not None:
                changes.append({"_id": inv["id"], "status": "planned", "reason": "quiet hours",
                                "due_at": end, "sent_at": None, "expires_at": None})
                self.done.postponed += 1
            elif key in self.contacted or key in facts.recent:
                skip(inv, "contact cap")
            elif inv["channel"] != "email":
                expires = self.now + timedelta(seconds=policy.link_seconds)
                changes.append({"_id": inv["id"], "status": "sent", "reason": None,
                                "due_at": inv["due_at"], "sent_at": self.now,
                                "expires_at": expires})
                self.contacted.add(key)
                self.done.web += 1
            elif self.smtp_down:
                self.done.waiting += 1
            elif self.send(ws, survey, inv, person or {}):
                self.contacted.add(key)
        if changes:
            with self.kk.db.begin() as conn:
                # only rows still planned: an opt-out or another dispatcher may have come first
                conn.execute(update(invitations).where(
                    invitations.c.id == bindparam("_id"), invitations.c.status == "planned"),
                    changes)

    def send(self, ws: ActiveWorkspace, survey: Any, inv: dict[str, Any],
             person: dict[str, Any]) -> bool:
        """Claim, send and record one email invitation; True when the server took it."""
        db = self.kk.db
        attempts = int(inv["attempts"])
        if attempts >= MAX_ATTEMPTS:  # the last try ended in a crash, not a verdict
            self.fail(inv, f"gave up after {attempts} attempts: {inv['reason'] or 'no answer'}")
            return False
        lease = self.now + timedelta(seconds=RETRY_SECONDS[min(attempts, len(RETRY_SECONDS) - 1)])
        with db.begin() as conn:
            claimed = conn.execute(update(invitations).where(
                invitations.c.id == inv["id"], invitations.c.status == "planned",
                invitations.c.attempts == attempts,
            ).values(attempts=attempts + 1, due_at=lease)).rowcount
        if claimed != 1:
            return False  # someone else decided it meanwhile
        expires = self.now + timedelta(seconds=ws.document.feedback.link_seconds)
        language = language_for(ws, person)
        try:
            message = compose(self.kk.settings, self.secret, ws, survey,
                              {**inv, "expires_at": expires}, person, language, self.now)
            self.mailer.send(message)
        except SendError as exc:
            if exc.permanent:
                self.fail(inv, str(exc))
            elif attempts + 1 >= MAX_ATTEMPTS:
                self.fail(inv, f"gave up after {attempts + 1} attempts: {exc}")
            else:
                self.retry(inv, str(exc))
                self.smtp_down = True
            return False
        with db.begin() as conn:
            conn.execute(update(invitations).where(invitations.c.id == inv["id"]).values(
                status="sent", sent_at=self.now, expires_at=expires, reason=None))
        self.done.sent += 1
        return True

    def retry(self, inv: dict[str, Any], reason: str) -> None:
        with self.kk.db.begin() as conn:
            conn.execute(update(invitations).where(invitations.c.id == inv["id"])
                         .values(reason=reason[:200]))
        self.done.retrying += 1

    def fail(self, inv: dict[str, Any], reason: str) -> None:
        with self.kk.db.begin() as conn:
            conn.execute(update(invitations).where(invitations.c.id == inv["id"])
                         .values(status="failed", reason=reason[:200]))
        self.done.failed += 1


@dataclass(frozen=True)
class _Facts:
    """What the decisions on one batch need, read in a few queries for the whole batch."""

    people: dict[tuple[int, str], dict[str, Any]]
    opted_out: set[tuple[int, str]]
    refused: set[tuple[int, str]]  # no surveys: opted out, or the surveys consent withdrawn
    recent: set[tuple[int, str]]  # invited within the survey cap, or at the contact cap

    @classmethod
    def load(cls, db: Engine, batch: list[dict[str, Any]], now: datetime,
             workspace: Any) -> _Facts:
        by_workspace: dict[int, set[str]] = {}
        for inv in batch:
            by_workspace.setdefault(inv["workspace_id"], set()).add(inv["customer"])
        people: dict[tuple[int, str], dict[str, Any]] = {}
        opted: set[tuple[int, str]] = set()
        refused: set[tuple[int, str]] = set()
        recent: set[tuple[int, str]] = set()
        with db.connect() as conn:
            for wid, ids in by_workspace.items():
                wanted = sorted(ids)
                cap = timedelta(seconds=workspace(wid).document.feedback.cap_seconds)
                for row in conn.execute(select(
                        customers.c.id, customers.c.email, customers.c.name,
                        customers.c.language).where(customers.c.workspace_id == wid,
                                                    customers.c.id.in_(wanted))).mappings():
                    people[(wid, row["id"])] = dict(row)
                out = set(conn.execute(select(opt_outs.c.customer).where(
                    opt_outs.c.workspace_id == wid, opt_outs.c.customer.in_(wanted))).scalars())
                opted.update((wid, c) for c in out)
                ok = consents.allowed(db, wid, wanted, "surveys", opted_out=out)
                refused.update((wid, c) for c in wanted if c not in ok)
                recent.update((wid, c) for c in conn.execute(
                    select(invitations.c.customer).where(and_(
                        invitations.c.workspace_id == wid, invitations.c.customer.in_(wanted),
                        invitations.c.sent_at > now - cap, invitations.c.sent_at <= now))
                    .distinct()).scalars())
                policy = workspace(wid).document.contact
                per = timedelta(seconds=policy.per_seconds)
                recent.update((wid, c) for c, n in contact.messages(
                    conn, wid, wanted, now - per, now).items() if n >= policy.cap)
        return cls(people, opted, refused, recent)


def quiet_until(now: datetime, quiet: QuietHours | None) -> datetime | None:
    """The end of the quiet period `now` falls in (UTC), or None when it is not quiet."""
    if quiet is None or quiet.start == quiet.end:
        return None
    zone = ZoneInfo(quiet.timezone)
    local = now.astimezone(zone)
    start, end = time.fromisoformat(quiet.start), time.fromisoformat(quiet.end)
    t = local.time()
    if start < end:
        inside, next_day = start <= t < end, False
    else:  # spans midnight: quiet from start to midnight and from midnight to end
        inside, next_day = (t >= start or t < end), t >= start
    if not inside:
        return None
    day = local.date() + timedelta(days=1 if next_day else 0)
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)

