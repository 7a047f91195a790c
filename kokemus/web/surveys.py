"""Web pages for a workspace's surveys and their responses.

The survey list, the editor (the survey's part of the workspace YAML, validated and applied
as a new workspace version by kokemus.services.surveys) and the response browser, whose
filters are a plain GET form and whose query runs in the event store (storage.responses).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kokemus.api.auth import kokemus
from kokemus.domain import calendar
from kokemus.domain.errors import Invalid, NotFound
from kokemus.domain.scores import band
from kokemus.domain.surveys import (
    KANO_ANSWERS,
    Ces,
    Choice,
    Csat,
    ElementsOfValue,
    ExpectationPerception,
    Kano,
    Nps,
    OpenText,
    Question,
    Rating,
    Survey,
)
from kokemus.domain.texts import localized
from kokemus.domain.workspace import Channel, Segment, Workspace
from kokemus.services import surveys as survey_service
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people
from kokemus.storage import responses as response_store
from kokemus.web import i18n, sessions
from kokemus.web.page import (
    Analyst,
    Editor,
    Member,
    PageNotFound,
    Reader,
    filter_day,
    form_version,
    located,
    render,
)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

PAGE_SIZE = 50
MAX_SEARCH = 200
BANDS: tuple[tuple[str, str], ...] = (
    ("nps", "promoter"), ("nps", "passive"), ("nps", "detractor"),
    ("ces", "easy"), ("ces", "neutral"), ("ces", "hard"),
    ("csat", "satisfied"), ("csat", "neutral"), ("csat", "dissatisfied"),
)
NOTICE = "survey_notice"


# ---------------------------------------------------------------------------------------------
# Survey list


@dataclass(frozen=True)
class SurveyRow:
    id: str
    name: str
    touchpoint: str | None
    touchpoint_name: str | None
    event: str | None
    delay: str | None
    sample: str | None
    channel: str | None
    questions: int
    sent: int
    responses: int
    complete: int
    rate: str | None  # answered invitations per invitation sent, as a percent
    enabled: bool = True  # false: the trigger invites nobody (a survey being built)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}\u00a0%"


def survey_rows(kk: Any, active: ActiveWorkspace, lang: str) -> list[SurveyRow]:
    sent = survey_service.invitations_sent(kk.db, active.id)
    counts = response_store.tally(kk.events, active.id)
    rows = []
    for s in active.document.surveys:
        tp = active.document.touchpoint(s.touchpoint) if s.touchpoint else None
        c = counts.get(s.id, {"responses": 0, "complete": 0, "invited": 0})
        n_sent = sent.get(s.id, 0)
        rows.append(SurveyRow(
            id=s.id, name=localized(s.name, lang), touchpoint=s.touchpoint,
            touchpoint_name=localized(tp.name, lang) if tp else None,
            event=s.trigger.event if s.trigger else None,
            delay=i18n.duration(s.trigger.delay, lang) if s.trigger else None,
            sample=f"{100 * s.trigger.sample:g}\u00a0%" if s.trigger else None,
            channel=s.trigger.channel if s.trigger else None,
            questions=len(s.questions), sent=n_sent, responses=c["responses"],
            complete=c["complete"],
            rate=_percent(min(c["invited"], n_sent), n_sent) if n_sent else None,
            enabled=s.enabled,
        ))
    return rows


# ---------------------------------------------------------------------------------------------
# Question preview and answers, in one language


@dataclass(frozen=True)
class Item:
    label: str
    value: str = ""


@dataclass(frozen=True)
class QuestionView:
    id: str
    type: str
    text: str
    required: bool
    scale: str | None = None
    condition: str | None = None
    items: list[Item] = field(default_factory=list)


def question_view(survey: Survey, q: Question, lang: str, company: str) -> QuestionView:
    t = i18n.translator(lang)
    scale = None
    items: list[Item] = []
    if isinstance(q, Nps | Ces | Csat):
        low, high = q.scale
        scale = f"{low}–{high}"
    elif isinstance(q, Rating):
        scale = f"{q.min}–{q.max}"
    elif isinstance(q, Choice):
        items = [Item(localized(o.text, lang), o.id) for o in q.options]
    elif isinstance(q, ExpectationPerception):
        scale = "1–7"
        items = [Item(localized(a.text, lang), a.id) for a in q.items()]
    elif isinstance(q, ElementsOfValue):
        scale = "1–5"
        items = [Item(_element(name, lang), name) for name in q.items()]
    elif isinstance(q, Kano):
        items = [Item(localized(f.functional, lang), f.id) for f in q.features]
    elif isinstance(q, OpenText):
        scale = t("surveys.max_length", n=q.max_length)
    condition = None
    if q.show_if is not None:
        rule = q.show_if
        if rule.in_ is not None:
            wanted = ", ".join(str(v) for v in rule.in_)
        elif rule.at_least is not None and rule.at_most is not None:
            wanted = f"{rule.at_least}–{rule.at_most}"
        else:
            wanted = f"≥ {rule.at_least}" if rule.at_least is not None else f"≤ {rule.at_most}"
        condition = t("surveys.shown_if", question=rule.question, values=wanted)
    return QuestionView(q.id, q.type, survey.text_of(q, lang, company), q.required, scale,
                        condition, items)


def _company(document: Workspace, lang: str) -> str:
    return localized(document.name, lang)


def answer_items(q: Question, value: Any, lang: str) -> list[Item]:
    """One stored answer as readable lines: labels in `lang`, scale values with their band."""
    t = i18n.translator(lang)
    if isinstance(q, Nps | Ces | Csat) and isinstance(value, int):
        return [Item(str(value), t(f"responses.band.{band(q.type, value)}"))]
    if isinstance(q, Choice):
        labels = {o.id: localized(o.text, lang) for o in q.options}
        chosen = value if isinstance(value, list) else [value]
        return [Item(labels.get(str(v), str(v))) for v in chosen]
    if isinstance(q, ExpectationPerception) and isinstance(value, dict):
        names = {a.id: localized(a.text, lang) for a in q.items()}
        return [Item(names.get(str(k), str(k)), t("responses.expected_perceived",
                                         expected=v.get("expected", "–"),
                                         perceived=v.get("perceived", "–")))
                for k, v in value.items() if isinstance(v, dict)]
    if isinstance(q, ElementsOfValue) and isinstance(value, dict):
        return [Item(_element(str(k), lang), str(v)) for k, v in value.items()]
    if isinstance(q, Kano) and isinstance(value, dict):
        names = {f.id: localized(f.functional, lang) for f in q.features}
        return [Item(names.get(str(k), str(k)), t("responses.kano_pair",
                                        functional=_kano(v.get("functional"), lang),
                                        dysfunctional=_kano(v.get("dysfunctional"), lang)))
                for k, v in value.items() if isinstance(v, dict)]
    return [Item(str(value))]


def _element(name: str, lang: str) -> str:
    """An element of value's name from the survey form's catalog, else its id readably."""
    key = f"survey.element.{name}"
    text = i18n.translate(key, lang)
    return name.replace("_", " ") if text == key else text


def _kano(answer: Any, lang: str) -> str:
    if answer in KANO_ANSWERS:
        return i18n.translate(f"responses.kano.{answer}", lang)
    return "–"


# ---------------------------------------------------------------------------------------------
# Pages: list and editor


def _survey(member: Member, survey_id: str) -> tuple[list[str], ActiveWorkspace, Survey]:
    """The workspace and its survey, or the not-found page."""
    survey = member.workspace.document.survey(survey_id)
    if survey is None:
        raise PageNotFound(f"{member.workspace.slug}/surveys/{survey_id}", member.workspaces)
    return member.workspaces, member.workspace, survey


@router.get("/w/{slug}/surveys")
def survey_list(request: Request, slug: str, member: Analyst) -> Response:
    kk = kokemus(request)
    slugs, active = member.workspaces, member.workspace
    lang = sessions.language(request)
    return render(request, "surveys.html", workspaces=slugs, current=slug, slug=slug,
                  workspace_name=_company(active.document, lang), version=active.version,
                  surveys=survey_rows(kk, active, lang),
                  notice=request.session.pop(NOTICE, None))


def new_survey_id(document: Workspace) -> str:
    existing = {s.id for s in document.surveys}
    return next(f"survey-{i}" for i in range(1, len(existing) + 2)
                if f"survey-{i}" not in existing)


def _new_survey_text(document: Workspace) -> str:
    """A small survey to start from: NPS about the first touchpoint with an event, disabled,
    and with the sampling rate left for the person to choose (saving asks for it): at the
    trigger's default of 100 % it would have asked after every such event (an ad click)."""
    tp = next((tp for tp in document.touchpoints() if tp.events), None)
    lines = [f"id: {new_survey_id(document)}", "name:", "  fi: Uusi kysely", "  en: New survey",
             "enabled: false"]
    if tp is not None:
        lines += [f"touchpoint: {tp.id}", "trigger:", f"  event: {tp.events[0]}", "  delay: 1h",
                  "  sample:  # required: the share of these events invited, 0.1 = 10 %"]
    lines += ["questions:", "- id: recommend", "  type: nps", "  required: true", ""]
    return "\n".join(lines)


