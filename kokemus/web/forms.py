"""The hosted survey form behind a signed link: answered with plain HTML, no script needed.

Every post is saved at once (partial answers are kept) into one response per invitation.
Skip logic works without JavaScript: when an answer shows a question that was not on the
page (a detractor's "why"), the form comes back with it instead of finishing. The same
pages, with `embed=1`, are what the widget shows in its frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import escape
from starlette.datastructures import FormData

from kokemus import bootstrap
from kokemus.api import direct
from kokemus.api.auth import kokemus
from kokemus.bootstrap import Kokemus
from kokemus.config import Settings
from kokemus.domain.surveys import (
    KANO_ANSWERS,
    AnswerError,
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
    scale_ends,
)
from kokemus.domain.texts import localized
from kokemus.services import feedback
from kokemus.services import workspaces as workspace_service
from kokemus.services.feedback import LinkError, Opened
from kokemus.storage import people
from kokemus.web import brand as branding
from kokemus.web import i18n, survey_layout
from kokemus.web.limits import RateLimit

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

SIDES = ("expected", "perceived")
KANO_SIDES = ("functional", "dysfunctional")
# a form's post up to this size goes straight to `answer` (api/direct.py): a page of
# answers, long comments included, is a few kilobytes
FORM_BYTES = 65_536
LINK_STATUS = {"expired": 410, "answered": 410, "forged": 404, "unknown": 404}


def install(app: FastAPI, settings: Settings) -> None:
    app.state.form_limit = RateLimit(settings.form_rate_limit)
    app.state.link_secret = bootstrap.secret_key(settings)
    app.include_router(router)
    # Matched first: a survey blast's posts are the hottest path, and finding /s/{token}
    # after every API and page router cost ~0.3 ms a request (FastAPI walks each included
    # router's routes). No other route begins with /s/.
    app.router.routes.insert(0, app.router.routes.pop())
    if isinstance(app, direct.App):  # and a post of the form straight to `answer`
        app.direct("/s/{token}", answer, limit=min(FORM_BYTES, settings.max_body),
                   content_type="application/x-www-form-urlencoded")
    # Ready before the first post: an invitation burst's first second would otherwise load
    # the catalogs and compile the templates in every thread at once (seconds of YAML
    # parsing under the GIL), and a render would stat the template files each time.
    templates.env.auto_reload = False
    for language in i18n.LANGUAGES:
        i18n.catalog(language)
    for name in ("survey_form.html", "survey_message.html"):
        templates.get_template(name)


def headers(embed: bool) -> dict[str, str]:
    """The UI's policy, except that an embedded form may be framed by any site (the widget).
    The token is in the URL: no referrer leaves the page, and nothing personal is cached."""
    ancestors = "*" if embed else "'none'"
    return {
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                   f"frame-ancestors {ancestors}; form-action 'self'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def _ui_language(language: str) -> str:
    """Catalog language: the respondent's when the UI speaks it, else English."""
    return i18n.supported(language) or "en"


def page(request: Request, name: str, language: str, *, status: int = 200, embed: bool = False,
         extra_headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, name,
        {"t": i18n.translator(_ui_language(language)), "lang": language, "embed": embed,
         **context},
        status_code=status,
    )
    response.headers.update(headers(embed))
    response.headers.update(extra_headers or {})
    return response


def _accept_language(request: Request) -> str:
    """The first of the UI's languages the browser asks for (a forged link names nobody)."""
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if i18n.supported(code):
            return code
    return i18n.DEFAULT


def _limited(request: Request, embed: bool) -> Response | None:
    limit: RateLimit = request.app.state.form_limit
    wait = limit.take(request.client.host if request.client else "unknown")
    if wait <= 0:
        return None
    seconds = max(1, int(wait + 0.999))
    return page(request, "survey_message.html", _accept_language(request), status=429,
                embed=embed, extra_headers={"Retry-After": str(seconds)},
                title_key="survey.limited.title", body_key="survey.limited.body",
                params={"seconds": seconds})


