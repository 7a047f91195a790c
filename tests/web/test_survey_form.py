"""The hosted survey form over the real stores, through the app's HTTP interface."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.api.app import create_app
from kokemus.config import Settings
from kokemus.domain.surveys import Survey
from kokemus.services import feedback
from kokemus.services import workspaces as workspace_service
from kokemus.services.ingest import ingest_customers
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses
from kokemus.web.limits import RateLimit

SECRET = "test-secret"  # the settings fixture's secret_key


@pytest.fixture
def people(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    outcome = ingest_customers([
        {"id": "aino", "language": "fi", "email": "aino@example.fi"},
        {"id": "emma", "language": "en", "email": "emma@example.com"},
    ], workspace, kk.db)
    assert outcome.accepted == 2


def invite(kk: bootstrap.Kokemus, workspace: ActiveWorkspace, customer: str,
           survey: str = "after-delivery") -> dict[str, Any]:
    return feedback.invite(kk.db, workspace, survey, customer, channel="email",
                           now=datetime.now(UTC))


def path(invitation: dict[str, Any], expires_at: datetime | None = None) -> str:
    return "/s/" + feedback.sign(SECRET, invitation["id"], expires_at or invitation["expires_at"])


def text(html: str) -> str:
    """The page's words, tags removed: what a person reads."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def saved(kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
          invitation: dict[str, Any]) -> dict[str, Any] | None:
    return responses.get(kk.events, workspace.id, invitation["id"])


def checked(html: str, name: str) -> list[str]:
    return re.findall(rf'name="{re.escape(name)}" value="([^"]+)" checked', html)


def test_form_in_the_customers_language(client: TestClient, kk: bootstrap.Kokemus,
                                        workspace: ActiveWorkspace, people: None) -> None:
    fi = client.get(path(invite(kk, workspace, "aino")))
    assert fi.status_code == 200
    assert '<html lang="fi"' in fi.text
    words = text(fi.text)
    assert "Toimituksen jälkeen" in words
    assert "Kuinka todennäköisesti suosittelisit Yritykseni ystävällesi" in words
    assert "Ei lainkaan todennäköistä" in words and "Lähetä" in words
    # Every NPS point is a radio in one named group with a legend; the why-question waits
    # hidden below it, revealed by the detractor points 0-6 (web/survey_layout.py)
    assert len(re.findall(r'type="radio"(?: class="[^"]*")? name="recommend"', fi.text)) == 11
    assert "<legend>" in fi.text
    assert re.search(r'<section class="question follow-up follow-up-1" id="q-why">', fi.text)
    revealing = re.findall(r'class="reveals-1" name="recommend" value="(\d+)"', fi.text)
    assert revealing == [str(v) for v in range(7)]
    assert "Kysymys 1/3" in text(fi.text) and "Jatkokysymys" in text(fi.text)
    assert re.search(r'<textarea id="input-why" name="why" rows="4" maxlength="\d+">', fi.text)
    assert "frame-ancestors 'none'" in fi.headers["content-security-policy"]

    en = client.get(path(invite(kk, workspace, "emma")))
    assert '<html lang="en"' in en.text
    words = text(en.text)
    assert "After delivery" in words and "How likely are you to recommend My company" in words
    assert "Not at all likely" in words and "Send" in words and "Lähetä" not in words


def test_one_click_answer_is_chosen_but_saved_only_by_send(
        client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
        people: None) -> None:
    invitation = invite(kk, workspace, "aino")
    url = feedback.link("http://testserver", SECRET, invitation, answer=("recommend", 3))
    page = client.get(url)
    assert page.status_code == 200
    assert saved(kk, workspace, invitation) is None  # a GET saves nothing
    assert checked(page.text, "recommend") == ["3"]
    assert "Vastaustasi ei ole vielä tallennettu. Tarkista se ja paina Lähetä." in text(page.text)
    # A detractor's one click already shows the why-question.
    assert 'name="why"' in page.text
    sent = client.post(path(invitation), data={"shown": "recommend effort satisfied why",
                                               "recommend": "3"})
    assert sent.status_code == 200
    row = saved(kk, workspace, invitation)
    assert row is not None
    assert row["answers"] == {"recommend": 3} and row["nps"] == 3
    assert row["customer"] == "aino" and row["touchpoint"] == "delivery"