def _editor(request: Request, slugs: list[str], active: ActiveWorkspace,
            survey: Survey | None, text: str, status: int = 200,
            problems: list[dict[str, Any]] | None = None, stale: bool = False,
            trigger_problems: list[str] | None = None) -> Response:
    lang = sessions.language(request)
    languages = [str(code) for code in active.document.languages]
    wanted = request.query_params.get("preview")
    preview_lang = wanted if wanted in languages else (lang if lang in languages
                                                       else languages[0])
    company = _company(active.document, preview_lang)
    preview = ([question_view(survey, q, preview_lang, company) for q in survey.questions]
               if survey else [])
    return render(
        request, "survey_edit.html", status, workspaces=slugs, current=active.slug,
        slug=active.slug, workspace_name=_company(active.document, lang),
        version=active.version, survey=survey,
        survey_name=localized(survey.name, lang) if survey else None,
        text=text, problems=problems or [], stale=stale, preview=preview,
        preview_lang=preview_lang, preview_languages=languages,
        trigger_problems=trigger_problems or [],
        notice=request.session.pop(NOTICE, None))


@router.get("/w/{slug}/surveys/new")
def new_survey(request: Request, slug: str, member: Editor) -> Response:
    slugs, active = member.workspaces, member.workspace
    return _editor(request, slugs, active, None, _new_survey_text(active.document))


