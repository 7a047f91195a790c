"""Cases: work one department owns for one customer (or account), from the moment something
went wrong until it is put right, and the workspace's policy for them (`cases:`).

A case moves through these states, and only along these moves:

    new ──► assigned ──► in_progress ──► resolved ──► closed
                          │   ▲    │        │
                          ▼   │    └──────► │ (reopen: resolved ──► in_progress)
                         waiting ─────────► ┘

- new → assigned: someone takes it (assigning a new case moves it);
- assigned → in_progress: work starts;
- in_progress ⇄ waiting: waiting for the customer, and back when they answer;
- in_progress or waiting → resolved: put right (the follow-up survey goes out);
- resolved → in_progress: reopened, it was not right after all;
- resolved → closed: done; a closed case moves no more.

Every other move is refused with the moves the case has from where it is.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kokemus.domain.durations import parse_duration
from kokemus.domain.errors import KokemusError
from kokemus.domain.promises import Duration, Model
from kokemus.domain.texts import Slug

State = Literal["new", "assigned", "in_progress", "waiting", "resolved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]

STATES: tuple[State, ...] = ("new", "assigned", "in_progress", "waiting", "resolved",
                             "closed")
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")
OPEN: tuple[State, ...] = ("new", "assigned", "in_progress", "waiting")  # on the SLA clock
MOVES: dict[str, tuple[State, ...]] = {
    "new": ("assigned",),
    "assigned": ("in_progress",),
    "in_progress": ("waiting", "resolved"),
    "waiting": ("in_progress", "resolved"),
    "resolved": ("in_progress", "closed"),
    "closed": (),
}
# Who may be given a case in each state (a closed or resolved case is reopened first).
ASSIGNABLE: tuple[State, ...] = OPEN
# What the history of a case records (case_events.kind).
EVENT_KINDS = ("opened", "assigned", "state", "note", "escalated", "followup")
AT_RISK, BREACHED = "at_risk", "breached"  # cases.escalated, in this order


class BadMove(KokemusError):
    """A state change the state machine does not allow."""

    def __init__(self, current: str, wanted: str) -> None:
        allowed = MOVES.get(current, ())
        then = ", ".join(allowed) if allowed else "none: a closed case moves no more"
        super().__init__(f"a case in state '{current}' cannot move to '{wanted}' "
                         f"(from {current}: {then})")
        self.current, self.wanted = current, wanted


def check_move(current: str, wanted: str) -> None:
    """Refuse a move the state machine does not have (BadMove names the ones it has)."""
    if wanted not in STATES:
        raise BadMove(current, wanted)
    if wanted not in MOVES.get(current, ()):
        raise BadMove(current, wanted)


class Slas(Model):
    """How long a case may stay open, by priority; none: no SLA for that priority."""

    low: Duration | None = "5d"
    normal: Duration | None = "2d"
    high: Duration | None = "1d"
    urgent: Duration | None = "4h"

    def seconds(self, priority: str) -> float | None:
        value = getattr(self, priority, None)
        return None if value is None else parse_duration(value)


class CasePolicy(Model):
    """The workspace's rules for cases (`cases:` in the workspace document)."""

    sla: Slas = Field(default_factory=Slas, description=(
        "Resolve within this long, by priority (a rule's `sla` overrides it); the clock runs "
        "from the moment the case is opened, in wall time."))
    at_risk: float = Field(default=0.8, gt=0, lt=1, description=(
        "The share of the SLA used after which an open case is at risk."))
    follow_up: Slug | None = Field(default=None, description=(
        "A survey invitation sent to the customer when their case is resolved; none: no "
        "survey."))
    follow_up_delay: Duration = Field(default="1d", description=(
        "How long after the resolution the follow-up invitation is due."))

    @property
    def follow_up_seconds(self) -> float:
        return parse_duration(self.follow_up_delay)
