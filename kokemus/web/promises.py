"""The promise scorecard: is each promise kept, where is it at risk now, what breaking it
costs. Figures from services/promises.py (judged in the engine); this module writes them in
one language and draws them with kokemus.web.charts. A keep rate below the workspace's
minimum n is not shown as a number: the page says "too few to judge".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, tzinfo
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from kokemus.analytics import breakdowns, keep_rates
from kokemus.analytics.breakdowns import Condition, Known
from kokemus.api.auth import kokemus
from kokemus.domain import calendar
from kokemus.domain.scores import Change, Score
from kokemus.domain.texts import localized
from kokemus.services import promises
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import charts, i18n, sessions
from kokemus.web.page import Analyst, filter_day, render
from kokemus.web.scores import (
    Choice,
    Figure,
    Worse,
    check_by,
    check_where,
    choices,
    figure,
    label,
    worse,
)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

BREAKDOWNS: tuple[keep_rates.Breakdown, ...] = ("channel", "segment", "month")
LISTED = 20  # rows of each list on the page


@dataclass(frozen=True)
class Filters:
    by: str | None  # one of BREAKDOWNS, or property:/attribute:/event:
    start: date | None
    end: date | None
    errors: tuple[str, ...] = ()
    outcome: str | None = None
    where: tuple[Condition, ...] = ()
    problems: tuple[str, ...] = ()  # what was wrong with a breakdown or filter, as said


@dataclass(frozen=True)
class RateView:
    key: str
    name: str
    figure: Figure
    kept: str
    broken: str
    open: str
    at_risk: str
    median: str
    p90: str
    pooled: int = 0


@dataclass
class CardView:
    id: str
    kind: str
    text: str
    limit: str
    rate: RateView | None = None
    groups: list[RateView] = field(default_factory=list)
    worst: list[Worse] = field(default_factory=list)
    chart: Markup | None = None
    score: Figure | None = None
    target: str = ""
    verdict: str = ""


@dataclass
class PromiseView:
    id: str
    text: str
    departments: str
    cards: list[CardView]


@dataclass(frozen=True)
class Listed:
    commitment: str
    customer: str
    started: str
    used: str
    limit: str


@dataclass(frozen=True)
class CostView:
    commitment: str
    kept: Figure
    broken: Figure
    difference: str
    significant: bool
    judged: bool
    ces_kept: Figure
    ces_broken: Figure
    outcome_kept: Figure | None
    outcome_broken: Figure | None


@dataclass
class PromisesPage:
    slug: str
    workspace: str
    filters: Filters
    min_answers: int
    as_of: str
    promises: list[PromiseView]
    departments: list[RateView]
    department_chart: Markup | None
    broken: list[Listed]
    broken_total: str
    at_risk: list[Listed]
    at_risk_total: str
    costs: list[CostView]
    outcomes: list[str]  # event types a cost may be measured by (a repurchase, a churn)
    breakdowns: tuple[str, ...] = BREAKDOWNS
    choices: list[Choice] = field(default_factory=list)
    by_label: str = ""


WHERE = ("channel", "touchpoint", "promise", "commitment")


def parse_filters(by: str | None, start: str | None, end: str | None,
                  outcome: str | None = None, outcomes: Sequence[str] = (),
                  where: list[str] | None = None, known: Known | None = None) -> Filters:
    errors: list[str] = []
    problems: list[str] = []
    first = filter_day(start, "scores.bad_from", errors)
    last = filter_day(end, "scores.bad_to", errors)
    chosen: str | None = None
    if by:
        found, problem = check_by(by, BREAKDOWNS, known, default="")
        chosen = found or None
        problems += [problem] if problem else []
    conditions, problem = check_where(where, WHERE, known)
    problems += [problem] if problem else []
    return Filters(chosen, first, last, tuple(errors),
                   outcome if outcome in outcomes else None, conditions, tuple(problems))


def outcome_events(ws: ActiveWorkspace) -> list[str]:
    """The event types of the workspace's touchpoints, which a cost may be measured by."""
    return sorted(ws.document.touchpoint_for_event())


def hours(seconds: float | None, language: str) -> str:
    """A time used, read at a glance: minutes below two hours, hours below three days,
    then days."""
    if seconds is None:
        return ""
    if seconds < 7200:
        value, unit, digits = seconds / 60, "min", 0
    elif seconds < 3 * 86400:
        value, unit, digits = seconds / 3600, "h", 1
    else:
        value, unit, digits = seconds / 86400, "d", 1
    text = f"{value:.{digits}f}".removesuffix(".0")
    if language == "fi":
        text = text.replace(".", ",")
    return f"{text}\u00a0{i18n.translate(f'unit.{unit}', language)}"


def _rate_view(rate: promises.Rate, name: str, language: str) -> RateView:
    n = i18n.number
    if rate.pooled:
        name = i18n.translate("breakdowns.other", language, n=rate.pooled)
    return RateView(rate.key or "", name, figure(rate.rate, language), n(rate.kept, language),
                    n(rate.broken, language), n(rate.open, language), n(rate.at_risk, language),
                    hours(rate.median_s, language), hours(rate.p90_s, language), rate.pooled)


def _names(ws: ActiveWorkspace, by: str | None, language: str) -> dict[str, str]:
    doc = ws.document
    if by == "channel":
        return {c.id: localized(c.name, language) for c in doc.channels}
    if by == "segment":
        return {s.id: localized(s.name, language) for s in doc.segments}
    if by == "department":
        return {d.id: localized(d.name, language) for d in doc.departments}
    if by is not None and by.startswith("event:"):
        return {v: i18n.translate(f"breakdowns.{v}", language) for v in ("yes", "no")}
    return {}


