"""The workspace document: one company's promise, journeys and the words it uses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from kokemus.domain.brand import Brand
from kokemus.domain.business_hours import BusinessHours
from kokemus.domain.cases import CasePolicy
from kokemus.domain.contact import ContactPolicy
from kokemus.domain.errors import Problem
from kokemus.domain.events import EventType
from kokemus.domain.insights import Insights
from kokemus.domain.journeys import Journey, Touchpoint
from kokemus.domain.privacy import Retention
from kokemus.domain.promises import (
    Commitment,
    Model,
    Promise,
    ScoreTarget,
    ValueProposition,
)
from kokemus.domain.rules import OnAnswer, OnPromise, OnScore, Rule
from kokemus.domain.surveys import FeedbackPolicy, Survey
from kokemus.domain.texts import Language, Slug, Text, localized
from kokemus.domain.value import element_names

SCHEMA_VERSION: Literal[1] = 1


def _default_languages() -> list[Language]:
    return ["fi", "en"]


class Department(Model):
    id: Slug
    name: Text


class Channel(Model):
    id: Slug
    name: Text


class Segment(Model):
    id: Slug
    name: Text
    description: Text | None = None


class Attribute(Model):
    """A customer attribute the workspace keeps (beyond id, email, name, language)."""

    id: Slug
    type: Literal["string", "number", "boolean", "date"] = "string"
    name: Text | None = None


class Workspace(Model):
    kokemus: Literal[1] = Field(default=SCHEMA_VERSION, description="Document format version.")
    workspace: Slug = Field(description="The workspace's identifier.")
    name: Text
    languages: list[Language] = Field(default_factory=_default_languages, min_length=1)
    value_proposition: ValueProposition
    departments: list[Department] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    attributes: list[Attribute] = Field(default_factory=list)
    promises: list[Promise] = Field(default_factory=list)
    journeys: list[Journey] = Field(default_factory=list)
    events: dict[EventType, Text] = Field(default_factory=dict, max_length=1000, description=(
        "What each event type is called in the UI, per language (delivered: {fi: Toimitettu, "
        "en: Delivered}); a type without a name here is shown by its type."))
    feedback: FeedbackPolicy = Field(default_factory=FeedbackPolicy)
    brand: Brand | None = Field(default=None, description=(
        "The logo and accent colour of the workspace's survey forms (docs/workspace.md)."))
    contact: ContactPolicy = Field(
        default_factory=ContactPolicy,
        description="Messages per customer across surveys, rule emails and notices.")
    surveys: list[Survey] = Field(default_factory=list)
    retention: Retention = Field(default_factory=Retention,
                                 description="How long raw events and comments are kept.")
    business_hours: BusinessHours = Field(
        default_factory=BusinessHours,
        description="Opening hours and holidays, for commitments counted in business hours.")
    insights: Insights = Field(
        default_factory=Insights,
        description="Themes, silent-moment assumptions and outcome events for the insights.")
    rules: list[Rule] = Field(default_factory=list, max_length=500, description=(
        "What to do when something happens: a trigger and its actions (docs/rules.md)."))
    cases: CasePolicy = Field(default_factory=CasePolicy, description=(
        "SLA by priority, when a case is at risk, and the follow-up survey (docs/cases.md)."))

    def survey(self, survey_id: str) -> Survey | None:
        return next((s for s in self.surveys if s.id == survey_id), None)

    def touchpoint(self, touchpoint_id: str) -> Touchpoint | None:
        return next((t for t in self.touchpoints() if t.id == touchpoint_id), None)

    def touchpoints(self) -> Iterator[Touchpoint]:
        for journey in self.journeys:
            yield from journey.touchpoints

    def commitments(self) -> Iterator[tuple[Promise, Commitment]]:
        """Every commitment with the promise it belongs to, in the document's order."""
        for promise in self.promises:
            for commitment in promise.commitments:
                yield promise, commitment

    def event_name(self, event_type: str, language: str) -> str:
        """The name an event type is shown by: its display name, or the type itself."""
        name = self.events.get(event_type)
        return event_type if name is None else localized(name, language)

    def touchpoint_for_event(self) -> dict[str, str]:
        """Event type -> touchpoint id, for events that do not name their touchpoint."""
        return {etype: tp.id for tp in self.touchpoints() for etype in tp.events}

    def problems(self) -> list[Problem]:
        """Broken references and duplicates that the field types alone cannot see."""
        found: list[Problem] = []

        def unique(items: list[Model], loc: tuple[str | int, ...]) -> set[str]:
            seen: set[str] = set()
            for i, item in enumerate(items):
                ident = item.id  # type: ignore[attr-defined]
                if ident in seen:
                    found.append(Problem((*loc, i, "id"), f"duplicate id '{ident}'"))
                seen.add(ident)
            return seen

        def known(value: str, names: set[str], loc: tuple[str | int, ...], what: str) -> None:
            if value not in names:
                listed = ", ".join(sorted(names)) or "none defined"
                found.append(Problem(loc, f"unknown {what} '{value}' (known: {listed})"))

        departments = unique(list(self.departments), ("departments",))
        channels = unique(list(self.channels), ("channels",))
        segments = unique(list(self.segments), ("segments",))
        unique(list(self.attributes), ("attributes",))
        unique(list(self.promises), ("promises",))
        unique(list(self.journeys), ("journeys",))

        vp = self.value_proposition
        for i, seg in enumerate(vp.segments):
            known(seg, segments, ("value_proposition", "segments", i), "segment")
        elements = set(element_names(vp.kind))
        for i, element in enumerate(vp.elements_of_value):
            known(element, elements, ("value_proposition", "elements_of_value", i),
                  f"{vp.kind.upper()} element of value")

        for p, promise in enumerate(self.promises):
            for i, dep in enumerate(promise.departments):
                known(dep, departments, ("promises", p, "departments", i), "department")
            for i, ch in enumerate(promise.channels):
                known(ch, channels, ("promises", p, "channels", i), "channel")
            unique(list(promise.commitments), ("promises", p, "commitments"))

        event_owner: dict[str, str] = {}
        all_touchpoints: set[str] = set()
        for j, journey in enumerate(self.journeys):
            loc: tuple[str | int, ...] = ("journeys", j)
            if journey.segment is not None:
                known(journey.segment, segments, (*loc, "segment"), "segment")
            stages = unique(list(journey.stages), (*loc, "stages"))
            tps = unique(list(journey.touchpoints), (*loc, "touchpoints"))
            for t, tp in enumerate(journey.touchpoints):
                tloc = (*loc, "touchpoints", t)
                known(tp.stage, stages, (*tloc, "stage"), "stage")
                known(tp.channel, channels, (*tloc, "channel"), "channel")
                known(tp.owner, departments, (*tloc, "owner"), "department")
                if tp.id in all_touchpoints:
                    found.append(Problem((*tloc, "id"), f"touchpoint '{tp.id}' is in two journeys"))
                all_touchpoints.add(tp.id)
                for e, etype in enumerate(tp.events):
                    if etype in event_owner and event_owner[etype] != tp.id:
                        found.append(Problem(
                            (*tloc, "events", e),
                            f"event type '{etype}' already maps to touchpoint "
                            f"'{event_owner[etype]}'",
                        ))
                    event_owner[etype] = tp.id
            for i, step in enumerate(journey.designed_path):
                known(step, tps, (*loc, "designed_path", i), "touchpoint")
            if journey.goal is not None:
                known(journey.goal, tps, (*loc, "goal"), "touchpoint")
            for k, other in enumerate(journey.other_goals):
                known(other, tps, (*loc, "other_goals", k), "touchpoint")
            if journey.other_goals and journey.goal is None:
                found.append(Problem((*loc, "other_goals"), "other goals need a goal"))
            for k, start in enumerate(journey.episodes.start if journey.episodes else []):
                known(start, tps, (*loc, "episodes", "start", k), "touchpoint")

        for p, promise in enumerate(self.promises):
            for c, commitment in enumerate(promise.commitments):
                cloc: tuple[str | int, ...] = ("promises", p, "commitments", c)
                for i, ch in enumerate(getattr(commitment, "channels", [])):
                    known(ch, channels, (*cloc, "channels", i), "channel")
                for i, seg in enumerate(getattr(commitment, "segments", [])):
                    known(seg, segments, (*cloc, "segments", i), "segment")
                if isinstance(commitment, ScoreTarget):
                    known(commitment.touchpoint, all_touchpoints, (*cloc, "touchpoint"),
                          "touchpoint")
                    scored = self.touchpoint(commitment.touchpoint)
                    if commitment.target is None and scored is not None and getattr(
                            scored.target, commitment.score) is None:
                        found.append(Problem((*cloc, "target"), (
                            f"touchpoint '{scored.id}' has no {commitment.score} target: "
                            "give the commitment a target")))

        unique(list(self.surveys), ("surveys",))
        for s, survey in enumerate(self.surveys):
            loc = ("surveys", s)
            if survey.touchpoint is not None:
                known(survey.touchpoint, all_touchpoints, (*loc, "touchpoint"), "touchpoint")
            if survey.trigger is not None:
                for i, seg in enumerate(survey.trigger.segments):
                    known(seg, segments, (*loc, "trigger", "segments", i), "segment")
            for q, question in enumerate(survey.questions):
                if question.type == "elements_of_value":
                    names = element_names(question.kind)
                    for i, element in enumerate(question.elements):
                        known(element, set(names), (*loc, "questions", q, "elements", i),
                              f"{question.kind.upper()} element of value")
        found += [Problem(loc, message) for loc, message in self.insights.problems(all_touchpoints)]
        found += self._rule_problems(segments, departments, all_touchpoints, unique, known)
        if self.cases.follow_up is not None:
            known(self.cases.follow_up, {s.id for s in self.surveys}, ("cases", "follow_up"),
                  "survey")
        return found

    def _rule_problems(self, segments: set[str], departments: set[str],
                       touchpoints: set[str], unique: Any, known: Any) -> list[Problem]:
        """The rules' references: surveys, departments, segments, themes, commitments."""
        found: list[Problem] = []
        unique(list(self.rules), ("rules",))
        surveys = {s.id for s in self.surveys}
        themes = {t.id for t in self.insights.themes}
        commitments = {f"{p.id}.{c.id}" for p, c in self.commitments()}
        for r, rule in enumerate(self.rules):
            loc: tuple[str | int, ...] = ("rules", r)
            when = rule.when
            for i, seg in enumerate(getattr(when, "segments", [])):
                known(seg, segments, (*loc, "when", "segments", i), "segment")
            if isinstance(when, OnAnswer):
                if when.survey is not None:
                    known(when.survey, surveys, (*loc, "when", "survey"), "survey")
                if when.theme is not None:
                    known(when.theme, themes, (*loc, "when", "theme"), "theme")
            if isinstance(when, OnPromise):
                for i, ref in enumerate(when.commitments):
                    known(ref, commitments, (*loc, "when", "commitments", i), "commitment")
            if isinstance(when, OnScore):
                if when.touchpoint is not None:
                    known(when.touchpoint, touchpoints, (*loc, "when", "touchpoint"),
                          "touchpoint")
                if when.segment is not None:
                    known(when.segment, segments, (*loc, "when", "segment"), "segment")
            for a, action in enumerate(rule.actions):
                aloc = (*loc, "actions", a)
                if action.do == "survey":
                    known(action.survey, surveys, (*aloc, "survey"), "survey")
                if action.do == "case":
                    known(action.department, departments, (*aloc, "department"), "department")
        return found
