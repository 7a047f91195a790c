"""The case inbox and the case page: a department's open cases (and "mine"), each case with
its history, notes, assignment and state buttons, and the customer's timeline and answers
beside it; the recovery report for those who read analyses.

Everything shown comes from services/cases.py (the cases, who may see and work them, the
recovery counts) and analytics/timeline.py through web/timeline.py (the customer's
history); this module only puts it into words in the reader's language. An agent reaches
the cases of their departments only: any other case answers the same 404 as a case that
does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kokemus.analytics import timeline
from kokemus.api.auth import kokemus
from kokemus.domain.cases import MOVES, OPEN, PRIORITIES, STATES, BadMove
from kokemus.domain.errors import Invalid, NotFound
from kokemus.domain.roles import Permission
from kokemus.domain.scores import Score
from kokemus.domain.texts import localized
from kokemus.services import cases as service
from kokemus.services.cases import Actor, Case, Conflict, Filters, Reach
from kokemus.web import i18n, sessions
from kokemus.web import timeline as timeline_page
from kokemus.web.page import (
    Analyst,
    Caseworker,
    Member,
    PageNotFound,
    Reader,
    filter_day,
    render,
)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

NOTICE = "cases_notice"
PAGE_SIZE = 50
MAX_OFFSET = 1_000_000
STATE_FILTERS = ("open", *STATES, "all")


# ------------------------------------------------------------------------------ words


@dataclass(frozen=True)
class Row:
    """One case as a line of the inbox, already in words."""

    number: int
    title: str
    customer: str | None
    account: str | None
    department: str
    priority: str  # the key (low, normal, high, urgent)
    state: str  # the key
    assignee: str | None
    due: str  # "" without an SLA
    sla: str | None  # ok, at_risk, breached; None when off the clock
    opened: str


@dataclass(frozen=True)
class Line:
    """One line of a case's history."""

    when: str
    who: str
    text: str
    kind: str
    body: str | None = None


@dataclass
class CaseView:
    row: Row
    rule: str | None
    cause: str | None
    escalated: str | None
    resolved: str
    closed: str
    history: list[Line]
    moves: list[tuple[str, str]]  # (state, label key): assigning is a form of its own
    assignable: list[str]
    may_work: bool
    may_take: bool  # the reader may take it themself
    timeline: timeline_page.TimelinePage | None = None
    errors: list[str] = field(default_factory=list)


def _zone(member: Member) -> ZoneInfo:
    return member.zone


def when(moment: datetime | None, zone: ZoneInfo, language: str) -> str:
    if moment is None:
        return ""
    return i18n.moment(moment, language, zone)


def _departments(member: Member, language: str) -> dict[str, str]:
    return {d.id: localized(d.name, language) for d in member.workspace.document.departments}


def row(case: Case, member: Member, language: str, now: datetime) -> Row:
    zone = _zone(member)
    return Row(case.number, case.title_in(language), case.customer, case.account,
               _departments(member, language).get(case.department, case.department),
               case.priority, case.state, case.assignee, when(case.sla_due_at, zone, language),
               case.sla(now, member.workspace.document.cases.at_risk),
               when(case.created_at, zone, language))


def _who(entry: service.Entry, language: str, rules: dict[str, str]) -> str:
    if entry.author:
        return entry.author
    actor = entry.actor or "engine"
    kind, _, name = actor.partition(":")
    if kind == "rule" and name:
        name = rules.get(name, name)  # a rule by its name, as the rules page shows it
    if kind in ("rule", "key", "cli") and name:
        return i18n.translate(f"cases.actor.{kind}", language, name=name)
    return i18n.translate("cases.actor.engine", language)


def _line(entry: service.Entry, zone: ZoneInfo, language: str, rules: dict[str, str]) -> Line:
    t = i18n.translator(language)
    if entry.kind == "state":
        text = t("cases.history.state", state=t(f"cases.state.{entry.state}"))
    elif entry.kind == "assigned":
        text = t("cases.history.assigned", assignee=entry.assignee or "–")
    elif entry.kind == "escalated":
        text = t(f"cases.history.{entry.state}")
    elif entry.kind == "followup":
        text = t("cases.history.followup", survey=entry.body or "–")
    elif entry.kind == "opened":
        text = t("cases.history.opened")
    else:
        text = t("cases.history.note")
    return Line(when(entry.at, zone, language), _who(entry, language, rules), text, entry.kind,
                entry.body if entry.kind == "note" else None)