@router.post("/w/{slug}/surveys/new")
def create_survey(request: Request, slug: str, member: Editor,
                  text: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "",
                  version: Annotated[str, Form()] = "") -> Response:
    kk = kokemus(request)
    slugs, active = member.workspaces, member.workspace
    if not sessions.csrf_ok(request, csrf):
        return _editor(request, slugs, active, None, text, 400,
                       [{"line": None, "path": "", "message": i18n.translate(
                           "login.expired", sessions.language(request))}])
    try:
        applied = survey_service.add_survey(kk.db, slug, text, member.viewer.username,
                                            base_version=form_version(version))
    except survey_service.StaleEdit:
        return _editor(request, slugs, active, None, text, 409, stale=True)
    except Invalid as exc:
        return _editor(request, slugs, active, None, text, 422, located(exc))
    created = workspace_service.get(kk.db, slug).document.surveys[-1].id
    request.session[NOTICE] = {"key": "surveys.saved", "version": applied.version}
    return RedirectResponse(f"/w/{slug}/surveys/{created}", status_code=303)


@router.get("/w/{slug}/surveys/{survey_id}")
def edit_survey(request: Request, slug: str, survey_id: str, member: Analyst) -> Response:
    slugs, active, survey = _survey(member, survey_id)
    return _editor(request, slugs, active, survey,
                   survey_service.survey_text(active.document, survey_id))