def test_a_link_scanner_fetching_every_link_saves_nothing(
        client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
        people: None) -> None:
    """Mail security scanners GET every link of an email: all eleven scale points."""
    invitation = invite(kk, workspace, "emma")
    for value in range(11):
        url = feedback.link("http://testserver", SECRET, invitation, answer=("recommend", value))
        assert client.get(url).status_code == 200
    assert saved(kk, workspace, invitation) is None
    # the customer's own click and Send
    client.get(path(invitation) + "?recommend=9")
    client.post(path(invitation), data={"shown": "recommend effort satisfied", "recommend": "9"})
    row = saved(kk, workspace, invitation)
    assert row is not None and row["answers"] == {"recommend": 9} and row["complete"]


def test_a_second_click_never_replaces_a_sent_answer(
        client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
        people: None) -> None:
    invitation = invite(kk, workspace, "emma")
    # a detractor's answer sent: partial, the form asks why, so the link still opens
    client.post(path(invitation), data={"shown": "recommend", "recommend": "3"})
    again = client.get(path(invitation) + "?recommend=9", headers={"Accept-Language": "en"})
    assert again.status_code == 200
    assert checked(again.text, "recommend") == ["9"]
    assert "Your answer is not saved yet. Check it and press Send." in text(again.text)
    row = saved(kk, workspace, invitation)
    assert row is not None and row["answers"] == {"recommend": 3} and row["revision"] == 1
    # the page without a click shows what is saved
    assert checked(client.get(path(invitation)).text, "recommend") == ["3"]
    # once complete, the link is used up: a click changes nothing
    client.post(path(invitation), data={"shown": "why", "why": "Late"})
    assert client.get(path(invitation) + "?recommend=10").status_code == 410
    row = saved(kk, workspace, invitation)
    assert row is not None and row["answers"] == {"recommend": 3, "why": "Late"}
    assert row["complete"]


def test_partial_then_complete_updates_one_response(client: TestClient, kk: bootstrap.Kokemus,
                                                    workspace: ActiveWorkspace,
                                                    people: None) -> None:
    invitation = invite(kk, workspace, "emma")
    url = path(invitation)
    first = client.post(url, data={"shown": "recommend effort satisfied", "recommend": "9"})
    assert first.status_code == 200
    assert "Thank you for your answer!" in text(first.text)  # the survey's own thanks
    row = saved(kk, workspace, invitation)
    assert row is not None and row["revision"] == 1 and row["complete"] is True
    assert row["source"] == "form"
    # A partial answer first, then the rest: one row, revision 2, the first answer kept.
    other = invite(kk, workspace, "aino")
    client.post(path(other), data={"shown": "recommend", "recommend": "3"})  # asks why
    done = client.post(path(other), data={"shown": "recommend effort satisfied",
                                          "recommend": "10", "effort": "6", "satisfied": "5"})
    assert done.status_code == 200 and "Kiitos vastauksestasi!" in text(done.text)
    row = saved(kk, workspace, other)
    assert row is not None
    assert row["revision"] == 2 and row["complete"] is True
    assert row["answers"] == {"recommend": 10, "effort": 6, "satisfied": 5}
    assert (row["nps"], row["ces"], row["csat"]) == (10, 6, 5)
    assert responses.count(kk.events, workspace.id) == 2
    stored = feedback.get_invitation(kk.db, other["id"])
    assert stored is not None and stored["status"] == "answered"


def test_detractor_is_asked_why_and_promoter_is_not(client: TestClient, kk: bootstrap.Kokemus,
                                                    workspace: ActiveWorkspace,
                                                    people: None) -> None:
    detractor = invite(kk, workspace, "emma")
    shown = "recommend effort satisfied"
    page = client.post(path(detractor), data={"shown": shown, "recommend": "4", "effort": "2"})
    assert page.status_code == 200
    assert 'name="why"' in page.text and "What could we have done better?" in text(page.text)
    assert "one more question" in text(page.text)
    assert checked(page.text, "recommend") == ["4"] and checked(page.text, "effort") == ["2"]
    row = saved(kk, workspace, detractor)
    assert row is not None and row["complete"] is False
    done = client.post(path(detractor), data={"shown": shown + " why", "recommend": "4",
                                              "effort": "2", "why": "The driver was late."})
    assert "Thank you for your answer!" in text(done.text)
    row = saved(kk, workspace, detractor)
    assert row is not None and row["complete"] is True
    assert row["answers"]["why"] == "The driver was late."
    assert row["comment"] == "The driver was late."

    promoter = invite(kk, workspace, "aino")
    page = client.post(path(promoter), data={"shown": shown, "recommend": "9"})
    assert 'name="why"' not in page.text and "Kiitos vastauksestasi!" in text(page.text)