def _reach(request: Request, member: Member) -> Reach:
    return service.reach_of(kokemus(request).db, member.viewer.id, member.workspace.id,
                            member.role)


def _number(member: Member, text: str) -> int:
    if not text.isdigit() or len(text) > 9:
        raise PageNotFound(f"{member.workspace.slug}/cases/{text[:20]}", member.workspaces)
    return int(text)


# ------------------------------------------------------------------------------ inbox


def _inbox(request: Request, member: Member, *, view: str | None, state: str, offset: int,
           status: int = 200, error: str | None = None,
           form: dict[str, str] | None = None) -> Response:
    kk = kokemus(request)
    language = sessions.language(request)
    reach = _reach(request, member)
    names = _departments(member, language)
    visible = [d for d in names if reach.sees(d)]
    counts = service.counts(kk.db, member.workspace.id, reach=reach, user_id=member.viewer.id)
    errors: list[str] = []
    if state not in STATE_FILTERS:
        errors.append("cases.bad_state")
        state = "open"
    chosen = view if view == "mine" or view in visible else None
    if view and chosen is None:
        errors.append("cases.bad_view")
    filters = Filters(
        departments=[chosen] if chosen not in (None, "mine") else [],
        states=[state] if state in STATES else [], open_only=state == "open",
        assignee=member.viewer.id if chosen == "mine" else None)
    found, total = service.listing(kk.db, member.workspace.id, filters, reach=reach,
                                   limit=PAGE_SIZE, offset=offset)
    now = datetime.now(UTC)
    tabs = [("mine", i18n.translate("cases.mine", language), counts.get("mine", 0))]
    tabs += [(d, names[d], counts.get(d, 0)) for d in visible]
    query = {"view": chosen or "", "state": state}
    return render(
        request, "cases.html", 422 if errors and status == 200 else status,
        slug=member.workspace.slug,
        workspace_name=localized(member.workspace.document.name, language),
        rows=[row(c, member, language, now) for c in found], total=total, offset=offset,
        page_size=PAGE_SIZE, tabs=tabs, view=chosen or "", state=state,
        states=STATE_FILTERS, query=query, departments=[(d, names[d]) for d in visible],
        priorities=PRIORITIES, may_work=member.can(Permission.WORK),
        no_departments=not reach.everything and not reach.departments,
        may_analyse=member.can(Permission.ANALYSE), errors=errors, error=error,
        form=form or {}, notice=request.session.pop(NOTICE, None))


