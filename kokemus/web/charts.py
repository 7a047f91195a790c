"""Charts as Vega-Lite specifications (written with Altair), rendered to SVG on the server.

Each chart is a function of plain rows (dicts) and a language that returns SVG markup to
inline in a page. vl-convert renders it without a browser or network, so pages keep their
script-free Content-Security-Policy and a report can inline the same markup. Axes, ticks and
number and date formats come from Vega in the page's language (its fi-FI / en-US locales);
the texts come from the UI catalog. Every data point carries its figure and n as an SVG
<title>, which the browser shows on hover and a screen reader reads.

To add a chart: write a function that builds an Altair chart from rows, using `_measure_axis`,
`_tip` and `_render` below; `docs/web.md` walks through one.
"""

from __future__ import annotations

import json
import string
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Literal

import altair as alt
import vl_convert
from markupsafe import Markup

from kokemus.web import i18n

Granularity = Literal["week", "month"]

# The shared look: kokemus.css's accent and line colours, the page's system font.
FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"
ACCENT = "#0f5c73"  # --kk-accent
BAND = "#cfe6ee"  # the accent, light: an interval behind its line or bar
FEW = "#9aa3ad"  # a point with too few answers to judge
INK_SOFT = "#5b6572"  # --kk-ink-soft
LINE = "#e2e6eb"  # --kk-line
TARGET = "#9a3412"  # --kk-warn
WIDTH, HEIGHT = 480, 200  # the whole SVG, axes included; pages scale it to their column
BAR_STEP = 28  # the height of one bar's row
KANO_HEIGHT = 320  # the Kano chart's plot

# How a period is written (d3 time formats, UTC): in full in a tooltip and on the first tick
# and a year's first, short on the other ticks, so that narrow charts keep their labels apart.
PERIOD_FORMATS: dict[str, dict[Granularity, tuple[str, str]]] = {
    "fi": {"week": ("%-d.%-m.%Y", "%-d.%-m."), "month": ("%b %Y", "%b")},
    "en": {"week": ("%-d %b %Y", "%-d %b"), "month": ("%b %Y", "%b")},
}
# d3 locales. Numbers: fi-FI as d3 ships it, with the per cent sign spaced as the pages write
# it ("62 %"), both with a true minus sign. Dates: fi-FI with its months in lower case, as
# Finnish writes them ("maalis 2026").
NUMBERS: dict[str, dict[str, Any]] = {
    "fi": {"decimal": ",", "thousands": "\u00a0", "grouping": [3], "currency": ["", "\u00a0€"],
           "percent": "\u00a0%", "minus": "\u2212"},
    "en": {"decimal": ".", "thousands": ",", "grouping": [3], "currency": ["$", ""],
           "minus": "\u2212"},
}
FI_MONTHS = ("tammi", "helmi", "maalis", "huhti", "touko", "kesä", "heinä", "elo", "syys",
             "loka", "marras", "joulu")
DATES: dict[str, dict[str, Any] | Literal["en-US"]] = {
    "fi": {"dateTime": "%A, %-d. %Bta %Y klo %X", "date": "%-d.%-m.%Y", "time": "%H:%M:%S",
           "periods": ["a.m.", "p.m."],
           "days": ["sunnuntai", "maanantai", "tiistai", "keskiviikko", "torstai",
                    "perjantai", "lauantai"],
           "shortDays": ["su", "ma", "ti", "ke", "to", "pe", "la"],
           "months": [f"{m}kuu" for m in FI_MONTHS], "shortMonths": list(FI_MONTHS)},
    "en": "en-US",
}

# A chart's rows, filled in at render time (Vega-Lite's top-level "datasets").
ROWS = alt.NamedData(name="rows")

SVG = "http://www.w3.org/2000/svg"
ET.register_namespace("", SVG)
ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")


@dataclass(frozen=True)
class Measure:
    """The quantity a chart draws: its name on the axis, the range drawn, how it is written."""

    title: str
    domain: tuple[float, float]
    digits: int = 0
    percent: bool = False  # the values are shares 0..1, written "93 %"

    @property
    def format(self) -> str:
        """A d3 number format; the locale supplies the decimal comma and the grouping."""
        return f".{self.digits}%" if self.percent else f",.{self.digits}f"


