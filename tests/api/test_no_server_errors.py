"""Inputs that used to end in a 500 (or a RecursionError), each now a 4xx naming the field:
times at the edge of the calendar, endless windows, YAML nested a thousand deep, an unknown
survey named differently by two routes, a response on an unknown channel, a score as text."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.domain import calendar
from kokemus.domain.durations import parse_duration
from kokemus.services import surveys as survey_service
from kokemus.services.ingest import ingest_customers
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses
from kokemus.workspace import document
from kokemus.workspace.document import WorkspaceFileError
from tests.conftest import PG_URL
from tests.web.test_pages import anna, log_in  # noqa: F401  (the fixture)

EDGE = "9999-12-31T23:59:59-14:00"
FIRST = "0001-01-01T00:00:00+14:00"


def problem(answer: object) -> tuple[int, list[str]]:
    body = answer.json()  # type: ignore[attr-defined]
    fields = [".".join(str(p) for p in item["loc"][1:]) for item in body.get("problems", [])]
    return answer.status_code, fields  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", [
    "/api/v1/journeys/dfg", "/api/v1/journeys/variants", "/api/v1/journeys/starts",
    "/api/v1/journeys/channels", "/api/v1/journeys/consistency",
    "/api/v1/journeys/purchase/conformance", "/api/v1/journeys/purchase/dropoff",
    "/api/v1/journeys/funnel?step=order&step=delivery", "/api/v1/scores"])
def test_times_at_the_calendar_edge_are_422_naming_the_parameter(
        client: TestClient, auth: dict[str, str], path: str) -> None:
    sep = "&" if "?" in path else "?"
    for name, value in (("until", EDGE), ("since", EDGE), ("until", FIRST)):
        answer = client.get(f"{path}{sep}{name}={value.replace('+', '%2B')}", headers=auth)
        assert problem(answer) == (422, [name]), (path, answer.text)
        assert answer.json()["problems"][0]["message"] == calendar.OUTSIDE
    fine = client.get(f"{path}{sep}until=9999-12-30T00:00:00-14:00", headers=auth)
    assert fine.status_code in (200, 422), fine.text  # dropoff: the journey needs a goal
    if fine.status_code == 422:
        assert fine.json()["error"] == "invalid" and "goal" in fine.json()["message"]


def test_compare_periods_at_the_calendar_edge(client: TestClient, auth: dict[str, str]) -> None:
    answer = client.get("/api/v1/scores/compare?before=9999-12-31..9999-12-31"
                        "&after=2026-01-01..2026-01-31", headers=auth)
    assert answer.status_code == 422
    assert answer.json()["message"].startswith("before: a period is YYYY-MM-DD..YYYY-MM-DD")
    assert "outside the calendar" in answer.json()["message"]
    last = client.get("/api/v1/scores/compare?before=9999-12-30..9999-12-30"
                      "&after=0001-01-02..0001-01-02", headers=auth)
    assert last.status_code == 200, last.text


@pytest.mark.parametrize("query", ["within_s=1e300", "within_s=inf", "step_within_s=1e300",
                                   "step_within_s=inf", "within_s=nan"])
def test_funnel_windows_beyond_a_century_are_422(client: TestClient, auth: dict[str, str],
                                                 query: str) -> None:
    answer = client.get(f"/api/v1/journeys/funnel?step=order&step=delivery&{query}",
                        headers=auth)
    assert problem(answer) == (422, [query.split("=")[0]])


def test_idle_days_beyond_a_century_are_422(client: TestClient, auth: dict[str, str]) -> None:
    for value in ("inf", "1e300", "36501"):
        answer = client.get(f"/api/v1/journeys/purchase/dropoff?goal=delivery&idle_days={value}",
                            headers=auth)
        assert problem(answer) == (422, ["idle_days"])
    ok = client.get("/api/v1/journeys/purchase/dropoff?goal=delivery&idle_days=36500",
                    headers=auth)
    assert ok.status_code == 200


def test_web_pages_take_the_last_day_of_the_calendar(client: TestClient, anna: str,  # noqa: F811
                                                      workspace: ActiveWorkspace) -> None:
    log_in(client)
    for page in ("/w/my-company/scores", "/w/my-company/journeys/purchase",
                 "/w/my-company/responses"):
        for query in ("to=9999-12-31", "from=9999-12-31&to=9999-12-31", "from=0001-01-01",
                      "to=9999-12-30"):
            answer = client.get(f"{page}?{query}", headers={"Accept-Language": "en"})
            # the last day the calendar holds is a day; past it, a named 422
            assert answer.status_code == (200 if query == "to=9999-12-30" else 422), (
                page, query)
    # the journey map names the day it dropped, as it does for any bad day
    named = client.get("/w/my-company/journeys/purchase?to=9999-12-31")
    assert "Loppupäivä ei ole päivämäärä" in named.text


def test_durations_longer_than_a_century_are_refused() -> None:
    assert parse_duration("36500d") == 36500 * 86400
    for text in ("36501d", "9" * 400 + "d"):
        with pytest.raises(ValueError, match="longer than 100 years"):
            parse_duration(text)


# ------------------------------------------------------------------ YAML nested deep

STARTER = Path(document.__file__).parent / "starter.yaml"


@pytest.mark.parametrize("nested", [
    "extra: " + "[" * 1000 + "]" * 1000,
    "extra: " + "{a: " * 1000 + "1" + "}" * 1000,
    "extra:\n" + "".join("  " * i + "- \n" for i in range(1, 1000)),
])
def test_workspace_file_nested_a_thousand_deep_is_a_file_error(
        tmp_path: Path, nested: str) -> None:
    path = tmp_path / "workspace.yaml"
    path.write_text(STARTER.read_text() + "\n" + nested + "\n")
    with pytest.raises(WorkspaceFileError) as caught:
        document.load(path)
    located = caught.value.located
    assert [item.problem.message for item in located] == ["nested deeper than 64 levels"]
    starter_lines = STARTER.read_text().count("\n")
    assert located[0].line is not None and located[0].line > starter_lines
    assert str(path) in str(caught.value)


def test_survey_text_nested_a_thousand_deep_is_a_survey_error(
        kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    deep = ("id: after-delivery\nquestions:\n  - {id: recommend, type: nps, text: "
            + "[" * 1000 + "]" * 1000 + "}\n")
    for call in (
        lambda: survey_service.replace_survey(kk.db, "my-company", deep, "anna"),
        lambda: survey_service.replace_survey(kk.db, "my-company", deep, "anna",
                                              survey_id="after-delivery"),
        lambda: survey_service.add_survey(kk.db, "my-company",
                                          deep.replace("after-delivery", "new-one"), "anna"),
    ):
        with pytest.raises(survey_service.SurveyTextError) as caught:
            call()
        assert "nested deeper than 64 levels" in str(caught.value)
    # nothing was applied
    assert workspace.version == survey_service.workspaces.get(kk.db, "my-company").version


# ------------------------------------------------------------- one shape for unknowns


def test_an_unknown_survey_is_named_the_same_way_by_every_route(
        client: TestClient, auth: dict[str, str], kk: bootstrap.Kokemus,
        workspace: ActiveWorkspace) -> None:
    ingest_customers([{"id": "emma"}], workspace, kk.db)
    answers = [
        client.get("/api/v1/scores?survey=nope", headers=auth),
        client.get("/api/v1/scores/compare?survey=nope&before=2026-01-01..2026-01-02"
                   "&after=2026-01-03..2026-01-04", headers=auth),
        client.post("/api/v1/responses", json={"survey": "nope"}, headers=auth),
        client.post("/api/v1/invitations", json={"survey": "nope", "customer": "emma"},
                    headers=auth),
    ]
    for answer in answers:
        assert answer.status_code == 404
        assert answer.json() == {"error": "unknown_survey",
                                 "message": "no survey 'nope' in workspace 'my-company'",
                                 "known": ["after-delivery"]}
    workspace_answer = client.get("/api/v1/scores", headers={**auth,
                                                              "X-Kokemus-Workspace": "nope"})
    assert workspace_answer.status_code == 403  # another workspace, existing or not
    assert workspace_answer.json()["error"] == "forbidden"


# --------------------------------------------------------------- the response API


@pytest.fixture
def emma(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    ingest_customers([{"id": "emma", "language": "en"}], workspace, kk.db)


def test_response_on_an_unknown_channel_is_refused_and_not_saved(
        client: TestClient, auth: dict[str, str], kk: bootstrap.Kokemus,
        workspace: ActiveWorkspace, emma: None) -> None:
    answer = client.post("/api/v1/responses", headers=auth, json={
        "id": "r1", "survey": "after-delivery", "channel": "fax", "answers": {"recommend": 9}})
    assert answer.status_code == 404
    assert answer.json() == {"error": "unknown_channel",
                             "message": "no channel 'fax' in workspace 'my-company'",
                             "known": ["email", "phone", "web"]}
    invitation = client.post("/api/v1/invitations", headers=auth, json={
        "survey": "after-delivery", "customer": "emma", "channel": "fax"})
    assert invitation.status_code == 404 and invitation.json()["error"] == "unknown_channel"
    assert responses.count(kk.events, workspace.id) == 0
    phone = client.post("/api/v1/responses", headers=auth, json={
        "id": "r1", "survey": "after-delivery", "channel": "phone", "answers": {"recommend": 9}})
    assert phone.status_code == 200 and phone.json()["channel"] == "phone"


@pytest.mark.parametrize(("answers", "problems"), [
    ({"recommend": "9"}, [("recommend", "expected a number on the scale 0-10, "
                                        "got the text '9'")]),
    ({"recommend": None}, [("recommend", "expected a number on the scale 0-10, got null")]),
    ({"recommend": True}, [("recommend", "expected a number on the scale 0-10, "
                                        "got bool True")]),
    ({"recommend": "9", "effort": 9, "satisfied": 3},
     [("effort", "9 is outside the scale 1-7"),
      ("recommend", "expected a number on the scale 0-10, got the text '9'")]),
])
def test_a_scale_answer_is_a_number(client: TestClient, auth: dict[str, str],
                                    kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
                                    answers: dict[str, object],
                                    problems: list[tuple[str, str]]) -> None:
    answer = client.post("/api/v1/responses", headers=auth, json={
        "id": "r1", "survey": "after-delivery", "answers": answers})
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid_answers"
    assert sorted((p["question"], p["reason"]) for p in answer.json()["problems"]) == problems
    assert responses.get(kk.events, workspace.id, "r1") is None
    number = client.post("/api/v1/responses", headers=auth, json={
        "id": "r1", "survey": "after-delivery", "answers": {"recommend": 9.0}})
    assert number.status_code == 200 and number.json()["nps"] == 9


# ------------------------------------------------------------------ NUL characters


def test_a_nul_character_is_refused_at_the_edge(client: TestClient, auth: dict[str, str],
                                                kk: bootstrap.Kokemus,
                                                workspace: ActiveWorkspace) -> None:
    """PostgreSQL keeps no NUL in text: found by the schema fuzz (test_schema_fuzz.py)."""
    for url in ("/api/v1/customers/%00", "/api/v1/journeys/dfg?segment=a%00b",
                "/api/v1/scores?survey=%00"):
        answer = client.get(url, headers=auth)
        assert answer.status_code == 422 and answer.json() == {
            "error": "invalid",
            "message": "the address holds a NUL character (%00), which no store keeps"}
    batch = [{"id": "a1", "name": "A"}, {"id": "\u0000", "name": "B"},
             {"id": "a3", "name": "C\u0000"}, {"id": "a4", "name": "D",
                                              "attributes": {"k": "\u0000"}}]
    answer = client.post("/api/v1/accounts", json=batch, headers=auth)
    assert answer.status_code == 200
    nul = "holds a NUL character (\\u0000), which no store keeps"
    assert answer.json()["rejected"] == [{"index": 1, "reason": f"id: {nul}"},
                                         {"index": 2, "reason": f"name: {nul}"},
                                         {"index": 3, "reason": f"attributes: {nul}"}]
    ingest_customers([{"id": "emma"}], workspace, kk.db)
    text = client.post("/api/v1/responses", headers=auth, json={
        "survey": "after-delivery", "answers": {"recommend": 3, "why": "late\u0000"}})
    assert text.status_code == 422
    assert text.json()["problems"] == [{"question": "why",
                                        "reason": "text holds a NUL character"}]


def test_a_value_the_database_refuses_is_422_not_500(client: TestClient,
                                                     auth: dict[str, str]) -> None:
    """The backstop for what the models miss (found by the fuzz on PostgreSQL: a consent's
    channel with a NUL); on SQLite the same value is stored."""
    answer = client.post("/api/v1/customers/c1/consents", headers=auth, json={
        "granted": False, "purpose": "surveys", "channel": "\u0000"})
    assert answer.status_code == (422 if PG_URL else 201), answer.text
    if PG_URL:
        assert answer.json()["error"] == "invalid"
        assert answer.json()["message"].startswith("a value cannot be stored: ")


def test_a_form_token_or_link_that_is_not_ascii_is_refused_not_500(
    client: TestClient, anna: str, workspace: ActiveWorkspace  # noqa: F811
) -> None:
    for path, data in (("/login", {"username": "anna", "password": "x", "csrf": "ä"}),
                       ("/logout", {"csrf": "é"})):
        assert client.post(path, data=data).status_code < 500, path
    for method, path in (("GET", "/s/a.b.%C3%A9"), ("POST", "/s/a.b.%C3%A9"),
                         ("POST", "/s/a.b.%C3%A9/opt-out")):
        answer = client.request(method, path)
        assert 400 <= answer.status_code < 500, (method, path, answer.status_code)
    log_in(client)
    assert client.post("/w/my-company/members",
                       data={"csrf": "ä", "username": "x", "role": "agent"}).status_code == 400