@router.get("/w/{slug}/cases")
def inbox(request: Request, member: Reader, view: Annotated[str | None, Query(
              max_length=64)] = None,
          state: Annotated[str, Query(max_length=24)] = "open",
          offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> Response:
    return _inbox(request, member, view=view, state=state, offset=offset)


@router.post("/w/{slug}/cases")
def open_case(request: Request, member: Caseworker,
              department: Annotated[str, Form()] = "",
              title: Annotated[str, Form()] = "",
              customer: Annotated[str, Form()] = "",
              priority: Annotated[str, Form()] = "normal",
              csrf: Annotated[str, Form()] = "") -> Response:
    """A case a person opens for one of the departments they work for."""
    language = sessions.language(request)
    form = {"department": department, "title": title, "customer": customer,
            "priority": priority}
    if not sessions.csrf_ok(request, csrf):
        return _inbox(request, member, view=None, state="open", offset=0, status=400,
                      error=i18n.translate("login.expired", language), form=form)
    if not title.strip():
        return _inbox(request, member, view=None, state="open", offset=0, status=422,
                      error=i18n.translate("cases.title_missing", language), form=form)
    try:
        case = service.open_by_person(
            kokemus(request).db, member.workspace, department=department,
            title=title.strip()[:service.MAX_TITLE], customer=customer, priority=priority,
            actor=_actor(member), reach=_reach(request, member))
    except Invalid as exc:
        return _inbox(request, member, view=None, state="open", offset=0, status=422,
                      error=str(exc), form=form)
    return _back(request, member, case.number, "cases.opened")


def _actor(member: Member) -> Actor:
    return Actor(member.actor, member.viewer.id)


def _back(request: Request, member: Member, number: int, key: str, **params: str) -> Response:
    request.session[NOTICE] = {"key": key, "params": {"number": str(number), **params}}
    return RedirectResponse(f"/w/{member.workspace.slug}/cases/{number}", status_code=303)


# ------------------------------------------------------------------------------ recovery


@router.get("/w/{slug}/cases/recovery")
async def recovery_page(request: Request, member: Analyst,
                        start: Annotated[str | None, Query(alias="from", max_length=20)] = None,
                        end: Annotated[str | None, Query(alias="to", max_length=20)] = None
                        ) -> Response:
    kk = kokemus(request)
    language = sessions.language(request)
    zone = _zone(member)
    errors: list[str] = []
    first = filter_day(start, "cases.bad_day", errors)
    last = filter_day(end, "cases.bad_day", errors)
    since = None if first is None else datetime.combine(first, time.min, zone)
    until = None if last is None else datetime.combine(last + timedelta(days=1), time.min,
                                                       zone)
    if since is not None and until is not None and since >= until:
        errors.append("cases.bad_period")
        since = until = None
    found = await run_in_threadpool(service.recovery, kk.db, kk.events, member.workspace,
                                    since=since, until=until)

    def share(score: Score) -> dict[str, Any]:
        if score.value is None or score.low is None or score.high is None:
            return {"value": "–", "interval": "", "n": score.n, "enough": False}
        return {"value": i18n.number(score.value, language, 1),
                "interval": f"{i18n.number(score.low, language, 1)}–"
                            f"{i18n.number(score.high, language, 1)}",
                "n": score.n, "enough": score.enough}

    groups = [(key, group.detractors, share(group.answered), share(group.recovered))
              for key, group in (("with_case", found.with_case),
                                 ("without_case", found.without_case))]
    difference = None
    if found.difference is not None and found.low is not None and found.high is not None:
        difference = {
            "value": i18n.number(found.difference, language, 1, signed=True),
            "interval": f"{i18n.number(found.low, language, 1, signed=True)} … "
                        f"{i18n.number(found.high, language, 1, signed=True)}",
            "clear": found.low > 0 or found.high < 0}
    return render(request, "cases_recovery.html", 422 if errors else 200,
                  slug=member.workspace.slug,
                  workspace_name=localized(member.workspace.document.name, language),
                  groups=groups, difference=difference, enough=found.enough,
                  min_n=member.workspace.document.feedback.min_answers,
                  window=i18n.duration(service.RECOVERY_WINDOW, language),
                  start=start or "", end=end or "", errors=errors)


# ------------------------------------------------------------------------------ one case


async def _case_page(request: Request, member: Member, number: int, *, status: int = 200,
                     error: str | None = None) -> Response:
    kk = kokemus(request)
    language = sessions.language(request)
    reach = _reach(request, member)
    try:
        case = service.get(kk.db, member.workspace.id, number, reach=reach)
    except NotFound:
        raise PageNotFound(f"{member.workspace.slug}/cases/{number}",
                           member.workspaces) from None
    zone = _zone(member)
    now = datetime.now(UTC)
    entries = service.history(kk.db, case)
    may_work = member.can(Permission.WORK)
    people = service.assignable(kk.db, member.workspace.id, case.department)
    rules = {r.id: localized(r.name, language) for r in member.workspace.document.rules}
    view = CaseView(
        row=row(case, member, language, now),
        rule=rules.get(case.rule, case.rule) if case.rule else None, cause=case.cause,
        escalated=case.escalated, resolved=when(case.resolved_at, zone, language),
        closed=when(case.closed_at, zone, language),
        history=[_line(e, zone, language, rules) for e in entries],
        moves=[(m, "reopen" if case.state == "resolved" and m == "in_progress" else m)
               for m in MOVES.get(case.state, ()) if m != "assigned"] if may_work else [],
        assignable=people if may_work and case.state in OPEN else [],
        may_work=may_work,
        may_take=(may_work and case.state in OPEN
                  and case.assignee != member.viewer.username
                  and (member.viewer.username in people or member.role is None)))
    if case.customer is not None or case.account is not None:
        found = await run_in_threadpool(timeline.read, kk.db, kk.events, member.workspace,
                                        customer=case.customer,
                                        account=None if case.customer else case.account)
        if found is not None:
            view.timeline = timeline_page.build(found, member, language)
    return render(request, "case.html", status, slug=member.workspace.slug,
                  workspace_name=localized(member.workspace.document.name, language),
                  case=view, error=error, notice=request.session.pop(NOTICE, None))


@router.get("/w/{slug}/cases/{number}")
async def case_page(request: Request, number: str, member: Reader) -> Response:
    return await _case_page(request, member, _number(member, number))


async def _change(request: Request, member: Member, number: int, csrf: str, change: Any,
                  key: str, **params: str) -> Response:
    """Run a change to a case, then back to its page with a notice; an expired form, a
    refused move or a change made meanwhile comes back on the page with the reason."""
    language = sessions.language(request)
    t = i18n.translator(language)
    if not sessions.csrf_ok(request, csrf):
        return await _case_page(request, member, number, status=400, error=t("login.expired"))
    try:
        await run_in_threadpool(change, _reach(request, member))
    except NotFound:
        raise PageNotFound(f"{member.workspace.slug}/cases/{number}",
                           member.workspaces) from None
    except BadMove as exc:
        wanted = (t(f"cases.state.{exc.wanted}") if exc.wanted in STATES
                  else exc.wanted[:24])
        return await _case_page(request, member, number, status=409, error=t(
            "cases.bad_move", state=t(f"cases.state.{exc.current}"), wanted=wanted))
    except Conflict:
        return await _case_page(request, member, number, status=409, error=t("cases.changed"))
    except Invalid as exc:
        return await _case_page(request, member, number, status=422, error=str(exc))
    return _back(request, member, number, key, **params)


@router.post("/w/{slug}/cases/{number}/assign")
async def assign(request: Request, number: str, member: Caseworker,
                 assignee: Annotated[str, Form()] = "",
                 csrf: Annotated[str, Form()] = "") -> Response:
    """Give the case to a person who works its department; empty: to oneself."""
    n = _number(member, number)
    name = assignee.strip() or member.viewer.username
    db = kokemus(request).db

    def change(reach: Reach) -> None:
        service.assign(db, member.workspace, n, name, actor=_actor(member), reach=reach)

    return await _change(request, member, n, csrf, change, "cases.assigned", assignee=name)


@router.post("/w/{slug}/cases/{number}/state")
async def change_state(request: Request, number: str, member: Caseworker,
                       state: Annotated[str, Form()] = "",
                       note: Annotated[str, Form()] = "",
                       csrf: Annotated[str, Form()] = "") -> Response:
    n = _number(member, number)
    db = kokemus(request).db

    def change(reach: Reach) -> None:
        service.move(db, member.workspace, n, state, actor=_actor(member), reach=reach,
                     note=note or None)

    label = i18n.translate(f"cases.state.{state}", sessions.language(request)) \
        if state in STATES else state
    return await _change(request, member, n, csrf, change, "cases.moved", state=label)


@router.post("/w/{slug}/cases/{number}/notes")
async def add_note(request: Request, number: str, member: Caseworker,
                   body: Annotated[str, Form()] = "",
                   csrf: Annotated[str, Form()] = "") -> Response:
    n = _number(member, number)
    if not body.strip():
        return await _case_page(request, member, n, status=422, error=i18n.translate(
            "cases.note_empty", sessions.language(request)))
    db = kokemus(request).db

    def change(reach: Reach) -> None:
        service.add_note(db, member.workspace, n, body, actor=_actor(member), reach=reach)

    return await _change(request, member, n, csrf, change, "cases.noted")