def build(request: Request, ws: ActiveWorkspace, filters: Filters,
          language: str, known: Known | None = None) -> PromisesPage:
    kk = kokemus(request)
    since, until = calendar.period(filters.start, filters.end)
    period = promises.Period.now(since, until)
    table = promises.occurrences(kk, ws, period, where=filters.where)
    card = promises.scorecard(kk, ws, period, by=filters.by, language=language, table=table)
    t = i18n.translator(language)
    names = _names(ws, filters.by, language)
    departments = _names(ws, "department", language)
    views: dict[str, PromiseView] = {}
    for promise in ws.document.promises:
        views[promise.id] = PromiseView(
            promise.id, localized(promise.text, language),
            ", ".join(departments.get(d, d) for d in promise.departments), [])
    for c in card.cards:
        view = CardView(c.commitment, c.kind, c.text,
                        hours(c.limit_s, language) if c.limit_s else "")
        if c.overall is not None:
            view.rate = _rate_view(c.overall, "", language)
            view.groups = [_rate_view(g, names.get(g.key or "", g.key or ""), language)
                           for g in c.groups]
            shown = {g.key: g.name for g in view.groups}
            view.worst = [worse(w, shown.get(w.key, w.key), language) for w in c.worst]
            view.chart = charts.keep_rate_trend(
                [{"week": date.fromisoformat(w.key), "rate": w.rate.value / 100,
                  "low": w.rate.low / 100, "high": w.rate.high / 100, "n": w.rate.n}
                 for w in c.weeks if w.key and w.rate.value is not None
                 and w.rate.low is not None and w.rate.high is not None],
                language, title=t("promises.trend_title", commitment=c.text),
                element_id=f"trend-{c.commitment}")
        if c.score is not None:
            view.score = figure(c.score, language)
            view.target = "" if c.target is None else f"{c.target:g}"
            view.verdict = c.verdict or ""
        views[c.promise].cards.append(view)
    rates = [_rate_view(d, departments.get(d.key or "", d.key or ""), language)
             for d in card.departments]
    chart = charts.bars_with_intervals(
        [{"name": r.name, "value": d.rate.value / 100, "low": d.rate.low / 100,
          "high": d.rate.high / 100, "n": d.rate.n}
         for r, d in zip(rates, card.departments, strict=True)
         if d.rate.enough and d.rate.value is not None and d.rate.low is not None
         and d.rate.high is not None],
        language, charts.Measure(t("charts.keep_rate"), (0.0, 1.0), percent=True),
        group_title=t("promises.department"), title=t("promises.departments_heading"),
        element_id="departments-chart") if card.departments else None
    commitments = promises.commitment_names(ws, language)
    zone = i18n.zone(ws.document)

    def named(event: str) -> str:
        return ws.document.event_name(event, language)
    broken, broken_total = promises.listing(kk, ws, period, "broken", limit=LISTED, table=table)
    risky, risky_total = promises.listing(kk, ws, period, "at_risk", limit=LISTED, table=table)
    costs = promises.consequences(kk, ws, period, table=table, outcome=filters.outcome)
    return PromisesPage(
        slug=ws.slug, workspace=localized(ws.document.name, language), filters=filters,
        min_answers=ws.document.feedback.min_answers,
        as_of=i18n.moment(period.as_of, language, zone),
        promises=list(views.values()), departments=rates, department_chart=chart,
        broken=[_listed(r, commitments, language, zone) for r in broken],
        broken_total=i18n.number(broken_total, language),
        at_risk=[_listed(r, commitments, language, zone) for r in risky],
        at_risk_total=i18n.number(risky_total, language),
        costs=[_cost(c, commitments, t("promises.every_promise"), language) for c in costs],
        outcomes=outcome_events(ws),
        choices=choices(BREAKDOWNS, known or Known(), t, "promises.breakdown.", named),
        by_label=label(filters.by, t, "promises.breakdown.", named) if filters.by else "")


def _listed(row: dict[str, Any], names: dict[str, str], language: str,
            zone: tzinfo) -> Listed:
    return Listed(names.get(row["commitment"], row["commitment"]), row["customer"] or "",
                  i18n.moment(row["start_ts"], language, zone), hours(row["used_s"], language),
                  hours(row["limit_s"], language))


def _cost(c: promises.Consequence, names: dict[str, str], everything: str,
          language: str) -> CostView:
    change: Change = c.nps_change
    kept, broken = change.before, change.after
    difference = "" if change.difference is None else (
        ("+" if change.difference > 0 else "") + f"{change.difference:.0f}".replace("-", "−"))
    name = everything if c.commitment == "*" else names.get(c.commitment, c.commitment)
    outcome = c.outcome_change
    return CostView(name, figure(kept, language), figure(broken, language), difference,
                    change.significant, _judged(kept) and _judged(broken),
                    figure(c.ces_change.before, language), figure(c.ces_change.after, language),
                    figure(outcome.before, language) if outcome else None,
                    figure(outcome.after, language) if outcome else None)


def _judged(score: Score) -> bool:
    return score.enough and score.value is not None


@router.get("/w/{slug}/promises")
def promises_page(
    request: Request,
    member: Analyst,
    by: str | None = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    outcome: str | None = None,
    where: Annotated[list[str] | None, Query(max_length=breakdowns.MAX_FILTERS)] = None,
) -> Response:
    kk = kokemus(request)
    with kk.events.reading() as cursor:
        known = breakdowns.discover(cursor, kk.db, member.workspace.id)
    filters = parse_filters(by, start, end, outcome, outcome_events(member.workspace), where,
                            known)
    page = build(request, member.workspace, filters, sessions.language(request), known)
    status = 422 if filters.errors or filters.problems else 200
    return render(request, "promises.html", status, page=page)