def test_changed_answer_drops_the_question_it_hid(client: TestClient, kk: bootstrap.Kokemus,
                                                  workspace: ActiveWorkspace,
                                                  people: None) -> None:
    invitation = invite(kk, workspace, "emma")
    client.post(path(invitation), data={"shown": "recommend", "recommend": "2"})
    done = client.post(path(invitation), data={"shown": "recommend effort satisfied why",
                                               "recommend": "9", "why": "nothing"})
    assert done.status_code == 200 and "Thank you" in text(done.text)
    row = saved(kk, workspace, invitation)
    assert row is not None and row["answers"] == {"recommend": 9} and row["complete"]


def test_out_of_range_is_refused_and_earlier_answers_kept(client: TestClient,
                                                          kk: bootstrap.Kokemus,
                                                          workspace: ActiveWorkspace,
                                                          people: None) -> None:
    invitation = invite(kk, workspace, "aino")
    client.get(feedback.link("http://testserver", SECRET, invitation, answer=("recommend", 8)))
    page = client.post(path(invitation), data={"shown": "recommend effort satisfied",
                                               "recommend": "8", "effort": "9",
                                               "satisfied": "4"})
    assert page.status_code == 422
    words = text(page.text)
    assert "Valitse arvo väliltä 1–7." in words  # the reason, in the customer's language
    assert re.search(r'id="err-effort"', page.text)
    assert checked(page.text, "recommend") == ["8"] and checked(page.text, "satisfied") == ["4"]
    row = saved(kk, workspace, invitation)
    assert row is not None and row["complete"] is False
    assert row["answers"] == {"recommend": 8, "satisfied": 4}  # the valid ones, nothing lost
    # A one-click link with a value off the scale: refused the same way, nothing changed.
    bad = client.get(path(invitation) + "?recommend=11")
    assert bad.status_code == 422 and "Valitse arvo väliltä 0–10." in text(bad.text)
    row = saved(kk, workspace, invitation)
    assert row is not None and row["answers"] == {"recommend": 8, "satisfied": 4}


def test_required_answer_missing(client: TestClient, kk: bootstrap.Kokemus,
                                 workspace: ActiveWorkspace, people: None) -> None:
    invitation = invite(kk, workspace, "emma")
    page = client.post(path(invitation), data={"shown": "recommend effort satisfied",
                                               "effort": "5"})
    assert page.status_code == 422 and "Please answer this question." in text(page.text)
    row = saved(kk, workspace, invitation)
    assert row is not None and row["answers"] == {"effort": 5} and not row["complete"]


