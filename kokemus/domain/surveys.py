"""Surveys: what to ask, when to ask it, and what counts as a valid answer.

A survey asks about one touchpoint, soon after the event that means the touchpoint
happened. Its questions are the standard measures (NPS, CES 2.0, CSAT), rating scales,
SERVQUAL-style expectation/perception pairs, elements of value, Kano pairs, choices and
open text; each text is given per language, and one survey serves every language.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from kokemus.domain.durations import parse_duration
from kokemus.domain.promises import Duration, Model
from kokemus.domain.texts import Language, Slug, Text, localized
from kokemus.domain.value import B2B_ELEMENTS, B2C_ELEMENTS

Scalar = int | str


class ShowIf(Model):
    """Show a question only when an earlier answer matches: one of `in`, or within
    `at_least`..`at_most` (for numbers)."""

    question: Slug
    in_: list[Scalar] | None = Field(default=None, alias="in")
    at_least: int | None = None
    at_most: int | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> ShowIf:
        if self.in_ is None and self.at_least is None and self.at_most is None:
            raise ValueError("show_if needs 'in', 'at_least' or 'at_most'")
        return self

    def matches(self, answer: Any) -> bool:
        if answer is None:
            return False
        values = answer if isinstance(answer, list) else [answer]
        if self.in_ is not None and not any(v in self.in_ for v in values):
            return False
        numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
        if self.at_least is not None and not any(v >= self.at_least for v in numbers):
            return False
        return self.at_most is None or any(v <= self.at_most for v in numbers)


class _Question(Model):
    id: Slug
    text: Text | None = Field(default=None, description="Standard wording if left out.")
    required: bool = Field(default=False, description="A complete response must answer it.")
    show_if: ShowIf | None = None


# Standard wordings ({company} is the workspace's name).
DEFAULT_TEXTS: dict[str, dict[Language, str]] = {
    "nps": {
        "fi": "Kuinka todennäköisesti suosittelisit {company} ystävällesi tai kollegallesi?",
        "en": "How likely are you to recommend {company} to a friend or colleague?",
        "sv": "Hur troligt är det att du skulle rekommendera {company} till en vän eller kollega?",
    },
    "ces": {
        "fi": "{company} teki asiani hoitamisesta helppoa.",
        "en": "{company} made it easy for me to handle my issue.",
        "sv": "{company} gjorde det enkelt för mig att hantera mitt ärende.",
    },
    "csat": {
        "fi": "Kuinka tyytyväinen olit palveluun?",
        "en": "How satisfied were you with the service?",
        "sv": "Hur nöjd var du med tjänsten?",
    },
    "elements_of_value": {
        "fi": "Kuinka hyvin onnistuimme näissä?",
        "en": "How well did we do on these?",
        "sv": "Hur väl lyckades vi med detta?",
    },
    "expectation_perception": {
        "fi": "Mitä odotit, ja mitä sait?",
        "en": "What did you expect, and what did you get?",
        "sv": "Vad förväntade du dig, och vad fick du?",
    },
}


# The words at the ends of the standard scales: the hosted form, the invitation email and
# the survey builder all read them here, so a customer meets one wording of each scale.
SCALE_ENDS: dict[str, dict[str, tuple[str, str]]] = {
    "nps": {"fi": ("Ei lainkaan todennäköistä", "Erittäin todennäköistä"),
            "en": ("Not at all likely", "Extremely likely"),
            "sv": ("Inte alls troligt", "Mycket troligt")},
    "ces": {"fi": ("Täysin eri mieltä", "Täysin samaa mieltä"),
            "en": ("Strongly disagree", "Strongly agree"),
            "sv": ("Instämmer inte alls", "Instämmer helt")},
    "csat": {"fi": ("Erittäin tyytymätön", "Erittäin tyytyväinen"),
             "en": ("Very dissatisfied", "Very satisfied"),
             "sv": ("Mycket missnöjd", "Mycket nöjd")},
    "expectation_perception": {"fi": ("Erittäin heikko", "Erittäin hyvä"),
                               "en": ("Very low", "Very high"),
                               "sv": ("Mycket låg", "Mycket hög")},
    "elements_of_value": {"fi": ("Erittäin huonosti", "Erittäin hyvin"),
                          "en": ("Very poorly", "Very well"),
                          "sv": ("Mycket dåligt", "Mycket bra")},
}


def scale_ends(question_type: str, language: str) -> tuple[str, str] | None:
    """The standard scale's end words in `language` (English if it has none), or None for
    a question without a standard scale."""
    words = SCALE_ENDS.get(question_type)
    if words is None:
        return None
    return words.get(language) or words["en"]


class Nps(_Question):
    type: Literal["nps"]
    scale: ClassVar[tuple[int, int]] = (0, 10)


class Ces(_Question):
    type: Literal["ces"]
    scale: ClassVar[tuple[int, int]] = (1, 7)


class Csat(_Question):
    type: Literal["csat"]
    scale: ClassVar[tuple[int, int]] = (1, 5)


class Rating(_Question):
    type: Literal["rating"]
    min: int = 1
    max: int = Field(default=5, le=100)
    low_label: Text | None = None
    high_label: Text | None = None

    @model_validator(mode="after")
    def _range(self) -> Rating:
        if self.max <= self.min:
            raise ValueError(f"max ({self.max}) must be greater than min ({self.min})")
        return self


class Option(Model):
    id: Slug
    text: Text


class Choice(_Question):
    type: Literal["single_choice", "multiple_choice"]
    options: list[Option] = Field(min_length=2)


class OpenText(_Question):
    type: Literal["text"]
    max_length: int = Field(default=2000, ge=1, le=20000)


class Attribute(Model):
    """One service attribute asked as an expectation and a perception (1-7)."""

    id: Slug
    text: Text
    dimension: Literal["tangibles", "reliability", "responsiveness", "assurance",
                       "empathy"] | None = None


# The five RATER dimensions of SERVQUAL as a ready set: one item each.
RATER: tuple[Attribute, ...] = (
    Attribute(id="tangibles", dimension="tangibles", text={
        "fi": "Toimitilat, laitteet ja materiaalit", "en": "Facilities, equipment and materials",
        "sv": "Lokaler, utrustning och material"}),
    Attribute(id="reliability", dimension="reliability", text={
        "fi": "Luvattu palvelu toimitetaan luotettavasti ja täsmällisesti",
        "en": "The promised service is delivered dependably and accurately",
        "sv": "Den utlovade tjänsten levereras pålitligt och korrekt"}),
    Attribute(id="responsiveness", dimension="responsiveness", text={
        "fi": "Halu auttaa ja palvella ripeästi", "en": "Willingness to help and prompt service",
        "sv": "Vilja att hjälpa och snabb service"}),
    Attribute(id="assurance", dimension="assurance", text={
        "fi": "Henkilöstön osaaminen ja luotettavuus",
        "en": "Knowledge and courtesy of staff, and their ability to inspire trust",
        "sv": "Personalens kunskap och förmåga att inge förtroende"}),
    Attribute(id="empathy", dimension="empathy", text={
        "fi": "Yksilöllinen huomio ja välittäminen", "en": "Caring, individual attention",
        "sv": "Omtanke och individuell uppmärksamhet"}),
)


class ExpectationPerception(_Question):
    """SERVQUAL style: each attribute asked twice, expected and perceived, 1-7."""

    type: Literal["expectation_perception"]
    set: Literal["rater"] | None = Field(default=None, description="A ready set of attributes.")
    attributes: list[Attribute] = Field(default_factory=list)
    scale: ClassVar[tuple[int, int]] = (1, 7)

    @model_validator(mode="after")
    def _some(self) -> ExpectationPerception:
        if not self.set and not self.attributes:
            raise ValueError("give 'attributes', or 'set: rater' for the five RATER dimensions")
        return self

    def items(self) -> tuple[Attribute, ...]:
        return (RATER if self.set == "rater" else ()) + tuple(self.attributes)


class ElementsOfValue(_Question):
    """"How well did we ... ?" per element of value, 1-5."""

    type: Literal["elements_of_value"]
    kind: Literal["b2c", "b2b"] = "b2c"
    elements: list[Slug] = Field(default_factory=list, description="Default: the whole list.")
    scale: ClassVar[tuple[int, int]] = (1, 5)

    def items(self) -> tuple[str, ...]:
        table = B2B_ELEMENTS if self.kind == "b2b" else B2C_ELEMENTS
        every = tuple(name for names in table.values() for name in names)
        return tuple(self.elements) or every


KANO_ANSWERS = ("like", "expect", "neutral", "live_with", "dislike")


class Feature(Model):
    id: Slug
    functional: Text = Field(description="How do you feel if the product has it?")
    dysfunctional: Text = Field(description="How do you feel if it does not?")


class Kano(_Question):
    type: Literal["kano"]
    features: list[Feature] = Field(min_length=1)


Question = Annotated[
    Nps | Ces | Csat | Rating | Choice | OpenText | ExpectationPerception | ElementsOfValue | Kano,
    Field(discriminator="type"),
]

SCORE_TYPES = ("nps", "ces", "csat")


class Trigger(Model):
    """Invite when an event of type `event` arrives (and its conditions hold), after `delay`,
    for a `sample` share of the customers."""

    event: Slug
    where: dict[str, Scalar | bool] = Field(
        default_factory=dict, description="Event properties that must equal these values.")
    segments: list[Slug] = Field(default_factory=list, description="Only customers in these.")
    roles: list[Slug] = Field(default_factory=list, description="Only these B2B buying roles.")
    delay: Duration = Field(default="0s", description="Wait this long after the event.")
    sample: float = Field(default=1.0, gt=0, le=1, description="Share of triggers invited.")
    channel: Literal["email", "web"] = Field(
        default="email", description="email: an invitation is sent; web: shown by the widget.")

    @property
    def delay_seconds(self) -> float:
        return parse_duration(self.delay)


class Survey(Model):
    id: Slug
    name: Text
    touchpoint: Slug | None = Field(default=None, description="The touchpoint it asks about.")
    enabled: bool = Field(default=True, description="false: its trigger invites nobody (a "
                                                     "survey being built or paused).")
    intro: Text | None = None
    thanks: Text | None = None
    trigger: Trigger | None = Field(default=None, description="No trigger: API or widget only.")
    questions: list[Question] = Field(min_length=1)

    @model_validator(mode="after")
    def _questions(self) -> Survey:
        seen: list[str] = []
        for q in self.questions:
            if q.id in seen:
                raise ValueError(f"duplicate question id '{q.id}'")
            if q.show_if is not None and q.show_if.question not in seen:
                raise ValueError(f"question '{q.id}': show_if must name an earlier question, "
                                 f"not '{q.show_if.question}'")
            seen.append(q.id)
        return self

    def question(self, qid: str) -> Question | None:
        return next((q for q in self.questions if q.id == qid), None)

    def first_of(self, qtype: str) -> Question | None:
        return next((q for q in self.questions if q.type == qtype), None)

    def shown(self, answers: dict[str, Any]) -> list[Question]:
        """The questions a respondent sees, given the answers so far."""
        return [q for q in self.questions
                if q.show_if is None or q.show_if.matches(answers.get(q.show_if.question))]

    def lenient(self, answers: dict[str, Any]) -> dict[str, Any]:
        """Answers as the domain reads them where they are valid, as given where not (so
        skip logic sees numbers in a form's text fields before anything is checked)."""
        out: dict[str, Any] = {}
        for qid, value in answers.items():
            q = self.question(qid)
            if q is None or value in (None, "", [], {}):
                continue
            try:
                out[qid] = answer_of(q, value)
            except ValueError:
                out[qid] = value
        return out

    def settle(self, saved: dict[str, Any], posted: dict[str, Any],
               on_page: list[str]) -> tuple[dict[str, Any], bool]:
        """A form post over the saved answers: the post, with the answers a changed answer
        now hides cleared, and whether the response is complete. It is not while skip logic
        newly shows a question that was not on the page and has no answer: that question is
        asked before finishing."""
        merged = self.lenient({**saved, **posted})
        visible = self.shown(merged)
        ids = {q.id for q in visible}
        settled = {**posted, **{qid: None for qid in merged if qid not in ids}}
        waiting = [q for q in visible if q.show_if is not None and q.id not in on_page
                   and q.id not in merged]
        return settled, not waiting

    def check(self, answers: dict[str, Any], *, complete: bool = False) -> dict[str, Any]:
        """`answers` validated and normalised; AnswerError listing every problem otherwise.
        Partial answers are fine unless `complete`, which requires the required questions."""
        problems: list[tuple[str, str]] = []
        clean: dict[str, Any] = {}
        for qid in answers:
            if self.question(qid) is None:
                problems.append((qid, "no such question in this survey"))
        for q in self.questions:
            if q.id not in answers or answers[q.id] in (None, "", [], {}):
                continue
            if q.show_if is not None and not q.show_if.matches(clean.get(q.show_if.question)):
                problems.append((q.id, f"not asked unless '{q.show_if.question}' matches"))
                continue
            try:
                clean[q.id] = answer_of(q, answers[q.id])
            except ValueError as exc:
                problems.append((q.id, str(exc)))
        if complete:
            for q in self.shown(clean):
                if q.required and q.id not in clean:
                    problems.append((q.id, "an answer is required"))
        if problems:
            raise AnswerError(problems)
        return clean

    def scores(self, answers: dict[str, Any]) -> dict[str, int | None]:
        """The standard measures this response gives: nps, ces, csat (first of each type)."""
        out: dict[str, int | None] = {}
        for kind in SCORE_TYPES:
            q = self.first_of(kind)
            out[kind] = answers.get(q.id) if q is not None else None
        return out

    def text_of(self, q: Question, language: str, company: str) -> str:
        if q.text is not None:
            return localized(q.text, language)
        default = DEFAULT_TEXTS.get(q.type)
        return localized(default, language).format(company=company) if default else q.id


class AnswerError(ValueError):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{q}: {reason}" for q, reason in problems))


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"expected a whole number, got {value!r}")


