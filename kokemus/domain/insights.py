"""What the workspace tells the insight layer beyond its journeys and promises: the themes
its comments are read for, the assumptions that size a silent moment, and the events that
mean a customer stayed or left. Each part is filled in by the analysis that uses it."""

from __future__ import annotations

from pydantic import Field

from kokemus.domain.promises import Model
from kokemus.domain.texts import Slug


class Outcomes(Model):
    """Event types that tell what a customer did next, for outcome and driver analyses."""

    repurchase: list[Slug] = Field(default_factory=list,
                                   description="Events that mean a customer bought again.")
    churn: list[Slug] = Field(default_factory=list,
                              description="Events that mean a customer left.")


class Insights(Model):
    outcomes: Outcomes = Field(default_factory=Outcomes)
    complaints: list[Slug] = Field(
        default_factory=list, max_length=50,
        description="Event types that are complaints, for the warning signal of complaints "
                    "rising (detractors' comments count without them).")
    listening: list[Slug] = Field(
        default_factory=list, max_length=50,
        description="The channels that listen to social media (default: the channels whose "
                    "id says social media, e.g. social, facebook).")
