"""What comes in from channels: events, customers, accounts and their stakeholders."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from kokemus.domain.texts import Language

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
EventType = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", max_length=100)
]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]


class Incoming(BaseModel):
    """Inputs from outside reject unknown fields: a misspelt field is an error, not lost data."""

    model_config = ConfigDict(extra="forbid")


class Event(Incoming):
    id: Identifier = Field(description="Idempotency key: the same id is stored once.")
    type: EventType = Field(description="What happened, e.g. order_placed.")
    customer: Identifier
    account: Identifier | None = Field(default=None, description="B2B account, if any.")
    channel: Name
    touchpoint: Name | None = Field(
        default=None, description="Touchpoint id; default: mapped from the type by the workspace."
    )
    occurred_at: AwareDatetime = Field(description="When it happened; the time zone is required.")
    properties: dict[str, Any] = Field(default_factory=dict)


class Customer(Incoming):
    id: Identifier
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    language: Language | None = None
    segments: list[Name] = Field(default_factory=list)
    account: Identifier | None = None
    role: Name | None = Field(
        default=None, description="Role in the account's buying decision, e.g. decider, user."
    )
    attributes: dict[str, Any] = Field(default_factory=dict)


class Stakeholder(Incoming):
    customer: Identifier
    role: Name


class Account(Incoming):
    id: Identifier
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    segments: list[Name] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    stakeholders: list[Stakeholder] = Field(
        default_factory=list, description="People in the buying decision, with their role."
    )