def score_trend(rows: Iterable[Mapping[str, Any]], language: str, measure: Measure, *,
                granularity: Granularity = "week", target: float | None = None,
                zero: bool = False, title: str = "", element_id: str = "",
                css_class: str = "chart") -> Markup:
    """A score per period: its line with the 95% interval as a band, a point per period with
    the figure, interval and n in its tooltip, and the target as a dashed rule if there is one.
    The y range is the measure's domain (fitted to the data by the caller); `zero` draws
    the zero line across it.

    rows: {"period": date, "value": float | None, "low", "high": float | None, "n": int,
    "enough": bool}. A period without a value is left out; one with too few answers is drawn
    as a hollow grey point outside the line and the band, and says so in its tooltip.
    Periods are placed by date, so a week without answers is a gap in time, not a hidden one.
    """
    data = [_period_row(r) for r in rows if r.get("value") is not None]
    spec = json.loads(_score_trend_spec(_language(language), measure, granularity, target,
                                        not data, zero))
    # a tick on each period (thinned where labels would overlap), not on Vega's own days,
    # which fall on Sundays while the weeks start on Mondays
    for layer in spec["layer"]:
        if "axis" in layer.get("encoding", {}).get("x", {}):
            layer["encoding"]["x"]["axis"]["values"] = [r["period"] for r in data]
    return _render(spec, data, language, title=title or measure.title,
                   element_id=element_id, css_class=css_class)


@lru_cache(maxsize=64)
def _score_trend_spec(language: str, measure: Measure, granularity: Granularity,
                      target: float | None, empty: bool, zero: bool = False) -> str:
    # Altair builds a spec in ~0.1 s, more than Vega renders it: built once per shape, as JSON
    t = i18n.translator(language)
    full, short = PERIOD_FORMATS[language][granularity]
    new_year = ("utcmonth(datum.value) == 0" if granularity == "month"
                else "utcmonth(datum.value) == 0 && utcdate(datum.value) <= 7")
    x = alt.X("period:T", title=t(f"charts.{granularity}"),
              scale=alt.Scale(type="utc", padding=12),
              axis=alt.Axis(labelExpr=f"utcFormat(datum.value, datum.index == 0 || {new_year}"
                                      f" ? {json.dumps(full)} : {json.dumps(short)})",
                            labelOverlap="greedy", labelSeparation=12, grid=False))
    y = _measure_axis(measure, "value")
    base = alt.Chart(ROWS).encode(x=x)
    enough = base.transform_filter("datum.enough")
    few = base.transform_filter("!datum.enough")
    parts = _point_parts(measure, full)
    layers: list[alt.Chart] = [
        # the zero line where the range crosses it (an NPS above or below zero), under all
        *([alt.Chart(alt.InlineData(values=[{"zero": 0}]))
           .mark_rule(color=INK_SOFT, strokeWidth=1, aria=False)
           .encode(y=alt.datum(0, type="quantitative")).properties(name="zero")]
          if zero else []),
        enough.mark_area(color=BAND, opacity=0.8, aria=False)
        .encode(y=_measure_axis(measure, "low"), y2="high:Q").properties(name="band"),
        enough.mark_line(color=ACCENT, strokeWidth=2, aria=False).encode(y=y)
        .properties(name="line"),
        enough.mark_point(filled=True, size=40, color=ACCENT, opacity=1)
        .encode(y=y, description="tip:N")
        .transform_calculate(tip=_tip(t("charts.point"), parts)).properties(name="points"),
        few.mark_point(filled=True, size=40, fill="#fff", stroke=FEW, opacity=1)
        .encode(y=y, description="tip:N")
        .transform_calculate(tip=_tip(t("charts.point_few"), parts)).properties(name="few"),
    ]
    if target is not None:
        layers.append(_target_rule(target, measure, t("charts.target")))
    if empty:
        layers.append(_note(t("charts.no_answers")))
    return _spec(alt.layer(*layers))