@router.post("/w/{slug}/surveys/{survey_id}")
def save_survey(request: Request, slug: str, survey_id: str, member: Editor,
                text: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "",
                version: Annotated[str, Form()] = "") -> Response:
    kk = kokemus(request)
    slugs, active, survey = _survey(member, survey_id)
    if not sessions.csrf_ok(request, csrf):
        return _editor(request, slugs, active, survey, text, 400,
                       [{"line": None, "path": "", "message": i18n.translate(
                           "login.expired", sessions.language(request))}])
    try:
        applied = survey_service.replace_survey(kk.db, slug, text, member.viewer.username,
                                                survey_id=survey_id,
                                                base_version=form_version(version))
    except survey_service.StaleEdit:
        return _editor(request, slugs, active, survey, text, 409, stale=True)
    except Invalid as exc:
        return _editor(request, slugs, active, survey, text, 422, located(exc))
    # The text may rename the survey; it keeps its place in the list.
    position = [s.id for s in active.document.surveys].index(survey_id)
    saved = workspace_service.get(kk.db, slug).document.surveys[position].id
    request.session[NOTICE] = {"key": "surveys.saved" if applied.changed else "surveys.unchanged",
                               "version": applied.version}
    return RedirectResponse(f"/w/{slug}/surveys/{saved}", status_code=303)


@router.post("/w/{slug}/surveys/{survey_id}/trigger")
def save_trigger(request: Request, slug: str, survey_id: str, member: Editor,
                 delay: Annotated[str, Form()] = "", sample: Annotated[str, Form()] = "",
                 csrf: Annotated[str, Form()] = "",
                 version: Annotated[str, Form()] = "") -> Response:
    """The common edits as fields; they change the same model as the YAML does."""
    kk = kokemus(request)
    slugs, active, survey = _survey(member, survey_id)
    text = survey_service.survey_text(active.document, survey_id)
    lang = sessions.language(request)
    if not sessions.csrf_ok(request, csrf):
        return _editor(request, slugs, active, survey, text, 400,
                       trigger_problems=[i18n.translate("login.expired", lang)])
    rate: float | None = None
    if sample.strip():
        try:
            rate = float(sample.strip().rstrip("%").replace(",", ".")) / 100
        except ValueError:
            return _editor(request, slugs, active, survey, text, 422,
                           trigger_problems=[i18n.translate("surveys.bad_sample", lang)])
    try:
        applied = survey_service.set_trigger(kk.db, slug, survey_id, member.viewer.username,
                                             delay=delay or None, sample=rate,
                                             base_version=form_version(version))
    except survey_service.StaleEdit:
        return _editor(request, slugs, active, survey, text, 409, stale=True)
    except Invalid as exc:
        return _editor(request, slugs, active, survey, text, 422,
                       trigger_problems=[f"{p.path}: {p.message}" for p in exc.problems])
    request.session[NOTICE] = {"key": "surveys.saved" if applied.changed else "surveys.unchanged",
                               "version": applied.version}
    return RedirectResponse(f"/w/{slug}/surveys/{survey_id}", status_code=303)


@router.post("/w/{slug}/surveys/{survey_id}/remove")
def delete_survey(request: Request, slug: str, survey_id: str, member: Editor,
                  csrf: Annotated[str, Form()] = "",
                  version: Annotated[str, Form()] = "") -> Response:
    kk = kokemus(request)
    slugs, active = member.workspaces, member.workspace
    if not sessions.csrf_ok(request, csrf):
        return RedirectResponse(f"/w/{slug}/surveys/{survey_id}", status_code=303)
    try:
        applied = survey_service.remove_survey(kk.db, slug, survey_id, member.viewer.username,
                                               base_version=form_version(version))
    except survey_service.StaleEdit:
        survey = active.document.survey(survey_id)
        text = survey_service.survey_text(active.document, survey_id)
        return _editor(request, slugs, active, survey, text, 409, stale=True)
    except NotFound:
        return render(request, "not_found.html", 404, slug=f"{slug}/surveys/{survey_id}",
                      workspaces=slugs, current=slug)
    request.session[NOTICE] = {"key": "surveys.removed", "version": applied.version,
                               "survey": survey_id}
    return RedirectResponse(f"/w/{slug}/surveys", status_code=303)


