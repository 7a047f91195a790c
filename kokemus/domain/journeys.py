"""Designed journeys: stages, touchpoints and the path the company intends."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from kokemus.domain.promises import Model
from kokemus.domain.texts import Slug, Text


class Category(StrEnum):
    """The four touchpoint categories of the source articles."""

    brand_marketing = "brand_marketing"
    customer_service = "customer_service"
    product_features = "product_features"
    reliability = "reliability"


class Experience(StrEnum):
    core = "core"
    extended = "extended"


class Targets(Model):
    """Target experience at a touchpoint: what the company chooses to deliver."""

    nps: float | None = Field(default=None, ge=-100, le=100)
    ces: float | None = Field(default=None, ge=1, le=7, description="Mean CES 2.0 (1-7).")
    csat: float | None = Field(default=None, ge=0, le=100, description="Top-2-box percent.")
    attributes: dict[Slug, float] = Field(
        default_factory=dict, max_length=50,
        description="Target per expectation-perception attribute (a RATER dimension or the "
                    "workspace's own), on its 1-7 scale: what the company aims to deliver, "
                    "compared with what customers expect (the strategy gap).")


class Stage(Model):
    id: Slug
    name: Text


class Touchpoint(Model):
    id: Slug
    name: Text
    stage: Slug
    channel: Slug
    owner: Slug = Field(description="Department that owns the touchpoint.")
    category: Category
    experience: Experience = Experience.core
    events: list[Slug] = Field(
        default_factory=list, description="Event types that mean this touchpoint happened."
    )
    required: bool = Field(default=False, description="The designed journey must pass here.")
    target: Targets = Field(default_factory=Targets)


class Episodes(Model):
    """How a long-lived relationship is cut into journeys, each a need served."""

    start: list[Slug] = Field(
        min_length=1, max_length=50,
        description="Touchpoints each of whose events starts a new episode (e.g. a device "
                    "signal): a customer's events from one such event to the next are one "
                    "journey. Events before the first are an episode of their own.")


class Journey(Model):
    id: Slug
    name: Text
    segment: Slug | None = None
    stages: list[Stage] = Field(min_length=1)
    touchpoints: list[Touchpoint] = Field(min_length=1)
    designed_path: list[Slug] = Field(
        default_factory=list, description="Touchpoint ids in the intended order."
    )
    goal: Slug | None = Field(default=None, description="Touchpoint that means the goal is met.")
    other_goals: list[Slug] = Field(
        default_factory=list, max_length=50,
        description="Further touchpoints that also mean the journey served its need (an "
                    "order delivered without installation): a journey that reaches the goal "
                    "or any of these is not lost. Needs a `goal`.")
    episodes: Episodes | None = Field(
        default=None,
        description="Cut each customer's events into episodes, one journey per need: "
                    "without it a journey is all of a customer's events.")

    @property
    def goals(self) -> list[str]:
        """Every touchpoint that means the journey reached its goal: `goal` first."""
        return list(dict.fromkeys([self.goal, *self.other_goals])) if self.goal else []
