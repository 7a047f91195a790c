"""The scores page: score cards, a breakdown table and trend charts with interval bands.

The figures come from kokemus.analytics.scores (counted in DuckDB); this module turns them
into text in one language and draws the trends with kokemus.web.charts (Vega-Lite rendered
to SVG on the server), so the page runs no script. A figure below the workspace's minimum n
is never shown as a number: the page says "too few answers" instead, and the charts leave
such points out of the line and the band.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from kokemus.analytics import scores
from kokemus.api.auth import kokemus
from kokemus.bootstrap import Kokemus
from kokemus.domain import calendar
from kokemus.domain.scores import Change, Score
from kokemus.domain.texts import localized
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import charts, i18n, sessions
from kokemus.web.page import Analyst, filter_day, render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

BREAKDOWNS: tuple[scores.Breakdown, ...] = ("touchpoint", "channel", "segment", "account",
                                            "role", "survey")
TRENDS: tuple[scores.Breakdown, ...] = ("week", "month")
CHARTED = ("nps", "ces", "csat")
# The scale each score is drawn on, and its decimals and unit as shown.
SCALES = {"nps": (-100.0, 100.0), "ces": (1.0, 7.0), "ces_easy": (0.0, 100.0),
          "csat": (0.0, 100.0)}
DIGITS = {"nps": 0, "ces": 1, "ces_easy": 0, "csat": 0, "keep_rate": 0, "outcome": 0}
PERCENT = {"ces_easy", "csat", "keep_rate", "outcome"}


@dataclass(frozen=True)
class Figure:
    """One score as the page shows it."""

    kind: str
    enough: bool
    value: str  # "30", "4,8", "62 %"; "" when there is no answer
    interval: str  # "22 – 37"
    n: str


@dataclass(frozen=True)
class Row:
    key: str
    name: str
    responses: str
    figures: list[Figure]


@dataclass(frozen=True)
class Movement:
    kind: str
    before: Figure
    after: Figure
    difference: str
    significant: bool
    judged: bool  # both periods have enough answers


@dataclass(frozen=True)
class Filters:
    by: scores.Breakdown = "touchpoint"
    trend: scores.Breakdown = "week"
    survey: str | None = None
    start: date | None = None
    end: date | None = None  # the last day included
    errors: tuple[str, ...] = ()  # message keys of values that were not used


@dataclass
class ScoresPage:
    slug: str
    workspace: str
    filters: Filters
    min_answers: int
    surveys: list[tuple[str, str]]
    responses: str
    cards: list[Figure]
    rows: list[Row]
    charts: dict[str, Markup] = field(default_factory=dict)
    latest: tuple[str, str] | None = None  # the two buckets compared
    movements: list[Movement] = field(default_factory=list)
    breakdowns: tuple[scores.Breakdown, ...] = BREAKDOWNS
    trends: tuple[scores.Breakdown, ...] = TRENDS


def _number(value: float, digits: int, language: str) -> str:
    text = f"{value:.{digits}f}"
    if text in ("-0", "-0.0"):
        text = text[1:]
    text = text.replace("-", "−")
    return text.replace(".", ",") if language == "fi" else text


def figure(s: Score, language: str) -> Figure:
    digits, unit = DIGITS[s.kind], "\u00a0%" if s.kind in PERCENT else ""
    if s.value is None or s.low is None or s.high is None:
        return Figure(s.kind, False, "", "", i18n.number(s.n, language))
    return Figure(
        s.kind, s.enough, _number(s.value, digits, language) + unit,
        f"{_number(s.low, digits, language)}\u2009–\u2009{_number(s.high, digits, language)}",
        i18n.number(s.n, language))


def parse_filters(by: str | None, trend: str | None, survey: str | None, start: str | None,
                  end: str | None, surveys: list[str]) -> Filters:
    """The page's GET parameters; anything unknown falls back to the default, and a date
    that is not one (or is past the calendar's edge) is named among the errors."""
    chosen_by: scores.Breakdown = next((b for b in BREAKDOWNS if b == by), "touchpoint")
    chosen_trend: scores.Breakdown = next((t for t in TRENDS if t == trend), "week")
    errors: list[str] = []
    first = filter_day(start, "scores.bad_from", errors)
    last = filter_day(end, "scores.bad_to", errors)
    return Filters(chosen_by, chosen_trend, survey if survey in surveys else None,
                   first, last, tuple(errors))


def _names(ws: ActiveWorkspace, by: str, language: str) -> dict[str, str]:
    doc = ws.document
    if by == "touchpoint":
        return {t.id: localized(t.name, language) for t in doc.touchpoints()}
    if by == "channel":
        return {c.id: localized(c.name, language) for c in doc.channels}
    if by == "segment":
        return {g.id: localized(g.name, language) for g in doc.segments}
    if by == "survey":
        return {s.id: s.id for s in doc.surveys}
    return {}


def build(kk: Kokemus, ws: ActiveWorkspace, filters: Filters, language: str) -> ScoresPage:
    min_n = ws.document.feedback.min_answers
    since, until = calendar.period(filters.start, filters.end)
    chosen = scores.Filters(survey=filters.survey, since=since, until=until)
    with kk.events.reading() as cursor:
        result = scores.report(cursor, ws.id, (filters.by, filters.trend), chosen, min_n)
    names = _names(ws, filters.by, language)
    overall = result.overall
    page = ScoresPage(
        slug=ws.slug, workspace=localized(ws.document.name, language), filters=filters,
        min_answers=min_n, surveys=[(s.id, s.id) for s in ws.document.surveys],
        responses=i18n.number(overall.responses, language),
        cards=[figure(overall.score(k), language) for k in scores.KINDS],
        rows=[Row(g.key or "", names.get(g.key or "", g.key or ""),
                  i18n.number(g.responses, language),
                  [figure(g.score(k), language) for k in scores.KINDS])
              for g in result.breakdowns[filters.by]],
    )
    trend = result.breakdowns[filters.trend]
    t = i18n.translator(language)
    page.charts = {kind: trend_chart(kind, trend, filters.trend, t, language)
                   for kind in CHARTED}
    latest = scores.latest_change(trend)
    if latest is not None:
        page.latest = (trend[-2].key or "", trend[-1].key or "")
        page.movements = [_movement(kind, c, language) for kind, c in latest.changes.items()]
    return page


def _movement(kind: str, c: Change, language: str) -> Movement:
    digits = DIGITS[kind]
    difference = "" if c.difference is None else (
        ("+" if c.difference > 0 else "") + _number(c.difference, digits, language))
    return Movement(kind, figure(c.before, language), figure(c.after, language), difference,
                    c.significant, c.before.enough and c.after.enough)


def trend_chart(kind: str, trend: list[scores.Scores], granularity: scores.Breakdown,
                t: i18n.Translate, language: str) -> Markup:
    """The score over time with its 95% interval as a band (kokemus.web.charts); a bucket
    with too few answers is a hollow grey point outside the line and the band."""
    share = 100.0 if kind in PERCENT else 1.0  # the chart writes a share 0..1 as "62 %"
    low_end, high_end = SCALES[kind]
    # the axis says NPS, CES, CSAT: the figure's caption above it gives the full name
    measure = charts.Measure(kind.upper(), (low_end / share, high_end / share),
                             DIGITS[kind], kind in PERCENT)
    rows = []
    for g in trend:
        s = g.score(kind)
        if not g.key or s.value is None:
            continue
        rows.append({"period": date.fromisoformat(g.key), "value": s.value / share,
                     "low": None if s.low is None else s.low / share,
                     "high": None if s.high is None else s.high / share,
                     "n": s.n, "enough": s.enough})
    return charts.score_trend(rows, language, measure,
                              granularity="month" if granularity == "month" else "week",
                              title=t("scores.trend_title", score=t(f"scores.kind.{kind}")),
                              element_id=f"trend-{kind}", css_class="chart score-trend")


@router.get("/w/{slug}/scores")
def scores_page(
    request: Request,
    member: Analyst,
    by: str | None = None,
    trend: str | None = None,
    survey: str | None = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    kk = kokemus(request)
    active = member.workspace
    filters = parse_filters(by, trend, survey, start, end,
                            [s.id for s in active.document.surveys])
    page = build(kk, active, filters, sessions.language(request))
    # a value the page could not use is a bad request, said on the page it asked for
    return render(request, "scores.html", 422 if filters.errors else 200, page=page)
