"""Contact pressure: how often kokemus may reach one customer, whatever reaches them.

The survey policy (`feedback.cap`) says how often one customer is asked for feedback. This
one counts every message that reaches a customer: survey invitations sent, emails and
notices sent by rules, and (next issue) sequence steps, in a rolling period. Quiet hours
are the survey policy's (`feedback.quiet_hours`), one setting for every message.
"""

from __future__ import annotations

from pydantic import Field

from kokemus.domain.durations import parse_duration
from kokemus.domain.promises import Duration, Model


class ContactPolicy(Model):
    """At most `cap` messages to one customer within `per`, across survey invitations, rule
    emails, notices and sequences. An email or an invitation over it is skipped ("contact
    cap"); a notice about the customer's own business (`do: notify`) is counted but never
    held back by it."""

    cap: int = Field(default=3, ge=1, le=1000, description=(
        "Messages one customer may get within `per`."))
    per: Duration = Field(default="7d", description="The rolling period the cap counts in.")

    @property
    def per_seconds(self) -> float:
        return parse_duration(self.per)
