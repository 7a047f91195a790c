"""The key drivers page: what moves recommendation (or the outcome chosen), as shares of
R² with bootstrap intervals, beside each driver's performance, on an importance x
performance quadrant. Figures from services/drivers.py; this module writes them in one
language and draws the quadrant with kokemus.web.charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Protocol

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from kokemus.api.auth import kokemus
from kokemus.domain import calendar
from kokemus.domain.errors import Invalid
from kokemus.domain.surveys import RATER
from kokemus.domain.texts import localized
from kokemus.services import drivers
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import charts, i18n, sessions
from kokemus.web.gaps import number
from kokemus.web.page import Analyst, filter_day, render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@dataclass(frozen=True)
class Filters:
    outcome: str = drivers.DEFAULT_OUTCOME
    start: date | None = None
    end: date | None = None
    days: int = 30
    missing: str = "pairwise"
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class DriverRow:
    key: str
    name: str
    touchpoint: str
    share: str
    interval: str
    sign: str
    mean: str
    scale: str
    performance: str
    n: str
    enough: bool


@dataclass
class DriversPage:
    slug: str
    workspace: str
    filters: Filters
    min_answers: int
    outcomes: list[tuple[str, str]]
    r2: str
    r2_interval: str
    respondents: str
    enough: bool
    rows: list[DriverRow]
    dropped: list[str]
    chart: Markup | None
    resamples: str


def outcome_name(key: str, ws: ActiveWorkspace, language: str) -> str:
    t = i18n.translator(language)
    if key in ("nps", "ces", "csat", "repurchase", "churn"):
        return t(f"drivers.outcome.{key}")
    if key.startswith("event:"):
        return t("drivers.outcome.event",
                 event=ws.document.event_name(key.removeprefix("event:"), language))
    survey_id, _, question_id = key.partition(".")
    survey = ws.document.survey(survey_id)
    q = survey.question(question_id) if survey else None
    if survey is not None and q is not None and q.text is not None:
        return f"{localized(q.text, language)} ({localized(survey.name, language)})"
    return key


class Named(Protocol):
    """What names a driver: a services.drivers.Driver, or the report's plain figures read
    back (web/report_view.py)."""

    @property
    def touchpoint(self) -> str | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def question(self) -> str | None: ...
    @property
    def item(self) -> str | None: ...


def driver_name(d: Named, ws: ActiveWorkspace, language: str) -> str:
    """"Home delivery · CES", "Installation · Reliability (perceived)"."""
    t = i18n.translator(language)
    doc = ws.document
    tp = doc.touchpoint(d.touchpoint) if d.touchpoint else None
    where = localized(tp.name, language) if tp else (d.touchpoint or "")
    if d.kind in ("nps", "ces", "csat"):
        what = t(f"drivers.kind.{d.kind}")
    elif d.kind == "perceived":
        texts = {a.id: localized(a.text, language) for a in RATER}
        for survey in doc.surveys:
            for q in survey.questions:
                if q.type == "expectation_perception":
                    texts.update({a.id: localized(a.text, language) for a in q.attributes})
        item = d.item or ""
        key = f"gaps.dimension.{item}"
        label = i18n.translate(key, language)
        what = t("drivers.kind.perceived", item=label if label != key else texts.get(item, item))
    else:
        survey_id, _, question_id = (d.question or "").partition(".")
        asked = doc.survey(survey_id)
        rating = asked.question(question_id) if asked else None
        what = (localized(rating.text, language) if rating is not None and rating.text
                else question_id)
    return f"{where} · {what}" if where else what


def parse_filters(outcome: str | None, start: str | None, end: str | None, days: str | None,
                  missing: str | None, outcomes: list[str]) -> Filters:
    errors: list[str] = []
    first = filter_day(start, "scores.bad_from", errors)
    last = filter_day(end, "scores.bad_to", errors)
    window = 30
    if days:
        if days.strip().isdigit() and 1 <= int(days) <= 3650:
            window = int(days)
        else:
            errors.append("drivers.bad_days")
    chosen = outcome if outcome in outcomes else drivers.DEFAULT_OUTCOME
    return Filters(chosen, first, last, window,
                   "listwise" if missing == "listwise" else "pairwise", tuple(errors))


def build(request: Request, ws: ActiveWorkspace, filters: Filters,
          language: str) -> DriversPage:
    kk = kokemus(request)
    t = i18n.translator(language)
    since, until = calendar.period(filters.start, filters.end)
    found = drivers.key_drivers(kk, ws, drivers.Filters(
        filters.outcome, since, until, days=filters.days,
        missing="listwise" if filters.missing == "listwise" else "pairwise"))
    a = found.analysis
    rows: list[DriverRow] = []
    points: list[dict[str, object]] = []
    for d in found.drivers:
        f = d.found
        name = driver_name(d, ws, language)
        low, high = d.scale
        rows.append(DriverRow(
            d.key, name, d.touchpoint or "", number(100 * f.share, 0, language) + "\u00a0%",
            f"{number(100 * f.low, 0, language)}\u2009–\u2009"
            f"{number(100 * f.high, 0, language)}\u00a0%",
            "+" if f.sign > 0 else "\u2212", number(f.mean, 2, language),
            f"{number(low, 0, language)}–{number(high, 0, language)}",
            number(100 * d.performance, 0, language) + "\u00a0%",
            i18n.number(f.n_with_outcome, language), f.enough))
        if f.enough:
            points.append({"name": name, "x": d.performance, "value": f.share, "low": f.low,
                           "high": f.high, "n": f.n_with_outcome})
    chart = None
    if points and a.enough:
        top = max(0.5, max(float(p["high"]) for p in points))  # type: ignore[arg-type]
        chart = charts.quadrant(
            points, language,
            charts.Measure(t("drivers.performance_axis"), (0.0, 1.0), percent=True),
            charts.Measure(t("drivers.importance_axis"), (0.0, min(1.0, top)), percent=True),
            point=t("drivers.point"),
            corners=(t("drivers.corner.fix"), t("drivers.corner.keep"),
                     t("drivers.corner.later"), t("drivers.corner.overkill")),
            title=t("drivers.chart_title", outcome=outcome_name(filters.outcome, ws, language)),
            element_id="quadrant")
    r2 = "" if a.r2 != a.r2 else number(a.r2, 2, language)
    interval = ("" if a.r2_low != a.r2_low else
                f"{number(a.r2_low, 2, language)}\u2009–\u2009{number(a.r2_high, 2, language)}")
    return DriversPage(
        slug=ws.slug, workspace=localized(ws.document.name, language), filters=filters,
        min_answers=found.min_answers,
        outcomes=[(o, outcome_name(o, ws, language)) for o in drivers.outcomes(ws)],
        r2=r2, r2_interval=interval, respondents=i18n.number(a.respondents, language),
        enough=a.enough, rows=rows, dropped=a.dropped, chart=chart,
        resamples=i18n.number(a.resamples, language))


@router.get("/w/{slug}/drivers")
def drivers_page(
    request: Request,
    member: Analyst,
    outcome: str | None = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    days: str | None = None,
    missing: str | None = None,
) -> Response:
    ws = member.workspace
    filters = parse_filters(outcome, start, end, days, missing, drivers.outcomes(ws))
    language = sessions.language(request)
    try:
        page = build(request, ws, filters, language)
    except Invalid:  # an outcome the workspace no longer has: the default instead
        filters = Filters(errors=(*filters.errors, "drivers.bad_outcome"))
        page = build(request, ws, filters, language)
    return render(request, "drivers.html", 422 if filters.errors else 200, page=page)
