"""The value proposition and the customer promises that make it concrete."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from kokemus.domain.durations import parse_duration
from kokemus.domain.texts import Slug, Text


def _duration(text: str) -> str:
    parse_duration(text)
    return text


Duration = Annotated[str, AfterValidator(_duration)]


class Model(BaseModel):
    """Workspace documents reject unknown fields, so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ValueProposition(Model):
    statement: Text
    segments: list[Slug] = Field(default_factory=list, description="Target segments.")
    differentiation: Text | None = None
    elements_of_value: list[Slug] = Field(
        default_factory=list,
        description="Elements of value the proposition claims (B2C 30 or B2B 40 list).",
    )
    kind: Annotated[str, Field(pattern="^(b2c|b2b)$")] = "b2c"


class Commitment(Model):
    """A measurable part of a promise: `to` happens within `within` of `start`."""

    id: Slug
    text: Text
    start: Slug = Field(description="Event type that starts the clock, e.g. order_placed.")
    end: Slug = Field(description="Event type that keeps the commitment when it comes in time.")
    within: Duration = Field(description="Allowed time, e.g. 48h.")

    @property
    def seconds(self) -> float:
        return parse_duration(self.within)


class Promise(Model):
    id: Slug
    text: Text
    departments: list[Slug] = Field(min_length=1, description="Departments that must keep it.")
    channels: list[Slug] = Field(default_factory=list, description="Channels it is made in.")
    commitments: list[Commitment] = Field(default_factory=list)