def keep_rate_trend(rows: Iterable[Mapping[str, Any]], language: str, *, title: str = "",
                    element_id: str = "", css_class: str = "chart") -> Markup:
    """A weekly keep rate (0..1) as a line with its Wilson 95% interval as a band, y from 0
    to 100 %, each week's rate, interval and n in its tooltip. A week with n = 0 is left out.

    rows: {"week": date, "rate": float, "low": float, "high": float, "n": int}.
    """
    measure = Measure(i18n.translate("charts.keep_rate", language), (0.0, 1.0), percent=True)
    period_rows = [{"period": r["week"], "value": r["rate"], "low": r["low"],
                    "high": r["high"], "n": r["n"], "enough": True}
                   for r in rows if r["n"] > 0]
    return score_trend(period_rows, language, measure, granularity="week",
                       title=title or measure.title, element_id=element_id,
                       css_class=css_class)


def bars_with_intervals(rows: Sequence[Mapping[str, Any]], language: str, measure: Measure,
                        *, group_title: str = "", target: float | None = None,
                        title: str = "", element_id: str = "",
                        css_class: str = "chart") -> Markup:
    """A horizontal bar per group with its interval as an error bar and its figure, interval
    and n in the tooltip, in the order given: for breakdowns by department, channel, segment.

    rows: {"name": str, "value": float, "low": float, "high": float, "n": int}; a row
    without a value is left out.
    """
    data = [{"name": str(r["name"]), "value": float(r["value"]), "low": float(r["low"]),
             "high": float(r["high"]), "n": int(r["n"])}
            for r in rows if r.get("value") is not None]
    spec = json.loads(_bars_spec(_language(language), measure, group_title, target))
    return _render(spec, data, language, title=title or measure.title,
                   element_id=element_id, css_class=css_class)


@lru_cache(maxsize=64)
def _bars_spec(language: str, measure: Measure, group_title: str,
               target: float | None) -> str:
    t = i18n.translator(language)
    y = alt.Y("name:N", title=group_title or None, sort=None,
              axis=alt.Axis(labelLimit=160, ticks=False, domain=False))
    x = _measure_axis(measure, "value")
    base = alt.Chart(ROWS).encode(y=y)
    parts = {"name": "datum.name", **_figure_parts(measure)}
    layers: list[alt.Chart] = [
        base.mark_bar(color=BAND, height={"band": 0.7})
        .encode(x=x, description="tip:N")
        .transform_calculate(tip=_tip(t("charts.bar"), parts)).properties(name="bars"),
        base.mark_rule(color=ACCENT, strokeWidth=2, aria=False)
        .encode(x=_measure_axis(measure, "low"), x2="high:Q").properties(name="intervals"),
        base.mark_tick(color=ACCENT, thickness=2, aria=False).encode(x=x),
    ]
    if target is not None:
        layers.append(_target_rule(target, measure, t("charts.target"), axis="x"))
    chart = alt.layer(*layers).properties(height=alt.Step(BAR_STEP))
    return _spec(chart, fixed_height=False)


def quadrant(rows: Sequence[Mapping[str, Any]], language: str, x: Measure, y: Measure, *,
             point: str, corners: tuple[str, str, str, str], title: str = "",
             element_id: str = "", css_class: str = "chart") -> Markup:
    """Importance x performance: a point per driver at (performance, importance) with its
    name beside it, the importance's 95% interval as a vertical rule, the two means as
    dashed lines that cut the plane in four, and the corners named (top left first, then
    top right, bottom left, bottom right). `point` is the tooltip template, with {name},
    {x}, {value}, {interval} and {n}.

    rows: {"name": str, "x": float, "value": float, "low": float, "high": float, "n": int}.
    """
    data: list[dict[str, Any]] = [
            {"name": str(r["name"]), "x": float(r["x"]), "value": float(r["value"]),
             "low": float(r["low"]), "high": float(r["high"]), "n": int(r["n"])}
            for r in rows if r.get("value") is not None]
    x_mean = sum(r["x"] for r in data) / len(data) if data else None
    y_mean = sum(r["value"] for r in data) / len(data) if data else None
    spec = json.loads(_quadrant_spec(_language(language), x, y, point, corners,
                                     x_mean, y_mean))
    return _render(spec, data, language, title=title or y.title, element_id=element_id,
                   css_class=css_class)


