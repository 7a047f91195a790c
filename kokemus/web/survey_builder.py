"""The survey builder: a survey edited as a plain form, saved as the YAML editor saves it.

Every button is a submit of one form (no script needed): the server reads the whole draft
from the fields, applies the button (add, move or delete a question, preview), and draws
the form again. Saving turns the draft into the survey's YAML text, the text the YAML
editor would show (services.surveys.draft_text), and saves that text through the same
validation and version check (replace_survey, add_survey), so the builder can write
nothing a person could not have written by hand.

Field names are the survey's own paths ("questions.2.text.fi"), so a problem of the model
points at its field. The preview draws the hosted form's own template from the unsaved
draft, in a phone-sized and a desktop-sized frame; the test link (services.survey_tests)
answers the saved survey without counting anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
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
from kokemus.web.surveys import NOTICE, answer_items, new_survey_id

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

QUESTION_TYPES = ("nps", "ces", "csat", "rating", "single_choice", "multiple_choice", "text",
                  "expectation_perception", "elements_of_value", "kano")
DIMENSIONS = ("tangibles", "reliability", "responsiveness", "assurance", "empathy")
# Bounds of one draft: far above any real survey, low enough that a post cannot make the
# server build a huge page or document (each is a 413 or 422 naming the bound).
MAX_QUESTIONS = 60
MAX_ITEMS = 40  # options, attributes or features of one question
MAX_VALUE = 4000  # characters in one field
MAX_FIELDS = 6000
MAX_BODY = 1_000_000  # bytes of one post


@dataclass
class Draft:
    """The survey as the form holds it (plain data, maybe not valid yet), the field
    problems found while reading it, and the valid survey when it is one."""

    data: dict[str, Any]
    problems: list[tuple[tuple[str | int, ...], str]]
    survey: Survey | None = None


# --------------------------------------------------------------------------- reading a post


def _value(form: FormData, name: str) -> str:
    raw = form.get(name)
    return raw.strip() if isinstance(raw, str) else ""


def _texts(form: FormData, prefix: str, languages: list[str]) -> dict[str, str] | None:
    found = {lang: v for lang in languages if (v := _value(form, f"{prefix}.{lang}"))}
    return found or None


def _indices(form: FormData, prefix: str, leaf: str) -> list[int]:
    """The row numbers posted under `prefix` (rows are "prefix.N.leaf"), in order."""
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d{{1,4}})\.{re.escape(leaf)}$")
    return sorted({int(m.group(1)) for key in form if (m := pattern.match(key))})


def _scalar(text: str) -> int | str | bool:
    if re.fullmatch(r"-?\d{1,9}", text):
        return int(text)
    return {"true": True, "false": False}.get(text.lower(), text)


def _rows(form: FormData, prefix: str, key: str, problems: list[Any],
          loc: tuple[str | int, ...]) -> list[int]:
    rows = [i for i in _indices(form, prefix, key) if _value(form, f"{prefix}.{i}.{key}")]
    if len(rows) > MAX_ITEMS:
        problems.append((loc, f"at most {MAX_ITEMS} rows"))
        return rows[:MAX_ITEMS]
    return rows


def _question(form: FormData, i: int, languages: list[str],
              problems: list[Any]) -> dict[str, Any]:
    p = f"questions.{i}"
    qtype = _value(form, f"{p}.type")
    q: dict[str, Any] = {"id": _value(form, f"{p}.id"), "type": qtype}
    if (text := _texts(form, f"{p}.text", languages)) is not None:
        q["text"] = text
    if _value(form, f"{p}.required"):
        q["required"] = True
    shown_after = _value(form, f"{p}.show_if.question")
    if shown_after:
        rule: dict[str, Any] = {"question": shown_after}
        values = [v.strip() for v in _value(form, f"{p}.show_if.in").split(",") if v.strip()]
        if values:
            rule["in"] = [_scalar(v) for v in values]
        for bound in ("at_least", "at_most"):
            if raw := _value(form, f"{p}.show_if.{bound}"):
                rule[bound] = raw
        q["show_if"] = rule
    if qtype == "rating":
        for bound in ("min", "max"):
            if raw := _value(form, f"{p}.{bound}"):
                q[bound] = raw
        for label in ("low_label", "high_label"):
            if (words := _texts(form, f"{p}.{label}", languages)) is not None:
                q[label] = words
    elif qtype in ("single_choice", "multiple_choice"):
        q["options"] = [{"id": _value(form, f"{p}.options.{j}.id"),
                         "text": _texts(form, f"{p}.options.{j}.text", languages) or ""}
                        for j in _rows(form, f"{p}.options", "id", problems,
                                       ("questions", i, "options"))]
    elif qtype == "text":
        if raw := _value(form, f"{p}.max_length"):
            q["max_length"] = raw
    elif qtype == "expectation_perception":
        if _value(form, f"{p}.set"):
            q["set"] = "rater"
        attributes = []
        for j in _rows(form, f"{p}.attributes", "id", problems,
                       ("questions", i, "attributes")):
            item: dict[str, Any] = {
                "id": _value(form, f"{p}.attributes.{j}.id"),
                "text": _texts(form, f"{p}.attributes.{j}.text", languages) or ""}
            if dimension := _value(form, f"{p}.attributes.{j}.dimension"):
                item["dimension"] = dimension
            attributes.append(item)
        if attributes:
            q["attributes"] = attributes
    elif qtype == "elements_of_value":
        if (kind := _value(form, f"{p}.kind")) and kind != "b2c":
            q["kind"] = kind
        chosen = [v for v in form.getlist(f"{p}.elements") if isinstance(v, str) and v]
        if chosen:
            q["elements"] = chosen[:100]
    elif qtype == "kano":
        q["features"] = [
            {"id": _value(form, f"{p}.features.{j}.id"),
             "functional": _texts(form, f"{p}.features.{j}.functional", languages) or "",
             "dysfunctional": _texts(form, f"{p}.features.{j}.dysfunctional", languages) or ""}
            for j in _rows(form, f"{p}.features", "id", problems, ("questions", i, "features"))]
    return q


def _sample(raw: str, problems: list[Any]) -> float | None:
    """The sampling rate as the form gives it, in percent ("10", "2,5 %")."""
    if not raw:
        problems.append((("trigger", "sample"), "choose the share of these events to invite "
                                                "(a percentage above 0, at most 100)"))
        return None
    try:
        percent = float(raw.rstrip("%").strip().replace(",", "."))
    except ValueError:
        percent = -1.0
    if not 0 < percent <= 100:
        problems.append((("trigger", "sample"), f"'{raw}' is not a percentage above 0 and at "
                                                "most 100"))
        return None
    return round(percent / 100, 6)


def _where(raw: str, problems: list[Any]) -> dict[str, Any]:
    where: dict[str, Any] = {}
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            problems.append((("trigger", "where"), f"line {n}: write it as property = value"))
            continue
        where[key.strip()] = _scalar(value.strip())
    return where


def read_draft(form: FormData, languages: list[str]) -> Draft:
    """The draft a builder post holds; each field the form could not read is a problem."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for key, value in form.multi_items():
        if isinstance(value, str) and len(value) > MAX_VALUE:
            problems.append(((key,), f"at most {MAX_VALUE} characters"))
    data: dict[str, Any] = {"id": _value(form, "id"),
                            "name": _texts(form, "name", languages) or ""}
    if touchpoint := _value(form, "touchpoint"):
        data["touchpoint"] = touchpoint
    if not _value(form, "enabled"):
        data["enabled"] = False
    for part in ("intro", "thanks"):
        if (words := _texts(form, part, languages)) is not None:
            data[part] = words
    if _value(form, "trigger.on"):
        trigger: dict[str, Any] = {"event": _value(form, "trigger.event")}
        if where := _where(_value(form, "trigger.where"), problems):
            trigger["where"] = where
        segments = [v for v in form.getlist("trigger.segments") if isinstance(v, str) and v]
        if segments:
            trigger["segments"] = segments[:100]
        roles = [r.strip() for r in _value(form, "trigger.roles").split(",") if r.strip()]
        if roles:
            trigger["roles"] = roles[:100]
        if delay := _value(form, "trigger.delay"):
            trigger["delay"] = delay
        sample = _sample(_value(form, "trigger.sample"), problems)
        trigger["sample"] = sample if sample is not None else _value(form, "trigger.sample")
        if (channel := _value(form, "trigger.channel")) and channel != "email":
            trigger["channel"] = channel
        data["trigger"] = trigger
    rows = _indices(form, "questions", "type")
    if len(rows) > MAX_QUESTIONS:
        problems.append((("questions",), f"at most {MAX_QUESTIONS} questions"))
        rows = rows[:MAX_QUESTIONS]
    data["questions"] = [_question(form, i, languages, problems) for i in rows]
    return Draft(data, problems)


