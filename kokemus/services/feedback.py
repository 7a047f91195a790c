"""Feedback use cases: invite a customer, open a signed link, save (partial) answers.

Every response is tied to its survey, customer, touchpoint and, when it came from an
invitation, to the invitation and the event that triggered it. A response is saved on every
submission, merged with what was answered before: partial answers are kept and a second
submission updates the same response, never a duplicate. Links are signed and expire; a
forged, expired or completed link is refused with a reason a page can show.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from sqlalchemy import Engine, and_, bindparam, insert, select, update

from kokemus.bootstrap import Kokemus
from kokemus.domain.errors import KokemusError, NotFound
from kokemus.domain.privacy import ConsentStatement
from kokemus.domain.surveys import Survey
from kokemus.services import consents, workspaces
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people
from kokemus.storage.journal import Entry
from kokemus.storage.tables import customers, invitations, opt_outs
from kokemus.storage.tables import workspaces as workspace_table

Source = Literal["email", "form", "widget", "api"]
LinkProblem = Literal["forged", "expired", "answered", "unknown"]


class LinkError(KokemusError):
    """A survey link that cannot be used; `problem` picks the page a person sees."""

    def __init__(self, problem: LinkProblem, message: str, language: str = "fi") -> None:
        super().__init__(message)
        self.problem = problem
        self.language = language


# ------------------------------------------------------------------------------ links


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(secret: str, invitation_id: str, expires_at: datetime) -> str:
    """A link token: the invitation id, its expiry and an HMAC of both under the secret."""
    body = f"{invitation_id}.{int(expires_at.timestamp()):x}"
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()[:16]
    return f"{body}.{_b64(mac)}"


def verify(secret: str, token: str, now: datetime) -> str:
    """The invitation id of a valid token; LinkError('forged' | 'expired') otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise LinkError("forged", "this survey link is not valid")
    invitation_id, expiry, mac = parts
    body = f"{invitation_id}.{expiry}"
    expected = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()[:16])
    # bytes: compare_digest refuses a str that is not ASCII, and a link is anyone's input
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        raise LinkError("forged", "this survey link is not valid")
    if int(expiry, 16) < now.timestamp():
        raise LinkError("expired", "this survey link has expired")
    return invitation_id


def link(base_url: str, secret: str, invitation: dict[str, Any],
         answer: tuple[str, int | str] | None = None) -> str:
    """The survey link of an invitation: `{base}/s/{token}`; with `answer` a one-click link
    that records that answer (e.g. an NPS scale in an email) and opens the rest of the form:
    `{base}/s/{token}?{question}={value}`."""
    url = f"{base_url.rstrip('/')}/s/{sign(secret, invitation['id'], invitation['expires_at'])}"
    if answer is not None:
        url += f"?{quote(answer[0])}={quote(str(answer[1]))}"
    return url


# ------------------------------------------------------------------------------ invitations


def new_id() -> str:
    return secrets.token_urlsafe(12)


def invite(db: Engine, workspace: ActiveWorkspace, survey_id: str, customer: str, *,
           channel: str, now: datetime, event_id: str | None = None,
           touchpoint: str | None = None) -> dict[str, Any]:
    """An invitation usable at once (the response API, the widget, a manual send)."""
    survey = survey_of(workspace, survey_id)
    if people.get_customer(db, workspace.id, customer) is None:
        raise NotFound(f"no customer '{customer}' in workspace '{workspace.slug}'")
    ident = new_id()
    row = {
        "id": ident, "workspace_id": workspace.id, "survey": survey.id, "customer": customer,
        "touchpoint": touchpoint or survey.touchpoint, "channel": channel,
        "event_id": event_id or f"manual:{ident}", "event_type": None, "occurred_at": now,
        "due_at": now, "status": "sent", "reason": None, "attempts": 0, "sent_at": now,
        "expires_at": now + timedelta(seconds=workspace.document.feedback.link_seconds),
        "opened_at": None, "answered_at": None, "created_at": now,
    }
    with db.begin() as conn:
        conn.execute(insert(invitations).values(**row))
    return row


def get_invitation(db: Engine, invitation_id: str) -> dict[str, Any] | None:
    with db.connect() as conn:
        row = conn.execute(select(invitations).where(invitations.c.id == invitation_id)).first()
    return dict(row._mapping) if row else None


def opted_out(db: Engine, workspace_id: int, customer: str) -> bool:
    with db.connect() as conn:
        return conn.execute(select(opt_outs.c.customer).where(
            opt_outs.c.workspace_id == workspace_id, opt_outs.c.customer == customer)
        ).first() is not None


