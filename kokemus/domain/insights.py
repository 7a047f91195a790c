"""What the workspace tells the insight layer beyond its journeys and promises: the themes
its comments are read for, the assumptions that size a silent moment, and the events that
mean a customer stayed or left. Each part is filled in by the analysis that uses it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from kokemus.domain.promises import Model
from kokemus.domain.texts import Language, Slug, Text

Lemma = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[^\s]+( [^\s]+)?$",
                             description="A lemma, or two separated by one space (a phrase).")]


class Outcomes(Model):
    """Event types that tell what a customer did next, for outcome and driver analyses."""

    repurchase: list[Slug] = Field(default_factory=list,
                                   description="Events that mean a customer bought again.")
    churn: list[Slug] = Field(default_factory=list,
                              description="Events that mean a customer left.")


class Theme(Model):
    """A theme the comments are read for: a comment mentions it when one of its words (or
    two-word phrases), lemmatised, is among the theme's lemmas for the comment's language."""

    id: Slug
    name: Text
    lemmas: dict[Language, Annotated[list[Lemma], Field(min_length=1, max_length=200)]] = Field(
        description="Lemmas per language, lower case: {fi: [toimitus, kuljetus], en: [delivery]}")

    @model_validator(mode="after")
    def _some(self) -> Theme:
        if not self.lemmas:
            raise ValueError("a theme needs lemmas in at least one language")
        return self


class SilentMoment(Model):
    """What sizes a silent moment (an unused touchpoint with traffic): value per year =
    people per occasion x share who buy x average basket x occasions per day x days per year.
    Leave out people_per_occasion to derive it from the touchpoint's events per day."""

    touchpoint: Slug
    people_per_occasion: float | None = Field(
        default=None, gt=0, le=1e6,
        description="People at the touchpoint per occasion (a bus: 40 passengers). "
                    "Left out: the touchpoint's events per day / occasions per day.")
    share_buying: float = Field(gt=0, le=1, description="Share of them who would buy (0-1).")
    basket: float = Field(gt=0, le=1e7, description="Average basket, in euros.")
    occasions_per_day: float = Field(default=1, gt=0, le=1e5,
                                     description="Occasions per day (a bus: 13 a day).")
    days_per_year: float = Field(default=360, gt=0, le=366,
                                 description="Days a year the moment happens.")


class Gaps(Model):
    """How the gaps are weighed: points per dimension (e.g. 100 split over the five RATER
    dimensions, from an importance study); left out, the dimensions weigh the same."""

    weights: dict[Slug, float] = Field(
        default_factory=dict, max_length=50,
        description="Points per dimension for the weighted SERVQUAL score (any total; "
                    "scaled to sum to 1).")


class Insights(Model):
    outcomes: Outcomes = Field(default_factory=Outcomes)
    gaps: Gaps = Field(default_factory=Gaps)
    themes: list[Theme] = Field(default_factory=list, max_length=100,
                                description="Themes the comments are read for.")
    silent_moments: list[SilentMoment] = Field(
        default_factory=list, max_length=200,
        description="Assumptions that size the opportunity of a touchpoint's silent moment.")
    complaints: list[Slug] = Field(
        default_factory=list, max_length=50,
        description="Event types that are complaints, for the warning signal of complaints "
                    "rising (detractors' comments count without them).")
    listening: list[Slug] = Field(
        default_factory=list, max_length=50,
        description="The channels that listen to social media (default: the channels whose "
                    "id says social media, e.g. social, facebook).")

    def problems(self, touchpoints: set[str]) -> list[tuple[tuple[str | int, ...], str]]:
        """References the field types cannot check: duplicate theme ids, unknown or repeated
        touchpoints of the silent moments."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        seen: set[str] = set()
        for i, theme in enumerate(self.themes):
            if theme.id in seen:
                found.append((("insights", "themes", i, "id"), f"duplicate id '{theme.id}'"))
            seen.add(theme.id)
        sized: set[str] = set()
        for i, moment in enumerate(self.silent_moments):
            loc: tuple[str | int, ...] = ("insights", "silent_moments", i, "touchpoint")
            if moment.touchpoint not in touchpoints:
                listed = ", ".join(sorted(touchpoints)) or "none defined"
                found.append((loc, f"unknown touchpoint '{moment.touchpoint}' "
                                   f"(known: {listed})"))
            elif moment.touchpoint in sized:
                found.append((loc, f"touchpoint '{moment.touchpoint}' is sized twice"))
            sized.add(moment.touchpoint)
        return found


def opportunity(people_per_occasion: float, share_buying: float, basket: float,
                occasions_per_day: float, days_per_year: float) -> float:
    """A silent moment's value per year (seed 002): people per occasion x share who buy x
    average basket x occasions per day x days per year. The article's bus: 40 x 5/40 x 20 €
    x 13 x 360 = 468,000 € a year."""
    return people_per_occasion * share_buying * basket * occasions_per_day * days_per_year