# ---------------------------------------------------------------------------------------------
# Response browser


@dataclass(frozen=True)
class Browse:
    """The browser's form values, checked at the edge (an unknown value is dropped and named)."""

    filter: response_store.ResponseFilter
    page: int
    values: dict[str, str]  # what the form shows and the page links keep
    errors: tuple[str, ...] = ()

    def link(self, page: int) -> str:
        return "?" + urlencode({**self.values, "page": str(page)})


def parse_browse(params: dict[str, str], document: Workspace) -> Browse:
    errors: list[str] = []
    values: dict[str, str] = {}

    def pick(name: str, known: set[str]) -> str | None:
        raw = (params.get(name) or "").strip()
        if not raw:
            return None
        if raw not in known:
            errors.append(f"responses.bad_{name}")
            return None
        values[name] = raw
        return raw

    survey = pick("survey", {s.id for s in document.surveys})
    touchpoint = pick("touchpoint", {tp.id for tp in document.touchpoints()})
    channel = pick("channel", {c.id for c in document.channels})
    segment = pick("segment", {g.id for g in document.segments})
    chosen = pick("band", {f"{kind}:{name}" for kind, name in BANDS})
    picked_band = tuple(chosen.split(":", 1)) if chosen else None
    complete = params.get("complete") == "1"
    if complete:
        values["complete"] = "1"
    text = (params.get("q") or "").strip()[:MAX_SEARCH] or None
    if text:
        values["q"] = text
    first = filter_day(params.get("from"), "responses.bad_from", errors)
    last = filter_day(params.get("to"), "responses.bad_to", errors)
    if first and last and last < first:
        errors.append("responses.bad_period")
        first = last = None
    if first:
        values["from"] = first.isoformat()
    if last:
        values["to"] = last.isoformat()
    raw_page = params.get("page") or "1"
    page = int(raw_page) if raw_page.isdigit() and int(raw_page) >= 1 else 1
    return Browse(
        response_store.ResponseFilter(
            survey=survey, touchpoint=touchpoint, channel=channel, segment=segment,
            band=(picked_band[0], picked_band[1]) if picked_band else None,
            complete_only=complete, text=text,
            start=calendar.day_start(first) if first else None,
            end=calendar.day_end(last) if last else None),  # "to" is a whole day
        page, values, tuple(errors))


@dataclass(frozen=True)
class ScoreView:
    label: str  # "NPS 9"
    band: str  # "promoter": for the style
    band_label: str  # in the UI language


@dataclass(frozen=True)
class ResponseRow:
    id: str
    moment: str
    survey: str
    customer: str | None
    touchpoint: str | None
    channel: str | None
    segments: list[str]
    scores: list[ScoreView]
    comment: str | None
    complete: bool
    customer_name: str | None = None  # from the people store; None when it has none


def _scores(row: dict[str, Any], lang: str) -> list[ScoreView]:
    t = i18n.translator(lang)
    out = []
    for kind in ("nps", "ces", "csat"):
        if row.get(kind) is not None:
            name = band(kind, row[kind])
            out.append(ScoreView(f"{kind.upper()} {row[kind]}", name,
                                 t(f"responses.band.{name}")))
    return out