def _on_scale(value: Any, low: int, high: int) -> int:
    number = _integer(value)
    if not low <= number <= high:
        raise ValueError(f"{number} is outside the scale {low}-{high}")
    return number


def answer_of(q: Question, value: Any) -> Any:
    """One answer, normalised; ValueError saying why it is not valid."""
    if isinstance(q, Nps | Ces | Csat):
        return _on_scale(value, *q.scale)
    if isinstance(q, Rating):
        return _on_scale(value, q.min, q.max)
    if isinstance(q, Choice):
        options = [o.id for o in q.options]
        if q.type == "single_choice":
            if not isinstance(value, str) or value not in options:
                raise ValueError(f"{value!r} is not one of {', '.join(options)}")
            return value
        chosen = value if isinstance(value, list) else [value]
        wrong = [v for v in chosen if not isinstance(v, str) or v not in options]
        if wrong:
            raise ValueError(f"{wrong[0]!r} is not one of {', '.join(options)}")
        return sorted(set(chosen), key=options.index)
    if isinstance(q, OpenText):
        if not isinstance(value, str):
            raise ValueError("expected text")
        text = value.strip()
        if "\x00" in text:  # no store keeps one
            raise ValueError("text holds a NUL character")
        if len(text) > q.max_length:
            raise ValueError(f"text is {len(text)} characters, at most {q.max_length} allowed")
        return text
    if isinstance(q, ExpectationPerception):
        pairs = _mapping(value, [a.id for a in q.items()])
        out: dict[str, dict[str, int]] = {}
        for key, pair in pairs.items():
            pair = _mapping(pair, ["expected", "perceived"], f"{key}: ")
            out[key] = {side: _on_scale(v, *q.scale) for side, v in pair.items()}
        return out
    if isinstance(q, ElementsOfValue):
        return {k: _on_scale(v, *q.scale) for k, v in _mapping(value, list(q.items())).items()}
    if isinstance(q, Kano):
        kano: dict[str, dict[str, str]] = {}
        for key, pair in _mapping(value, [f.id for f in q.features]).items():
            pair = _mapping(pair, ["functional", "dysfunctional"], f"{key}: ")
            for side, v in pair.items():
                if v not in KANO_ANSWERS:
                    raise ValueError(f"{key}.{side}: {v!r} is not one of {', '.join(KANO_ANSWERS)}")
            kano[key] = dict(pair)
        return kano
    raise ValueError(f"unknown question type {q.type}")  # pragma: no cover - union is closed