# --------------------------------------------------------------------------- the buttons


def _fresh_id(data: dict[str, Any], stem: str) -> str:
    taken = {q.get("id") for q in data["questions"]}
    return next(f"{stem}{n}" if n else stem for n in range(0, MAX_QUESTIONS + 2)
                if (f"{stem}{n}" if n else stem) not in taken)


def new_question(data: dict[str, Any], qtype: str) -> dict[str, Any]:
    """A question of `qtype` with the fields its type needs, ready to be worded."""
    stems = {"nps": "recommend", "ces": "effort", "csat": "satisfied", "text": "why",
             "kano": "features", "expectation_perception": "expected",
             "elements_of_value": "value"}
    q: dict[str, Any] = {"id": _fresh_id(data, stems.get(qtype, qtype.split("_")[0])),
                         "type": qtype}
    if qtype in ("single_choice", "multiple_choice"):
        q["options"] = [{"id": "a", "text": ""}, {"id": "b", "text": ""}]
    elif qtype == "expectation_perception":
        q["set"] = "rater"
    elif qtype == "kano":
        q["features"] = [{"id": "feature", "functional": "", "dysfunctional": ""}]
    return q


def apply_button(data: dict[str, Any], button: str, new_type: str) -> None:
    """What a builder button does to the draft: add, move up or down, delete a question."""
    questions: list[dict[str, Any]] = data["questions"]
    if button == "add":
        if new_type in QUESTION_TYPES and len(questions) < MAX_QUESTIONS:
            questions.append(new_question(data, new_type))
        return
    action, _, place = button.partition(":")
    if not place.isdigit() or int(place) >= len(questions):
        return
    at = int(place)
    if action == "up" and at > 0:
        questions[at - 1], questions[at] = questions[at], questions[at - 1]
    elif action == "down" and at < len(questions) - 1:
        questions[at + 1], questions[at] = questions[at], questions[at + 1]
    elif action == "delete":
        del questions[at]


