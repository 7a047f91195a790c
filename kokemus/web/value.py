"""The value page (/w/{ws}/value): what to fix first and what it is worth. Five sections
over the same analytics as `kokemus value|kano|outcomes|silent|comments` and the API:
elements of value, Kano, outcomes after an answer, silent moments, and what customers say.

This module only turns the figures into text in one language (a share as "62 %" with its
interval and n, an NPS with its interval) and draws the charts with kokemus.web.charts;
a figure below the workspace's minimum n is shown as "too few answers", never as a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from kokemus.analytics import kano, outcomes, silent, text, value
from kokemus.analytics.scores import Filters as ScoreFilters
from kokemus.api.auth import kokemus
from kokemus.bootstrap import Kokemus
from kokemus.domain import calendar
from kokemus.domain import kano as kano_math
from kokemus.domain import value as elements
from kokemus.domain.scores import Score
from kokemus.domain.texts import localized
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import charts, i18n, sessions
from kokemus.web.page import Analyst, filter_day, render
from kokemus.web.scores import Figure, _number, figure

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
OUTCOMES = outcomes.KINDS
DAYS = (30, 90, 180, 365)


def share_figure(s: Score, language: str) -> Figure:
    """A share (percent) as the page shows it: "62 %" and "55 – 68"."""
    if s.value is None or s.low is None or s.high is None:
        return Figure("share", False, "", "", i18n.number(s.n, language))
    return Figure("share", s.enough, _number(s.value, 0, language) + "\u00a0%",
                  f"{_number(s.low, 0, language)}\u2009–\u2009{_number(s.high, 0, language)}",
                  i18n.number(s.n, language))


def money(amount: float | None, language: str, digits: int = 0) -> str:
    if amount is None:
        return ""
    return f"{i18n.number(amount, language, digits)}\u00a0€"


def plain(x: float | None, language: str, digits: int = 2) -> str:
    """A figure with at most `digits` decimals, trailing zeros dropped ("0,5", "−0,73")."""
    if x is None:
        return ""
    shown = i18n.number(x, language, digits)
    return shown.rstrip("0").rstrip(",.") if digits else shown


@dataclass(frozen=True)
class Filters:
    outcome: str = "repurchase"
    days: int = 90
    survey: str | None = None
    start: date | None = None
    end: date | None = None
    errors: tuple[str, ...] = ()


@dataclass
class ValuePage:
    slug: str
    workspace: str
    filters: Filters
    min_answers: int
    surveys: list[str]
    outcomes: tuple[str, ...] = OUTCOMES
    days: tuple[int, ...] = DAYS
    value: dict[str, Any] = field(default_factory=dict)
    kano: dict[str, Any] = field(default_factory=dict)
    outcome: dict[str, Any] = field(default_factory=dict)
    silent: dict[str, Any] = field(default_factory=dict)
    comments: dict[str, Any] = field(default_factory=dict)
    charts: dict[str, Markup] = field(default_factory=dict)


def parse_filters(outcome: str | None, days: str | None, survey: str | None,
                  start: str | None, end: str | None, surveys: list[str]) -> Filters:
    errors: list[str] = []
    first = filter_day(start, "value_page.bad_from", errors)
    last = filter_day(end, "value_page.bad_to", errors)
    chosen_days = int(days) if days and days.isdigit() and int(days) in DAYS else 90
    return Filters(outcome if outcome in OUTCOMES else "repurchase", chosen_days,
                   survey if survey in surveys else None, first, last, tuple(errors))


def _touchpoints(ws: ActiveWorkspace, language: str) -> dict[str, str]:
    return {t.id: localized(t.name, language) for t in ws.document.touchpoints()}


def build(kk: Kokemus, ws: ActiveWorkspace, filters: Filters, language: str) -> ValuePage:
    doc = ws.document
    min_n = doc.feedback.min_answers
    since, until = calendar.period(filters.start, filters.end)
    chosen = ScoreFilters(survey=filters.survey, since=since, until=until)
    t = i18n.translator(language)
    names = _touchpoints(ws, language)
    page = ValuePage(ws.slug, localized(doc.name, language), filters, min_n,
                     [s.id for s in doc.surveys])
    with kk.events.reading() as cursor:
        v = value.report(cursor, ws.id, doc, chosen, None, min_n)
        features = kano.report(cursor, ws.id, doc, chosen)
        try:
            o: outcomes.OutcomeReport | None = outcomes.report(
                cursor, ws.id, doc.insights.outcomes, filters.outcome, days=filters.days,
                filters=chosen, min_n=min_n)
            missing = ""
        except outcomes.NoOutcomeEvents:
            o, missing = None, ("repurchase" if filters.outcome == "repurchase" else "churn")
        s = silent.report(cursor, ws.id, doc, since, until)
        c = text.report(cursor, ws.id, list(doc.insights.themes), chosen,
                        default_language=doc.languages[0], min_n=min_n)
    page.value = {
        "kind": v.kind, "respondents": i18n.number(v.respondents, language),
        "asked": bool(v.questions),
        "mean": plain(v.mean_perceived, language, 1) if v.mean_perceived is not None else "",
        "claimed": share_figure(v.claimed_share, language),
        "unclaimed": share_figure(v.unclaimed_share, language),
        "elements": [{"id": e.element, "name": elements.label(e.element, language),
                      "level": t(f"value_page.level.{e.level}") if e.level else "",
                      "claimed": e.claimed, "asked": e.asked,
                      "share": share_figure(e.share, language)} for e in v.elements],
        "counts": [{"group": g.group, "respondents": i18n.number(g.respondents, language),
                    "share": share_figure(g.share, language), "nps": figure(g.nps, language)}
                   for g in v.counts],
    }
    page.charts["value_nps"] = charts.bars_with_intervals(
        [{"name": t("value_page.count_group", group=g.group), "value": g.nps.value,
          "low": g.nps.low, "high": g.nps.high, "n": g.nps.n}
         for g in v.counts if g.nps.enough],
        language, charts.Measure("NPS", (-100.0, 100.0)),
        title=t("value_page.nps_by_count"), element_id="value-nps-chart",
        css_class="chart value-chart")
    page.kano = {"features": [{
        "id": f.result.feature, "survey": f.survey,
        "name": localized(f.functional, language), "n": i18n.number(f.result.n, language),
        "enough": f.result.n >= min_n,
        "category": (t(f"value_page.kano.{kano_math.NAMES[f.result.category]}")
                     if f.result.category else ""),
        "tied": ", ".join(t(f"value_page.kano.{kano_math.NAMES[x]}") for x in f.result.tied),
        "counts": [(k, i18n.number(n, language)) for k, n in f.result.counts.items()],
        "better": plain(f.result.better, language),
        "worse": plain(f.result.worse, language)} for f in features]}
    page.charts["kano"] = charts.kano_scatter(
        [{"name": f.result.feature, "better": f.result.better, "worse": f.result.worse,
          "category": (t(f"value_page.kano.{kano_math.NAMES[f.result.category]}")
                       if f.result.category else ""), "n": f.result.n}
         for f in features if f.result.n >= min_n],
        language, title=t("value_page.kano_chart"), element_id="kano-chart",
        css_class="chart kano-chart")
    page.outcome = {"missing": missing}
    if o is not None:
        def group(g: outcomes.Group) -> dict[str, Any]:
            return {"group": g.group, "name": t(f"value_page.group.{g.group}"),
                    "share": share_figure(g.share, language)}

        def diff(d: outcomes.Difference) -> dict[str, Any]:
            if d.value is None or d.low is None or d.high is None:
                return {"value": "", "significant": False}
            sign = "+" if d.value > 0 else ""
            return {"value": sign + _number(d.value, 0, language),
                    "interval": f"{_number(d.low, 0, language)}\u2009–\u2009"
                                f"{_number(d.high, 0, language)}",
                    "significant": d.significant}

        page.outcome.update(
            events=", ".join(doc.event_name(e, language) for e in o.events),
            judged=i18n.number(o.judged, language),
            open=i18n.number(o.open, language),
            as_of=i18n.day(o.as_of.astimezone(i18n.zone(doc)).date(), language),
            overall=share_figure(o.overall, language),
            by_effort=[group(g) for g in o.by_effort], by_nps=[group(g) for g in o.by_nps],
            easy_vs_hard=diff(o.easy_vs_hard),
            promoter_vs_detractor=diff(o.promoter_vs_detractor))
        page.charts["outcome"] = charts.bars_with_intervals(
            [{"name": t(f"value_page.group.{g.group}"), "value": g.share.value,
              "low": g.share.low, "high": g.share.high, "n": g.share.n}
             for g in (*o.by_effort, *o.by_nps) if g.share.enough],
            language, charts.Measure(t(f"value_page.outcome.{o.outcome}"), (0.0, 100.0)),
            title=t("value_page.outcome_chart", outcome=t(f"value_page.outcome.{o.outcome}"),
                    days=o.days),
            element_id="outcome-chart", css_class="chart value-chart")
    page.silent = {
        "moments": [{
            "touchpoint": names.get(m.touchpoint, m.touchpoint),
            "people": plain(m.people_per_occasion, language, 1),
            "from_events": m.people_source == "events",
            "events_per_day": plain(m.traffic.per_day, language, 1),
            "days_seen": i18n.number(m.traffic.days, language),
            "share": plain(100 * m.share_buying, language, 1) + "\u00a0%",
            "basket": money(m.basket, language, 2 if m.basket % 1 else 0),
            "occasions": plain(m.occasions_per_day, language),
            "days": plain(m.days_per_year, language),
            "per_occasion": money(m.per_occasion, language),
            "per_day": money(m.per_day, language), "per_year": money(m.per_year, language)}
            for m in s.moments],
        "candidates": [{"touchpoint": names.get(x.touchpoint, x.touchpoint),
                        "per_day": plain(x.per_day, language, 1),
                        "events": i18n.number(x.events, language)} for x in s.candidates],
    }
    theme_names = {th.id: localized(th.name, language) for th in doc.insights.themes}

    def term(d: Any) -> dict[str, Any]:
        return {"term": d.term, "detractors": i18n.number(d.count_i, language),
                "promoters": i18n.number(d.count_j, language),
                "z": ("+" if d.z > 0 else "") + _number(d.z, 1, language)}

    page.comments = {
        "total": i18n.number(c.comments, language),
        "detractors": i18n.number(c.detractors, language),
        "promoters": i18n.number(c.promoters, language),
        "detractor_terms": [term(d) for d in (*c.words, *c.phrases) if d.z > 0],
        "promoter_terms": [term(d) for d in (*c.words, *c.phrases) if d.z < 0],
        "themes": [{"name": theme_names.get(th.theme, th.theme),
                    "mentions": i18n.number(th.mentions, language),
                    "share": share_figure(th.share, language),
                    "nps": figure(th.nps, language),
                    "others": figure(th.nps_others, language)} for th in c.themes],
        "touchpoints": [{"name": names.get(tp.touchpoint or "", tp.touchpoint or "–"),
                         "comments": i18n.number(tp.comments, language),
                         "nps": figure(tp.nps, language)} for tp in c.touchpoints],
    }
    return page


@router.get("/w/{slug}/value")
def value_page(
    request: Request,
    member: Analyst,
    outcome: str | None = None,
    days: str | None = None,
    survey: str | None = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    active = member.workspace
    filters = parse_filters(outcome, days, survey, start, end,
                            [s.id for s in active.document.surveys])
    page = build(kokemus(request), active, filters, sessions.language(request))
    return render(request, "value.html", 422 if filters.errors else 200, page=page)
