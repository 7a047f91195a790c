"""The survey builder: a survey edited as a plain form, saved as the YAML editor saves it.

Every button is a submit of one form (no script needed): the server reads the whole draft
from the fields, applies the button (add, move or delete a question, preview), and draws
the form again. Saving turns the draft into the survey's YAML text, the text the YAML
editor would show (services.surveys.draft_text), and saves that text through the same
validation and version check (replace_survey, add_survey), so the builder can write
nothing a person could not have written by hand.

The draft and its fields are kokemus/web/survey_drafts.py's. The preview draws the hosted
form's own template from the unsaved draft, in a phone-sized and a desktop-sized frame; the
test link (services.survey_tests) answers the saved survey without counting anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from kokemus.api.auth import kokemus
from kokemus.domain.errors import Invalid
from kokemus.domain.roles import Permission
from kokemus.domain.surveys import SCALE_ENDS, Survey
from kokemus.domain.texts import localized
from kokemus.domain.value import B2B_ELEMENTS, B2C_ELEMENTS
from kokemus.domain.workspace import Workspace
from kokemus.services import survey_tests
from kokemus.services import surveys as survey_service
from kokemus.services import workspaces as workspace_service
from kokemus.web import forms, i18n, sessions, test_link
from kokemus.web.page import Analyst, Editor, Forbidden, Member, PageNotFound, form_version, render
from kokemus.web.survey_drafts import (
    DIMENSIONS,
    QUESTION_TYPES,
    Draft,
    apply_button,
    read_draft,
    validated,
    value,
)
from kokemus.web.surveys import NOTICE, answer_items, new_survey_id

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

# Bounds of one post (the draft's own are survey_drafts'): a 400 or 413 past them.
MAX_FIELDS = 6000
MAX_BODY = 1_000_000  # bytes


def anchor(loc: Iterable[str | int]) -> str:
    """The id of the field (or the nearest group of fields) a problem is about."""
    parts = [str(p) for p in loc]
    if parts[:1] == ["questions"] and len(parts) > 3 and parts[2] in (
            "options", "attributes", "features", "show_if"):
        parts = parts[:4]  # the row (or the skip rule)
    elif parts[:1] == ["trigger"]:
        parts = parts[:2]
    return "f-" + ".".join(parts)


def text_in(value: Any, lang: str, first: str) -> str:
    """A Text field's words in one language for its input (a plain string is the first
    language's)."""
    if isinstance(value, dict):
        return str(value.get(lang, ""))
    return str(value) if value and lang == first else ""


def percent(sample: Any) -> str:
    if isinstance(sample, int | float) and not isinstance(sample, bool):
        return f"{sample * 100:g}"
    return str(sample or "")


def preview_html(survey: Survey, document: Workspace, language: str, token: str) -> str:
    """The hosted form's own template drawn from `survey` in `language`, to show in a
    frame: nothing can be sent from it. `token`: a test link's, for the brand's files."""
    ui = i18n.supported(language) or "en"
    company = localized(document.name, language)
    logo, brand_css = test_link.brand_sources(document.brand, token)
    return forms.templates.get_template("survey_form.html").render(
        t=i18n.translator(ui), lang=language, embed=False, token="", preview=True,
        company=company, logo=logo, brand_css=brand_css,
        action="#preview", title=localized(survey.name, language),
        intro=localized(survey.intro, language) if survey.intro else None,
        questions=forms.questions_view(survey, language, company, {}, {}),
        notice=None, problems=False, elsewhere=[],
        test_note=i18n.translate("builder.preview_note", ui))