def validated(draft: Draft) -> Draft:
    """The draft with its survey when the model takes it, else with the model's problems."""
    if draft.problems:
        return draft
    try:
        draft.survey = Survey.model_validate(draft.data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            # a question's type names its union member in the path: not a field
            if len(loc) > 2 and loc[0] == "questions" and loc[2] in QUESTION_TYPES:
                loc = loc[:2] + loc[3:]
            draft.problems.append((loc, error["msg"]))
    return draft


# --------------------------------------------------------------------------- the page


def anchor(loc: Iterable[str | int]) -> str:
    """The id of the field (or the nearest group of fields) a problem is about."""
    parts = [str(p) for p in loc]
    if parts[:1] == ["questions"] and len(parts) > 3 and parts[2] in (
            "options", "attributes", "features", "show_if"):
        parts = parts[:5] if parts[2] != "show_if" else parts[:4]
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
    bad = {anchor(loc) for loc, _ in draft.problems}
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
        bad=bad, stale=stale, languages=languages, first=first, text_in=text_in,
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
    version = form_version(_value(form, "version"))
    if not sessions.csrf_ok(request, _value(form, "csrf")):
        draft = _start(member.workspace.document, survey_id)
        draft.problems.append(((), i18n.translate("login.expired", sessions.language(request))))
        return _page(request, member, survey_id, draft, status=400)
    draft = read_draft(form, languages)
    button = _value(form, "do")
    preview_lang = None
    if button.startswith("preview:"):
        preview_lang = button.partition(":")[2]
    elif button and button != "save":
        apply_button(draft.data, button, _value(form, "new_type"))
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
