"""Privacy by design: what a customer consented to, and how long raw data is kept.

Consent is a list of statements, never an overwritten flag: each says that a customer
granted or withdrew one purpose, when, through which channel and under which version of the
text they were shown. The newest statement for a purpose is in force; the older ones are
the history an auditor (or the customer) asks for. A purpose without any statement falls
back to `DEFAULT`: surveys are allowed (as before consents existed: only an opt-out stops
them), marketing and device actions need an explicit grant.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field

from kokemus.domain.durations import parse_duration
from kokemus.domain.promises import Model

Purpose = Literal["surveys", "marketing", "device_actions"]
PURPOSES: tuple[Purpose, ...] = ("surveys", "marketing", "device_actions")

# What a purpose allows while the customer has said nothing about it.
DEFAULT: dict[Purpose, bool] = {"surveys": True, "marketing": False, "device_actions": False}

MIN_RETENTION_SECONDS = 86_400.0


class ConsentStatement(Model):
    """One statement of a customer about one purpose, as a channel reports it."""

    purpose: Purpose = Field(description="surveys, marketing or device_actions.")
    granted: bool = Field(description="true: agreed; false: refused or withdrew.")
    at: AwareDatetime | None = Field(
        default=None, description="When the customer said it (with a time zone); "
        "default: when it is recorded.")
    channel: str | None = Field(default=None, max_length=64,
                                description="Where it was said: web, email, store, phone...")
    text_version: str | None = Field(default=None, max_length=64,
                                     description="Version of the consent text shown.")


def _retention(text: str | None) -> str | None:
    if text is not None and parse_duration(text) < MIN_RETENTION_SECONDS:
        raise ValueError(f"'{text}' is shorter than a day; a retention period is at least 1d "
                         "(leave it out to keep the data)")
    return text


RetentionPeriod = Annotated[str | None, AfterValidator(_retention)]


class Retention(Model):
    """How long raw data is kept; left out: kept until deleted. The worker applies it."""

    events: RetentionPeriod = Field(
        default=None, description="Events older than this (by occurred_at) are deleted, "
        "e.g. 730d.")
    comments: RetentionPeriod = Field(
        default=None, description="Open-text answers of responses started longer ago than "
        "this are removed; the scores stay. E.g. 365d.")

    @property
    def events_seconds(self) -> float | None:
        return None if self.events is None else parse_duration(self.events)

    @property
    def comments_seconds(self) -> float | None:
        return None if self.comments is None else parse_duration(self.comments)