def _response_row(row: dict[str, Any], document: Workspace, lang: str,
                  names: dict[str, str] | None = None) -> ResponseRow:
    survey = document.survey(row["survey"])
    tp = document.touchpoint(row["touchpoint"]) if row.get("touchpoint") else None
    return ResponseRow(
        id=row["id"], moment=i18n.moment(row["started_at"], lang, i18n.zone(document)),
        survey=localized(survey.name, lang) if survey else row["survey"],
        customer=row.get("customer"),
        touchpoint=localized(tp.name, lang) if tp else row.get("touchpoint"),
        channel=_name(document.channels, row.get("channel"), lang),
        segments=[_name(document.segments, s, lang) or s for s in row.get("segments") or []],
        scores=_scores(row, lang), comment=row.get("comment"), complete=bool(row["complete"]),
        customer_name=(names or {}).get(row.get("customer") or ""))


def _name(items: Sequence[Channel | Segment], ident: str | None, lang: str) -> str | None:
    """The localised name of a channel or segment; the id itself when the workspace no
    longer defines it (answers outlive definitions)."""
    found = next((i for i in items if i.id == ident), None)
    return localized(found.name, lang) if found is not None else ident


def _options(items: list[tuple[str, str]]) -> list[Item]:
    return [Item(label, value) for value, label in items]


@router.get("/w/{slug}/responses")
def response_browser(request: Request, slug: str, member: Reader) -> Response:
    kk = kokemus(request)
    slugs, active = member.workspaces, member.workspace
    lang = sessions.language(request)
    doc = active.document
    browse = parse_browse(dict(request.query_params), doc)
    rows, total = response_store.browse(kk.events, active.id, browse.filter, PAGE_SIZE,
                                        (browse.page - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    t = i18n.translator(lang)
    # the customers' names, for people to recognise (one query for the page's rows)
    names = people.names(kk.db, active.id, [r["customer"] for r in rows if r.get("customer")])
    return render(
        request, "responses.html", 422 if browse.errors else 200, workspaces=slugs,
        current=slug, slug=slug,
        workspace_name=_company(doc, lang), browse=browse, total=total, pages=pages,
        shown_from=(browse.page - 1) * PAGE_SIZE + 1 if rows else 0,
        shown_to=(browse.page - 1) * PAGE_SIZE + len(rows),
        rows=[_response_row(r, doc, lang, names) for r in rows],
        survey_options=_options([(s.id, localized(s.name, lang)) for s in doc.surveys]),
        touchpoint_options=_options([(tp.id, localized(tp.name, lang))
                                     for tp in doc.touchpoints()]),
        channel_options=_options([(c.id, localized(c.name, lang)) for c in doc.channels]),
        segment_options=_options([(g.id, localized(g.name, lang)) for g in doc.segments]),
        band_options=_options([(f"{kind}:{name}",
                                f"{kind.upper()}: {t(f'responses.band.{name}')}")
                               for kind, name in BANDS]),
    )


@router.get("/w/{slug}/responses/{response_id}")
def response_detail(request: Request, slug: str, response_id: str, member: Reader) -> Response:
    kk = kokemus(request)
    slugs, active = member.workspaces, member.workspace
    row = response_store.get(kk.events, active.id, response_id)
    if row is None:
        return render(request, "not_found.html", 404, slug=f"{slug}/responses/{response_id}",
                      workspaces=slugs, current=slug)
    lang = sessions.language(request)
    doc = active.document
    survey = doc.survey(row["survey"])
    names = people.names(kk.db, active.id, [row["customer"]] if row.get("customer") else [])
    answers: list[tuple[str, list[Item]]] = []
    unknown: list[Item] = []
    if survey is not None:
        company = _company(doc, lang)
        for q in survey.questions:
            if q.id in row["answers"]:
                answers.append((survey.text_of(q, lang, company),
                                answer_items(q, row["answers"][q.id], lang)))
    known = {q.id for q in survey.questions} if survey else set()
    for qid, value in row["answers"].items():
        if qid not in known:  # the survey changed since: show the raw answer
            unknown.append(Item(qid, str(value)))
    return render(request, "response.html", workspaces=slugs, current=slug, slug=slug,
                  workspace_name=_company(doc, lang), response=_response_row(row, doc, lang, names),
                  raw=row, answers=answers, unknown=unknown,
                  updated=i18n.moment(row["updated_at"], lang, i18n.zone(doc)))