def test_expired_forged_and_answered_links(client: TestClient, kk: bootstrap.Kokemus,
                                           workspace: ActiveWorkspace, people: None) -> None:
    invitation = invite(kk, workspace, "emma")
    expired = client.get(path(invitation, datetime.now(UTC) - timedelta(hours=1)))
    assert expired.status_code == 410
    assert "This survey link has expired" in text(expired.text)
    assert '<html lang="en"' in expired.text

    forged = client.get(path(invitation)[:-3] + "xyz")
    assert forged.status_code == 404 and "Kyselylinkki ei kelpaa" in text(forged.text)
    forged_en = client.get("/s/not-a-token", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert forged_en.status_code == 404
    assert "This survey link is not valid" in text(forged_en.text)
    assert "Traceback" not in forged_en.text

    unknown = feedback.sign(SECRET, "no-such-invitation", datetime.now(UTC) + timedelta(days=1))
    assert client.get(f"/s/{unknown}").status_code == 404

    finnish = invite(kk, workspace, "aino")
    client.post(path(finnish), data={"shown": "recommend", "recommend": "10"})
    again = client.get(path(finnish))
    assert again.status_code == 410 and "Kyselyyn on jo vastattu" in text(again.text)
    repost = client.post(path(finnish), data={"shown": "recommend", "recommend": "0"})
    assert repost.status_code == 410
    row = saved(kk, workspace, finnish)
    assert row is not None and row["answers"] == {"recommend": 10}  # the answer stands


def test_opt_out(client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
                 people: None) -> None:
    invitation = invite(kk, workspace, "aino")
    form = client.get(path(invitation))
    assert f'action="{path(invitation)}/opt-out"' in form.text
    assert "Älä lähetä minulle kyselyjä" in text(form.text)
    assert not feedback.opted_out(kk.db, workspace.id, "aino")
    done = client.post(path(invitation) + "/opt-out")
    assert done.status_code == 200 and "Et saa enää kyselyjä" in text(done.text)
    assert feedback.opted_out(kk.db, workspace.id, "aino")
    # The thank-you page offers it too.
    other = invite(kk, workspace, "emma")
    thanks = client.post(path(other), data={"shown": "recommend", "recommend": "9"})
    assert f'action="{path(other)}/opt-out"' in thanks.text
    assert client.post("/s/forged.token.x/opt-out").status_code == 404


def test_embedded_form_may_be_framed_and_saves_as_widget(
        client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
        people: None) -> None:
    invitation = invite(kk, workspace, "emma")
    page = client.get(path(invitation) + "?embed=1")
    assert page.status_code == 200
    assert "frame-ancestors *" in page.headers["content-security-policy"]
    assert 'name="embed" value="1"' in page.text and 'class="survey embedded"' in page.text
    done = client.post(path(invitation), data={"shown": "recommend", "recommend": "7",
                                               "embed": "1"})
    assert "frame-ancestors *" in done.headers["content-security-policy"]
    row = saved(kk, workspace, invitation)
    assert row is not None and row["source"] == "widget"
    # The rest of the UI stays unframeable.
    assert "frame-ancestors 'none'" in client.get("/login").headers["content-security-policy"]


EVERY_TYPE = {
    "id": "every-type", "name": {"fi": "Kaikki", "en": "Everything"},
    "questions": [
        {"id": "rate", "type": "rating", "min": 1, "max": 4,
         "low_label": {"fi": "Huono", "en": "Bad"}, "high_label": {"fi": "Hyvä", "en": "Good"}},
        {"id": "pick", "type": "single_choice", "options": [
            {"id": "web", "text": {"fi": "Verkko", "en": "Web"}},
            {"id": "shop", "text": {"fi": "Myymälä", "en": "Shop"}}]},
        {"id": "many", "type": "multiple_choice", "options": [
            {"id": "a", "text": "A"}, {"id": "b", "text": "B"}, {"id": "c", "text": "C"}]},
        {"id": "servqual", "type": "expectation_perception", "set": "rater"},
        {"id": "value", "type": "elements_of_value", "elements": ["saves_time", "quality"]},
        {"id": "features", "type": "kano", "features": [
            {"id": "tracking", "functional": {"fi": "Jos voit seurata", "en": "If you can track"},
             "dysfunctional": {"fi": "Jos et voi seurata", "en": "If you cannot track"}}]},
    ],
}


def test_every_question_type_is_drawn_and_saved(client: TestClient, kk: bootstrap.Kokemus,
                                                workspace: ActiveWorkspace,
                                                people: None) -> None:
    document = workspace.document.model_copy(update={
        "surveys": [*workspace.document.surveys, Survey.model_validate(EVERY_TYPE)]})
    workspace_service.apply(kk.db, document, source="test")
    active = workspace_service.get(kk.db, workspace.slug)
    invitation = invite(kk, active, "aino", "every-type")
    page = client.get(path(invitation))
    assert page.status_code == 200
    words = text(page.text)
    assert "Huono" in words and "Verkko" in words and "Säästää aikaa" in words
    assert "Luvattu palvelu toimitetaan luotettavasti" in words
    assert "Mitä odotin" in words and "Pidän siitä" in words
    assert len(re.findall(r'type="radio" name="rate"', page.text)) == 4
    assert len(re.findall(r'type="checkbox" name="many"', page.text)) == 3
    assert len(re.findall(r'name="servqual\.[a-z]+\.(expected|perceived)" value="1"',
                          page.text)) == 10
    assert 'name="features.tracking.dysfunctional"' in page.text
    posted = client.post(path(invitation), data={
        "shown": "rate pick many servqual value features", "rate": "3", "pick": "shop",
        "many": ["c", "a"], "servqual.reliability.expected": "7",
        "servqual.reliability.perceived": "4", "value.saves_time": "5",
        "features.tracking.functional": "like", "features.tracking.dysfunctional": "dislike"})
    assert posted.status_code == 200, text(posted.text)
    row = saved(kk, active, invitation)
    assert row is not None and row["complete"]
    assert row["answers"] == {
        "rate": 3, "pick": "shop", "many": ["a", "c"],
        "servqual": {"reliability": {"expected": 7, "perceived": 4}},
        "value": {"saves_time": 5},
        "features": {"tracking": {"functional": "like", "dysfunctional": "dislike"}},
    }


def test_rate_limit_then_normal_again(settings: Settings, kk: bootstrap.Kokemus,
                                      workspace: ActiveWorkspace, people: None) -> None:
    clock = [1000.0]
    app = create_app(settings.model_copy(update={"form_rate_limit": 3}), kk)
    limit: RateLimit = app.state.form_limit
    assert limit.per_minute == 3
    limit.clock = lambda: clock[0]
    invitation = invite(kk, workspace, "emma")
    with TestClient(app) as client:
        for value in ("1", "2", "3"):
            assert client.get(f"{path(invitation)}?recommend={value}").status_code == 200
        flooded = client.post(path(invitation), data={"shown": "recommend", "recommend": "4"})
        assert flooded.status_code == 429
        assert int(flooded.headers["retry-after"]) == 20  # one request per 20 s
        assert "Liian monta pyyntöä" in text(flooded.text)  # no Accept-Language: Finnish
        # Opening the form without answers is never limited.
        assert client.get(path(invitation)).status_code == 200
        clock[0] += 20
        again = client.post(path(invitation), data={"shown": "recommend", "recommend": "9"})
        assert again.status_code == 200 and "Thank you" in text(again.text)
    row = saved(kk, workspace, invitation)
    assert row is not None and row["answers"] == {"recommend": 9}


def test_rate_limit_is_per_address_and_can_be_off() -> None:
    clock = [0.0]
    limit = RateLimit(2, clock=lambda: clock[0])
    assert [limit.take("10.0.0.1") for _ in range(3)][:2] == [0.0, 0.0]
    assert limit.take("10.0.0.1") > 0
    assert limit.take("10.0.0.2") == 0.0
    clock[0] += 30  # one token back at 2 per minute
    assert limit.take("10.0.0.1") == 0.0 and limit.take("10.0.0.1") > 0
    off = RateLimit(0)
    assert all(off.take("x") == 0.0 for _ in range(1000))


@pytest.fixture
def unlimited(settings: Settings, kk: bootstrap.Kokemus) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"form_rate_limit": 0}), kk)) as c:
        yield c


def test_no_limit_when_off(unlimited: TestClient, kk: bootstrap.Kokemus,
                           workspace: ActiveWorkspace, people: None) -> None:
    invitation = invite(kk, workspace, "emma")
    for i in range(60):
        assert unlimited.get(f"{path(invitation)}?recommend={i % 11}").status_code == 200


def test_one_click_to_a_hidden_question_is_refused_with_the_reason(
        client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
        people: None) -> None:
    invitation = invite(kk, workspace, "emma")
    page = client.get(path(invitation) + "?why=late&utm_source=mail")
    assert page.status_code == 422
    # the question waits on the page (in place, below its NPS): named by its words, and
    # shown whatever the answer so that its reason is seen
    assert ("What could we have done better? : This answer cannot be saved: not asked unless "
            "'recommend' matches") in text(page.text)
    assert re.search(r'<section class="question has-error follow-up follow-up-always" '
                     r'id="q-why">', page.text)
    assert saved(kk, workspace, invitation) is None
