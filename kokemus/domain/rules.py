"""Rules: what kokemus does when it sees something (the workspace document's `rules:`).

A rule has one trigger (`on`) and one or more actions (`do`), both data:

- triggers: an event (type, conditions on its properties, the customer's segments, B2B
  roles and consent), a survey answer (score bounds, a comment that mentions a theme), a
  promise at risk or breached (the clocks' marks, engine/clocks.py), a score crossing its
  touchpoint's target, or a schedule (cron in the workspace's time zone);
- actions: send a survey invitation, an email from a template, call a webhook, open a case
  for a department, notify the customer (email, or SMS/chat through a webhook), start or
  stop a sequence.

Conditions are comparisons written as data (`{gte: 500}`, `{in: [Kiito, Rahtisiili]}`),
turned into SQL by the engine with bound values; templates are rendered in Jinja2's
sandbox from a plain dict of the customer's and the event's data. Nothing is `eval`led.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import Field, HttpUrl, field_validator, model_validator

from kokemus.domain.cron import parse as parse_cron
from kokemus.domain.durations import parse_duration
from kokemus.domain.privacy import Purpose
from kokemus.domain.promises import Duration, Model
from kokemus.domain.texts import Slug, Text

Value = int | float | str | bool
MAX_ACTIONS = 10
MAX_CONDITIONS = 20
MAX_TEMPLATE = 20_000  # characters of a subject or body
MAX_HOLDOUT = 0.5  # a rule that leaves out more than half is not the rule any more


class Compare(Model):
    """One comparison of a value; several given all hold."""

    eq: Value | None = None
    ne: Value | None = None
    lt: float | None = None
    lte: float | None = None
    gt: float | None = None
    gte: float | None = None
    in_: list[Value] | None = Field(default=None, alias="in", max_length=200)
    not_in: list[Value] | None = Field(default=None, max_length=200)
    exists: bool | None = None

    @model_validator(mode="after")
    def _some(self) -> Compare:
        if not self.model_fields_set:
            raise ValueError("a condition needs one of eq, ne, lt, lte, gt, gte, in, not_in, "
                             "exists")
        return self

    def checks(self) -> list[tuple[str, Any]]:
        """(operator, operand) pairs, in a fixed order."""
        out: list[tuple[str, Any]] = []
        for name in ("eq", "ne", "lt", "lte", "gt", "gte", "in_", "not_in", "exists"):
            value = getattr(self, name)
            if value is not None:
                out.append((name.rstrip("_"), value))
        return out


Condition = Annotated[Value | Compare, Field(description=(
    "A value to equal, or comparisons: eq, ne, lt, lte, gt, gte, in, not_in, exists."))]


class OnEvent(Model):
    on: Literal["event"]
    event: Slug = Field(description="The event type.")
    where: dict[str, Condition] = Field(
        default_factory=dict, max_length=MAX_CONDITIONS,
        description="Conditions on the event's properties, all of which must hold.")
    segments: list[Slug] = Field(default_factory=list, description="Only customers in these.")
    roles: list[Slug] = Field(default_factory=list, description="Only these B2B buying roles.")
    consent: Purpose | None = Field(default=None, description=(
        "Only customers whose consent for this purpose is in force (surveys, marketing, "
        "device_actions): their latest statement, else the purpose's default."))


class OnAnswer(Model):
    on: Literal["answer"]
    survey: Slug | None = Field(default=None, description="Only answers to this survey.")
    nps: Compare | None = None
    ces: Compare | None = None
    csat: Compare | None = None
    theme: Slug | None = Field(default=None, description=(
        "Only answers whose comment mentions this theme (insights.themes)."))


class OnPromise(Model):
    on: Literal["promise"]
    state: Literal["at_risk", "breached"]
    commitments: list[str] = Field(default_factory=list, description=(
        "`promise.commitment` ids; none: every commitment."))


class OnScore(Model):
    on: Literal["score"]
    score: Literal["nps", "ces", "csat"]
    touchpoint: Slug | None = None
    segment: Slug | None = None
    below: float | None = Field(default=None, description="Fires when the score falls below.")
    above: float | None = Field(default=None, description="Fires when the score rises above.")
    window: Duration = Field(default="30d", description="Answers of this long a period.")

    @model_validator(mode="after")
    def _bound(self) -> OnScore:
        if (self.below is None) == (self.above is None):
            raise ValueError("a score trigger needs one of below, above")
        return self


class OnSchedule(Model):
    on: Literal["schedule"]
    cron: str = Field(max_length=100, description=(
        "Minute, hour, day of month, month, day of week, in the workspace's time zone."))

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        parse_cron(value)  # a ValueError names the field and what is wrong
        return value


Trigger = Annotated[OnEvent | OnAnswer | OnPromise | OnScore | OnSchedule,
                    Field(discriminator="on")]


class SendSurvey(Model):
    do: Literal["survey"]
    survey: Slug
    delay: Duration = "0s"


class SendEmail(Model):
    do: Literal["email"]
    subject: Text = Field(description="A template per language (Jinja2, sandboxed).")
    body: Text = Field(description="A template per language (Jinja2, sandboxed).")
    delay: Duration = "0s"


class CallWebhook(Model):
    do: Literal["webhook"]
    url: HttpUrl
    secret_env: str = Field(
        pattern=r"^[A-Z][A-Z0-9_]*$", max_length=100,
        description="The environment variable holding the signing secret (whsec_...).")
    body: str | None = Field(default=None, max_length=MAX_TEMPLATE, description=(
        "A JSON template; none: the event, the customer and the rule as JSON."))


class OpenCase(Model):
    do: Literal["case"]
    department: Slug
    title: Text
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    sla: Duration | None = Field(default=None, description=(
        "Resolve within this long; none: the workspace's case policy."))


class Notify(Model):
    """Tell the customer before they have to ask: by email now, or by SMS or chat through a
    webhook that the workspace's messaging provider receives."""

    do: Literal["notify"]
    via: Literal["email", "sms", "chat"] = "email"
    subject: Text | None = None
    body: Text
    url: HttpUrl | None = Field(default=None, description="The provider's webhook (sms, chat).")
    secret_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$", max_length=100)

    @model_validator(mode="after")
    def _route(self) -> Notify:
        if self.via != "email" and (self.url is None or self.secret_env is None):
            raise ValueError(f"notify via {self.via} needs url and secret_env")
        if self.via == "email" and self.subject is None:
            raise ValueError("notify via email needs a subject")
        return self