@lru_cache(maxsize=64)
def _quadrant_spec(language: str, x: Measure, y: Measure, point: str,
                   corners: tuple[str, str, str, str], x_mean: float | None,
                   y_mean: float | None) -> str:
    base = alt.Chart(ROWS).encode(x=_measure_axis(x, "x"))
    parts = {"name": "datum.name", "x": f"format(datum.x, {json.dumps(x.format)})",
             **_figure_parts(y)}
    layers: list[alt.Chart] = [
        base.mark_rule(color=BAND, strokeWidth=3, aria=False)
        .encode(y=_measure_axis(y, "low"), y2="high:Q").properties(name="intervals"),
        base.mark_point(filled=True, size=70, color=ACCENT, opacity=1)
        .encode(y=_measure_axis(y, "value"), description="tip:N")
        .transform_calculate(tip=_tip(point, parts)).properties(name="points"),
        base.mark_text(align="left", dx=7, dy=-6, fontSize=11, color=INK_SOFT, aria=False)
        .encode(y=_measure_axis(y, "value"), text="name:N").properties(name="labels"),
    ]
    for value, axis in ((x_mean, "x"), (y_mean, "y")):
        if value is not None:
            layers.append(alt.Chart(alt.InlineData(values=[{"m": value}]))
                          .mark_rule(color=INK_SOFT, strokeDash=[4, 3], strokeWidth=1,
                                     aria=False)
                          .encode(**{axis: alt.datum(value, type="quantitative")}))
    places: tuple[tuple[Literal["left", "right"], Literal["top", "bottom"], int, int], ...] = (
        ("left", "top", 4, 4), ("right", "top", -4, 4),
        ("left", "bottom", 4, -4), ("right", "bottom", -4, -4))
    for text, (align, baseline, dx, dy) in zip(corners, places, strict=True):
        layers.append(
            alt.Chart(alt.InlineData(values=[{"text": text}]))
            .mark_text(align=align, baseline=baseline, fontSize=11, fontStyle="italic",
                       color=TARGET, aria=False,
                       x={"expr": "width" if align == "right" else "0"},
                       y={"expr": "height" if baseline == "bottom" else "0"}, dx=dx, dy=dy)
            .encode(text="text:N").properties(name=f"corner_{align}_{baseline}"))
    chart = alt.layer(*layers).properties(height=320)
    return _spec(chart, fixed_height=False)


# -- the parts the charts share ---------------------------------------------------------


def _language(language: str) -> str:
    return language if language in NUMBERS else i18n.DEFAULT


def _timestamp(day: date) -> float:
    # milliseconds since the epoch at UTC midnight: Vega reads it without a time zone
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000


def _period_row(row: Mapping[str, Any]) -> dict[str, Any]:
    low, high = row.get("low"), row.get("high")
    value = float(row["value"])
    return {"period": _timestamp(row["period"]), "value": value,
            "low": value if low is None else float(low),
            "high": value if high is None else float(high),
            "n": int(row["n"]), "enough": bool(row.get("enough", True))}


def _measure_axis(measure: Measure, field: str) -> Any:
    scale = alt.Scale(domain=list(measure.domain), nice=False, zero=False)
    axis = alt.Axis(format=f".0{'%' if measure.percent else 'f'}", tickCount=5)
    return {"field": field, "type": "quantitative", "title": measure.title,
            "scale": scale.to_dict(), "axis": axis.to_dict()}


def _figure_parts(measure: Measure) -> dict[str, str]:
    """Vega expressions for a figure's value, its interval and its n, in the page's locale."""
    f = json.dumps(measure.format)
    return {"value": f"format(datum.value, {f})",
            "interval": f"format(datum.low, {f}) + '\u2009–\u2009' + format(datum.high, {f})",
            "n": "format(datum.n, ',d')"}


