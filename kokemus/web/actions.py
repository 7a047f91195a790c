"""The actions the rules decided on, as the outbox holds them (services/actions.py): the
counts by status, and the actions newest first with their tries, reason and times, a page
at a time. Those who read analyses see it; those who edit the workspace (editors, owners)
also put dead actions back, chosen ones or all, and the worker delivers them again.

And the unsubscribe link of the rules' emails (`/u/TOKEN`, public, signed): opening it asks
(link scanners open every link), a POST records the withdrawn `marketing` consent; a mail
system's one-click POST (RFC 8058) is that same POST."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kokemus.api.auth import kokemus
from kokemus.domain.errors import Invalid, NotFound
from kokemus.domain.roles import Permission
from kokemus.domain.texts import localized
from kokemus.services import actions as service
from kokemus.services.feedback import language_for
from kokemus.storage import people
from kokemus.web import forms, i18n, sessions
from kokemus.web.limits import RateLimit
from kokemus.web.page import Analyst, Editor, Member, render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
NOTICE = "actions_notice"
PAGE_SIZE = 50
MAX_OFFSET = 1_000_000
KINDS = ("email", "notify", "webhook", "survey", "case", "start_sequence", "stop_sequence")


@dataclass(frozen=True)
class Row:
    """One action as a line of the table, already in words."""

    id: str
    rule: str
    index: int
    kind: str  # the key
    customer: str | None
    cause: str
    status: str  # the key
    reason: str | None
    attempts: int
    due: str
    done: str
    dead: bool


def _moment(value: datetime | None, lang: str, zone: ZoneInfo) -> str:
    return "" if value is None else i18n.moment(value, lang, zone)


def _chosen(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def _offset(raw: str | None) -> int:
    return min(int(raw), MAX_OFFSET) if raw and raw.isdigit() and len(raw) < 8 else 0


def _page(request: Request, member: Member, *, status: str | None, rule: str | None,
          kind: str | None, offset: int, code: int = 200, **context: Any) -> Response:
    db = kokemus(request).db
    lang = sessions.language(request)
    wid = member.workspace.id
    rows = service.latest(db, wid, status=status, rule=rule, kind=kind, limit=PAGE_SIZE,
                          offset=offset)
    total = service.count(db, wid, status=status, rule=rule, kind=kind)
    shown = [Row(r["id"], r["rule"], int(r["action"]), r["kind"], r["customer"], r["cause"],
                 r["status"], r["reason"], int(r["attempts"]),
                 _moment(r["due_at"], lang, member.zone), _moment(r["done_at"], lang, member.zone),
                 r["status"] == "dead") for r in rows]
    where = {k: v for k, v in (("status", status), ("rule", rule), ("kind", kind)) if v}

    def link(at: int) -> str:
        return "?" + urlencode({**where, **({"offset": at} if at else {})})

    return render(
        request, "actions.html", code, slug=member.workspace.slug, rows=shown, total=total,
        counts=service.counts(db, wid), statuses=service.STATUSES, kinds=KINDS,
        rules=[r.id for r in member.workspace.document.rules], chosen_status=status or "",
        chosen_rule=rule or "", chosen_kind=kind or "", first=offset + 1 if shown else 0,
        last=offset + len(shown),
        prev_link=link(max(offset - PAGE_SIZE, 0)) if offset else None,
        next_link=link(offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
        may_retry=member.can(Permission.EDIT), notice=request.session.pop(NOTICE, None),
        **context)


@router.get("/w/{slug}/actions")
def actions_page(request: Request, member: Analyst, status: str | None = None,
                 rule: str | None = None, kind: str | None = None,
                 offset: str | None = None) -> Response:
    return _page(request, member, status=_chosen(status, service.STATUSES),
                 rule=rule[:64] if rule else None, kind=_chosen(kind, KINDS),
                 offset=_offset(offset))


@router.post("/w/{slug}/actions/retry")
def retry_actions(
    request: Request,
    member: Editor,
    csrf: Annotated[str, Form()] = "",
    action: Annotated[list[str] | None, Form()] = None,
    every: Annotated[str, Form()] = "",
) -> Response:
    """Put the chosen dead actions back (or every dead one, `every=dead`)."""
    lang = sessions.language(request)

    def refused(code: int, key: str) -> Response:
        return _page(request, member, status="dead", rule=None, kind=None, offset=0,
                     code=code, error=i18n.translate(key, lang))

    if not sessions.csrf_ok(request, csrf):
        return refused(400, "login.expired")
    chosen = [a for a in (action or []) if a][:service.MAX_RETRY]
    if not chosen and every != "dead":
        return refused(422, "actions.none_chosen")
    try:
        n = service.retry(kokemus(request).db, member.workspace, chosen,
                          every_dead=every == "dead", actor=member.actor)
    except Invalid:
        return refused(422, "actions.not_dead")
    request.session[NOTICE] = {"key": "actions.retried", "params": {"n": str(n)}}
    return RedirectResponse(f"/w/{member.workspace.slug}/actions?status=dead",
                            status_code=303)


# ------------------------------------------------------------------------------ unsubscribe


@router.get("/u/{token}")
def unsubscribe_page(request: Request, token: str) -> Response:
    """Asks; does nothing (a link scanner opening the link unsubscribes nobody)."""
    return _unsubscribe(request, token, act=False)


@router.post("/u/{token}")
def unsubscribe(request: Request, token: str) -> Response:
    """Records the withdrawn `marketing` consent: the page's button, or a mail system's
    one-click POST (`List-Unsubscribe=One-Click`); the signed token is the authority."""
    return _unsubscribe(request, token, act=True)


def _unsubscribe(request: Request, token: str, *, act: bool) -> Response:
    kk = kokemus(request)
    limit: RateLimit = request.app.state.form_limit
    wait = limit.take(request.client.host if request.client else "unknown")
    if wait > 0:
        seconds = max(1, int(wait + 0.999))
        return forms.page(request, "survey_message.html", i18n.DEFAULT, status=429,
                          extra_headers={"Retry-After": str(seconds)},
                          title_key="survey.limited.title", body_key="survey.limited.body",
                          params={"seconds": seconds})
    secret = request.app.state.link_secret
    try:
        workspace, customer = (service.unsubscribe(kk.db, secret, token) if act
                               else service.unsubscriber(kk.db, secret, token))
    except NotFound:
        return forms.page(request, "survey_message.html", i18n.DEFAULT, status=404,
                          title_key="unsubscribe.bad_title", body_key="unsubscribe.bad_body",
                          params={})
    language = language_for(workspace, people.get_customer(kk.db, workspace.id, customer))
    company = localized(workspace.document.name, language)
    if act:
        return forms.page(request, "survey_message.html", language,
                          title_key="unsubscribe.done_title", body_key="unsubscribe.done_body",
                          params={"company": company})
    return forms.page(request, "unsubscribe.html", language, token=token, company=company)