def _page(request: Request, member: Member, survey_id: str, draft: Draft, *,
          status: int = 200, version: int | None = None, stale: bool = False,
          preview_lang: str | None = None) -> Response:
    kk = kokemus(request)
    lang = sessions.language(request)
    document = member.workspace.document
    languages = [str(code) for code in document.languages]
    first = languages[0]
    if preview_lang not in languages:
        preview_lang = lang if lang in languages else first
    saved = document.survey(survey_id) if survey_id != "new" else None
    tests: tuple[int, list[dict[str, Any]]] = (0, [])
    if saved is not None:
        tests = survey_tests.recent(kk.db, member.workspace.id, survey_id)
    events = sorted({e for tp in document.touchpoints() for e in tp.events})
    token = survey_tests.sign(request.app.state.link_secret, member.workspace.id,
                              survey_id if saved is not None else "new", datetime.now(UTC))
    preview = (preview_html(draft.survey, document, preview_lang, token)
               if draft.survey is not None else None)
    # the fields to mark: each problem's anchor, and a row's own field ("...options.1.text")
    bad = {anchor(loc) for loc, _ in draft.problems} | {
        "f-" + ".".join(str(p) for p in loc[:5]) for loc, _ in draft.problems}
    test_rows = []
    for row in tests[1]:
        answers = []
        if saved is not None:
            for q in saved.questions:
                if q.id in row["answers"]:
                    answers.append((q.id, ", ".join(
                        " ".join(filter(None, (i.label, i.value)))
                        for i in answer_items(q, row["answers"][q.id], lang))))
        test_rows.append({"moment": i18n.moment(row["updated_at"].astimezone(UTC), lang),
                          "language": row["language"], "complete": row["complete"],
                          "answers": answers})
    return render(
        request, "survey_builder.html", status, slug=member.workspace.slug,
        workspace_name=localized(document.name, lang), version=version or member.workspace.version,
        current_version=workspace_service.get(kk.db, member.workspace.slug).version if stale
        else member.workspace.version,
        survey_id=survey_id, saved=saved, draft=draft.data,
        title=text_in(draft.data.get("name"), lang, first) or draft.data.get("id") or "",
        problems=[{"anchor": anchor(loc), "path": ".".join(str(p) for p in loc),
                   "message": message} for loc, message in draft.problems],
        bad=bad, stale=stale, refused=status >= 400, languages=languages, first=first,
        text_in=text_in,
        percent=percent, types=QUESTION_TYPES, dimensions=DIMENSIONS,
        elements={"b2c": [e for names in B2C_ELEMENTS.values() for e in names],
                  "b2b": [e for names in B2B_ELEMENTS.values() for e in names]},
        element_name=forms.element_name, scale_ends=SCALE_ENDS,
        touchpoints=[(tp.id, localized(tp.name, lang)) for tp in document.touchpoints()],
        segments=[(g.id, localized(g.name, lang)) for g in document.segments],
        events=events, cap=i18n.duration(document.feedback.cap, lang),
        preview=preview, preview_lang=preview_lang,
        yaml=survey_service.draft_text(document, draft.survey,
                                       None if saved is None else survey_id)
        if draft.survey is not None else None,
        test_links=[(code, f"/t/{token}?lang={code}") for code in languages] if saved else [],
        test_count=tests[0], test_rows=test_rows,
        notice=request.session.pop(NOTICE, None))


def _start(document: Workspace, survey_id: str) -> Draft:
    """The draft a builder opens with: the saved survey, or a new one that is disabled and
    whose sampling rate the person has to choose."""
    saved = document.survey(survey_id) if survey_id != "new" else None
    if saved is None:
        names = {"fi": "Uusi kysely", "en": "New survey", "sv": "Ny enkät"}
        data: dict[str, Any] = {
            "id": new_survey_id(document),
            "name": {lang: names[lang] for lang in document.languages},
            "enabled": False, "trigger": {"event": "", "delay": "1h", "sample": ""},
            "questions": [{"id": "recommend", "type": "nps", "required": True}]}
        return Draft(data, [])
    data = saved.model_dump(mode="json", exclude_defaults=True, by_alias=True)
    if saved.trigger is not None:
        data["trigger"].setdefault("sample", saved.trigger.sample)
    return Draft(data, [], saved)


