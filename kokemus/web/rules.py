"""Web pages for a workspace's rules: the list, and an editor of one rule's YAML.

The editor's Preview builds the workspace with the edited rule (services.rules, the same
validation as Save) and replays it over the last PREVIEW_SINCE with engine.rules.replay,
as `kokemus rules test RULE --since 30d` does: nothing is written, a disabled rule is
replayed too. Save applies the edit as a new workspace version, like the survey editor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import case, func, select

from kokemus.api.auth import kokemus
from kokemus.domain.errors import Invalid, NotFound
from kokemus.domain.rules import Rule
from kokemus.domain.texts import localized
from kokemus.engine import rules as engine
from kokemus.services import rules as rule_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.tables import actions
from kokemus.web import i18n, sessions
from kokemus.web.page import (
    Analyst,
    Editor,
    Member,
    PageNotFound,
    form_version,
    located,
    render,
)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

PREVIEW_SINCE = timedelta(days=30)
PREVIEW_ROWS = 50
NOTICE = "rule_notice"
NEW = "new"


@dataclass(frozen=True)
class RuleRow:
    id: str
    name: str
    trigger: str
    actions: list[str]
    enabled: bool
    written: int
    done: int


def trigger(rule: Rule) -> str:
    """The trigger in one line, as the YAML says it."""
    when = rule.when.model_dump(mode="json", exclude_defaults=True, by_alias=True)
    rest = ", ".join(f"{key} {value}" for key, value in when.items() if key != "on")
    return f"{rule.when.on}: {rest}" if rest else rule.when.on


def _counts(kk: Any, workspace_id: int) -> dict[str, tuple[int, int]]:
    """Per rule, the outbox rows written and those done (one grouped query)."""
    done = func.sum(case((actions.c.status == "done", 1), else_=0))
    with kk.db.connect() as conn:
        return {str(rule): (int(n), int(d or 0)) for rule, n, d in conn.execute(
            select(actions.c.rule, func.count(), done)
            .where(actions.c.workspace_id == workspace_id).group_by(actions.c.rule))}


@router.get("/w/{slug}/rules")
def rule_list(request: Request, slug: str, member: Analyst) -> Response:
    kk = kokemus(request)
    active = member.workspace
    lang = sessions.language(request)
    counts = _counts(kk, active.id)
    rows = [RuleRow(r.id, localized(r.name, lang), trigger(r), [a.do for a in r.actions],
                    r.enabled, *counts.get(r.id, (0, 0)))
            for r in active.document.rules]
    return render(request, "rules.html", workspaces=member.workspaces, current=slug,
                  slug=slug, workspace_name=localized(active.document.name, lang),
                  version=active.version, rules=rows,
                  notice=request.session.pop(NOTICE, None))


@dataclass(frozen=True)
class PreviewRow:
    at: str
    cause: str
    cause_id: str
    customer: str | None
    actions: list[str]


@dataclass(frozen=True)
class Preview:
    rule: str
    total: int
    matched: int
    not_targeted: int
    actions: int
    rows: list[PreviewRow]


def preview(kk: Any, active: ActiveWorkspace, rule: Rule, lang: str,
            now: datetime | None = None) -> Preview:
    until = now or datetime.now(UTC)
    done = engine.replay(kk, active, rule, until - PREVIEW_SINCE, until)
    zone = i18n.zone(active.document)
    rows = [PreviewRow(i18n.moment(f.cause.occurred_at, lang, zone), f.cause.type, f.cause.id,
                       f.cause.customer, [a.do for a in rule.actions])
            for f in done.fired[:PREVIEW_ROWS]]
    return Preview(rule.id, len(done.fired), done.matched, done.not_targeted,
                   len(done.fired) * len(rule.actions), rows)


def _rule(member: Member, rule_id: str) -> Rule | None:
    if rule_id == NEW:
        return None
    found = next((r for r in member.workspace.document.rules if r.id == rule_id), None)
    if found is None:
        raise PageNotFound(f"{member.workspace.slug}/rules/{rule_id}", member.workspaces)
    return found


def _new_rule_text(active: ActiveWorkspace) -> str:
    """A small rule to start from, switched off: saving it decides nothing yet."""
    existing = {r.id for r in active.document.rules}
    ident = next(f"rule-{i}" for i in range(1, len(existing) + 2)
                 if f"rule-{i}" not in existing)
    event = next((e for tp in active.document.touchpoints() for e in tp.events), "order_placed")
    lines = [f"id: {ident}", "name:", "  fi: Uusi sääntö", "  en: New rule",
             "enabled: false", "when:", "  on: event", f"  event: {event}", "actions:"]
    if active.document.departments:
        lines += ["- do: case", f"  department: {active.document.departments[0].id}",
                  "  title:", "    fi: Tarkista", "    en: Have a look"]
    else:
        lines += ["- do: notify", "  subject:", "    fi: Hei", "    en: Hello",
                  "  body:", "    fi: Hei!", "    en: Hello!"]
    return "\n".join([*lines, ""])


def _editor(request: Request, member: Member, rule: Rule | None, text: str,
            status: int = 200, problems: list[dict[str, Any]] | None = None,
            stale: bool = False, shown: Preview | None = None) -> Response:
    active = member.workspace
    lang = sessions.language(request)
    return render(
        request, "rule_edit.html", status, workspaces=member.workspaces,
        current=active.slug, slug=active.slug,
        workspace_name=localized(active.document.name, lang), version=active.version,
        rule=rule, rule_id=rule.id if rule else NEW,
        rule_name=localized(rule.name, lang) if rule else None, text=text,
        problems=problems or [], stale=stale, preview=shown, days=PREVIEW_SINCE.days,
        notice=request.session.pop(NOTICE, None))


def _expired(request: Request) -> list[dict[str, Any]]:
    return [{"line": None, "path": "",
             "message": i18n.translate("login.expired", sessions.language(request))}]


@router.get("/w/{slug}/rules/new")
def new_rule(request: Request, slug: str, member: Editor) -> Response:
    return _editor(request, member, None, _new_rule_text(member.workspace))


@router.get("/w/{slug}/rules/{rule_id}")
def edit_rule(request: Request, slug: str, rule_id: str, member: Analyst) -> Response:
    rule = _rule(member, rule_id)
    if rule is None:  # /rules/new is the route above; an analyst may not add
        raise PageNotFound(f"{slug}/rules/{rule_id}", member.workspaces)
    return _editor(request, member, rule,
                   rule_service.rule_text(member.workspace.document, rule_id))


@router.post("/w/{slug}/rules/{rule_id}/preview")
def preview_rule(request: Request, slug: str, rule_id: str, member: Analyst,
                 text: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
    """What the edited rule would have fired in the last 30 days; nothing is saved."""
    kk = kokemus(request)
    rule = _rule(member, rule_id)
    if not sessions.csrf_ok(request, csrf):
        return _editor(request, member, rule, text, 400, _expired(request))
    active = member.workspace
    try:
        document, edited = rule_service.edited(active, text, rule.id if rule else None)
    except Invalid as exc:
        return _editor(request, member, rule, text, 422, located(exc))
    shown = preview(kk, ActiveWorkspace.of(active.id, active.version, document), edited,
                    sessions.language(request))
    return _editor(request, member, rule, text, shown=shown)


@router.post("/w/{slug}/rules/{rule_id}")
def save_rule(request: Request, slug: str, rule_id: str, member: Editor,
              text: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "",
              version: Annotated[str, Form()] = "") -> Response:
    kk = kokemus(request)
    rule = _rule(member, rule_id)
    if not sessions.csrf_ok(request, csrf):
        return _editor(request, member, rule, text, 400, _expired(request))
    user = member.viewer.username
    try:
        if rule is None:
            applied, saved = rule_service.add_rule(kk.db, slug, text, user,
                                                   base_version=form_version(version))
        else:
            applied, saved = rule_service.replace_rule(kk.db, slug, rule.id, text, user,
                                                       base_version=form_version(version))
    except rule_service.StaleEdit:
        return _editor(request, member, rule, text, 409, stale=True)
    except NotFound:
        raise PageNotFound(f"{slug}/rules/{rule_id}", member.workspaces) from None
    except Invalid as exc:
        return _editor(request, member, rule, text, 422, located(exc))
    request.session[NOTICE] = {"key": "rules.saved" if applied.changed else "rules.unchanged",
                               "version": applied.version}
    return RedirectResponse(f"/w/{slug}/rules/{saved.id}", status_code=303)
