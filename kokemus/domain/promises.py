"""The value proposition, the customer promises that make it concrete, and their commitments:
the measurable parts, each judged on the events (docs/promises.md defines every kind).

A commitment is one of five kinds, written with `kind:` in the workspace (default `within`,
the shape every workspace had before the kinds existed):

- `within`: from a start event to an end event within a time ("express order installed
  within 48 h"); `respond` is the same measure read as a reply ("a delay told within 2 h");
- `never`: an event that must not happen after a scope's start (`cancellation_refused`), or
  not more than `at_most` times (a second delivery attempt);
- `score`: a touchpoint's NPS, CES or CSAT at or above a target, judged with its interval;
- `first_contact`: a contact need solved without a second contact of the same need within
  a window.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

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


# A property value a condition compares with: the event's JSON value as text ("true" for
# true), so the same comparison runs in every engine.
Value = str | int | float | bool
EventTypes = Slug | Annotated[list[Slug], Field(min_length=1, max_length=20)]


def types_of(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class _Measured(Model):
    """What every commitment has: an id, its wording, and who the case is."""

    id: Slug
    text: Text
    case: Literal["customer", "account"] = Field(
        default="customer", description="Whose events: a customer's, or a B2B account's.")


class _Clocked(_Measured):
    """A commitment with a clock: a limit, the share of it after which an open occurrence is
    at risk, whether the limit counts the workspace's business hours only, and which start
    events it applies to."""

    within: Duration = Field(description="Allowed time, e.g. 48h (business hours: 8h).")
    business_hours: bool = Field(
        default=False, description="Count only the workspace's business hours.")
    at_risk: float = Field(default=0.8, gt=0, lt=1,
                           description="Share of the time after which an open one is at risk.")
    where: dict[Slug, Value | list[Value]] = Field(
        default_factory=dict, max_length=10,
        description="Conditions on the starting event's properties (a list: one of).")
    channels: list[Slug] = Field(default_factory=list,
                                 description="Only starts on these channels.")
    segments: list[Slug] = Field(default_factory=list,
                                 description="Only customers in these segments.")

    @property
    def seconds(self) -> float:
        return parse_duration(self.within)


class Within(_Clocked):
    """From `start` to `end` within a time; each start event opens an occurrence."""

    kind: Literal["within"] = "within"
    start: EventTypes = Field(description="Event type that starts the clock, e.g. order_placed.")
    end: EventTypes = Field(description="Event type that keeps the commitment in time.")
    match: Slug | None = Field(
        default=None, description="A property both events carry (e.g. order): only an end "
                                  "with the start's value closes it.")

    @model_validator(mode="after")
    def _apart(self) -> Within:
        both = set(types_of(self.start)) & set(types_of(self.end))
        if both:
            raise ValueError(f"an event type cannot both start and end it: {sorted(both)}")
        return self


class Respond(Within):
    """After `start`, `end` must follow within a time: a reply, a notice, a call back."""

    kind: Literal["respond"]  # type: ignore[assignment]


class Never(_Measured):
    """`event` must not happen (more than `at_most` times) after `start`, within `within`
    when given; without `start`, the case's first event is the start."""

    kind: Literal["never"]
    event: EventTypes = Field(description="The event that must not happen.")
    start: EventTypes | None = Field(default=None, description="The scope's start event.")
    within: Duration | None = Field(default=None, description="How long the scope lasts.")
    at_most: int = Field(default=0, ge=0, le=100, description="Times it may happen.")
    match: Slug | None = None
    where: dict[Slug, Value | list[Value]] = Field(default_factory=dict, max_length=10)
    channels: list[Slug] = Field(default_factory=list)
    segments: list[Slug] = Field(default_factory=list)

    @property
    def seconds(self) -> float | None:
        return parse_duration(self.within) if self.within else None


class ScoreTarget(_Measured):
    """A touchpoint's score must stay at or above `target` (default: the touchpoint's own
    target): kept when the interval's low end reaches it, broken when its high end is
    below it, otherwise not decided."""

    kind: Literal["score"]
    touchpoint: Slug
    score: Literal["nps", "ces", "csat"]
    target: float | None = Field(default=None, ge=-100, le=100)


class FirstContact(_Measured):
    """A contact need (the `need` property of the contact event) is solved without a
    second contact of the same need within `within`."""

    kind: Literal["first_contact"]
    event: EventTypes = Field(description="The contact event, e.g. service_contact.")
    need: Slug = Field(description="The property naming the need, e.g. reason.")
    within: Duration = Field(description="The window a second contact falls in, e.g. 7d.")
    channels: list[Slug] = Field(default_factory=list)
    segments: list[Slug] = Field(default_factory=list)

    @property
    def seconds(self) -> float:
        return parse_duration(self.within)


KINDS = ("within", "respond", "never", "score", "first_contact")


def _kind(value: Any) -> str:
    """The commitment's kind: its `kind`, or `within` when it names none."""
    kind = value.get("kind", "within") if isinstance(value, dict) else getattr(
        value, "kind", "within")
    # An unknown kind goes to no branch: pydantic names the kinds that exist.
    return f"commitment[{kind}]"


# The tags carry "[": workspace errors leave such union branch names out of a field's path.
Commitment = Annotated[
    Annotated[Within, Tag("commitment[within]")]
    | Annotated[Respond, Tag("commitment[respond]")]
    | Annotated[Never, Tag("commitment[never]")]
    | Annotated[ScoreTarget, Tag("commitment[score]")]
    | Annotated[FirstContact, Tag("commitment[first_contact]")],
    Discriminator(_kind, custom_error_type="commitment_kind",
                  custom_error_message=f"kind must be one of: {', '.join(KINDS)}"),
]

# The kinds judged occurrence by occurrence on the events (a score is judged on answers).
Clocked = Within | Respond | Never | FirstContact


class Promise(Model):
    id: Slug
    text: Text
    departments: list[Slug] = Field(min_length=1, description="Departments that must keep it.")
    channels: list[Slug] = Field(default_factory=list, description="Channels it is made in.")
    commitments: list[Commitment] = Field(default_factory=list)
