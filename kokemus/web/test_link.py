"""A survey's test link (/t/TOKEN): the hosted form as a customer sees it, whose answers
are kept as tests (services.survey_tests) and counted nowhere.

Like the invitation form it works without scripts and with skip logic: a post that shows a
follow-up question comes back with it. It needs no sign-in, so a colleague can try the
survey on their phone; the token says which survey and expires.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from kokemus.api.auth import kokemus
from kokemus.domain.brand import Brand
from kokemus.domain.errors import NotFound
from kokemus.domain.surveys import AnswerError, Survey
from kokemus.domain.texts import localized
from kokemus.services import survey_tests
from kokemus.services import workspaces as workspace_service
from kokemus.services.feedback import LinkError
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import brand as branding
from kokemus.web import forms, i18n

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def brand_sources(brand: Brand | None, token: str) -> tuple[str | None, str | None]:
    """The logo and the colour's stylesheet of a test form or a preview: the inline logo
    itself, else this module's routes behind the test token (the invitation form's routes
    take an invitation's token)."""
    if brand is None:
        return None, None
    logo = brand.logo if brand.inline else (f"/t/{token}/logo" if brand.logo else None)
    return logo, (f"/t/{token}/brand.css" if brand.colour else None)


def _opened(request: Request, token: str) -> tuple[ActiveWorkspace, Survey]:
    link = survey_tests.verify(request.app.state.link_secret, token, datetime.now(UTC))
    workspace = workspace_service.get_by_id(kokemus(request).db, link.workspace_id)
    survey = workspace.document.survey(link.survey)
    if survey is None:  # removed since the link was made
        raise LinkError("unknown", "this survey no longer exists")
    return workspace, survey


def _language(request: Request, workspace: ActiveWorkspace, wanted: str | None) -> str:
    languages = [str(code) for code in workspace.document.languages]
    if wanted in languages:
        return str(wanted)
    browser = forms._accept_language(request)
    return browser if browser in languages else languages[0]


def _problem(request: Request, exc: LinkError) -> Response:
    problem = exc.problem if exc.problem in ("expired", "forged") else "unknown"
    return forms.page(request, "survey_message.html", forms._accept_language(request),
                      status=forms.LINK_STATUS[problem],
                      title_key=f"survey.link.{problem}_title",
                      body_key=f"survey.link.{problem}_body", params={})


def _form(request: Request, token: str, workspace: ActiveWorkspace, survey: Survey,
          language: str, answers: dict[str, Any], response_id: str = "",
          problems: dict[str, str] | None = None, notice: str | None = None,
          status: int = 200) -> Response:
    ui = i18n.supported(language) or "en"
    company = localized(workspace.document.name, language)
    questions = forms.questions_view(survey, language, company, answers, problems or {})
    logo, brand_css = brand_sources(workspace.document.brand, token)
    return forms.page(
        request, "survey_form.html", language, status=status, token=token,
        action=f"/t/{token}", hidden=[("lang", language), ("rid", response_id)],
        test_note=i18n.translate("builder.test_note", ui),
        title=localized(survey.name, language),
        intro=localized(survey.intro, language) if survey.intro else None,
        questions=questions, notice=notice, problems=bool(problems), elsewhere=[],
        company=company, logo=logo, brand_css=brand_css)


@router.get("/t/{token}")
def show(request: Request, token: str) -> Response:
    try:
        workspace, survey = _opened(request, token)
    except LinkError as exc:
        return _problem(request, exc)
    language = _language(request, workspace, request.query_params.get("lang"))
    return _form(request, token, workspace, survey, language, {})


@router.post("/t/{token}")
async def answer(request: Request, token: str) -> Response:
    try:
        form = await request.form(max_fields=2000, max_files=0)
    except Exception:
        return HTMLResponse("The form could not be read.", status_code=400)
    return await run_in_threadpool(_answer, request, token, form)


def _answer(request: Request, token: str, form: FormData) -> Response:
    limited = forms._limited(request, False)  # the invitation form's limit per address
    if limited is not None:
        return limited
    try:
        workspace, survey = _opened(request, token)
    except LinkError as exc:
        return _problem(request, exc)
    lang_field, rid_field, shown_field = form.get("lang"), form.get("rid"), form.get("shown")
    language = _language(request, workspace, lang_field if isinstance(lang_field, str) else None)
    response_id = rid_field[:32] if isinstance(rid_field, str) else ""
    shown = shown_field.split() if isinstance(shown_field, str) else []
    on_page = [q for q in shown if survey.question(q) is not None]
    posted = forms._posted(survey, form, on_page)
    now = datetime.now(UTC)
    try:
        row = survey_tests.save(kokemus(request).db, workspace.id, survey, language,
                                response_id or None, posted, on_page, now)
    except AnswerError as exc:
        saved = survey_tests.get(kokemus(request).db, workspace.id, response_id)
        answers = {**(saved["answers"] if saved else {}), **posted}
        return _form(request, token, workspace, survey, language, answers, response_id,
                     problems=dict(reversed(exc.problems)), status=422)
    if not row["complete"]:
        return _form(request, token, workspace, survey, language, row["answers"], row["id"],
                     notice="survey.more")
    ui = i18n.supported(language) or "en"
    return forms.page(request, "survey_message.html", language,
                      title_key="survey.thanks.title",
                      body=i18n.translate("builder.test_thanks", ui), params={})


def _brand(request: Request, token: str) -> Brand | None:
    """The brand of a test link's workspace (its survey may be gone or not saved yet)."""
    try:
        link = survey_tests.verify(request.app.state.link_secret, token, datetime.now(UTC))
        workspace = workspace_service.get_by_id(kokemus(request).db, link.workspace_id)
    except (LinkError, NotFound):
        return None
    return workspace.document.brand


@router.get("/t/{token}/brand.css")
def brand_css(request: Request, token: str) -> Response:
    return branding.stylesheet_response(_brand(request, token))


@router.get("/t/{token}/logo")
def logo(request: Request, token: str) -> Response:
    return branding.logo_response(kokemus(request).settings.data_dir, _brand(request, token))
