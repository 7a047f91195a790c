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