def _found(member: Member, survey_id: str) -> None:
    if survey_id == "new":
        if not member.can(Permission.EDIT):
            raise Forbidden(member, Permission.EDIT)
    elif member.workspace.document.survey(survey_id) is None:
        raise PageNotFound(f"{member.workspace.slug}/surveys/{survey_id}", member.workspaces)


@router.get("/w/{slug}/surveys/{survey_id}/build")
def builder(request: Request, slug: str, survey_id: str, member: Analyst) -> Response:
    _found(member, survey_id)
    return _page(request, member, survey_id, _start(member.workspace.document, survey_id),
                 preview_lang=request.query_params.get("preview"))


@router.post("/w/{slug}/surveys/{survey_id}/build")
async def build(request: Request, slug: str, survey_id: str, member: Editor) -> Response:
    _found(member, survey_id)
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        return HTMLResponse("The survey is too large to build in one form.", status_code=413)
    try:
        form = await request.form(max_fields=MAX_FIELDS, max_files=0)
    except Exception:  # too many fields, or a malformed body
        return HTMLResponse("The form could not be read.", status_code=400)
    return await run_in_threadpool(_build, request, member, survey_id, form)


def _build(request: Request, member: Member, survey_id: str, form: FormData) -> Response:
    languages = [str(code) for code in member.workspace.document.languages]
    version = form_version(value(form, "version"))
    if not sessions.csrf_ok(request, value(form, "csrf")):
        draft = _start(member.workspace.document, survey_id)
        draft.problems.append(((), i18n.translate("login.expired", sessions.language(request))))
        return _page(request, member, survey_id, draft, status=400)
    draft = read_draft(form, languages)
    button = value(form, "do")
    preview_lang = None
    if button.startswith("preview:"):
        preview_lang = button.partition(":")[2]
    elif button and button != "save":
        apply_button(draft.data, button, value(form, "new_type"))
    draft = validated(draft)
    if button != "save":
        return _page(request, member, survey_id, draft, version=version,
                     preview_lang=preview_lang)
    if draft.survey is None:
        return _page(request, member, survey_id, draft, status=422, version=version)
    return _save(request, member, survey_id, draft, version)


def _save(request: Request, member: Member, survey_id: str, draft: Draft,
          version: int | None) -> Response:
    kk = kokemus(request)
    slug = member.workspace.slug
    assert draft.survey is not None
    adding = survey_id == "new"
    text = survey_service.draft_text(member.workspace.document, draft.survey,
                                     None if adding else survey_id)
    try:
        if adding:
            applied = survey_service.add_survey(kk.db, slug, text, member.viewer.username,
                                                base_version=version)
        else:
            applied = survey_service.replace_survey(kk.db, slug, text, member.viewer.username,
                                                    survey_id=survey_id, base_version=version)
    except survey_service.StaleEdit:
        return _page(request, member, survey_id, draft, status=409, version=version,
                     stale=True)
    except Invalid as exc:
        found = getattr(exc, "located", None)
        problems = ([item.problem for item in found] if found is not None else exc.problems)
        draft.problems.extend((p.loc, p.message) for p in problems)
        draft.survey = None
        return _page(request, member, survey_id, draft, status=422, version=version)
    saved_id = workspace_service.get(kk.db, slug).document.survey(draft.survey.id)
    request.session[NOTICE] = {"key": "surveys.saved" if applied.changed else "surveys.unchanged",
                               "version": applied.version}
    target = saved_id.id if saved_id is not None else survey_id
    return RedirectResponse(f"/w/{slug}/surveys/{target}/build", status_code=303)


@router.post("/w/{slug}/surveys/{survey_id}/tests/clear")
def clear_tests(request: Request, slug: str, survey_id: str, member: Editor,
                csrf: Annotated[str, Form()] = "") -> Response:
    """Forget the survey's test answers (say, before trying it again with colleagues)."""
    _found(member, survey_id)
    if sessions.csrf_ok(request, csrf):
        survey_tests.clear(kokemus(request).db, member.workspace.id, survey_id)
    return RedirectResponse(f"/w/{slug}/surveys/{survey_id}/build#tests", status_code=303)