def opt_out(db: Engine, workspace_id: int, customer: str, *, source: str, now: datetime,
            actor: str | None = None) -> None:
    """No more surveys for this customer, from any survey of the workspace (idempotent).

    Recorded as what it is, a withdrawn `surveys` consent (channel: `source`), with the
    opt-out list and the planned invitations set to match (see services/consents.py).
    `actor` for the audit log: default the customer (a link)."""
    if opted_out(db, workspace_id, customer):
        return
    who = actor or "customer"
    with db.begin() as conn:
        slug = conn.execute(select(workspace_table.c.slug).where(
            workspace_table.c.id == workspace_id)).scalar_one()
        consents.record_in(conn, workspace_id, customer,
                           ConsentStatement(purpose="surveys", granted=False, channel=source),
                           source=source, now=now, actor=who, slug=slug)


@dataclass(frozen=True)
class Opened:
    """A link that works: what the form needs to show and to save."""

    invitation: dict[str, Any]
    workspace: ActiveWorkspace
    survey: Survey
    language: str
    response: dict[str, Any] | None
    person: dict[str, Any] | None = None  # the customer's row, as the response snapshots it


def language_for(workspace: ActiveWorkspace, customer: dict[str, Any] | None) -> str:
    """The customer's language when the workspace speaks it, else the workspace's first."""
    languages = list(workspace.document.languages)
    wanted = (customer or {}).get("language")
    return wanted if wanted in languages else languages[0]


# A link's invitation, its workspace's current version and its customer (if still there).
_LINK = select(
    invitations, workspace_table.c.version.label("workspace_version"),
    *[c.label(f"customer_{c.name}") for c in customers.c],
).select_from(invitations.join(
    workspace_table, workspace_table.c.id == invitations.c.workspace_id,
).outerjoin(customers, and_(customers.c.workspace_id == invitations.c.workspace_id,
                            customers.c.id == invitations.c.customer)))
# built once: SQLAlchemy keeps a statement's cache key with it, so a post pays neither the
# building nor the key (a third of the link's read, which is half of a post's reads)
_LINK_BY_ID = _LINK.where(invitations.c.id == bindparam("link_id"))


def open_link(kk: Kokemus, secret: str, token: str, now: datetime, *,
              mark_opened: bool = True, read_response: bool = True) -> Opened:
    """Check a link and return the survey behind it; LinkError for forged, expired or done.
    A submission passes `mark_opened=False` and `read_response=False`: `submission` reads
    what was saved, and the journal's writer marks the invitation with the response."""
    invitation_id = verify(secret, token, now)
    with kk.db.connect() as conn:  # one query for the three rows (most of a post's reads)
        found = conn.execute(_LINK_BY_ID, {"link_id": invitation_id}).first()
        if found is None:
            raise LinkError("unknown", "this survey link is not valid")
        values = found._mapping
        invitation = {c.name: values[c] for c in invitations.c}
        customer = ({c.name: values[f"customer_{c.name}"] for c in customers.c}
                    if values["customer_id"] is not None else None)
        workspace = workspaces.at_version(conn, invitation["workspace_id"],
                                          values["workspace_version"])
    language = language_for(workspace, customer)
    expires = invitation["expires_at"]
    if expires is not None and expires < now:
        raise LinkError("expired", "this survey link has expired", language)
    survey = workspace.document.survey(invitation["survey"])
    if survey is None:
        raise LinkError("unknown", "this survey is no longer in use", language)
    if invitation["answered_at"] is not None:  # set only when a response is complete
        raise LinkError("answered", "this survey has already been answered", language)
    response = saved(kk, invitation) if read_response else None
    if mark_opened and invitation["opened_at"] is None:
        with kk.db.begin() as conn:
            conn.execute(update(invitations).where(invitations.c.id == invitation_id)
                         .values(opened_at=now))
    return Opened(invitation, workspace, survey, language, response, customer)


def saved(kk: Kokemus, invitation: dict[str, Any]) -> dict[str, Any] | None:
    """The response saved for an invitation, if any. Every save records its revision on the
    invitation, so one never saved (most of a survey blast) reads nothing more."""
    if invitation.get("response_revision") is None:
        return None
    return kk.journal.get(invitation["workspace_id"], invitation["id"])


def survey_of(workspace: ActiveWorkspace, survey_id: str) -> Survey:
    survey = workspace.document.survey(survey_id)
    if survey is None:
        known = ", ".join(s.id for s in workspace.document.surveys) or "none defined"
        raise NotFound(f"no survey '{survey_id}' in workspace '{workspace.slug}' "
                       f"(known: {known})")
    return survey


# ------------------------------------------------------------------------------ answers


