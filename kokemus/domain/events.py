"""What comes in from channels: events, customers, accounts and their stakeholders."""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from kokemus.domain.texts import Language

# Free-form JSON from outside (event properties, customer and account attributes) is bounded:
# a few levels of nesting and a few kilobytes are what a channel has to say about one event
# or one person; past that it is a mistake or an attack, refused with the item, not stored.
MAX_JSON_DEPTH = 16
MAX_JSON_BYTES = 32_768


# A NUL escaped by orjson: `\u0000` after an even run of backslashes (after an odd run the
# backslash is itself escaped, and the text is a person's literal "\u0000", which is fine).
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_NUL = "holds a NUL character (\\u0000), which no store keeps"


def _bounded(value: dict[str, Any]) -> dict[str, Any]:
    if not value:
        return value
    # most objects are flat: nothing to walk when no value nests
    nested = [(v, 2) for v in value.values() if isinstance(v, dict | list)]
    while nested:  # a loop, not recursion: any depth is measured without a RecursionError
        item, depth = nested.pop()
        if depth > MAX_JSON_DEPTH:
            raise PydanticCustomError(
                "too_deep", "nested deeper than {max_depth} levels",
                {"max_depth": MAX_JSON_DEPTH})
        children = item.values() if isinstance(item, dict) else item
        nested.extend((child, depth + 1) for child in children
                      if isinstance(child, dict | list))
    text = orjson.dumps(value)
    if _ESCAPED_NUL.search(text):
        raise PydanticCustomError("nul", _NUL)
    size = len(text)
    if size > MAX_JSON_BYTES:
        raise PydanticCustomError(
            "too_large", "{size} bytes of JSON; at most {max_bytes}",
            {"size": size, "max_bytes": MAX_JSON_BYTES})
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_bounded), Field(
    description=f"Any JSON object, nested at most {MAX_JSON_DEPTH} levels deep and at most "
                f"{MAX_JSON_BYTES} bytes as JSON.")]

def _no_nul(text: str) -> str:
    # PostgreSQL keeps no NUL character in text, nor does JSON text in a store survive one
    if "\x00" in text:
        raise PydanticCustomError("nul", _NUL)
    return text


Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True),
                       AfterValidator(_no_nul)]
EventType = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", max_length=100)
]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]


class Incoming(BaseModel):
    """Inputs from outside reject unknown fields: a misspelt field is an error, not lost data."""

    model_config = ConfigDict(extra="forbid")


# Events kokemus writes itself (the promise clocks, engine/clocks.py; the case SLA pass,
# services/cases.py): a client may not send them, nor take their ids first, which would
# stop the real mark (the store keeps the first event of an id).
PROMISE_AT_RISK = "promise_at_risk"
PROMISE_BREACHED = "promise_breached"
CASE_AT_RISK = "case_at_risk"
CASE_BREACHED = "case_breached"
RESERVED_TYPES = (PROMISE_AT_RISK, PROMISE_BREACHED, CASE_AT_RISK, CASE_BREACHED)


def _not_reserved(text: str) -> str:
    if text.split(":", 1)[0] in RESERVED_TYPES:
        raise PydanticCustomError(
            "reserved", "{kind} events are written by kokemus itself, not sent to it",
            {"kind": text.split(":", 1)[0]})
    return text


class Event(Incoming):
    id: Annotated[Identifier, AfterValidator(_not_reserved)] = Field(
        description="Idempotency key: the same id is stored once.")
    type: Annotated[EventType, AfterValidator(_not_reserved)] = Field(
        description="What happened, e.g. order_placed.")
    customer: Identifier
    account: Identifier | None = Field(default=None, description="B2B account, if any.")
    channel: Name
    touchpoint: Name | None = Field(
        default=None, description="Touchpoint id; default: mapped from the type by the workspace."
    )
    occurred_at: AwareDatetime = Field(description="When it happened; the time zone is required.")
    properties: JsonObject = Field(default_factory=dict)


class Customer(Incoming):
    id: Identifier
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")] | None = None
    name: Annotated[str, StringConstraints(max_length=200), AfterValidator(_no_nul)] | None = None
    language: Language | None = None
    segments: list[Name] = Field(default_factory=list)
    account: Identifier | None = None
    role: Name | None = Field(
        default=None, description="Role in the account's buying decision, e.g. decider, user."
    )
    attributes: JsonObject = Field(default_factory=dict)


class Stakeholder(Incoming):
    customer: Identifier
    role: Name


class Account(Incoming):
    id: Identifier
    name: Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_nul)]
    segments: list[Name] = Field(default_factory=list)
    attributes: JsonObject = Field(default_factory=dict)
    stakeholders: list[Stakeholder] = Field(
        default_factory=list, description="People in the buying decision, with their role."
    )
