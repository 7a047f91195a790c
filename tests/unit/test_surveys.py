"""Survey definitions and answer validation: pure domain, no stores."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kokemus.domain.surveys import AnswerError, Survey
from kokemus.workspace import document
from tests.conftest import STARTER


def survey(*questions: dict[str, Any], **extra: Any) -> Survey:
    return Survey.model_validate({"id": "s", "name": "S", "questions": list(questions), **extra})


EVERY_TYPE = survey(
    {"id": "nps", "type": "nps", "required": True},
    {"id": "ces", "type": "ces"},
    {"id": "csat", "type": "csat"},
    {"id": "stars", "type": "rating", "min": 1, "max": 10},
    {"id": "why", "type": "text", "max_length": 20, "show_if": {"question": "nps", "at_most": 6}},
    {"id": "channel", "type": "single_choice",
     "options": [{"id": "web", "text": "Web"}, {"id": "phone", "text": "Phone"}]},
    {"id": "liked", "type": "multiple_choice",
     "options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}, {"id": "c", "text": "C"}]},
    {"id": "servqual", "type": "expectation_perception", "set": "rater"},
    {"id": "value", "type": "elements_of_value", "elements": ["saves_time", "quality"]},
    {"id": "kano", "type": "kano", "features": [
        {"id": "tracking", "functional": "If you can track it?", "dysfunctional": "If not?"}]},
)


def test_valid_answers_are_normalised() -> None:
    clean = EVERY_TYPE.check({
        "nps": "3", "ces": 6, "csat": 5.0, "stars": 10, "why": "  too slow  ",
        "channel": "phone", "liked": ["c", "a", "c"],
        "servqual": {"reliability": {"expected": 7, "perceived": 3}},
        "value": {"saves_time": 4},
        "kano": {"tracking": {"functional": "like", "dysfunctional": "dislike"}},
    }, complete=True)
    assert clean["nps"] == 3 and clean["csat"] == 5 and clean["why"] == "too slow"
    assert clean["liked"] == ["a", "c"]  # in the survey's order, once each
    assert clean["servqual"] == {"reliability": {"expected": 7, "perceived": 3}}
    assert EVERY_TYPE.scores(clean) == {"nps": 3, "ces": 6, "csat": 5}


@pytest.mark.parametrize(("answers", "question", "reason"), [
    ({"nps": 11}, "nps", "11 is outside the scale 0-10"),
    ({"nps": -1}, "nps", "outside the scale 0-10"),
    ({"ces": 0}, "ces", "outside the scale 1-7"),
    ({"csat": 6}, "csat", "outside the scale 1-5"),
    ({"nps": True}, "nps", "expected a whole number"),
    ({"nps": 7.5}, "nps", "expected a whole number"),
    ({"stars": 11}, "stars", "outside the scale 1-10"),
    ({"channel": "fax"}, "channel", "'fax' is not one of web, phone"),
    ({"liked": ["a", "z"]}, "liked", "'z' is not one of a, b, c"),
    ({"servqual": {"speed": {"expected": 1}}}, "servqual", "unknown key 'speed'"),
    ({"servqual": {"empathy": {"expected": 8}}}, "servqual", "outside the scale 1-7"),
    ({"value": {"fun_entertainment": 3}}, "value", "unknown key 'fun_entertainment'"),
    ({"kano": {"tracking": {"functional": "love"}}}, "kano", "'love' is not one of"),
    ({"nps": 2, "why": "x" * 21}, "why", "at most 20 allowed"),
    ({"colour": "red"}, "colour", "no such question"),
])
def test_bad_answers_are_refused_with_the_reason(answers: dict[str, Any], question: str,
                                                 reason: str) -> None:
    with pytest.raises(AnswerError) as caught:
        EVERY_TYPE.check(answers)
    assert [q for q, _ in caught.value.problems] == [question]
    assert reason in caught.value.problems[0][1]


def test_skip_logic_shows_the_why_question_to_detractors_only() -> None:
    shown = [q.id for q in EVERY_TYPE.shown({"nps": 4})]
    assert "why" in shown
    assert "why" not in [q.id for q in EVERY_TYPE.shown({"nps": 9})]
    assert "why" not in [q.id for q in EVERY_TYPE.shown({})]
    with pytest.raises(AnswerError, match="not asked unless 'nps' matches"):
        EVERY_TYPE.check({"nps": 10, "why": "great"})


def test_partial_answers_pass_but_complete_needs_the_required_ones() -> None:
    assert EVERY_TYPE.check({"ces": 5}) == {"ces": 5}
    with pytest.raises(AnswerError, match="nps: an answer is required"):
        EVERY_TYPE.check({"ces": 5}, complete=True)


@pytest.mark.parametrize(("questions", "message"), [
    ([{"id": "a", "type": "nps"}, {"id": "a", "type": "ces"}], "duplicate question id 'a'"),
    ([{"id": "a", "type": "text", "show_if": {"question": "b", "in": [1]}},
      {"id": "b", "type": "nps"}], "show_if must name an earlier question"),
    ([{"id": "a", "type": "rating", "min": 5, "max": 5}], "must be greater than min"),
    ([{"id": "a", "type": "expectation_perception"}], "set: rater"),
    ([{"id": "a", "type": "nps"}, {"id": "b", "type": "text", "show_if": {"question": "a"}}],
     "show_if needs"),
    ([{"id": "a", "type": "smiley"}], "does not match any of the expected tags"),
])
def test_bad_surveys_say_what_is_wrong(questions: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        survey(*questions)


def test_rater_set_gives_the_five_dimensions() -> None:
    q = EVERY_TYPE.question("servqual")
    assert q is not None and q.type == "expectation_perception"
    assert [a.dimension for a in q.items()] == [
        "tangibles", "reliability", "responsiveness", "assurance", "empathy"]


def test_standard_wording_in_the_respondents_language() -> None:
    nps = EVERY_TYPE.questions[0]
    assert EVERY_TYPE.text_of(nps, "fi", "Kodinkone") == (
        "Kuinka todennäköisesti suosittelisit Kodinkone ystävällesi tai kollegallesi?")
    assert EVERY_TYPE.text_of(nps, "en", "Kodinkone").startswith("How likely")


def test_workspace_checks_survey_references_with_line_numbers() -> None:
    source = STARTER.read_text()
    broken = source.replace("touchpoint: delivery\n    thanks", "touchpoint: delivry\n    thanks")
    with pytest.raises(document.WorkspaceFileError) as caught:
        document.loads(broken, "ws.yaml")
    message = str(caught.value)
    assert "surveys[0].touchpoint: unknown touchpoint 'delivry'" in message
    line = source.splitlines().index("    touchpoint: delivery") + 1
    assert f"ws.yaml:{line}:" in message


def test_survey_round_trips_through_export() -> None:
    workspace = document.load(STARTER)
    again = document.loads(document.dump(workspace))
    assert again == workspace
    assert again.surveys[0].questions[3].show_if is not None
    assert again.surveys[0].questions[3].show_if.at_most == 6


def test_a_form_post_settles_over_the_saved_answers() -> None:
    # A promoter's one-click answer is saved; the form changes it to a detractor's: the
    # why-question appears and the response waits for it.
    posted, complete = EVERY_TYPE.settle({"nps": 9}, {"nps": "3", "ces": "5"}, ["nps", "ces"])
    assert posted == {"nps": "3", "ces": "5"} and complete is False
    # Answered on the next page: complete.
    _, complete = EVERY_TYPE.settle({"nps": 3, "ces": 5}, {"why": "slow"}, ["why"])
    assert complete is True
    # Back to a promoter: the why-answer no longer applies and is cleared.
    posted, complete = EVERY_TYPE.settle({"nps": 3, "why": "slow"}, {"nps": "10"}, ["nps"])
    assert posted == {"nps": "10", "why": None} and complete is True
    # The question was on the page and left empty: nothing is waiting.
    _, complete = EVERY_TYPE.settle({}, {"nps": "2", "why": ""}, ["nps", "why"])
    assert complete is True


def test_every_survey_of_a_document_with_keys_after_the_surveys_round_trips() -> None:
    """The survey editor cuts the document around the surveys list: the appliance shop's
    insights and rules come after it, and its last survey's text must not take them in."""
    from kokemus.demo import appliance_shop
    from kokemus.services import surveys as survey_service
    from kokemus.workspace import document

    workspace = document.load(appliance_shop.WORKSPACE_FILE)
    assert workspace.rules and workspace.insights.outcomes.repurchase  # keys after the surveys
    for position, survey in enumerate(workspace.surveys):
        text = survey_service.survey_text(workspace, survey.id)
        assert "rules:" not in text and "insights:" not in text
        assert survey_service.with_survey(workspace, text, position) == workspace