def json_problems(survey: Survey, answers: dict[str, Any]) -> list[tuple[str, str]]:
    """Answers sent as JSON (the response API) carry their types, and a scale answer is a
    number: not text that looks like one ("9"), and not null (leave a question out to skip
    it). The hosted form can only post text, so `answer_of` reads its "9" as 9; this is the
    stricter edge of the API, applied before `Survey.check`."""
    problems: list[tuple[str, str]] = []
    for qid, value in answers.items():
        q = survey.question(qid)
        if isinstance(q, Nps | Ces | Csat | Rating):
            low, high = (q.min, q.max) if isinstance(q, Rating) else q.scale
            if not _is_number(value):
                problems.append((qid, f"expected a number on the scale {low}-{high}, "
                                      f"got {_described(value)}"))
        elif isinstance(q, ElementsOfValue | ExpectationPerception) and isinstance(value, dict):
            low, high = q.scale
            for key, item in value.items():
                sides = (item.items() if isinstance(q, ExpectationPerception)
                         and isinstance(item, dict) else [("", item)])
                for side, number in sides:
                    if not _is_number(number) and not isinstance(number, dict):
                        where = f"{key}.{side}" if side else str(key)
                        problems.append((qid, f"{where}: expected a number on the scale "
                                              f"{low}-{high}, got {_described(number)}"))
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _described(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"{type(value).__name__} {value!r}" if isinstance(value, bool) else repr(value)


def _mapping(value: Any, keys: list[str], where: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}expected an object with keys among {', '.join(keys)}")
    unknown = [k for k in value if k not in keys]
    if unknown:
        raise ValueError(f"{where}unknown key {unknown[0]!r} (known: {', '.join(keys)})")
    return {k: v for k, v in value.items() if v not in (None, "")}


class QuietHours(Model):
    """No invitation is sent between `start` and `end` local time; it waits for `end`."""

    start: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "21:00"
    end: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "08:00"
    timezone: str = "Europe/Helsinki"


class FeedbackPolicy(Model):
    """Contact pressure and honesty rules, one set per workspace across all surveys."""

    cap: Duration = Field(default="14d", description="One invitation per customer per this.")
    quiet_hours: QuietHours | None = Field(default_factory=QuietHours)
    link_valid: Duration = Field(default="14d", description="How long an invitation link works.")
    min_answers: int = Field(default=30, ge=1, description="Below this n a score is not shown.")

    @property
    def cap_seconds(self) -> float:
        return parse_duration(self.cap)

    @property
    def link_seconds(self) -> float:
        return parse_duration(self.link_valid)


def without_free_text(answers: dict[str, Any], survey: Survey | None) -> dict[str, Any]:
    """The answers without what a person wrote: the survey's text questions; of a survey no
    longer defined, every string answer (an option id and free text look alike there)."""
    if survey is None:
        return {k: v for k, v in answers.items() if not isinstance(v, str)}
    texts = {q.id for q in survey.questions if q.type == "text"}
    return {k: v for k, v in answers.items() if k not in texts}