def _point_parts(measure: Measure, period_format: str) -> dict[str, str]:
    return {"period": f"utcFormat(datum.period, {json.dumps(period_format)})",
            **_figure_parts(measure)}


def _tip(template: str, parts: Mapping[str, str]) -> str:
    """A catalog string with {placeholders} as one Vega expression: the text stays in the
    catalog, the numbers and dates are formatted by Vega as on the axes."""
    pieces: list[str] = []
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        if literal:
            pieces.append(json.dumps(literal))
        if name is not None:
            pieces.append(parts[name])
    return " + ".join(pieces) or "''"


def _target_rule(target: float, measure: Measure, template: str,
                 axis: Literal["x", "y"] = "y") -> alt.Chart:
    position = {axis: alt.datum(target, type="quantitative")}
    rule: alt.Chart = (alt.Chart(alt.InlineData(values=[{"value": target}]))
            .mark_rule(color=TARGET, strokeDash=[4, 3], strokeWidth=1.5)
            .encode(**position, description="tip:N")
            .transform_calculate(tip=_tip(template, _figure_parts(measure)))
            .properties(name="target"))
    return rule


def _note(text: str) -> alt.Chart:
    note: alt.Chart = (alt.Chart(alt.InlineData(values=[{"text": text}]))
            .mark_text(color=INK_SOFT, fontSize=13, x={"expr": "width / 2"},
                       y={"expr": "height / 2"}, aria=False)
            .encode(text="text:N"))
    return note


def _spec(chart: alt.LayerChart | alt.FacetChart, fixed_height: bool = True) -> str:
    """The chart with the shared look, as Vega-Lite JSON; its rows come at render time."""
    size: dict[str, Any] = {"width": WIDTH}
    if fixed_height:
        size["height"] = HEIGHT
    spec = (chart.properties(**size)
            .configure(font=FONT, background="transparent",
                       autosize={"type": "fit" if fixed_height else "fit-x",
                                 "contains": "padding"})
            .configure_view(stroke=None)
            .configure_axis(labelColor=INK_SOFT, titleColor=INK_SOFT, labelFontSize=12,
                            titleFontSize=12, titleFontWeight="normal", gridColor=LINE,
                            domainColor=LINE, tickColor=LINE, aria=False)
            .to_dict(validate=False))
    return json.dumps(spec)


def _render(spec: dict[str, Any], rows: list[dict[str, Any]], language: str, *, title: str,
            element_id: str, css_class: str) -> Markup:
    # Altair has already moved any inline rows (a target, a note) into "datasets"
    spec.setdefault("datasets", {})[ROWS.name] = rows
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return Markup(_svg(text, _language(language), title, element_id, css_class))


@lru_cache(maxsize=256)
def _svg(spec: str, language: str, title: str, element_id: str, css_class: str) -> str:
    """The spec rendered and made safe to inline. Cached: the same rows give the same chart,
    and a warm render still costs tens of milliseconds (docs/web.md)."""
    svg = vl_convert.vegalite_to_svg(json.loads(spec), format_locale=NUMBERS[language],
                                     time_format_locale=DATES[language])
    return _inline(svg, title, element_id, css_class)