class Sequence(Model):
    do: Literal["start_sequence", "stop_sequence"]
    sequence: Slug


Action = Annotated[SendSurvey | SendEmail | CallWebhook | OpenCase | Notify | Sequence,
                   Field(discriminator="do")]


class Rule(Model):
    id: Slug
    name: Text
    enabled: bool = True
    when: Trigger
    actions: list[Action] = Field(min_length=1, max_length=MAX_ACTIONS)
    holdout: float = Field(default=0.0, ge=0.0, le=MAX_HOLDOUT, description=(
        "A share of customers (0-0.5) the rule leaves out, always the same ones: a control "
        "group, so that what the rule does can be compared with not doing it (the recovery "
        "report of a case rule). Who is left out follows from the rule id and the customer "
        "id alone (held_out), so a replay and every worker agree."))

    @model_validator(mode="before")
    @classmethod
    def _on_key(cls, data: Any) -> Any:
        """YAML 1.1 (PyYAML's safe_load) reads the key `on` as the boolean true: a trigger
        written `on: event` arrives as {True: "event"}."""
        if isinstance(data, dict) and isinstance(data.get("when"), dict) and (
                True in data["when"] and "on" not in data["when"]):
            when = dict(data["when"])
            when["on"] = when.pop(True)
            return {**data, "when": when}
        return data

    def delay_seconds(self, index: int) -> float:
        action = self.actions[index]
        return parse_duration(getattr(action, "delay", "0s"))

    def holds_out(self, customer: str | None) -> bool:
        """Whether the rule leaves this customer out (its holdout); a cause without a
        customer is never held out."""
        return customer is not None and held_out(self.id, customer, self.holdout)


def held_out(rule: str, customer: str, share: float) -> bool:
    """The customer's place in [0, 1) drawn from a digest of the rule and the customer,
    below `share`: stable across runs, processes and machines (no seed, no state), and
    independent of anything about the customer, as a control group must be."""
    if share <= 0:
        return False
    digest = hashlib.blake2b(f"{rule}\x00{customer}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share