def _problem(request: Request, exc: LinkError, embed: bool, token: str = "") -> Response:
    if exc.problem == "answered":
        language = exc.language
    elif exc.problem == "expired":  # correctly signed: the invitation names the customer
        language = _link_language(request, token) or _accept_language(request)
    else:
        language = _accept_language(request)
    return page(request, "survey_message.html", language, status=LINK_STATUS[exc.problem],
                embed=embed, title_key=f"survey.link.{exc.problem}_title",
                body_key=f"survey.link.{exc.problem}_body", params={})


def _link_language(request: Request, token: str) -> str | None:
    kk = kokemus(request)
    invitation = feedback.get_invitation(kk.db, token.split(".")[0])
    if invitation is None:
        return None
    workspace = workspace_service.get_by_id(kk.db, invitation["workspace_id"])
    customer = people.get_customer(kk.db, workspace.id, invitation["customer"])
    return feedback.language_for(workspace, customer)


# ------------------------------------------------------------------------------ the view


def element_name(element: str, language: str) -> str:
    """An element of value by name: from the catalog, else the id made readable."""
    key = f"survey.element.{element}"
    name = i18n.translate(key, language)
    return name if name != key else element.replace("_", " ").capitalize()


def _problem_text(reason: str, language: str) -> str:
    """The domain's reason said in the respondent's language where it is a known one."""
    scale = re.search(r"outside the scale (-?\d+)-(-?\d+)", reason)
    if scale:
        return i18n.translate("survey.error.scale", language, low=scale.group(1),
                              high=scale.group(2))
    if reason == "an answer is required":
        return i18n.translate("survey.error.required", language)
    if reason.startswith("expected a whole number"):
        return i18n.translate("survey.error.number", language)
    return i18n.translate("survey.error.invalid", language, reason=reason)


def _scale(values: range, ends: tuple[str | None, str | None]) -> dict[str, Any]:
    return {"points": list(values), "low": ends[0], "high": ends[1]}


def _view(opened: Opened, answers: dict[str, Any],
          problems: dict[str, str]) -> list[dict[str, Any]]:
    return questions_view(opened.survey, opened.language,
                          localized(opened.workspace.document.name, opened.language),
                          answers, problems)


def questions_view(survey: Survey, language: str, company: str, answers: dict[str, Any],
                   problems: dict[str, str]) -> list[dict[str, Any]]:
    """The shown questions as the template draws them, with answers and problems (also
    what the survey builder's preview and the test link draw, from any survey)."""
    ui = _ui_language(language)

    def ends(q: Question) -> tuple[str | None, str | None]:
        # in the survey's language, like its questions: one wording with the email's
        words = scale_ends(q.type, language)
        return words if words is not None else (None, None)

    out: list[dict[str, Any]] = []
    # every question: a follow-up waits in place, shown by its answer (survey_layout)
    for q in survey.questions:
        item: dict[str, Any] = {
            "id": q.id, "type": q.type, "text": survey.text_of(q, language, company),
            "required": q.required, "answer": _display(answers.get(q.id), q),
            "error": _problem_text(problems[q.id], ui) if q.id in problems else None,
        }
        if isinstance(q, Nps | Ces | Csat):
            item.update(kind="scale", **_scale(range(q.scale[0], q.scale[1] + 1), ends(q)))
        elif isinstance(q, Rating):
            item.update(kind="scale", **_scale(range(q.min, q.max + 1), (
                localized(q.low_label, language) if q.low_label else None,
                localized(q.high_label, language) if q.high_label else None)))
        elif isinstance(q, Choice):
            item.update(kind="choice", multiple=q.type == "multiple_choice",
                        options=[(o.id, localized(o.text, language)) for o in q.options])
        elif isinstance(q, OpenText):
            item.update(kind="text", max_length=q.max_length)
        elif isinstance(q, ExpectationPerception):
            item.update(kind="pairs", rows=[(a.id, localized(a.text, language))
                                            for a in q.items()],
                        sides=[(s, i18n.translate(f"survey.{s}", ui)) for s in SIDES],
                        **_scale(range(q.scale[0], q.scale[1] + 1), ends(q)))
        elif isinstance(q, ElementsOfValue):
            item.update(kind="elements", rows=[(e, element_name(e, ui)) for e in q.items()],
                        **_scale(range(q.scale[0], q.scale[1] + 1), ends(q)))
        elif isinstance(q, Kano):
            item.update(kind="kano", features=[
                (f.id, localized(f.functional, language), localized(f.dysfunctional, language))
                for f in q.features],
                answers=[(a, i18n.translate(f"survey.kano.{a}", ui)) for a in KANO_ANSWERS])
        out.append(item)
    return survey_layout.arrange(survey, out)