def submit(kk: Kokemus, workspace: ActiveWorkspace, survey: Survey, answers: dict[str, Any], *,
           response_id: str, source: Source, now: datetime, complete: bool = False,
           invitation: dict[str, Any] | None = None, customer: str | None = None,
           touchpoint: str | None = None, channel: str | None = None,
           language: str | None = None, event_id: str | None = None,
           person: dict[str, Any] | None = None,
           on_page: list[str] | None = None) -> dict[str, Any]:
    """Validate `answers` (merged over what the response already holds) and save them.

    AnswerError (a ValueError naming each question and why) leaves the stored response as
    it was. With `complete`, required questions must be answered and the invitation is
    marked answered. `person`: the customer's row when the caller has it already.

    `on_page`: the answers come from a form showing these questions; then `Survey.settle`
    decides, over the saved answers, which answers a changed one hides and whether the
    response is complete (the returned row says), so the form needs no read of its own.
    """
    with kk.journal.held(response_id):
        if invitation is not None:  # read again under the hold: what it says was saved
            invitation = get_invitation(kk.db, invitation["id"]) or invitation
        planned = submission(kk, workspace, survey, answers, response_id=response_id,
                             source=source, now=now, complete=complete,
                             invitation=invitation, customer=customer, touchpoint=touchpoint,
                             channel=channel, language=language, event_id=event_id,
                             person=person, on_page=on_page)
        row: dict[str, Any] = kk.journal.submit(planned.entry).result()
    return row


async def save(kk: Kokemus, planned: Submission) -> dict[str, Any]:
    """`submit` for a caller on the event loop, which holds the response in the journal
    (`kk.journal.held`) from before it read the invitation: the write is acknowledged after
    its commit, awaited rather than holding a thread while the writer works."""
    row: dict[str, Any] = await asyncio.wrap_future(kk.journal.submit(planned.entry))
    return row


@dataclass(frozen=True)
class Submission:
    """A submission ready to write: the journal entry whose change the writer makes over the
    saved row, with the invitation's marks in the same transaction."""

    entry: Entry


def submission(kk: Kokemus, workspace: ActiveWorkspace, survey: Survey,
               answers: dict[str, Any], *, response_id: str, source: Source, now: datetime,
               complete: bool = False, invitation: dict[str, Any] | None = None,
               customer: str | None = None, touchpoint: str | None = None,
               channel: str | None = None, language: str | None = None,
               event_id: str | None = None, person: dict[str, Any] | None = None,
               on_page: list[str] | None = None) -> Submission:
    """What `submit` writes, with the reads it needs done (the triggering event's channel,
    the customer's row when not given); see `submit` for the arguments."""
    if invitation is not None:
        customer = invitation["customer"]
        touchpoint = touchpoint or invitation["touchpoint"]
        event_id = event_id or invitation["event_id"]
        channel = channel or _event_channel(kk, workspace.id, event_id)
    touchpoint = touchpoint or survey.touchpoint
    if channel is None and touchpoint is not None:
        tp = workspace.document.touchpoint(touchpoint)
        channel = tp.channel if tp is not None else None
    if person is None and customer:
        person = people.get_customer(kk.db, workspace.id, customer)

    def change(old: dict[str, Any] | None) -> dict[str, Any]:
        saved = old["answers"] if old else {}
        posted, finished = (answers, complete) if on_page is None else (
            survey.settle(saved, answers, on_page))
        clean = survey.check({**saved, **posted}, complete=finished)
        scores = survey.scores(clean)
        comments = [v for q in survey.questions if q.type == "text" and
                    isinstance(v := clean.get(q.id), str) and v]
        return {
            "workspace_id": workspace.id, "id": response_id, "survey": survey.id,
            "invitation": invitation["id"] if invitation else (old or {}).get("invitation"),
            "customer": customer,
            "account": (person or {}).get("account_id"), "role": (person or {}).get("role"),
            "segments": list((person or {}).get("segments") or []),
            "touchpoint": touchpoint, "channel": channel, "source": source,
            "language": language or language_for(workspace, person),
            "event_id": event_id, "answers": clean, **scores,
            "comment": "\n".join(comments) or None,
            "complete": finished or bool(old and old["complete"]),
            "started_at": old["started_at"] if old else now, "updated_at": now,
            "revision": (old["revision"] + 1) if old else 1,
        }

    # Read here, before the write: the writer takes it when the journal holds no newer row
    # (storage/journal.py). An invitation says whether anything was saved for it.
    if invitation is not None and invitation["id"] == response_id:
        old_row = saved(kk, invitation)
    else:
        old_row = kk.journal.get(workspace.id, response_id)
    return Submission(Entry(workspace.id, response_id, change, old_row,
                            invitation["id"] if invitation else None, now))


def _event_channel(kk: Kokemus, workspace_id: int, event_id: str | None) -> str | None:
    """The channel of the event that triggered an invitation: where the experience was."""
    if not event_id or event_id.startswith("manual:"):  # invited by hand: no event
        return None
    with kk.events.reading() as cur:
        found = cur.execute("SELECT channel FROM events WHERE workspace_id = ? AND id = ?",
                            [workspace_id, event_id]).fetchone()
    return str(found[0]) if found else None
