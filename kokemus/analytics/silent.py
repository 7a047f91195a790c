"""Silent moments (seed 002): what an unused touchpoint with traffic could be worth.

value per year = people per occasion x share who buy x average basket x occasions per day
x days per year (REFERENCE.md, "Opportunity of a silent moment"). The share who buy, the
basket, the occasions and the days come from the workspace (`insights.silent_moments`);
the people per occasion too when it is given, else from the touchpoint's observed traffic:
its events per day (events over the days from its first to its last event, both included)
divided by the occasions per day. Every input is returned with where it came from, so a
page can show the formula with its numbers.

Touchpoints with traffic that no survey asks about and no assumption sizes are listed as
candidates, with their traffic, so that someone can size them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from kokemus.analytics.scores import sql_time as _time
from kokemus.domain.insights import SilentMoment, opportunity
from kokemus.domain.workspace import Workspace


@dataclass(frozen=True)
class Traffic:
    touchpoint: str
    events: int
    days: int  # from the first event's day to the last's, both included
    per_day: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"touchpoint": self.touchpoint, "events": self.events,
                "days": self.days, "per_day": self.per_day}


@dataclass(frozen=True)
class Opportunity:
    touchpoint: str
    people_per_occasion: float | None
    people_source: str  # "workspace" or "events"
    share_buying: float
    basket: float
    occasions_per_day: float
    days_per_year: float
    traffic: Traffic
    per_occasion: float | None  # people x share x basket
    per_day: float | None
    per_year: float | None  # None when no people given and no traffic seen

    def as_dict(self) -> dict[str, Any]:
        return {"touchpoint": self.touchpoint,
                "formula": "people_per_occasion * share_buying * basket * occasions_per_day"
                           " * days_per_year",
                "inputs": {"people_per_occasion": self.people_per_occasion,
                           "people_source": self.people_source,
                           "share_buying": self.share_buying, "basket": self.basket,
                           "occasions_per_day": self.occasions_per_day,
                           "days_per_year": self.days_per_year},
                "traffic": self.traffic.as_dict(), "per_occasion": self.per_occasion,
                "per_day": self.per_day, "per_year": self.per_year}


@dataclass(frozen=True)
class SilentReport:
    moments: list[Opportunity]  # largest value first
    candidates: list[Traffic]  # traffic, no survey, not sized

    def as_dict(self) -> dict[str, Any]:
        return {"moments": [m.as_dict() for m in self.moments],
                "candidates": [c.as_dict() for c in self.candidates]}


def size(moment: SilentMoment, traffic: Traffic) -> Opportunity:
    """One silent moment's value from its assumptions and, where needed, its traffic."""
    people, source = moment.people_per_occasion, "workspace"
    if people is None:
        source = "events"
        people = None if traffic.per_day is None else traffic.per_day / moment.occasions_per_day
    if people is None:
        return Opportunity(moment.touchpoint, None, source, moment.share_buying, moment.basket,
                           moment.occasions_per_day, moment.days_per_year, traffic,
                           None, None, None)
    year = opportunity(people, moment.share_buying, moment.basket, moment.occasions_per_day,
                       moment.days_per_year)
    occasion = people * moment.share_buying * moment.basket
    return Opportunity(moment.touchpoint, people, source, moment.share_buying, moment.basket,
                       moment.occasions_per_day, moment.days_per_year, traffic, occasion,
                       occasion * moment.occasions_per_day, year)


def traffic(cursor: duckdb.DuckDBPyConnection, workspace_id: int,
            since: datetime | None = None, until: datetime | None = None) -> dict[str, Traffic]:
    """Events per touchpoint (by the event's touchpoint, named or mapped from its type)."""
    where = [f"workspace_id = {int(workspace_id)}", "touchpoint IS NOT NULL"]
    if since is not None:
        where.append(f"occurred_at >= {_time(since)}")
    if until is not None:
        where.append(f"occurred_at < {_time(until)}")
    found: dict[str, Traffic] = {}
    # events, not distinct customers: the formula sizes traffic per day, and counting
    # customers per touchpoint hashed every (touchpoint, customer) pair of the store
    for touchpoint, events, days in cursor.execute(f"""
            SELECT touchpoint, count(*),
                   date_diff('day', min(occurred_at)::DATE, max(occurred_at)::DATE) + 1
            FROM events WHERE {' AND '.join(where)} GROUP BY touchpoint""").fetchall():
        found[touchpoint] = Traffic(touchpoint, int(events), int(days),
                                    int(events) / int(days) if days else None)
    return found


def report(cursor: duckdb.DuckDBPyConnection, workspace_id: int, document: Workspace,
           since: datetime | None = None, until: datetime | None = None) -> SilentReport:
    seen = traffic(cursor, workspace_id, since, until)
    moments = [size(m, seen.get(m.touchpoint, Traffic(m.touchpoint, 0, 0, None)))
               for m in document.insights.silent_moments]
    moments.sort(key=lambda m: (-(m.per_year or -1.0), m.touchpoint))
    sized = {m.touchpoint for m in moments}
    asked = {s.touchpoint for s in document.surveys if s.touchpoint}
    candidates = sorted((t for t in seen.values() if t.touchpoint not in sized | asked),
                        key=lambda t: (-t.events, t.touchpoint))
    return SilentReport(moments, candidates)