def _display(value: Any, q: Question) -> Any:
    """A posted value as the form compares it: numbers of scales as numbers."""
    if isinstance(q, OpenText | Choice):
        return value
    if isinstance(value, dict):
        return {k: _display(v, q) for k, v in value.items()}
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return value


def _form_page(request: Request, token: str, opened: Opened, answers: dict[str, Any], *,
               embed: bool, problems: dict[str, str] | None = None, notice: str | None = None,
               status: int = 200) -> Response:
    survey, language = opened.survey, opened.language
    questions = _view(opened, answers, problems or {})
    on_page = {q["id"] for q in questions}
    # A problem with a question not on the page (a one-click link to a hidden one, say).
    elsewhere = [(qid, _problem_text(reason, _ui_language(language)))
                 for qid, reason in (problems or {}).items() if qid not in on_page]
    return page(
        request, "survey_form.html", language, status=status, embed=embed, token=token,
        title=localized(survey.name, language),
        intro=localized(survey.intro, language) if survey.intro else None,
        questions=questions, notice=notice, problems=bool(problems), elsewhere=elsewhere,
        company=localized(opened.workspace.document.name, language),
        logo=branding.logo_source(opened.workspace.document.brand, token),
        brand_css=branding.colour_source(opened.workspace.document.brand, token),
    )


_TOKEN = "\x00token\x00"  # where the link's token goes in a cached thanks page
_thanked: dict[tuple[str, bool, str | None], str] = {}


def _thanks(request: Request, token: str, opened: Opened, embed: bool) -> Response:
    """The thanks page. The same for every respondent with the same language, frame and
    thanks text but for the token in its opt-out form: rendered once and kept by what it
    is made of (a blast's posts all end here, and the render was a tenth of a post's time
    on the event loop)."""
    survey, language = opened.survey, opened.language
    body = localized(survey.thanks, language) if survey.thanks else None
    key = (language, embed, body)
    html = _thanked.get(key)
    if html is None:
        html = templates.get_template("survey_message.html").render(
            t=i18n.translator(_ui_language(language)), lang=language, embed=embed,
            token=_TOKEN, title_key="survey.thanks.title", body=body,
            body_key="survey.thanks.default", params={}, opt_out=True)
        if len(_thanked) > 1000:
            _thanked.clear()
        _thanked[key] = html
    return HTMLResponse(html.replace(_TOKEN, str(escape(token))), headers=headers(embed))


# ------------------------------------------------------------------------------ answers


