"""Survey list, survey editor and response browser, over the real stores through HTTP."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kokemus import bootstrap
from kokemus.domain.events import Customer
from kokemus.services import access, feedback
from kokemus.services import surveys as survey_service
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people, responses
from kokemus.storage.tables import invitations
from kokemus.workspace import document
from tests.web.test_pages import csrf, log_in

EDITOR = "/w/my-company/surveys/after-delivery"


@pytest.fixture
def anna(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> str:
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", workspace.slug, "editor")
    return "anna"


@pytest.fixture
def signed_in(client: TestClient, anna: str, workspace: ActiveWorkspace) -> TestClient:
    log_in(client)
    return client


def textarea(html: str) -> str:
    found = re.search(r'<textarea id="survey-yaml"[^>]*>\n(.*?)</textarea>', html, re.S)
    assert found, "the editor has no YAML box"
    return unescape(found.group(1))


def save(client: TestClient, text: str, path: str = EDITOR) -> Any:
    page = client.get(path).text
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version
    return client.post(path, data={"text": text, "csrf": csrf(page),
                                   "version": version.group(1)})


# ---------------------------------------------------------------------------------------------
# Survey list


def test_the_list_shows_the_starter_survey_with_its_trigger_and_counts(
    signed_in: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    people.upsert_customers(kk.db, workspace.id, [
        Customer(id=c, email=f"{c}@example.fi", language="fi") for c in ("c1", "c2", "c3", "c4")
    ], now)
    for customer in ("c1", "c2", "c3", "c4"):
        feedback.invite(kk.db, workspace, "after-delivery", customer, channel="email", now=now)
    survey = workspace.document.survey("after-delivery")
    assert survey is not None
    with kk.db.connect() as conn:
        first = conn.execute(select(invitations).where(invitations.c.customer == "c1")
                             ).mappings().one()
    feedback.submit(kk, workspace, survey, {"recommend": 9}, response_id="r1", source="form",
                    now=now, complete=True, invitation=dict(first))
    feedback.submit(kk, workspace, survey, {"recommend": 3}, response_id="r2", source="api",
                    now=now, customer="c9")

    html = signed_in.get("/w/my-company/surveys").text
    row = re.search(r'<tr id="survey-after-delivery">(.*?)</tr>', html, re.S)
    assert row, html
    cells = row.group(1)
    assert "Toimituksen jälkeen" in cells and "Toimitus" in cells
    assert re.search(r">\s*delivered\s*<", cells)  # the starter names no event: its type
    assert "2\u00a0h jälkeen" in cells and "otos 100\u00a0%" in cells
    assert "sähköposti" in cells
    assert re.search(r'class="num">4</td>', cells)  # four questions
    assert re.search(r'class="num sent">4</td>', cells)
    assert re.search(r'class="num responses"[^>]*>2</td>', cells)
    assert re.search(r'class="num rate">25\u00a0%</td>', cells)  # 1 answered of 4 sent
    assert f'href="{EDITOR}"' in cells
    assert 'href="/w/my-company/responses?survey=after-delivery"' in cells

    signed_in.get("/language/en")
    english = signed_in.get("/w/my-company/surveys").text
    assert "After delivery" in english and "after 2\u00a0h" in english


def test_the_workspace_pages_link_to_surveys_and_responses(signed_in: TestClient) -> None:
    html = signed_in.get("/w/my-company").text
    assert 'href="/w/my-company/surveys"' in html
    assert 'href="/w/my-company/responses"' in html


def test_survey_pages_need_a_login(client: TestClient, workspace: ActiveWorkspace) -> None:
    for path in ("/w/my-company/surveys", EDITOR, "/w/my-company/responses"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")
    assert client.post(EDITOR, data={"text": "x"}, follow_redirects=False).status_code == 303


# ---------------------------------------------------------------------------------------------
# Editor


def test_the_editor_shows_the_surveys_yaml_and_a_preview(signed_in: TestClient) -> None:
    html = signed_in.get(EDITOR).text
    text = textarea(html)
    assert text.startswith("id: after-delivery\n")
    assert "  delay: 2h\n" in text
    assert "Kuinka todennäköisesti suosittelisit Yritykseni" in html  # standard NPS wording
    assert "Näytetään vain, jos recommend on ≤ 6" in html
    preview_en = signed_in.get(f"{EDITOR}?preview=en").text
    assert "How likely are you to recommend My company" in preview_en


def test_editing_the_yaml_applies_a_new_version_that_export_shows(
    signed_in: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    text = textarea(signed_in.get(EDITOR).text)
    answer = save(signed_in, text.replace("delay: 2h", "delay: 4h"))
    assert answer.status_code == 200
    assert answer.url.path == EDITOR
    assert "Tallennettu työtilan versioksi 2." in answer.text
    assert "  delay: 4h\n" in textarea(answer.text)

    current = workspace_service.get(kk.db, "my-company")
    assert current.version == 2
    exported = document.dump(current.document)
    assert "delay: 4h" in exported and "delay: 2h" not in exported
    last = workspace_service.history(kk.db, "my-company")[-1]
    assert (last["source"], last["applied_by"]) == ("web:anna", "anna")
    # Everything else in the document is as it was.
    before = document.canonical(workspace.document)
    after = document.canonical(current.document)
    before["surveys"][0]["trigger"]["delay"] = "4h"
    assert after == before

    listed = signed_in.get("/w/my-company/surveys").text
    assert "4\u00a0h jälkeen" in listed

    again = save(signed_in, textarea(answer.text))
    assert "Mikään ei muuttunut" in again.text
    assert workspace_service.get(kk.db, "my-company").version == 2


@pytest.mark.parametrize(("change", "line", "field", "words"), [
    (("type: csat", "type: smiley"), 18, "questions[2]", "smiley"),
    (("delay: 2h", "delay: 2h\n  sample: 1.5"), 12, "trigger.sample", "less than or equal to 1"),
    (("touchpoint: delivery", "touchpoint: nowhere"), 5, "touchpoint", "unknown touchpoint"),
    (("event: delivered", "event: Delivered!"), 10, "trigger.event", "pattern"),
    # The parser notices on the next line, where the ':' is.
    (("  en: After delivery", "  en: [After delivery"), 5, "", "not valid YAML"),
])
def test_a_broken_edit_names_its_line_and_field_and_applies_nothing(
    signed_in: TestClient, kk: bootstrap.Kokemus, change: tuple[str, str], line: int,
    field: str, words: str
) -> None:
    text = textarea(signed_in.get(EDITOR).text)
    broken = text.replace(*change)
    assert broken != text
    answer = save(signed_in, broken)
    assert answer.status_code == 422
    problems = re.search(r'<div class="alert alert-error problems".*?</div>', answer.text, re.S)
    assert problems, answer.text
    shown = unescape(problems.group(0))
    assert f"Rivi {line}" in shown
    assert words in shown
    if field:
        assert f"<code>{field}</code>" in shown
    assert broken.splitlines()[line - 1].strip()  # the named line is a real line of the text
    assert textarea(answer.text) == broken  # the text is kept for fixing
    assert workspace_service.get(kk.db, "my-company").version == 1
    assert len(workspace_service.history(kk.db, "my-company")) == 1


def test_lines_count_from_the_box_even_after_leading_comments(signed_in: TestClient) -> None:
    text = textarea(signed_in.get(EDITOR).text)
    broken = "# my notes\n\n" + text.replace("touchpoint: delivery", "touchpoint: nowhere")
    answer = save(signed_in, broken)
    assert answer.status_code == 422
    assert "Rivi 7" in answer.text
    assert broken.splitlines()[6] == "touchpoint: nowhere"


def test_a_stale_editor_does_not_overwrite_a_newer_version(
    signed_in: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    page = signed_in.get(EDITOR).text
    token = csrf(page)
    text = textarea(page)
    # Someone applies a change after the page was opened.
    signed_in.post(EDITOR, data={"text": text.replace("2h", "3h"), "csrf": token,
                                 "version": "1"})
    assert workspace_service.get(kk.db, "my-company").version == 2
    late = signed_in.post(EDITOR, data={"text": text.replace("2h", "5h"), "csrf": token,
                                        "version": "1"})
    assert late.status_code == 409
    assert "Joku tallensi työtilan" in late.text
    current = workspace_service.get(kk.db, "my-company")
    assert current.version == 2
    trigger = current.document.surveys[0].trigger
    assert trigger is not None and trigger.delay == "3h"


def test_a_form_without_its_token_changes_nothing(
    signed_in: TestClient, kk: bootstrap.Kokemus
) -> None:
    text = textarea(signed_in.get(EDITOR).text)
    answer = signed_in.post(EDITOR, data={"text": text.replace("2h", "4h"), "csrf": "forged"})
    assert answer.status_code == 400
    assert workspace_service.get(kk.db, "my-company").version == 1


def test_quick_fields_edit_the_same_model(
    signed_in: TestClient, kk: bootstrap.Kokemus
) -> None:
    page = signed_in.get(EDITOR).text
    answer = signed_in.post(f"{EDITOR}/trigger", data={
        "delay": "30min", "sample": "25", "csrf": csrf(page), "version": "1"})
    assert answer.status_code == 200
    text = textarea(answer.text)
    assert "  delay: 30min\n" in text and "  sample: 0.25\n" in text
    trigger = workspace_service.get(kk.db, "my-company").document.surveys[0].trigger
    assert trigger is not None and (trigger.delay, trigger.sample) == ("30min", 0.25)

    page = answer.text
    bad = signed_in.post(f"{EDITOR}/trigger", data={
        "delay": "30min", "sample": "150", "csrf": csrf(page), "version": "2"})
    assert bad.status_code == 422
    assert "trigger.sample" in bad.text
    assert workspace_service.get(kk.db, "my-company").version == 2


def test_a_new_survey_is_added_and_can_be_removed(
    signed_in: TestClient, kk: bootstrap.Kokemus
) -> None:
    page = signed_in.get("/w/my-company/surveys/new").text
    text = textarea(page)
    assert "id: survey-1" in text and "enabled: false" in text
    unchosen = save(signed_in, text, "/w/my-company/surveys/new")
    assert unchosen.status_code == 422  # the sampling rate is the person's choice
    assert "trigger.sample" in unchosen.text
    text = text.replace("  sample:", "  sample: 0.1")
    created = save(signed_in, text.replace("survey-1", "after-order"), "/w/my-company/surveys/new")
    assert created.url.path == "/w/my-company/surveys/after-order"
    current = workspace_service.get(kk.db, "my-company")
    assert [s.id for s in current.document.surveys] == ["after-delivery", "after-order"]

    duplicate = save(signed_in, text.replace("survey-1", "after-delivery"),
                     "/w/my-company/surveys/new")
    assert duplicate.status_code == 422
    assert "duplicate id &#39;after-delivery&#39;" in duplicate.text

    page = created.text
    removed = signed_in.post("/w/my-company/surveys/after-order/remove",
                             data={"csrf": csrf(page), "version": "2"})
    assert removed.url.path == "/w/my-company/surveys"
    assert "Kysely after-order poistettu" in removed.text
    assert [s.id for s in workspace_service.get(kk.db, "my-company").document.surveys] == [
        "after-delivery"]


def test_unknown_survey_is_not_found(signed_in: TestClient) -> None:
    assert signed_in.get("/w/my-company/surveys/nothing").status_code == 404
    assert signed_in.get("/w/nowhere/surveys").status_code == 404


# ---------------------------------------------------------------------------------------------
# Response browser

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def response(i: int, *, nps: int | None, ces: int | None = None, csat: int | None = None,
             touchpoint: str = "delivery", channel: str = "web", segments: list[str] | None = None,
             comment: str | None = None, complete: bool = True,
             answers: dict[str, Any] | None = None) -> dict[str, Any]:
    at = START + timedelta(hours=i)
    return {
        "workspace_id": 1, "id": f"r{i:03d}", "survey": "after-delivery", "invitation": None,
        "customer": f"c{i}", "account": None, "role": None, "segments": segments or [],
        "touchpoint": touchpoint, "channel": channel, "source": "api", "language": "fi",
        "event_id": None,
        "answers": json.dumps(answers if answers is not None else
                              {"recommend": nps} if nps is not None else {}),
        "nps": nps, "ces": ces, "csat": csat, "comment": comment, "complete": complete,
        "started_at": at, "updated_at": at, "revision": 1,
    }


def store(kk: bootstrap.Kokemus, workspace: ActiveWorkspace, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        row["workspace_id"] = workspace.id
    responses.insert_many(kk.events, pa.Table.from_pylist(rows, schema=responses.SCHEMA))


def ids(html: str) -> list[str]:
    return re.findall(r'<tr id="r-(r\d+)">', html)


def test_the_browser_filters_by_band_touchpoint_text_and_more(
    signed_in: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    store(kk, workspace, [
        response(1, nps=10, ces=7, csat=5, comment="Nopea toimitus, kiitos"),
        response(2, nps=8, ces=5, comment="OK"),
        response(3, nps=2, ces=2, csat=1, comment="Pesukone tuli RIKKI ja 100% myöhässä"),
        response(4, nps=6, touchpoint="order", channel="phone", comment="Tilaus kesti"),
        response(5, nps=9, segments=["households"], complete=False),
        response(6, nps=None, csat=4, comment="a_b"),
    ])
    base = "/w/my-company/responses"
    html = signed_in.get(base).text
    assert ids(html) == ["r006", "r005", "r004", "r003", "r002", "r001"]  # newest first
    assert "6 vastausta" in html

    assert ids(signed_in.get(f"{base}?band=nps:promoter").text) == ["r005", "r001"]
    assert ids(signed_in.get(f"{base}?band=nps:passive").text) == ["r002"]
    assert ids(signed_in.get(f"{base}?band=nps:detractor").text) == ["r004", "r003"]
    assert ids(signed_in.get(f"{base}?band=ces:hard").text) == ["r003"]
    assert ids(signed_in.get(f"{base}?band=csat:satisfied").text) == ["r006", "r001"]
    assert ids(signed_in.get(f"{base}?touchpoint=order").text) == ["r004"]
    assert ids(signed_in.get(f"{base}?channel=phone").text) == ["r004"]
    assert ids(signed_in.get(f"{base}?segment=households").text) == ["r005"]
    # Segments and channels by their names in the staff member's language, not their ids.
    segment_row = re.search(r'<tr id="r-r005">(.*?)</tr>', html, re.S)
    assert segment_row is not None and '<span class="chip">Kotitaloudet</span>' in segment_row[1]
    phone_row = re.search(r'<tr id="r-r004">(.*?)</tr>', html, re.S)
    assert phone_row is not None and "<td>Puhelin</td>" in phone_row[1]
    assert ids(signed_in.get(f"{base}?complete=1&band=nps:promoter").text) == ["r001"]
    # Case-insensitive, and % and _ are plain characters, not wildcards.
    assert ids(signed_in.get(f"{base}?q=rikki").text) == ["r003"]
    assert ids(signed_in.get(f"{base}?q=100%25").text) == ["r003"]
    assert ids(signed_in.get(f"{base}?q=a_b").text) == ["r006"]
    assert ids(signed_in.get(f"{base}?q=%25").text) == ["r003"]
    assert ids(signed_in.get(f"{base}?q=' OR 1=1 --").text) == []
    # A period: whole days, inclusive.
    assert ids(signed_in.get(f"{base}?from=2026-03-02&to=2026-03-02").text) == [
        "r006", "r005", "r004", "r003", "r002", "r001"]
    assert ids(signed_in.get(f"{base}?from=2026-03-03").text) == []

    row = re.search(r'<tr id="r-r003">(.*?)</tr>', html, re.S)
    assert row
    assert "NPS 2" in row.group(1) and "arvostelija" in row.group(1)
    assert "CES 2" in row.group(1) and "vaikea" in row.group(1)

    bad = signed_in.get(f"{base}?band=nps:fan&touchpoint=moon&from=yesterday").text
    assert len(ids(bad)) == 6
    assert "Tuntematon pisteluokka" in bad and "Tuntematon kosketuspiste" in bad
    assert "Alkupäivä ei ole päivämäärä" in bad


def test_the_browser_paginates_and_keeps_the_filters(
    signed_in: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    store(kk, workspace, [response(i, nps=i % 11, comment="sama" if i % 2 else None)
                          for i in range(130)])
    base = "/w/my-company/responses"
    first = signed_in.get(base).text
    assert len(ids(first)) == 50 and ids(first)[0] == "r129"
    assert "Sivu 1 / 3" in first
    third = signed_in.get(f"{base}?page=3").text
    assert ids(third) == [f"r{i:03d}" for i in range(29, -1, -1)]
    assert "Vastaukset 101–130 / 130" in third

    filtered = signed_in.get(f"{base}?q=SAMA").text
    assert "65 vastausta" in filtered
    link = re.search(r'href="(\?[^"]*page=2[^"]*)" rel="next"', filtered)
    assert link and "q=SAMA" in unescape(link.group(1))
    second = signed_in.get(base + unescape(link.group(1))).text
    assert len(ids(second)) == 15
    assert all(int(i[1:]) % 2 for i in ids(second))
    assert ids(signed_in.get(f"{base}?page=99").text) == []


def test_comments_are_escaped(
    signed_in: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    store(kk, workspace, [response(1, nps=1, comment=attack,
                                   answers={"recommend": 1, "why": attack})])
    for path in ("/w/my-company/responses", "/w/my-company/responses/r001"):
        html = signed_in.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_one_response_reads_as_questions_and_answers(
    signed_in: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    store(kk, workspace, [response(1, nps=4, ces=3, csat=2, comment="Myöhässä",
                                   answers={"recommend": 4, "effort": 3, "satisfied": 2,
                                            "why": "Myöhässä", "gone": "old answer"})])
    html = signed_in.get("/w/my-company/responses/r001").text
    assert "Kuinka todennäköisesti suosittelisit Yritykseni" in html
    assert "Mitä olisimme voineet tehdä paremmin?" in html
    assert "arvostelija" in html and "vaikea" in html and "tyytymätön" in html
    assert "Myöhässä" in html and "old answer" in html
    signed_in.get("/language/en")
    english = signed_in.get("/w/my-company/responses/r001").text
    assert "What could we have done better?" in english and "detractor" in english
    assert signed_in.get("/w/my-company/responses/nothing").status_code == 404


def test_the_editing_use_cases_without_the_web(
    kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    text = survey_service.survey_text(workspace.document, "after-delivery")
    applied = survey_service.replace_survey(kk.db, "my-company",
                                            text.replace("delay: 2h", "delay: 1d"), "cli")
    assert (applied.version, applied.changed) == (2, True)
    with pytest.raises(survey_service.SurveyTextError) as caught:
        survey_service.replace_survey(kk.db, "my-company", "name: x\n", "cli")
    assert caught.value.located[0].problem.path == "id"
    with pytest.raises(survey_service.StaleEdit):
        survey_service.remove_survey(kk.db, "my-company", "after-delivery", "cli",
                                     base_version=1)
    assert survey_service.remove_survey(kk.db, "my-company", "after-delivery", "cli").version == 3
    assert workspace_service.get(kk.db, "my-company").document.surveys == []
