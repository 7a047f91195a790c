"""The gaps page: where the experience falls short of expectations, of targets and of
promises, touchpoint by touchpoint. Figures from services/gaps.py; this module writes them
in one language and draws each touchpoint's gaps with kokemus.web.charts. A figure below
the workspace's minimum n is not shown as a number: the page says "too few".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from kokemus.api.auth import kokemus
from kokemus.domain import calendar
from kokemus.domain.gaps import TouchpointGaps
from kokemus.domain.scores import Score
from kokemus.domain.surveys import RATER
from kokemus.domain.texts import localized
from kokemus.services import gaps
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import charts, i18n, sessions
from kokemus.web.page import Analyst, filter_day, render
from kokemus.web.promises import hours
from kokemus.web.scores import Figure

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

GAP_RANGE = (-4.0, 4.0)  # the gap chart's axis, on the 1-7 scale's differences


@dataclass(frozen=True)
class Filters:
    start: date | None = None
    end: date | None = None
    event: str | None = None
    had: bool = True
    touchpoint: str | None = None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class ItemRow:
    id: str
    name: str
    dimension: str
    expected: Figure
    perceived: Figure
    gap: Figure
    target: str
    strategy: Figure | None
    short: bool  # the gap's interval is below zero


@dataclass(frozen=True)
class Line:
    """A row of the delivery, score or communication table."""

    id: str
    name: str
    measured: Figure
    target: str
    gap: Figure
    detail: str = ""


@dataclass
class TouchpointView:
    id: str
    name: str
    responses: str
    chart: Markup | None
    servqual: list[tuple[str, Figure]]
    dimensions: list[ItemRow]
    items: list[ItemRow]
    delivery: list[Line] = field(default_factory=list)
    scores: list[Line] = field(default_factory=list)
    communication: list[Line] = field(default_factory=list)


@dataclass
class GapsPage:
    slug: str
    workspace: str
    filters: Filters
    min_answers: int
    weights: str
    touchpoints: list[TouchpointView]
    events: list[str]
    choices: list[tuple[str, str]]  # touchpoints to filter by


def number(value: float, digits: int, language: str, *, signed: bool = False) -> str:
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    if text.lstrip("+-").strip("0.,") == "":
        text = text.lstrip("+-")
    text = text.replace("-", "\u2212")
    return text.replace(".", ",") if language == "fi" else text


def figure(s: Score, language: str, *, digits: int = 2, signed: bool = False,
           unit: str = "") -> Figure:
    """A gap or a mean as the page shows it: its value, interval and n."""
    n = i18n.number(s.n, language)
    if s.value is None:
        return Figure(s.kind, False, "", "", n)
    value = number(s.value, digits, language, signed=signed) + unit
    if s.low is None or s.high is None:
        return Figure(s.kind, s.enough, value, "", n)
    interval = (f"{number(s.low, digits, language, signed=signed)}\u2009–\u2009"
                f"{number(s.high, digits, language, signed=signed)}{unit}")
    return Figure(s.kind, s.enough, value, interval, n)


def parse_filters(start: str | None, end: str | None, event: str | None, had: str | None,
                  touchpoint: str | None, events: list[str],
                  touchpoints: list[str]) -> Filters:
    errors: list[str] = []
    first = filter_day(start, "scores.bad_from", errors)
    last = filter_day(end, "scores.bad_to", errors)
    return Filters(first, last, event if event in events else None, had != "no",
                   touchpoint if touchpoint in touchpoints else None, tuple(errors))


def item_names(ws: ActiveWorkspace, language: str) -> dict[str, str]:
    names = {a.id: localized(a.text, language) for a in RATER}
    for survey in ws.document.surveys:
        for q in survey.questions:
            if q.type == "expectation_perception":
                names.update({a.id: localized(a.text, language) for a in q.attributes})
    return names


def dimension_name(dimension: str, names: dict[str, str], language: str) -> str:
    key = f"gaps.dimension.{dimension}"
    found = i18n.translate(key, language)
    return found if found != key else names.get(dimension, dimension)


def _touchpoint(t: TouchpointGaps, name: str, names: dict[str, str], commitments: dict[str, str],
                language: str) -> TouchpointView:
    tr = i18n.translator(language)

    def row(ident: str, label: str, dimension: str, e: Score, p: Score, g: Score,
            target: float | None = None, strategy: Score | None = None) -> ItemRow:
        return ItemRow(ident, label, dimension, figure(e, language), figure(p, language),
                       figure(g, language, signed=True),
                       "" if target is None else number(target, 1, language),
                       figure(strategy, language, signed=True) if strategy else None,
                       g.enough and g.high is not None and g.high < 0)

    dims = [row(d.dimension, dimension_name(d.dimension, names, language), "", d.expected,
                d.perceived, d.gap) for d in t.dimensions]
    items = [row(i.item, names.get(i.item, i.item),
                 dimension_name(i.dimension, names, language), i.expected, i.perceived,
                 i.gap, i.target, i.strategy) for i in t.items]
    servqual: list[tuple[str, Figure]] = []
    if t.servqual is not None:
        servqual = [(tr("gaps.unweighted"), figure(t.servqual.unweighted, language,
                                                   signed=True)),
                    (tr("gaps.weighted"), figure(t.servqual.weighted, language, signed=True)),
                    (tr("gaps.servperf"), figure(t.servqual.servperf, language))]
    chart = None
    bars = [{"name": dimension_name(d.dimension, names, language), "value": d.gap.value,
             "low": d.gap.low, "high": d.gap.high, "n": d.gap.n}
            for d in t.dimensions if d.gap.enough and d.gap.low is not None]
    if bars:
        low = min(GAP_RANGE[0], min(float(b["low"]) for b in bars))  # type: ignore[arg-type]
        high = max(GAP_RANGE[1], max(float(b["high"]) for b in bars))  # type: ignore[arg-type]
        chart = charts.bars_with_intervals(
            bars, language, charts.Measure(tr("gaps.chart_axis"), (low, high), digits=2),
            group_title=tr("gaps.dimension_heading"),
            title=tr("gaps.chart_title", touchpoint=name), element_id=f"gap-chart-{t.touchpoint}")
    delivery = [Line(c.commitment, commitments.get(c.commitment, c.text),
                     figure(c.rate, language, digits=0, unit="\u00a0%"), "100\u00a0%",
                     figure(c.gap, language, digits=0, signed=True, unit="\u00a0%"),
                     tr("gaps.time_used", median=hours(c.median_s, language),
                        limit=hours(c.limit_s, language)) if c.median_s is not None
                     and c.limit_s else "")
                for c in t.delivery]
    digits = {"nps": 0, "ces": 1, "csat": 0}
    units = {"nps": "", "ces": "", "csat": "\u00a0%"}
    score_lines = [Line(s.kind, tr(f"gaps.score.{s.kind}"),
                        figure(s.measured, language, digits=digits[s.kind], unit=units[s.kind]),
                        number(s.target, digits[s.kind], language) + units[s.kind],
                        figure(s.gap, language, digits=digits[s.kind], signed=True,
                               unit=units[s.kind]))
                   for s in t.scores]
    communication = [Line(p.promise, p.text,
                          figure(p.rate, language, digits=0, unit="\u00a0%"), "100\u00a0%",
                          figure(p.gap, language, digits=0, signed=True, unit="\u00a0%"))
                     for p in t.communication]
    return TouchpointView(t.touchpoint, name, i18n.number(t.responses, language), chart,
                          servqual, dims, items, delivery, score_lines, communication)


def build(request: Request, ws: ActiveWorkspace, filters: Filters, language: str) -> GapsPage:
    kk = kokemus(request)
    since, until = calendar.period(filters.start, filters.end)
    found = gaps.report(kk, ws, gaps.Filters(since, until, filters.event, filters.had,
                                             filters.touchpoint), language=language)
    doc = ws.document
    tp_names = {t.id: localized(t.name, language) for t in doc.touchpoints()}
    names = item_names(ws, language)
    commitments = {c.id: localized(c.text, language) for _, c in doc.commitments()}
    weights = ", ".join(f"{dimension_name(d, names, language)} "
                        f"{number(100 * w, 0, language)}\u00a0%"
                        for d, w in found.weights.items())
    return GapsPage(
        slug=ws.slug, workspace=localized(doc.name, language), filters=filters,
        min_answers=found.min_answers, weights=weights,
        touchpoints=[_touchpoint(t, tp_names.get(t.touchpoint, t.touchpoint), names,
                                 commitments, language) for t in found.touchpoints],
        events=sorted(doc.touchpoint_for_event()),
        choices=[(t.id, localized(t.name, language)) for t in doc.touchpoints()])


@router.get("/w/{slug}/gaps")
def gaps_page(
    request: Request,
    member: Analyst,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    event: str | None = None,
    had: str | None = None,
    touchpoint: str | None = None,
) -> Response:
    doc = member.workspace.document
    filters = parse_filters(start, end, event, had, touchpoint,
                            sorted(doc.touchpoint_for_event()),
                            [t.id for t in doc.touchpoints()])
    page = build(request, member.workspace, filters, sessions.language(request))
    return render(request, "gaps.html", 422 if filters.errors else 200, page=page)
