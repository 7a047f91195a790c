"""The scores page: score cards, a breakdown table and trend charts with interval bands.

The figures come from kokemus.analytics.scores (counted in DuckDB); this module turns them
into text in one language and draws the trends with kokemus.web.charts (Vega-Lite rendered
to SVG on the server), so the page runs no script. A figure below the workspace's minimum n
is never shown as a number: the page says "too few answers" instead, and the charts leave
such points out of the line and the band.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from kokemus.analytics import breakdowns, scores
from kokemus.analytics.breakdowns import Condition, Contrast, Known
from kokemus.api.auth import kokemus
from kokemus.bootstrap import Kokemus
from kokemus.domain import calendar
from kokemus.domain.errors import Invalid
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
DIGITS = {"nps": 0, "ces": 1, "ces_easy": 0, "csat": 0, "keep_rate": 0, "outcome": 0,
          "lost_share": 0}
PERCENT = {"ces_easy", "csat", "keep_rate", "outcome", "lost_share"}


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
    pooled: int = 0  # the `other` row: how many small groups it holds
    only: str = ""  # the page's query with a filter to this group


@dataclass(frozen=True)
class Worse:
    """One group against the rest on one score ("where is it worst?")."""

    key: str
    name: str
    group: Figure
    rest: Figure
    difference: str  # "−12 (−20 – −4)"
    significant: bool
    worse: bool
    pooled: int


@dataclass(frozen=True)
class Choice:
    """A breakdown the selector offers: its value, its label, its group of options."""

    value: str
    label: str
    group: str  # "", "property", "attribute", "event"


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
    by: str = "touchpoint"  # a breakdown of BREAKDOWNS, or property:/attribute:/event:
    trend: scores.Breakdown = "week"
    survey: str | None = None
    trend_chosen: bool = False  # asked for by name; else weeks coarsen to months when thin
    start: date | None = None
    end: date | None = None  # the last day included
    errors: tuple[str, ...] = ()  # message keys of values that were not used
    where: tuple[Condition, ...] = ()
    problems: tuple[str, ...] = ()  # what was wrong with a breakdown or filter, as said


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
    choices: list[Choice] = field(default_factory=list)
    by_label: str = ""
    worst: dict[str, list[Worse]] = field(default_factory=dict)  # score -> groups, worst first
    trend: scores.Breakdown = "week"  # the grain drawn (months when weeks were too thin)
    median_week: str = ""  # set when the weeks were coarsened to months: the median week's n
    latest_labels: tuple[str, str] = ("", "")  # the two compared periods, in words
    weekly_minimum: int = scores.WEEKLY_MINIMUM


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
                  end: str | None, surveys: list[str], where: list[str] | None = None,
                  known: Known | None = None) -> Filters:
    """The page's GET parameters; an unknown trend or survey falls back to the default, and
    a date that is not one (or is past the calendar's edge) is named among the errors, as is
    a breakdown or filter the data does not know (`known`; the text says which it knows)."""
    chosen_trend: scores.Breakdown = next((t for t in TRENDS if t == trend), "week")
    named = trend in TRENDS
    errors: list[str] = []
    problems: list[str] = []
    first = filter_day(start, "scores.bad_from", errors)
    last = filter_day(end, "scores.bad_to", errors)
    chosen_by = "touchpoint"
    if by:
        chosen_by, problem = check_by(by, BREAKDOWNS, known)
        problems += [problem] if problem else []
    conditions, problem = check_where(where, WHERE, known)
    problems += [problem] if problem else []
    return Filters(chosen_by, chosen_trend, survey if survey in surveys else None, named,
                   first, last, tuple(errors), conditions, tuple(problems))


WHERE = scores.WHERE_COLUMNS


def check_by(by: str, plain: tuple[str, ...], known: Known | None,
             default: str = "touchpoint") -> tuple[str, str | None]:
    """A breakdown from the page (its text), or the default and what was wrong."""
    try:
        dimension = breakdowns.parse(by[:200], plain)
        if known is not None:
            breakdowns.check([dimension], known)
    except Invalid as exc:
        return default, str(exc)
    return dimension.text, None


def check_where(where: list[str] | None, plain: tuple[str, ...], known: Known | None
                ) -> tuple[tuple[Condition, ...], str | None]:
    """The filters from the page (empty fields ignored), or none and what was wrong."""
    texts = [text.strip() for text in where or [] if text.strip()]
    try:
        conditions = breakdowns.parse_conditions(texts, plain)
        if known is not None:
            breakdowns.check([c.dimension for c in conditions if not c.dimension.plain], known)
    except Invalid as exc:
        return (), str(exc)
    return conditions, None


def choices(plain: tuple[str, ...], known: Known, t: i18n.Translate,
            prefix: str = "scores.breakdown.", event: Callable[[str], str] = str) -> list[Choice]:
    """What the breakdown selector offers: the figure's own, then the data's properties,
    customer attributes and event types (`event`: an event type's name)."""
    return ([Choice(b, t(prefix + b), "") for b in plain]
            + [Choice(c, label(c, t, prefix, event), c.partition(":")[0])
               for c in known.choices()])


def label(by: str, t: i18n.Translate, prefix: str = "scores.breakdown.",
          event: Callable[[str], str] = str) -> str:
    """A breakdown in words; an event type by its name when `event` gives one."""
    kind, _, name = by.partition(":")
    if not name:
        return t(prefix + kind)
    return t(f"breakdowns.{kind}", name=event(name) if kind == "event" else name)


def _names(ws: ActiveWorkspace, by: str, language: str) -> dict[str, str]:
    doc = ws.document
    if by == "touchpoint":
        return {t.id: localized(t.name, language) for t in doc.touchpoints()}
    if by == "channel":
        return {c.id: localized(c.name, language) for c in doc.channels}
    if by == "segment":
        return {g.id: localized(g.name, language) for g in doc.segments}
    if by == "survey":
        return {s.id: localized(s.name, language) for s in doc.surveys}
    if by.startswith("event:"):
        return {v: i18n.translate(f"breakdowns.{v}", language) for v in ("yes", "no")}
    return {}


def known(kk: Kokemus, ws: ActiveWorkspace) -> Known:
    """The properties, attributes and event types the workspace's data has."""
    with kk.events.reading() as cursor:
        return breakdowns.discover(cursor, kk.db, ws.id)


def build(kk: Kokemus, ws: ActiveWorkspace, filters: Filters, language: str,
          found: Known | None = None) -> ScoresPage:
    min_n = ws.document.feedback.min_answers
    since, until = calendar.period(filters.start, filters.end)
    chosen = scores.Filters(survey=filters.survey, since=since, until=until,
                            where=filters.where)
    dims = [breakdowns.parse(filters.by, BREAKDOWNS),
            *(c.dimension for c in filters.where)]
    tables = breakdowns.tables_for(kk.db, ws.id, [d for d in dims if not d.plain])
    with kk.events.reading() as cursor, breakdowns.attached(cursor, tables):
        # both grains in the one scan (days are added up into each): the weeks say whether
        # they are too thin to draw
        trends = (filters.trend,) if filters.trend_chosen else scores.TRENDS
        result = scores.report(cursor, ws.id, (filters.by, *trends), chosen, min_n)
    t = i18n.translator(language)
    names = _names(ws, filters.by, language)

    def named(event: str) -> str:
        return ws.document.event_name(event, language)
    overall = result.overall

    def name(g: scores.Scores) -> str:
        if g.pooled:
            return t("breakdowns.other", n=g.pooled)
        return names.get(g.key or "", g.key or "")

    page = ScoresPage(
        slug=ws.slug, workspace=localized(ws.document.name, language), filters=filters,
        min_answers=min_n,
        surveys=[(s.id, localized(s.name, language)) for s in ws.document.surveys],
        responses=i18n.number(overall.responses, language),
        cards=[figure(overall.score(k), language) for k in scores.KINDS],
        rows=[Row(g.key or "", name(g), i18n.number(g.responses, language),
                  [figure(g.score(k), language) for k in scores.KINDS], g.pooled,
                  "" if g.pooled else only(filters, g.key or ""))
              for g in result.breakdowns[filters.by]],
        choices=choices(BREAKDOWNS, found or Known(), t, event=named),
        by_label=label(filters.by, t, event=named),
    )
    groups = {g.key: g for g in result.breakdowns[filters.by]}
    page.worst = {kind: [worse(c, name(groups[c.key]) if c.key in groups else c.key,
                               language) for c in contrasts]
                  for kind, contrasts in result.worst.get(filters.by, {}).items()}
    grain = filters.trend
    if not filters.trend_chosen:
        weeks = result.breakdowns["week"]
        grain = scores.trend_grain(weeks)
        if grain == "month":
            page.median_week = _number(scores.median_week(weeks), 1, language).removesuffix(
                ",0").removesuffix(".0")
    page.trend = grain
    trend = result.breakdowns[grain]
    page.charts = {kind: trend_chart(kind, trend, grain, t, language) for kind in CHARTED}
    latest = scores.latest_change(trend)
    if latest is not None:
        page.latest = (trend[-2].key or "", trend[-1].key or "")
        page.latest_labels = (period_label(page.latest[0], grain, language),
                              period_label(page.latest[1], grain, language))
        page.movements = [_movement(kind, c, language) for kind, c in latest.changes.items()]
    return page


MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
             "Dec")


def day_span(first: date, last: date, language: str) -> str:
    """Days from `first` to `last` as the reader's language writes a span: fi
    "24.11.–30.11.2026", en "24 Nov – 30 Nov 2026" (the first's year too when it differs)."""
    if language == "fi":
        head = f"{first.day}.{first.month}." + (f"{first.year}" if first.year != last.year
                                                else "")
        return f"{head}–{last.day}.{last.month}.{last.year}"
    head = f"{first.day} {MONTHS_EN[first.month - 1]}" + (
        f" {first.year}" if first.year != last.year else "")
    return f"{head} – {last.day} {MONTHS_EN[last.month - 1]} {last.year}"


def period_label(key: str, grain: scores.Breakdown, language: str) -> str:
    """A trend bucket's first day (YYYY-MM-DD) as the period it stands for: a week as its
    span of days, a month by name ("maaliskuu 2026", "March 2026")."""
    first = date.fromisoformat(key)
    if grain == "week":
        return day_span(first, first + timedelta(days=6), language)
    return i18n.translate(f"scores.month.m{first.month}", language, year=first.year)


def fitted(kind: str, rows: list[dict[str, Any]]) -> tuple[float, float]:
    """A y range that shows the movement: the points and their intervals with a margin,
    never narrower than a tenth of the scale and never beyond the scale's ends."""
    low_end, high_end = SCALES[kind]
    drawn = [v for r in rows for v in (r["low"], r["high"], r["value"]) if v is not None]
    if not drawn:
        return low_end, high_end
    low, high = min(drawn), max(drawn)
    least = (high_end - low_end) / 10
    if high - low < least:
        middle = (low + high) / 2
        low, high = middle - least / 2, middle + least / 2
    margin = (high - low) * 0.08
    step = 10.0 if high_end - low_end >= 100 else 0.5
    low = max(low_end, math.floor((low - margin) / step) * step)
    high = min(high_end, math.ceil((high + margin) / step) * step)
    return low, high


def only(filters: Filters, key: str) -> str:
    """The page's query narrowed to one group of its breakdown (a filter added)."""
    from urllib.parse import urlencode

    if filters.by in scores.TRENDS or not key:
        return ""
    query: list[tuple[str, str]] = [("by", filters.by), ("trend", filters.trend)]
    if filters.survey:
        query.append(("survey", filters.survey))
    if filters.start:
        query.append(("from", filters.start.isoformat()))
    if filters.end:
        query.append(("to", filters.end.isoformat()))
    wanted = [c.text for c in filters.where] + [f"{filters.by}={key}"]
    query += [("where", w) for w in dict.fromkeys(wanted)]
    return urlencode(query)


def difference(value: float | None, low: float | None, high: float | None, digits: int,
               language: str) -> str:
    """A difference with its interval: "−12 (−20 – −4)"."""
    if value is None:
        return ""
    text = ("+" if value > 0 else "") + _number(value, digits, language)
    if low is None or high is None:
        return text
    return (f"{text} ({_number(low, digits, language)}\u2009–\u2009"
            f"{_number(high, digits, language)})")


def worse(c: Contrast, name: str, language: str) -> Worse:
    return Worse(c.key, name, figure(c.group, language), figure(c.rest, language),
                 difference(c.difference, c.low, c.high, DIGITS[c.kind], language),
                 c.significant, c.worse, c.pooled)


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
    rows: list[dict[str, Any]] = []
    for g in trend:
        s = g.score(kind)
        if not g.key or s.value is None:
            continue
        rows.append({"period": date.fromisoformat(g.key), "value": s.value,
                     "low": s.low, "high": s.high, "n": s.n, "enough": s.enough})
    # the range the judged points and their intervals need, not the whole scale: a move
    # of five NPS points is invisible on -100..100
    low, high = fitted(kind, [r for r in rows if r["enough"]])
    for r in rows:
        r.update({k: None if r[k] is None else r[k] / share for k in ("value", "low", "high")})
        if not r["enough"]:  # a thin point's value may fall outside: drawn at the edge
            r["value"] = min(max(r["value"], low / share), high / share)
    # the axis says NPS, CES, CSAT: the figure's caption above it gives the full name
    measure = charts.Measure(kind.upper(), (low / share, high / share), DIGITS[kind],
                             kind in PERCENT)
    return charts.score_trend(rows, language, measure, zero=low < 0 < high,
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
    where: Annotated[list[str] | None, Query(max_length=breakdowns.MAX_FILTERS)] = None,
) -> Response:
    kk = kokemus(request)
    active = member.workspace
    found = known(kk, active)
    filters = parse_filters(by, trend, survey, start, end,
                            [s.id for s in active.document.surveys], where, found)
    page = build(kk, active, filters, sessions.language(request), found)
    # a value the page could not use is a bad request, said on the page it asked for
    status = 422 if filters.errors or filters.problems else 200
    return render(request, "scores.html", status, page=page)
