"""A survey draft as the builder's form holds it: read from a post, changed by the
builder's buttons, and checked by the survey model (kokemus/web/survey_builder.py draws
and saves it).

The form's fields are named by the survey's own paths ("questions.2.text.fi"), so a draft
reads back into the model's shape and a problem of the model names its field. A value the
form cannot read (a share invited that is no percentage, an event property without "=") is
a problem of its own, and a draft with problems is never saved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from kokemus.domain.surveys import Survey

QUESTION_TYPES = ("nps", "ces", "csat", "rating", "single_choice", "multiple_choice", "text",
                  "expectation_perception", "elements_of_value", "kano")
DIMENSIONS = ("tangibles", "reliability", "responsiveness", "assurance", "empathy")
# Bounds of one draft: far above any real survey, low enough that a post cannot make the
# server build a huge page or document (each is a problem naming the bound: 422).
MAX_QUESTIONS = 60
MAX_ITEMS = 40  # options, attributes or features of one question
MAX_VALUE = 4000  # characters in one field


@dataclass
class Draft:
    """The survey as the form holds it (plain data, maybe not valid yet), the field
    problems found while reading it, and the valid survey when it is one."""

    data: dict[str, Any]
    problems: list[tuple[tuple[str | int, ...], str]]
    survey: Survey | None = None


# --------------------------------------------------------------------------- reading a post


def value(form: FormData, name: str) -> str:
    """A field's text, trimmed ("" when absent or a file)."""
    raw = form.get(name)
    return raw.strip() if isinstance(raw, str) else ""


def _texts(form: FormData, prefix: str, languages: list[str]) -> dict[str, str] | None:
    found = {lang: v for lang in languages if (v := value(form, f"{prefix}.{lang}"))}
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
    rows = [i for i in _indices(form, prefix, key) if value(form, f"{prefix}.{i}.{key}")]
    if len(rows) > MAX_ITEMS:
        problems.append((loc, f"at most {MAX_ITEMS} rows"))
        return rows[:MAX_ITEMS]
    return rows


def _question(form: FormData, i: int, languages: list[str],
              problems: list[Any]) -> dict[str, Any]:
    p = f"questions.{i}"
    qtype = value(form, f"{p}.type")
    q: dict[str, Any] = {"id": value(form, f"{p}.id"), "type": qtype}
    if (text := _texts(form, f"{p}.text", languages)) is not None:
        q["text"] = text
    if value(form, f"{p}.required"):
        q["required"] = True
    shown_after = value(form, f"{p}.show_if.question")
    if shown_after:
        rule: dict[str, Any] = {"question": shown_after}
        values = [v.strip() for v in value(form, f"{p}.show_if.in").split(",") if v.strip()]
        if values:
            rule["in"] = [_scalar(v) for v in values]
        for bound in ("at_least", "at_most"):
            if raw := value(form, f"{p}.show_if.{bound}"):
                rule[bound] = raw
        q["show_if"] = rule
    if qtype == "rating":
        for bound in ("min", "max"):
            if raw := value(form, f"{p}.{bound}"):
                q[bound] = raw
        for label in ("low_label", "high_label"):
            if (words := _texts(form, f"{p}.{label}", languages)) is not None:
                q[label] = words
    elif qtype in ("single_choice", "multiple_choice"):
        q["options"] = [{"id": value(form, f"{p}.options.{j}.id"),
                         "text": _texts(form, f"{p}.options.{j}.text", languages) or ""}
                        for j in _rows(form, f"{p}.options", "id", problems,
                                       ("questions", i, "options"))]
    elif qtype == "text":
        if raw := value(form, f"{p}.max_length"):
            q["max_length"] = raw
    elif qtype == "expectation_perception":
        if value(form, f"{p}.set"):
            q["set"] = "rater"
        attributes = []
        for j in _rows(form, f"{p}.attributes", "id", problems,
                       ("questions", i, "attributes")):
            item: dict[str, Any] = {
                "id": value(form, f"{p}.attributes.{j}.id"),
                "text": _texts(form, f"{p}.attributes.{j}.text", languages) or ""}
            if dimension := value(form, f"{p}.attributes.{j}.dimension"):
                item["dimension"] = dimension
            attributes.append(item)
        if attributes:
            q["attributes"] = attributes
    elif qtype == "elements_of_value":
        if (kind := value(form, f"{p}.kind")) and kind != "b2c":
            q["kind"] = kind
        chosen = [v for v in form.getlist(f"{p}.elements") if isinstance(v, str) and v]
        if chosen:
            q["elements"] = chosen[:100]
    elif qtype == "kano":
        q["features"] = [
            {"id": value(form, f"{p}.features.{j}.id"),
             **{side: _texts(form, f"{p}.features.{j}.{side}", languages) or ""
                for side in ("functional", "dysfunctional")}}
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
        key, sep, given = line.partition("=")
        if not sep or not key.strip():
            problems.append((("trigger", "where"), f"line {n}: write it as property = value"))
            continue
        where[key.strip()] = _scalar(given.strip())
    return where


def read_draft(form: FormData, languages: list[str]) -> Draft:
    """The draft a builder post holds; each field the form could not read is a problem."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for key, given in form.multi_items():
        if isinstance(given, str) and len(given) > MAX_VALUE:
            problems.append(((key,), f"at most {MAX_VALUE} characters"))
    data: dict[str, Any] = {"id": value(form, "id"),
                            "name": _texts(form, "name", languages) or ""}
    if touchpoint := value(form, "touchpoint"):
        data["touchpoint"] = touchpoint
    if not value(form, "enabled"):
        data["enabled"] = False
    for part in ("intro", "thanks"):
        if (words := _texts(form, part, languages)) is not None:
            data[part] = words
    if value(form, "trigger.on"):
        trigger: dict[str, Any] = {"event": value(form, "trigger.event")}
        if where := _where(value(form, "trigger.where"), problems):
            trigger["where"] = where
        segments = [v for v in form.getlist("trigger.segments") if isinstance(v, str) and v]
        if segments:
            trigger["segments"] = segments[:100]
        roles = [r.strip() for r in value(form, "trigger.roles").split(",") if r.strip()]
        if roles:
            trigger["roles"] = roles[:100]
        if delay := value(form, "trigger.delay"):
            trigger["delay"] = delay
        sample = _sample(value(form, "trigger.sample"), problems)
        trigger["sample"] = sample if sample is not None else value(form, "trigger.sample")
        if (channel := value(form, "trigger.channel")) and channel != "email":
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


def _unworded(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Rows (options, attributes, Kano features) with no words in any language: the model
    would take an empty text and show the customer an empty option."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    for i, q in enumerate(data.get("questions") or []):
        for rows, sides in (("options", ("text",)), ("attributes", ("text",)),
                            ("features", ("functional", "dysfunctional"))):
            for j, row in enumerate(q.get(rows) or []):
                found += [(("questions", i, rows, j, side),
                           "give its text in at least one language")
                          for side in sides if row.get(side) in ("", None)]
    return found


def validated(draft: Draft) -> Draft:
    """The draft with its survey when the model takes it, else with the model's problems."""
    draft.problems.extend(_unworded(draft.data))
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
