"""The customer's timeline page: one customer's (or one B2B account's) events, answers and
promise verdicts, day by day in the workspace's time zone, with the wait that broke each
broken promise marked between its two events and the department hand-off named.

The figures come from kokemus.analytics.timeline (read in the event store's engine, in
(time, seq) order); this module only puts them into words in the reader's language: the
touchpoint, channel and department names from the workspace document, the verdicts as
badges at the event that started them, and the breaking gaps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from kokemus.analytics import promises, timeline
from kokemus.api.auth import kokemus
from kokemus.domain import calendar
from kokemus.domain.texts import Text, localized
from kokemus.domain.workspace import Workspace
from kokemus.web import i18n, sessions
from kokemus.web.page import Member, PageNotFound, Reader, render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

MAX_ID = 200
MAX_PROPERTIES = 6  # shown beside an event; the API gives them all
VERDICTS = ("kept", "broken", "open", "at_risk")


@dataclass(frozen=True)
class Badge:
    """A promise verdict at the event that started the occurrence."""

    verdict: str  # kept, broken, open, at_risk
    promise: str
    commitment: str
    used: str  # "3 vrk 5 h"; "" when the kind has no clock to show
    limit: str


@dataclass
class Gap:
    """The wait that broke one or more commitments, between two events."""

    span: str
    departure: str  # the department before the wait ("–" when unknown)
    arrival: str | None  # the one after it; None when nothing followed yet
    same: bool  # no hand-off: the wait stayed in one department
    broke: list[str] = field(default_factory=list)


@dataclass
class Entry:
    """One line of the timeline: an event, an answer, or a breaking gap."""

    kind: str  # event, response, gap
    time: str
    anchor: str = ""
    title: str = ""
    touchpoint: str | None = None
    channel: str | None = None
    department: str | None = None
    person: str | None = None  # on an account's timeline
    details: list[tuple[str, str]] = field(default_factory=list)
    badges: list[Badge] = field(default_factory=list)
    scores: list[tuple[str, int]] = field(default_factory=list)
    comment: str | None = None
    link: str | None = None
    gap: Gap | None = None


@dataclass
class Day:
    heading: str
    iso: str
    entries: list[Entry] = field(default_factory=list)


@dataclass
class TimelinePage:
    slug: str
    workspace: str
    kind: str  # customer, account
    subject: str
    people: list[str]
    as_of: str
    as_of_day: str
    zone: str
    events: int
    responses: int
    counts: dict[str, int]
    days: list[Day]
    errors: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------ words


def span(seconds: float, language: str) -> str:
    """A wait in its two largest units: "3 vrk 4 h", "2 h 5 min", "40 min", "12 s"."""
    t = i18n.translator(language)
    whole = max(0, round(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts: list[tuple[int, str]]
    if days:
        parts = [(days, "d"), (hours, "h")]
    elif hours:
        parts = [(hours, "h"), (minutes, "min")]
    elif minutes:
        parts = [(minutes, "min")]
    else:
        parts = [(secs, "s")]
    shown = [f"{n}\u00a0{t(f'unit.{unit}')}" for n, unit in parts if n or unit == parts[0][1]]
    return " ".join(shown)


def day_heading(day: date, language: str) -> str:
    t = i18n.translator(language)
    weekday = t("timeline.weekdays").split()[day.weekday()]
    month = t("timeline.months").split()[day.month - 1]
    return t("timeline.day", weekday=weekday, d=day.day, m=day.month, month=month,
             y=day.year)


def clock(moment: datetime, language: str) -> str:
    return i18n.clock(moment, language)


def _names(document: Workspace, language: str) -> dict[str, dict[str, str]]:
    def named(items: Any) -> dict[str, str]:
        return {i.id: localized(i.name, language) for i in items}

    texts: dict[str, Text] = {}
    promises: dict[str, Text] = {}
    for promise, commitment in document.commitments():
        texts[commitment.id] = commitment.text
        promises[promise.id] = promise.text
    return {
        "touchpoint": named(document.touchpoints()),
        "channel": named(document.channels),
        "department": named(document.departments),
        "survey": named(document.surveys),
        "commitment": {k: localized(v, language) for k, v in texts.items()},
        "promise": {k: localized(v, language) for k, v in promises.items()},
    }


# ------------------------------------------------------------------------------ page


def build(found: timeline.Timeline, member: Member, language: str,
          errors: list[str] | None = None) -> TimelinePage:
    document = member.workspace.document
    zone = ZoneInfo(document.business_hours.timezone)
    names = _names(document, language)
    account = found.account is not None
    slug = member.workspace.slug

    def name(kind: str, ident: str | None) -> str | None:
        if ident is None:
            return None
        return names[kind].get(ident, ident)

    events = found.events.to_pylist()
    lines: list[tuple[tuple[Any, ...], datetime, Entry]] = []
    by_id: dict[str, Entry] = {}
    keys: dict[str, tuple[Any, ...]] = {}
    for row in events:
        at = row["occurred_at"].astimezone(zone)
        props = orjson.loads(row["properties"]) if row["properties"] else {}
        details = [(str(k), _plain(v)) for k, v in list(props.items())[:MAX_PROPERTIES]]
        entry = Entry("event", clock(at, language), anchor=f"e-{row['id']}", title=row["type"],
                      touchpoint=name("touchpoint", row["touchpoint"]),
                      channel=name("channel", row["channel"]),
                      department=name("department", row["department"]),
                      person=row["customer"] if account else None, details=details)
        key = (row["occurred_at"], 0, row["seq"], 0)
        by_id[row["id"]] = entry
        keys[row["id"]] = key
        lines.append((key, at, entry))

    for row in found.responses.to_pylist():
        at = row["started_at"].astimezone(zone)
        scores = [(kind.upper(), row[kind]) for kind in ("nps", "ces", "csat")
                  if row[kind] is not None]
        entry = Entry("response", clock(at, language), anchor=f"r-{row['id']}",
                      title=name("survey", row["survey"]) or row["survey"],
                      touchpoint=name("touchpoint", row["touchpoint"]),
                      channel=name("channel", row["channel"]),
                      department=name("department", row["department"]),
                      person=row["customer"] if account else None, scores=scores,
                      comment=row["comment"],
                      link=f"/w/{slug}/responses/{row['id']}")
        lines.append(((row["started_at"], 1, 0, 0), at, entry))

    counts = dict.fromkeys(VERDICTS, 0)
    gaps: dict[tuple[str, str | None], Gap] = {}
    for row in found.promises.to_pylist():
        if row["verdict"] == "not_applicable":
            continue
        verdict = "at_risk" if row["at_risk"] else row["verdict"]
        counts[verdict] += 1
        timed = row["limit_s"] is not None and row["kind"] != "never"
        badge = Badge(verdict, name("promise", row["promise"]) or row["promise"],
                      name("commitment", row["commitment"]) or row["commitment"],
                      span(row["used_s"], language) if timed else "",
                      span(row["limit_s"], language) if timed else "")
        host = by_id.get(row["occurrence"]) or _first_at(events, by_id, row["start_ts"])
        if host is not None:
            host.badges.append(badge)
        if row["verdict"] != "broken" or row["gap_s"] is None or row["gap_from"] not in keys:
            continue
        pair = (row["gap_from"], row["gap_to"])
        if pair not in gaps:
            before, after = row["from_department"], row["to_department"]
            gaps[pair] = Gap(span(row["gap_s"], language),
                             name("department", before) or "\u2013",
                             None if row["gap_to"] is None
                             else (name("department", after) or "\u2013"),
                             row["gap_to"] is not None and before == after)
            at = row["gap_from_ts"].astimezone(zone)
            lines.append(((*keys[row["gap_from"]][:3], 1), at,
                          Entry("gap", clock(at, language), anchor=f"gap-{row['gap_from']}",
                                gap=gaps[pair])))
        gaps[pair].broke.append(badge.commitment)

    lines.sort(key=lambda line: line[0])  # one customer's few lines
    days: list[Day] = []
    for _, at, entry in lines:
        local = at.date()
        if not days or days[-1].iso != local.isoformat():
            days.append(Day(day_heading(local, language), local.isoformat()))
        days[-1].entries.append(entry)

    # a day's end is shown as its last minute, on the day that was asked for
    as_of = (found.as_of - timedelta(microseconds=1)).astimezone(zone)
    return TimelinePage(
        slug=slug, workspace=localized(document.name, language),
        kind="account" if account else "customer",
        subject=str(found.account if account else found.customer),
        people=list(found.people), as_of=f"{day_heading(as_of.date(), language)} "
                                         f"{clock(as_of, language)}",
        as_of_day=as_of.date().isoformat(), zone=document.business_hours.timezone,
        events=len(events), responses=found.responses.num_rows, counts=counts, days=days,
        errors=errors or [])


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _first_at(events: list[dict[str, Any]], by_id: dict[str, Entry],
              start: datetime) -> Entry | None:
    """The first event at or after `start` (a `never` without a start event begins at the
    case's first event)."""
    for row in events:
        if row["occurred_at"] >= start:
            return by_id[row["id"]]
    return None


def _as_of(text: str | None, zone: ZoneInfo, errors: list[str]) -> datetime | None:
    """The end of the day `text` (YYYY-MM-DD) in the workspace's time zone; None for now."""
    if not text or not text.strip():
        return None
    try:
        day = calendar.day(text)
    except ValueError:
        errors.append("timeline.bad_as_of")
        return None
    end = datetime.combine(day + timedelta(days=1), time.min, zone).astimezone(UTC)
    if not promises.judgeable(end):
        errors.append("timeline.bad_as_of")
        return None
    return end


async def _page(request: Request, member: Member, as_of: str | None, *,
                customer: str | None = None, account: str | None = None) -> Response:
    kk = kokemus(request)
    language = sessions.language(request)
    subject = (customer if customer is not None else account) or ""
    unknown = PageNotFound(f"{member.workspace.slug}/{subject[:MAX_ID]}", member.workspaces)
    if not subject.strip() or len(subject) > MAX_ID:
        raise unknown
    errors: list[str] = []
    zone = ZoneInfo(member.workspace.document.business_hours.timezone)
    moment = _as_of(as_of, zone, errors)
    found = await run_in_threadpool(timeline.read, kk.db, kk.events, member.workspace,
                                    customer=customer, account=account, as_of=moment)
    if found is None:
        raise unknown
    view = build(found, member, language, errors)
    return render(request, "timeline.html", 422 if errors else 200, page=view,
                  slug=view.slug, workspace_name=view.workspace)


@router.get("/w/{slug}/customers/{customer_id}")
async def customer_page(request: Request, customer_id: str, member: Reader,
                        as_of: str | None = None) -> Response:
    return await _page(request, member, as_of, customer=customer_id)


@router.get("/w/{slug}/accounts/{account_id}")
async def account_page(request: Request, account_id: str, member: Reader,
                       as_of: str | None = None) -> Response:
    return await _page(request, member, as_of, account=account_id)
