"""The survey builder and the test link over HTTP, with the real stores: a survey built
field by field is saved as the YAML a person would write, through the YAML editor's checks
and versioning; the preview draws the real form from the unsaved draft; test answers are
kept apart and counted nowhere."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap, demo
from kokemus.analytics import scores
from kokemus.domain.brand import Brand
from kokemus.services import access, survey_tests
from kokemus.services import surveys as survey_service
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses
from kokemus.web import survey_drafts
from kokemus.workspace import document
from tests.web.test_pages import csrf, log_in

NEW = "/w/my-company/surveys/new/build"
BUILD = "/w/my-company/surveys/after-delivery/build"


class Fields(HTMLParser):
    """The builder form's fields as a browser would post them (checked boxes only)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self._text = ""
        self._chosen: str | None = None
        self._first: str | None = None
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._in_form = a.get("id") == "builder"
        if not self._in_form or "name" not in a:
            if tag == "option" and self._select is not None:
                if self._first is None:
                    self._first = a.get("value", "")
                if "selected" in a:
                    self._chosen = a.get("value", "")
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button"):
                self.values.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select, self._chosen, self._first = a["name"], None, None
        elif tag == "textarea":
            self._textarea, self._text = a["name"], ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select" and self._select is not None:
            self.values.append((self._select, self._chosen or self._first or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.values.append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None


def fields(html: str) -> list[tuple[str, str]]:
    parser = Fields()
    parser.feed(html)
    return parser.values


def press(client: TestClient, path: str, html: str, button: str,
          changes: Mapping[str, str | list[str] | None] | None = None) -> Any:
    """Post the builder's form as shown in `html` with `changes` typed in, pressing `button`
    (a None change unticks a box or leaves a field out)."""
    changes = changes or {}
    posted = [(k, v) for k, v in fields(html) if k not in changes]
    for name, value in changes.items():
        if isinstance(value, list):
            posted += [(name, v) for v in value]
        elif value is not None:
            posted.append((name, value))
    posted.append(("do", button))
    return client.post(path, content=urlencode(posted), follow_redirects=False,
                       headers={"content-type": "application/x-www-form-urlencoded"})


@pytest.fixture
def editor(client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> TestClient:
    access.create_user(kk.db, "eeva", "salasana123")
    access.grant(kk.db, "eeva", workspace.slug, "editor")
    log_in(client, username="eeva", password="salasana123")
    return client


# What the YAML editor shows once saved: the keys in the order `kokemus export` writes them.
BUILT = """\
id: after-order
name:
  fi: Tilauksen jälkeen
  en: After the order
touchpoint: order
enabled: false
intro:
  fi: Kerro, miten tilaaminen sujui.
  en: Tell us how ordering went.
trigger:
  event: order_placed
  delay: 1h
  sample: 0.1
questions:
- id: recommend
  required: true
  type: nps
- id: why
  text:
    fi: Miksi?
    en: Why?
  show_if:
    question: recommend
    at_most: 6
  type: text
- id: channel
  text:
    fi: Mistä kuulit meistä?
    en: Where did you hear of us?
  type: single_choice
  options:
  - id: friend
    text:
      fi: Ystävältä
      en: From a friend
  - id: ad
    text:
      fi: Mainoksesta
      en: From an ad
"""


def test_a_survey_built_in_the_form_is_saved_as_the_yaml_a_person_would_write(
        editor: TestClient, kk: bootstrap.Kokemus) -> None:
    page = editor.get(NEW)
    assert page.status_code == 200
    html = page.text
    # safe defaults: disabled, and no sampling rate until the person chooses one
    assert 'name="enabled" value="1" id="f-enabled" checked' not in html
    assert re.search(r'name="trigger.sample" value=""', html)

    step = press(editor, NEW, html, "add", {"new_type": "single_choice"})
    assert step.status_code == 200 and 'name="questions.1.type" value="single_choice"' in step.text
    step = press(editor, NEW, step.text, "add", {"new_type": "text"})
    assert 'name="questions.2.type" value="text"' in step.text
    # the open question goes up above the choice, right after the NPS it follows up
    step = press(editor, NEW, step.text, "up:2")
    assert re.search(r'name="questions.1.type" value="text".*name="questions.2.type" '
                     r'value="single_choice"', step.text, re.S)
    wording = {
        "id": "after-order", "name.fi": "Tilauksen jälkeen", "name.en": "After the order",
        "touchpoint": "order", "trigger.event": "order_placed", "trigger.sample": "10",
        "intro.fi": "Kerro, miten tilaaminen sujui.", "intro.en": "Tell us how ordering went.",
        "questions.1.id": "why", "questions.1.text.fi": "Miksi?", "questions.1.text.en": "Why?",
        "questions.1.show_if.question": "recommend", "questions.1.show_if.at_most": "6",
        "questions.2.id": "channel", "questions.2.text.fi": "Mistä kuulit meistä?",
        "questions.2.text.en": "Where did you hear of us?",
        "questions.2.options.0.id": "friend", "questions.2.options.0.text.fi": "Ystävältä",
        "questions.2.options.0.text.en": "From a friend",
        "questions.2.options.1.id": "ad", "questions.2.options.1.text.fi": "Mainoksesta",
        "questions.2.options.1.text.en": "From an ad"}
    saved = press(editor, NEW, step.text, "save", wording)
    assert saved.status_code == 303, saved.text[:2000]
    assert saved.headers["location"] == "/w/my-company/surveys/after-order/build"

    current = workspace_service.get(kk.db, "my-company")
    assert current.version == 2
    assert survey_service.survey_text(current.document, "after-order") == BUILT
    survey = current.document.survey("after-order")
    assert survey is not None and survey.enabled is False
    assert survey.trigger is not None and survey.trigger.sample == 0.1
    again = editor.get(saved.headers["location"])
    assert 'id="notice"' in again.text
    # the YAML editor shows the same text, and saving it unchanged changes nothing
    yaml_page = editor.get("/w/my-company/surveys/after-order").text
    assert BUILT in unescape(yaml_page)
    unchanged = press(editor, "/w/my-company/surveys/after-order/build", again.text, "save")
    assert unchanged.status_code == 303
    assert workspace_service.get(kk.db, "my-company").version == 2
    # the list says which survey invites nobody yet
    listed = editor.get("/w/my-company/surveys").text
    rows = dict(re.findall(r'<tr id="survey-([a-z-]+)">(.*?)</tr>', listed, re.S))
    assert "Pois käytöstä" in rows["after-order"]
    assert "Pois käytöstä" not in rows["after-delivery"]


def test_the_sampling_rate_is_required_and_the_problem_points_at_its_field(
        editor: TestClient, kk: bootstrap.Kokemus) -> None:
    html = editor.get(NEW).text
    refused = press(editor, NEW, html, "save", {"trigger.event": "delivered"})
    assert refused.status_code == 422
    assert '<a href="#f-trigger.sample"><code>trigger.sample</code></a>' in refused.text
    assert re.search(r'id="f-trigger.sample"[^>]*aria-invalid="true"', refused.text)
    assert workspace_service.get(kk.db, "my-company").version == 1
    for bad in ("0", "150", "lots"):
        again = press(editor, NEW, html, "save", {"trigger.event": "delivered",
                                                  "trigger.sample": bad})
        assert again.status_code == 422 and "trigger.sample" in again.text, bad


def test_a_model_problem_names_the_question_field_and_nothing_is_saved(
        editor: TestClient, kk: bootstrap.Kokemus) -> None:
    html = editor.get(BUILD).text
    step = press(editor, BUILD, html, "add", {"new_type": "rating"})
    refused = press(editor, BUILD, step.text, "save", {"questions.4.min": "5",
                                                       "questions.4.max": "3"})
    assert refused.status_code == 422
    assert "max (3) must be greater than min (5)" in unescape(refused.text)
    assert 'href="#f-questions.4"' in refused.text
    # a reference the whole document checks (an unknown touchpoint) is refused too
    wrong = press(editor, BUILD, html, "save", {"touchpoint": "nowhere"})
    assert wrong.status_code == 422 and "nowhere" in wrong.text
    assert workspace_service.get(kk.db, "my-company").version == 1


def test_a_save_over_a_newer_version_is_refused_with_a_clear_message(
        editor: TestClient, kk: bootstrap.Kokemus) -> None:
    html = editor.get(BUILD).text
    text = survey_service.survey_text(workspace_service.get(kk.db, "my-company").document,
                                      "after-delivery")
    survey_service.replace_survey(kk.db, "my-company", text.replace("delay: 2h", "delay: 3h"),
                                  "someone", survey_id="after-delivery")
    stale = press(editor, BUILD, html, "save", {"name.en": "After the delivery"})
    assert stale.status_code == 409
    assert 'id="stale"' in stale.text and "(nyt versio 2)" in stale.text
    current = workspace_service.get(kk.db, "my-company")
    assert current.version == 2
    assert current.document.survey("after-delivery").trigger.delay == "3h"  # type: ignore[union-attr]


def test_reorder_and_delete_keep_each_questions_fields(editor: TestClient) -> None:
    html = editor.get(BUILD).text
    down = press(editor, BUILD, html, "down:0")
    ids = re.findall(r'name="questions.\d+.id" value="([^"]+)"', down.text)
    assert ids == ["effort", "recommend", "satisfied", "why"]
    gone = press(editor, BUILD, down.text, "delete:0")
    ids = re.findall(r'name="questions.\d+.id" value="([^"]+)"', gone.text)
    assert ids == ["recommend", "satisfied", "why"]
    # the follow-up keeps its rule through the moves
    assert re.search(r'name="questions.2.show_if.at_most" value="6"', gone.text)
    # buttons beyond the list do nothing
    same = press(editor, BUILD, gone.text, "up:99")
    assert re.findall(r'name="questions.\d+.id" value="([^"]+)"', same.text) == ids


def test_the_preview_draws_the_real_form_from_the_unsaved_draft(
        editor: TestClient, kk: bootstrap.Kokemus) -> None:
    html = editor.get(BUILD).text
    shown = press(editor, BUILD, html, "preview:en", {
        "questions.3.text.en": "What should we change first?"})
    assert shown.status_code == 200
    frames = re.findall(r'<iframe[^>]*class="preview-(phone|desktop)"[^>]*srcdoc="([^"]*)"',
                        shown.text)
    assert [kind for kind, _ in frames] == ["phone", "desktop"]
    form = unescape(frames[0][1])
    assert 'class="survey-form"' in form and "Send" in form and "disabled" in form
    assert "Not at all likely" in form  # the NPS ends, worded as the email words them
    finnish = press(editor, BUILD, html, "preview:fi")
    assert "Ei lainkaan todennäköistä" in unescape(finnish.text)
    assert workspace_service.get(kk.db, "my-company").version == 1


def test_the_test_link_keeps_answers_as_tests_and_no_score_counts_them(
        editor: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    html = editor.get(BUILD).text
    links = dict(re.findall(r'href="(/t/[^"?]+)\?lang=(fi|en)"', html))
    link = next(k for k, v in links.items() if v == "en")
    editor.cookies.clear()  # a colleague without an account opens it
    form = editor.get(f"{link}?lang=en")
    assert form.status_code == 200 and "kept as a test" in form.text
    assert "opt-out" not in form.text
    first = editor.post(link, data={"lang": "en", "rid": "", "shown": "recommend effort satisfied",
                                    "recommend": "3", "effort": "2"})
    assert first.status_code == 200
    assert "What could we have done better?" in first.text  # skip logic shows the follow-up
    rid = re.search(r'name="rid" value="([^"]+)"', first.text)
    assert rid
    done = editor.post(link, data={"lang": "en", "rid": rid.group(1), "shown": "why",
                                   "why": "The carrier was late"})
    assert done.status_code == 200 and "not counted anywhere" in done.text

    count, rows = survey_tests.recent(kk.db, workspace.id, "after-delivery")
    assert count == 1
    assert rows[0]["answers"] == {"recommend": 3, "effort": 2, "why": "The carrier was late"}
    assert rows[0]["complete"] is True
    # nothing reached the responses: no count, score, browser row or tally sees it
    assert responses.count(kk.events, workspace.id) == 0
    assert responses.tally(kk.events, workspace.id) == {}
    with kk.events.reading() as cur:
        overall = scores.report(cur, workspace.id).overall
    assert overall.responses == 0 and overall.nps.n == 0
    log_in(editor, username="eeva", password="salasana123")
    builder = editor.get(BUILD).text
    assert "Testivastauksia: 1" in builder and "The carrier was late" in builder
    assert "0" in editor.get("/w/my-company/responses").text
    cleared = editor.post("/w/my-company/surveys/after-delivery/tests/clear",
                          data={"csrf": csrf(builder)}, follow_redirects=False)
    assert cleared.status_code == 303
    assert survey_tests.recent(kk.db, workspace.id, "after-delivery")[0] == 0


def test_a_forged_or_bad_test_link_is_refused(editor: TestClient,
                                              workspace: ActiveWorkspace) -> None:
    html = editor.get(BUILD).text
    link = re.search(r'href="(/t/[^"?]+)\?lang=fi"', html)
    assert link
    token = link.group(1).removeprefix("/t/")
    assert editor.get(f"/t/{token[:-2]}xx").status_code == 404
    assert editor.get("/t/not-a-token").status_code == 404
    other = token.replace(".after-delivery.", ".no-such-survey.")
    assert editor.get(f"/t/{other}").status_code == 404  # the signature no longer holds
    refused = editor.post(f"/t/{token}", data={"lang": "fi", "shown": "recommend",
                                               "recommend": "11"})
    assert refused.status_code == 422
    assert "0" in refused.text and "10" in refused.text


def test_bounds_of_a_builder_post_are_4xx(editor: TestClient, kk: bootstrap.Kokemus) -> None:
    html = editor.get(BUILD).text
    many = {f"questions.{i}.type": "nps" for i in range(4, 80)}
    many.update({f"questions.{i}.id": f"q{i}" for i in range(4, 80)})
    too_many = press(editor, BUILD, html, "save", many)
    assert too_many.status_code == 422 and "at most 60 questions" in too_many.text
    long = press(editor, BUILD, html, "save", {"name.fi": "x" * 5000})
    assert long.status_code == 422 and "at most 4000 characters" in long.text
    huge = editor.post(BUILD, content=b"a=" + b"x" * 1_100_000,
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert huge.status_code == 413
    fields_ = editor.post(BUILD, content="&".join(f"f{i}=1" for i in range(7000)).encode(),
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert fields_.status_code == 400
    assert editor.get("/w/my-company/surveys/no-such/build").status_code == 404
    unknown_type = press(editor, BUILD, html, "add", {"new_type": "lottery"})
    assert unknown_type.status_code == 200
    assert len(re.findall(r'name="questions.\d+.type"', unknown_type.text)) == 4
    assert workspace_service.get(kk.db, "my-company").version == 1


def test_an_analyst_views_the_builder_read_only_and_cannot_start_one(
        client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    access.create_user(kk.db, "aino", "salasana123")
    access.grant(kk.db, "aino", workspace.slug, "analyst")
    log_in(client, username="aino", password="salasana123")
    page = client.get(BUILD)
    assert page.status_code == 200
    assert 'value="save"' not in page.text and "readonly" in page.text
    assert "preview-phone" in page.text  # the saved survey's preview
    assert client.get(NEW).status_code == 403
    posted = client.post(BUILD, data={"csrf": csrf(page.text), "do": "save"})
    assert posted.status_code == 403


def test_the_new_question_types_each_make_a_valid_survey() -> None:
    data: dict[str, Any] = {"id": "s", "name": "S", "questions": []}
    for qtype in survey_drafts.QUESTION_TYPES:
        survey_drafts.apply_button(data, "add", qtype)
    unworded = survey_drafts.validated(survey_drafts.Draft(data, []))
    assert {loc[2] for loc, _ in unworded.problems} == {"options", "features"}  # to word
    for q in data["questions"]:  # worded as a person would
        for row in q.get("options", []) + q.get("features", []):
            row.update({k: {"en": "words"} for k, v in row.items() if v == ""})
    draft = survey_drafts.validated(survey_drafts.Draft(data, []))
    kinds = [q.type for q in draft.survey.questions] if draft.survey else draft.problems
    assert kinds == list(survey_drafts.QUESTION_TYPES)


@pytest.mark.parametrize("name", ["appliance_shop", "machinery_dealer", "customers_choice"])
def test_every_demo_survey_comes_back_from_the_builder_unchanged(
        client: TestClient, kk: bootstrap.Kokemus, name: str) -> None:
    """Opened in the builder and saved as it is, each survey of the three demo workspaces is
    the same document: the form holds every field they use (where, roles, RATER sets,
    elements of value, Kano pairs, rating labels, plain-string texts)."""
    loaded = document.load(Path(demo.__file__).parent / f"{name}.yaml")
    workspace_service.apply(kk.db, loaded)
    slug = loaded.workspace
    access.create_user(kk.db, "eeva", "salasana123")
    access.grant(kk.db, "eeva", slug, "editor")
    log_in(client, username="eeva", password="salasana123")
    before = workspace_service.get(kk.db, slug)
    assert before.document.surveys
    for survey in before.document.surveys:
        path = f"/w/{slug}/surveys/{survey.id}/build"
        saved = press(client, path, client.get(path).text, "save")
        assert saved.status_code == 303, (survey.id, saved.text[-3000:])
        after = workspace_service.get(kk.db, slug)
        assert after.version == before.version, survey.id
        assert (after.document.survey(survey.id) == survey), survey.id


@pytest.mark.parametrize("changes", [
    {"questions.0.type": "lottery"},
    {"questions.3.show_if.at_least": "many"},
    {"questions.3.show_if.question": "why"},  # itself: not an earlier question
    {"trigger.on": "1", "trigger.delay": "soon"},
    {"trigger.where": "no equals sign"},
    {"trigger.segments": ["no-such-segment"]},
    {"name.fi": "nul\x00here"},
    {"id": "Not A Slug"},
    {"questions.1.id": "recommend"},  # a duplicate id
    {"enabled": "maybe", "questions.9999.type": "nps"},
])
def test_odd_values_are_refused_or_read_never_a_server_error(
        editor: TestClient, kk: bootstrap.Kokemus, changes: dict[str, Any]) -> None:
    html = editor.get(BUILD).text
    for button in ("apply", "save"):
        answer = press(editor, BUILD, html, button, changes)
        assert answer.status_code in (200, 303, 422), (button, answer.status_code)
        if answer.status_code == 422:
            assert 'id="problems"' in answer.text


def test_the_preview_and_the_test_link_wear_the_workspaces_brand(
        editor: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    """A preview is the form as the customer sees it: the workspace's logo and colour too,
    served behind the test token as the invitation form serves them behind its link."""
    logo = "data:image/svg+xml;base64," + base64.b64encode(
        b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>').decode()
    branded = workspace.document.model_copy(update={
        "brand": Brand(logo=logo, colour="#aa3300")})
    workspace_service.apply(kk.db, branded)
    page = editor.get(BUILD).text
    form = unescape(re.search(r'class="preview-phone"[^>]*srcdoc="([^"]*)"', page)
                    .group(1))  # type: ignore[union-attr]
    assert f'<img src="{logo}"' in form
    css = re.search(r'href="(/t/[^"]+/brand\.css)"', form)
    assert css
    sheet = editor.get(css.group(1))
    assert sheet.status_code == 200 and "--kk-accent: #aa3300;" in sheet.text
    link = re.search(r'href="(/t/[^"?]+)\?lang=fi"', page)
    assert link
    editor.cookies.clear()
    tried = editor.get(f"{link.group(1)}?lang=fi").text
    assert f'<img src="{logo}"' in tried and f'{link.group(1)}/brand.css' in tried
    assert editor.get("/t/forged.token/brand.css").status_code == 404
    assert editor.get(f"{link.group(1)}/logo").status_code == 404  # inline: no file


def test_an_option_without_words_is_named_before_it_is_saved(
        editor: TestClient, kk: bootstrap.Kokemus) -> None:
    html = editor.get(BUILD).text
    added = press(editor, BUILD, html, "add", {"new_type": "single_choice"})
    assert added.status_code == 200
    assert "Korjattavaa ennen tallennusta" in added.text  # not an error yet: nothing saved
    assert 'href="#f-questions.4.options.0"' in added.text
    assert re.search(r'name="questions.4.options.0.text.fi"[^>]*aria-invalid="true"',
                     added.text)
    refused = press(editor, BUILD, added.text, "save")
    assert refused.status_code == 422 and "give its text in at least one language" in refused.text
    worded = press(editor, BUILD, added.text, "save", {
        "questions.4.options.0.text.fi": "Kyllä", "questions.4.options.1.text.en": "No"})
    assert worded.status_code == 303
    survey = workspace_service.get(kk.db, "my-company").document.survey("after-delivery")
    assert survey is not None
    assert [o.text for o in survey.questions[4].options] == [  # type: ignore[union-attr]
        {"fi": "Kyllä"}, {"en": "No"}]