def _inline(svg: str, title: str, element_id: str, css_class: str) -> str:
    """Vega's SVG made fit for a page under a strict CSP: no script, no link out, no style
    attribute (Vega draws with presentation attributes, so none is lost), and every mark
    item's aria-label also as a <title>, the tooltip a browser shows on hover."""
    root = ET.fromstring(svg)
    for parent in root.iter():
        for child in list(parent):
            if _local(child.tag) in ("script", "foreignObject", "a", "image", "style"):
                parent.remove(child)
    for element in root.iter():
        for name in list(element.attrib):
            if _local(name) in ("href", "style") or name.startswith("on"):
                del element.attrib[name]
        label = element.get("aria-label")
        if label and element.get("role") == "graphics-symbol":
            tip = ET.Element(f"{{{SVG}}}title")
            tip.text = label
            element.insert(0, tip)
        element.attrib.pop("aria-roledescription", None)  # English words Vega adds
    root.set("class", css_class)
    if element_id:
        root.set("id", element_id)
    root.set("aria-label", title)
    heading = ET.Element(f"{{{SVG}}}title")
    heading.text = title
    root.insert(0, heading)
    return ET.tostring(root, encoding="unicode")


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def kano_scatter(rows: Sequence[Mapping[str, Any]], language: str, *, title: str = "",
                 element_id: str = "", css_class: str = "chart") -> Markup:
    """Kano's Better against Worse: a point per feature, x = |Worse| (how much lacking it
    hurts), y = Better (how much having it lifts), both 0..1, with the quadrants split at 0.5
    (top left attractive, top right one-dimensional, bottom right must-be, bottom left
    indifferent), each point labelled with the feature and its category, n and both
    coefficients in its tooltip.

    rows: {"name": str, "better": float, "worse": float (<= 0), "category": str (a name to
    show), "n": int}; a row without coefficients is left out.
    """
    data = [{"name": str(r["name"]), "better": float(r["better"]),
             "worse": abs(float(r["worse"])), "category": str(r["category"]), "n": int(r["n"])}
            for r in rows if r.get("better") is not None and r.get("worse") is not None]
    spec = json.loads(_kano_spec(_language(language)))
    return _render(spec, data, language, title=title or "Kano", element_id=element_id,
                   css_class=css_class)


@lru_cache(maxsize=8)
def _kano_spec(language: str) -> str:
    t = i18n.translator(language)
    axis = alt.Axis(format=".1f", tickCount=5)
    scale = alt.Scale(domain=[0, 1], nice=False)
    x = alt.X("worse:Q", title=t("value_page.chart.kano_worse"), scale=scale, axis=axis)
    y = alt.Y("better:Q", title=t("value_page.chart.kano_better"), scale=scale, axis=axis)
    base = alt.Chart(ROWS).encode(x=x, y=y)
    parts = {"name": "datum.name", "category": "datum.category",
             "better": "format(datum.better, '.2f')", "worse": "format(-datum.worse, '.2f')",
             "n": "format(datum.n, ',d')"}
    split = alt.InlineData(values=[{"at": 0.5}])
    left = alt.InlineData(values=[
        {"x": 0.02, "y": 0.97, "text": t("value_page.chart.kano_attractive")},
        {"x": 0.02, "y": 0.03, "text": t("value_page.chart.kano_indifferent")}])
    right = alt.InlineData(values=[
        {"x": 0.98, "y": 0.97, "text": t("value_page.chart.kano_one_dimensional")},
        {"x": 0.98, "y": 0.03, "text": t("value_page.chart.kano_must_be")}])
    layers: list[alt.Chart] = [
        alt.Chart(split).mark_rule(color=LINE, strokeWidth=1.5, aria=False)
        .encode(x=alt.X("at:Q", scale=scale)),
        alt.Chart(split).mark_rule(color=LINE, strokeWidth=1.5, aria=False)
        .encode(y=alt.Y("at:Q", scale=scale)),
        alt.Chart(left).mark_text(color=INK_SOFT, fontSize=11, align="left", aria=False)
        .encode(x=alt.X("x:Q", scale=scale), y=alt.Y("y:Q", scale=scale), text="text:N"),
        alt.Chart(right).mark_text(color=INK_SOFT, fontSize=11, align="right", aria=False)
        .encode(x=alt.X("x:Q", scale=scale), y=alt.Y("y:Q", scale=scale), text="text:N"),
        base.mark_point(filled=True, size=60, color=ACCENT, opacity=1)
        .encode(description="tip:N")
        .transform_calculate(tip=_tip(t("value_page.chart.kano_point"), parts))
        .properties(name="points"),
        base.mark_text(color=ACCENT, fontSize=11, dx=7, align="left", aria=False)
        .encode(text="name:N"),
    ]
    # taller than the other charts: two coefficients on the same 0..1 scale, and the Better
    # axis's title (longer in Finnish) must fit along it
    return _spec(alt.layer(*layers).properties(height=KANO_HEIGHT), fixed_height=False)