def _posted(survey: Survey, form: FormData, shown: list[str]) -> dict[str, Any]:
    """The answers of the questions that were on the page; an empty field clears its answer."""
    answers: dict[str, Any] = {}
    for q in survey.questions:
        if q.id not in shown:
            continue
        value: Any
        if isinstance(q, Choice) and q.type == "multiple_choice":
            value = [v for v in form.getlist(q.id) if isinstance(v, str)]
        elif isinstance(q, ExpectationPerception):
            value = _nested(form, q.id, [a.id for a in q.items()], SIDES)
        elif isinstance(q, Kano):
            value = _nested(form, q.id, [f.id for f in q.features], KANO_SIDES)
        elif isinstance(q, ElementsOfValue):
            value = {e: v for e in q.items() if (v := _field(form, f"{q.id}.{e}"))}
        else:
            value = _field(form, q.id)
        answers[q.id] = value or ""
    return answers


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _nested(form: FormData, qid: str, keys: list[str],
            sides: tuple[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key in keys:
        pair = {s: v for s in sides if (v := _field(form, f"{qid}.{key}.{s}"))}
        if pair:
            out[key] = pair
    return out


def _save(kk: Kokemus, opened: Opened, answers: dict[str, Any], *, source: feedback.Source,
          now: datetime, complete: bool = False,
          on_page: list[str] | None = None) -> dict[str, Any]:
    return feedback.submit(kk, opened.workspace, opened.survey, answers,
                           response_id=opened.invitation["id"], source=source, now=now,
                           complete=complete, invitation=opened.invitation,
                           person=opened.person, on_page=on_page)


def _keep_valid(kk: Kokemus, opened: Opened, answers: dict[str, Any], problems: dict[str, str],
                source: feedback.Source, now: datetime) -> None:
    """After a refused post, still save the answers that were fine (as a partial response)."""
    valid = {k: v for k, v in answers.items() if k not in problems}
    if not any(v not in (None, "", [], {}) for v in valid.values()):
        return
    # An answer whose condition hangs on a refused one may fail too: it is asked again.
    with contextlib.suppress(AnswerError):
        _save(kk, opened, valid, source=source, now=now, complete=False)


def _open(request: Request, token: str, *, mark_opened: bool = True,
          read_response: bool = True) -> Opened:
    return feedback.open_link(kokemus(request), request.app.state.link_secret, token,
                              datetime.now(UTC), mark_opened=mark_opened,
                              read_response=read_response)


@router.get("/s/{token}")
def show(request: Request, token: str) -> Response:
    """The form; answers in the query (an email's one-click scale) are chosen on it, not saved.

    A GET never saves an answer. Mail security scanners and link previews fetch every link
    of an email, here all eleven scale points in order: with "a GET saves" the last one
    fetched (10) became the customer's NPS before they read the mail, and with "the first
    click counts" it would be the first one (0), which the customer's own click could then
    not replace. So the click opens the form with the clicked point chosen and a notice that
    it is not saved yet; the customer's Send (a POST, which scanners do not make) saves it.
    A second click shows its point in the same way and leaves the saved answer as it is
    until Send. The cost is one press more per answer; what is stored is what the customer
    chose. A value that is not valid is refused with its reason, as before.
    """
    embed = request.query_params.get("embed") == "1"
    given = {k: v for k, v in request.query_params.items() if k != "embed"}
    if given and (limited := _limited(request, embed)):
        return limited
    try:
        opened = _open(request, token)
    except LinkError as exc:
        return _problem(request, exc, embed, token)
    saved = opened.response["answers"] if opened.response else {}
    # Other query parameters (a mail client's tracking, say) are not answers.
    answers = {k: v for k, v in given.items() if opened.survey.question(k) is not None}
    if answers:
        try:
            opened.survey.check({**saved, **answers})
        except AnswerError as exc:
            return _form_page(request, token, opened, {**saved, **answers}, embed=embed,
                              problems=dict(reversed(exc.problems)), status=422)
        return _form_page(request, token, opened, {**saved, **answers}, embed=embed,
                          notice="survey.unsaved")
    return _form_page(request, token, opened, saved, embed=embed)


# The reads of a post, in threads of their own: anyio's trip to a worker thread
# (run_in_threadpool: a capacity limiter, cancel scopes, context copies) took a sixth of a
# post's time on the event loop; a plain executor's takes a fraction of that. Few threads:
# each read is short, and more threads only wait for the GIL in turn.
_readers = ThreadPoolExecutor(8, thread_name_prefix="kokemus-form")


@router.post("/s/{token}")
async def answer(request: Request, token: str) -> Response:
    """Save a post. The reads (the link's invitation, workspace and customer) take one trip
    to a worker thread; the write (the response into the journal with the invitation's
    marks, one commit) is awaited on the event loop, so a burst of posts waiting for the
    writer's commits holds no threads (a sync route would hold one of the pool's 40 for
    each, and their contention for the GIL slowed the writers)."""
    form = await request.form()
    kk = kokemus(request)
    # held from before the invitation is read until the write is committed (storage/journal)
    with kk.journal.held(token.split(".")[0]):
        ready = await asyncio.get_running_loop().run_in_executor(
            _readers, _ready, request, token, form)
        if isinstance(ready, Response):
            return ready
        try:
            row = await feedback.save(kk, ready.submission)
        except AnswerError as exc:
            return await run_in_threadpool(_refused, request, token, ready, exc)
    if not row["complete"]:
        return _form_page(request, token, ready.opened, row["answers"], embed=ready.embed,
                          notice="survey.more")
    return _thanks(request, token, ready.opened, ready.embed)


@dataclass(frozen=True)
class _Ready:
    """A post that passed the link and rate checks, with what its save writes."""

    opened: Opened
    embed: bool
    source: feedback.Source
    now: datetime
    posted: dict[str, Any]
    submission: feedback.Submission


def _ready(request: Request, token: str, form: FormData) -> _Ready | Response:
    embed = form.get("embed") == "1" or request.query_params.get("embed") == "1"
    if limited := _limited(request, embed):
        return limited
    shown_field = form.get("shown")
    on_page = shown_field.split() if isinstance(shown_field, str) else None
    try:
        # The save marks the invitation and merges with the saved answers in the writer,
        # so a post reads no response unless its form did not say what it showed.
        opened = _open(request, token, mark_opened=False, read_response=on_page is None)
    except LinkError as exc:
        return _problem(request, exc, embed, token)
    kk, survey, now = kokemus(request), opened.survey, datetime.now(UTC)
    source: feedback.Source = "widget" if embed else "form"
    if on_page is None:
        on_page = [q.id for q in survey.shown(_saved(opened))]
    on_page = [q for q in on_page if survey.question(q) is not None]
    posted = _posted(survey, form, on_page)
    submission = feedback.submission(
        kk, opened.workspace, survey, posted, response_id=opened.invitation["id"],
        source=source, now=now, invitation=opened.invitation, person=opened.person,
        on_page=on_page)
    return _Ready(opened, embed, source, now, posted, submission)


def _refused(request: Request, token: str, ready: _Ready, exc: AnswerError) -> Response:
    """The form again with each refused answer's reason; the answers that were fine are
    kept (as a partial response)."""
    kk, opened, posted = kokemus(request), ready.opened, ready.posted
    problems = dict(reversed(exc.problems))  # the first reason of each question
    saved = _saved(opened) or _saved(_open(request, token, mark_opened=False))
    _keep_valid(kk, opened, posted, problems, ready.source, ready.now)
    return _form_page(request, token, opened, {**saved, **posted}, embed=ready.embed,
                      problems=problems, status=422)


def _saved(opened: Opened) -> dict[str, Any]:
    return opened.response["answers"] if opened.response else {}


@router.post("/s/{token}/opt-out")
async def opt_out(request: Request, token: str) -> Response:
    form = await request.form()
    embed = form.get("embed") == "1" or request.query_params.get("embed") == "1"
    return await run_in_threadpool(_opt_out, request, token, embed)


def _opt_out(request: Request, token: str, embed: bool) -> Response:
    """Honoured for any genuine link, even an expired or answered one."""
    if limited := _limited(request, embed):
        return limited
    kk, now = kokemus(request), datetime.now(UTC)
    try:
        invitation_id = feedback.verify(request.app.state.link_secret, token, now)
    except LinkError as exc:
        if exc.problem != "expired":  # expired is only said of a correctly signed token
            return _problem(request, exc, embed, token)
        invitation_id = token.split(".")[0]
    invitation = feedback.get_invitation(kk.db, invitation_id)
    if invitation is None:
        return _problem(request, LinkError("unknown", "unknown invitation"), embed)
    workspace = workspace_service.get_by_id(kk.db, invitation["workspace_id"])
    customer = people.get_customer(kk.db, workspace.id, invitation["customer"])
    feedback.opt_out(kk.db, workspace.id, invitation["customer"], source="link", now=now)
    return page(request, "survey_message.html", feedback.language_for(workspace, customer),
                embed=embed, title_key="survey.opt_out.title", body_key="survey.opt_out.body",
                params={})
