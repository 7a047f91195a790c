"""The report as a person reads it: every section of a services/report.Report already in one
language, for the web page and the HTML file (web/report.py, report_body.html) and the
terminal (cli/report.py) alike, so the three show the same sections in the same words.

The figures are the report's plain figures (`Report.sections`, as its JSON has them); this
module only writes them: a title, sentences, tables of cells (a figure with its 95% interval
and n, or "too few" below the workspace's minimum n, never the number) and the charts
(kokemus.web.charts, SVG; the terminal asks for none). A section the data could not answer
carries the report's reason (`Report.missing`) instead of its figures. Every string comes
from the catalogs (kokemus/web/locales), every number from i18n.number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from markupsafe import Markup

from kokemus.domain import kano as kano_math
from kokemus.domain import scores as score_math
from kokemus.domain import value as elements
from kokemus.domain.surveys import Kano
from kokemus.domain.texts import localized
from kokemus.services import report as reports
from kokemus.services import signals as signal_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import charts, i18n
from kokemus.web import signals as signal_pages
from kokemus.web.drivers import driver_name
from kokemus.web.gaps import GAP_RANGE, dimension_name, item_names
from kokemus.web.promises import hours
from kokemus.web.value import money, plain

# The sections in the order they are read, each with its title's catalog key.
TITLES: dict[str, str] = {
    "fixes": "report.fixes",
    "promises": "promises.title",
    "costs": "promises.costs_heading",
    "worst": "report.worst",
    "gaps": "report.gaps",
    "drivers": "report.drivers",
    "value": "value_page.value_title",
    "kano": "value_page.kano_title",
    "outcomes": "value_page.outcomes_title",
    "silent_moments": "value_page.silent_title",
    "comments": "report.comments",
    "signals": "signals.title",
    "dropoff": "report.dropoff",
}
IDLE_DAYS = 30  # the drop-off's default in services/report.py (analytics.dropoff)
TERMS = 10  # words and phrases shown on each side
STALLS = 5  # waits shown per journey
PERCENT = "\u00a0%"


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, the n of the figure in it, and how it reads."""

    text: str
    n: str = ""  # written after the figure as "n = 1 234"
    style: str = ""  # "too-few" (no figure: too few to judge), "muted", "strong"


@dataclass(frozen=True)
class Grid:
    headings: tuple[str, ...]
    rows: list[list[Cell]]
    caption: str = ""


@dataclass(frozen=True)
class Item:
    """One of the things to fix first."""

    key: str  # the fix as the JSON names it (property:carrier=Kiito)
    name: str
    text: str


@dataclass
class Section:
    id: str
    title: str
    help: str = ""  # how to read it
    notes: list[str] = field(default_factory=list)  # sentences with figures
    items: list[Item] = field(default_factory=list)
    grids: list[Grid] = field(default_factory=list)
    charts: list[Markup] = field(default_factory=list)
    empty: str = ""  # there, but nothing to show: why
    missing: str = ""  # left out by the report: why


@dataclass
class ReportView:
    title: str
    intro: str
    sections: list[Section]


class Writer:
    """Figures in one language: numbers (i18n.number), intervals, scores as cells."""

    def __init__(self, language: str, min_n: int) -> None:
        self.language = language
        self.t = i18n.translator(language)
        self.min_n = min_n

    def num(self, value: float | None, digits: int = 0, signed: bool = False) -> str:
        return "–" if value is None else i18n.number(value, self.language, digits,
                                                     signed=signed)

    def interval(self, low: float | None, high: float | None, digits: int = 0,
                 signed: bool = False) -> str:
        return (f"{self.num(low, digits, signed)}\u2009–\u2009"
                f"{self.num(high, digits, signed)}")

    def score(self, s: Mapping[str, Any] | None, digits: int = 0, unit: str = "",
              signed: bool = False) -> Cell:
        """A score, share or gap with its interval and n; "too few" below the minimum n."""
        n = "" if not s or s.get("n") is None else self.num(s["n"])
        if not s or s.get("value") is None:
            return Cell("–", n, "muted")
        if not s.get("enough", True):
            return Cell(self.t("report.too_few"), n, "too-few")
        text = self.num(s["value"], digits, signed) + unit
        if s.get("low") is not None and s.get("high") is not None:
            text += f" ({self.interval(s['low'], s['high'], digits, signed)})"
        return Cell(text, n)

    def difference(self, value: float | None, low: float | None, high: float | None,
                   digits: int = 0, significant: bool = False) -> Cell:
        if value is None:
            return Cell("–", style="muted")
        text = self.num(value, digits, signed=True)
        if low is not None and high is not None:
            text += f" ({self.interval(low, high, digits, signed=True)})"
        return Cell(text, style="strong" if significant else "")


def names_of(ws: ActiveWorkspace, language: str) -> dict[str, str]:
    """Departments, touchpoints, commitments and journeys by their names in `language`;
    event types as "event:TYPE"."""
    doc = ws.document
    names: dict[str, str] = {d.id: localized(d.name, language) for d in doc.departments}
    names.update({tp.id: localized(tp.name, language) for tp in doc.touchpoints()})
    names.update({c.id: localized(c.text, language) for _, c in doc.commitments()})
    names.update({f"event:{etype}": localized(name, language)
                  for etype, name in doc.events.items()})
    return names


def fix_name(what: str, names: Mapping[str, str], t: i18n.Translate) -> str:
    """A fix in words: a commitment's text, "carrier = Kiito", "had the event ..."."""
    if "=" not in what:
        return names.get(what, what)
    dimension, key = what.split("=", 1)
    kind, _, name = dimension.partition(":")
    if kind == "event":
        return (t("breakdowns.event", name=names.get(f"event:{name}", name))
                + ("" if key == "yes" else f" = {key}"))
    return f"{name or kind} = {key}"


def build(found: reports.Report, ws: ActiveWorkspace, language: str, *,
          with_charts: bool = True) -> ReportView:
    """The report's sections in `language`; `with_charts` False leaves the charts out (the
    terminal draws none, and rendering them costs time)."""
    w = Writer(language, ws.document.feedback.min_answers)
    t = w.t
    names = names_of(ws, language)
    data = found.sections
    makers: dict[str, Callable[[Any], Section]] = {
        "promises": lambda d: _promises(d, w, names, with_charts),
        "costs": lambda d: _costs(d, w, names),
        "worst": lambda d: _worst(d, w, names),
        "gaps": lambda d: _gaps(d, w, names, ws, with_charts),
        "drivers": lambda d: _drivers(d, w, ws, with_charts),
        "value": lambda d: _value(d, w, with_charts),
        "kano": lambda d: _kano(d, w, ws, with_charts),
        "outcomes": lambda d: _outcomes(d, w, names, with_charts),
        "silent_moments": lambda d: _silent(d, w, names, with_charts),
        "comments": lambda d: _comments(d, w, names, ws),
        "signals": lambda d: _signals(d, w, ws),
        "dropoff": lambda d: _dropoff(d, w, names, ws, with_charts),
    }
    sections = [_fixes(found.fixes, w, names, with_charts)]
    for name, make in makers.items():
        if name in found.missing:
            sections.append(Section(name, t(TITLES[name]), missing=found.missing[name]))
        elif name in data:
            section = make(data[name])
            section.id, section.title = name, t(TITLES[name])
            sections.append(section)
    sections += [Section(name, name, missing=why) for name, why in found.missing.items()
                 if name not in makers]
    as_of = i18n.moment(found.as_of, language, i18n.zone(ws.document))
    return ReportView(t("report.title", workspace=localized(ws.document.name, language)),
                      t("report.intro", as_of=as_of), sections)


def _section(**parts: Any) -> Section:
    return Section("", "", **parts)  # id and title are set by `build`


def _fixes(fixes: Sequence[reports.Fix], w: Writer, names: Mapping[str, str],
           with_charts: bool) -> Section:
    t = w.t
    section = Section("fixes", t("report.fixes"), help=t("report.fixes_help"))
    for f in fixes:
        e = f.evidence
        if f.kind == "commitment":
            evidence = t("report.fix_commitment", broken=w.num(e.get("broken")),
                         judged=w.num(e.get("judged")), kept=w.num(e.get("nps_kept")),
                         after=w.num(e.get("nps_broken")))
        else:
            evidence = t("report.fix_group", n=w.num(e.get("n")),
                         group=w.num(e.get("nps_group")), rest=w.num(e.get("nps_rest")),
                         share=w.num(100 * e["share"] if e.get("share") is not None else None))
            if e.get("low") is not None and e.get("high") is not None and \
                    e.get("nps_group") is not None and e.get("nps_rest") is not None:
                evidence += " " + t("report.fix_interval",
                                    difference=w.num(e["nps_group"] - e["nps_rest"],
                                                     signed=True),
                                    interval=w.interval(e["low"], e["high"], signed=True))
        section.items.append(Item(f.what, fix_name(f.what, names, t),
                                  f"{t('report.gain', gain=w.num(f.gain, 1))}. {evidence}"))
    if not fixes:
        section.empty = t("report.no_fixes")
    elif with_charts:
        section.charts.append(charts.bars_with_intervals(
            [{"name": fix_name(f.what, names, t), "value": f.gain, "low": f.gain,
              "high": f.gain, "n": f.evidence.get("n", f.evidence.get("judged", 0))}
             for f in fixes], w.language,
            charts.Measure(t("report.gain_axis"), (0.0, max(f.gain for f in fixes) * 1.2),
                           digits=1),
            title=t("report.fixes"), element_id="fixes-chart"))
    return section


def _promises(data: Mapping[str, Any], w: Writer, names: Mapping[str, str],
              with_charts: bool) -> Section:
    t = w.t
    rows: list[list[Cell]] = []
    bars: list[dict[str, Any]] = []
    for c in data.get("cards", []):
        name = Cell(names.get(c["commitment"], c["commitment"]))
        o = c.get("overall")
        if o is None:  # a score against its target
            s = c.get("score") or {}
            kind = str(s.get("kind") or "")
            digits = 1 if kind == "ces" else 0
            shown = w.score(s, digits, PERCENT if kind == "csat" else "")
            target = ("" if c.get("target") is None else
                      " · " + t("report.target", target=w.num(c["target"], digits)))
            rows.append([name, Cell(f"{kind.upper()} {shown.text}{target} · "
                                    f"{t('promises.verdict.' + str(c.get('verdict')))}",
                                    shown.n, shown.style), Cell(""), Cell(""), Cell("")])
            continue
        k = o["keep_rate"]
        rows.append([name, w.score(k, 0, PERCENT), Cell(w.num(o["kept"])),
                     Cell(w.num(o["broken"])), Cell(w.num(o["open"]))])
        if k.get("enough") and k.get("value") is not None:
            bars.append({"name": name.text, "value": k["value"] / 100, "low": k["low"] / 100,
                         "high": k["high"] / 100, "n": k["n"]})
    section = _section(grids=[Grid((t("promises.commitment"), t("promises.keep_rate"),
                                    t("promises.kept"), t("promises.broken"),
                                    t("promises.open")), rows)])
    if with_charts and bars:
        section.charts.append(charts.bars_with_intervals(
            bars, w.language, charts.Measure(t("charts.keep_rate"), (0.0, 1.0), percent=True),
            title=t("promises.title"), element_id="promises-chart"))
    if not rows:
        section.empty = t("report.no_commitments")
    return section


def _costs(data: Sequence[Mapping[str, Any]], w: Writer, names: Mapping[str, str]) -> Section:
    t = w.t
    rows = []
    for c in data:
        nps, ces = c["nps_difference"], c["ces_difference"]
        judged = bool(nps["before"].get("enough") and nps["after"].get("enough"))
        verdict = (t("report.too_few") if not judged else
                   t("scores.significant") if nps["significant"] else
                   t("scores.not_significant"))
        name = (t("promises.every_promise") if c["commitment"] == "*"
                else names.get(c["commitment"], c["commitment"]))
        rows.append([Cell(name), w.score(nps["before"]), w.score(nps["after"]),
                     w.difference(nps["difference"] if judged else None, None, None,
                                  significant=nps["significant"]),
                     Cell(verdict, style="strong" if judged and nps["significant"] else
                          "muted"),
                     w.score(ces["before"], 1), w.score(ces["after"], 1)])
    return _section(help=t("promises.costs_help"), grids=[Grid(
        (t("promises.commitment"), t("promises.nps_kept"), t("promises.nps_broken"),
         t("scores.change"), t("report.significance"), t("promises.ces_kept"),
         t("promises.ces_broken")), rows)], empty="" if rows else t("report.no_commitments"))


def _worst(data: Sequence[Mapping[str, Any]], w: Writer, names: Mapping[str, str]) -> Section:
    t = w.t
    rows = [[Cell(fix_name(f"{g['dimension']}={g['key']}", names, t)),
             Cell(w.num(100 * g["share"]) + PERCENT), w.score(g["group"]), w.score(g["rest"]),
             w.difference(g["difference"], g["low"], g["high"], significant=True)]
            for g in data]
    return _section(help=t("report.worst_help"), grids=[Grid(
        (t("report.group"), t("report.share_of_answers"), t("report.nps_group"),
         t("report.nps_rest"), t("breakdowns.difference")), rows)] if rows else [],
        empty="" if rows else t("report.no_worst"))


def _gaps(data: Mapping[str, Any], w: Writer, names: Mapping[str, str], ws: ActiveWorkspace,
          with_charts: bool) -> Section:
    t = w.t
    items = item_names(ws, w.language)
    promises = {p.id: localized(p.text, w.language) for p in ws.document.promises}
    digits = {"nps": 0, "ces": 1, "csat": 0}
    rows: list[list[Cell]] = []
    bars: list[dict[str, Any]] = []

    def row(where: Cell, what: str, gap: Mapping[str, Any] | None, places: int,
            unit: str = "") -> None:
        if gap and gap.get("enough"):
            rows.append([where, Cell(what), w.score(gap, places, unit, signed=True)])

    for tp in data.get("touchpoints", []):
        where = Cell(names.get(tp["touchpoint"], tp["touchpoint"]))
        for g in tp.get("scores", []):
            kind = g["kind"]
            measured = (g.get("measured") or {}).get("value")
            target = g.get("target")
            what = f"{kind.upper()}: " + t(
                "report.target_vs_measured",
                target=w.num(target, 0 if target is None or target == round(target) else 1),
                measured=w.num(measured, 1))
            row(where, what, g.get("gap"), max(1, digits.get(kind, 0)))
        for g in tp.get("delivery", []):
            row(where, names.get(g["commitment"], g["commitment"]), g.get("gap"), 0, PERCENT)
        for g in tp.get("communication", []):
            row(where, promises.get(g["promise"], g["promise"]), g.get("gap"), 0, PERCENT)
        experience = tp.get("experience") or {}
        for d in experience.get("dimensions", []):
            label = dimension_name(d["dimension"], items, w.language)
            row(where, f"P − E: {label}", d.get("gap"), 2)
            gap = d.get("gap") or {}
            if gap.get("enough") and gap.get("low") is not None:
                bars.append({"name": f"{where.text} · {label}", "value": gap["value"],
                             "low": gap["low"], "high": gap["high"], "n": gap["n"]})
        servqual = experience.get("servqual") or {}
        for key in ("unweighted", "weighted"):
            row(where, t(f"gaps.{key}"), servqual.get(key), 2)
        for g in tp.get("strategy", []):
            row(where, f"T − E: {items.get(g['item'], g['item'])}", g.get("gap"), 2)
    section = _section(help=t("report.gaps_help"), grids=[Grid(
        (t("report.touchpoint"), t("report.gap_kind"), t("report.gap")), rows)] if rows else [],
        empty="" if rows else t("gaps.none"))
    if with_charts and bars:
        low = min(GAP_RANGE[0], min(float(b["low"]) for b in bars))
        high = max(GAP_RANGE[1], max(float(b["high"]) for b in bars))
        section.charts.append(charts.bars_with_intervals(
            bars, w.language, charts.Measure(t("gaps.chart_axis"), (low, high), digits=2),
            title=t("report.gaps_chart"), element_id="gaps-chart"))
    return section


@dataclass(frozen=True)
class _Driver:
    """A driver of the report's figures, as web.drivers.driver_name reads one."""

    touchpoint: str | None
    kind: str
    question: str | None
    item: str | None


def _drivers(data: Mapping[str, Any], w: Writer, ws: ActiveWorkspace,
             with_charts: bool) -> Section:
    t = w.t
    found = data.get("drivers", [])
    if not found:
        return _section(empty=t("report.drivers_none", n=w.num(data.get("respondents", 0)),
                                min=w.num(data.get("min_answers", w.min_n))))
    rows: list[list[Cell]] = []
    points: list[dict[str, Any]] = []
    for d in found:
        name = driver_name(_Driver(d.get("touchpoint"), d["kind"], d.get("question"),
                                   d.get("item")), ws, w.language)
        share = {"value": None if d.get("share") is None else 100 * d["share"],
                 "low": None if d.get("low") is None else 100 * d["low"],
                 "high": None if d.get("high") is None else 100 * d["high"],
                 "n": d.get("n_with_outcome", d.get("n", 0)), "enough": d.get("enough")}
        rows.append([Cell(name), w.score(share, 0, PERCENT),
                     Cell(w.num(100 * d["performance"]) + PERCENT)])
        if d.get("enough") and d.get("share") is not None and d.get("low") is not None:
            points.append({"name": name, "value": d["share"], "low": d["low"],
                           "high": d["high"], "n": share["n"]})
    r2 = data.get("r2")
    section = _section(
        help=t("report.drivers_help"),
        notes=[t("report.drivers_fit", r2=w.num(r2, 2),
                 interval=w.interval(data.get("r2_low"), data.get("r2_high"), 2),
                 n=w.num(data.get("used", 0)))] if r2 is not None else [],
        grids=[Grid((t("report.driver"), t("report.share"), t("report.performance")), rows)])
    if with_charts and points and data.get("enough"):
        # importance as bars: a board reads the order and the intervals at a glance (the
        # drivers page has the importance x performance quadrant)
        section.charts.append(charts.bars_with_intervals(
            points, w.language, charts.Measure(t("drivers.importance_axis"), (0.0, 1.0),
                                               percent=True),
            title=t("drivers.chart_title", outcome=t("drivers.outcome.nps")),
            element_id="drivers-chart"))
    return section


def _value(data: Mapping[str, Any], w: Writer, with_charts: bool) -> Section:
    t = w.t
    if not data.get("questions"):
        return _section(help=t("value_page.value_intro"), empty=t("value_page.value_none"))
    claimed, others = w.score(data["claimed_share"], 0, PERCENT), \
        w.score(data["unclaimed_share"], 0, PERCENT)
    mean = data.get("mean_perceived")
    notes = [t("value_page.value_summary", n=w.num(data["respondents"]),
               mean="–" if mean is None else plain(mean, w.language, 1))
             + f" {t('value_page.claimed_share')} {_inline(claimed)}; "
               f"{t('value_page.unclaimed_share')} {_inline(others)}."]
    kind = data.get("kind", "b2c")
    element_rows = [
        [Cell(elements.label(e["element"], w.language)),
         Cell(t(f"value_page.level.{e['level']}") if e.get("level") else ""),
         Cell(t("value_page.claimed_yes") if e.get("claimed") else ""),
         w.score(e["share"], 0, PERCENT) if e.get("asked")
         else Cell(t("value_page.not_asked"), style="muted")]
        for e in data.get("elements", [])]
    count_rows = [[Cell(t("value_page.count_group", group=g["group"])),
                   Cell(w.num(g["respondents"])), w.score(g["share"], 0, PERCENT),
                   w.score(g["nps"])] for g in data.get("by_count", [])]
    section = _section(help=t("value_page.value_intro"), notes=notes, grids=[
        Grid((t("value_page.element"), t("value_page.level_label"), t("value_page.claimed"),
              t("value_page.perceived")), element_rows, caption=kind.upper()),
        Grid((t("value_page.elements_perceived"), t("value_page.respondents"),
              t("value_page.share_of_respondents"), "NPS"), count_rows,
             caption=t("value_page.nps_by_count"))])
    bars = [{"name": t("value_page.count_group", group=g["group"]), "value": g["nps"]["value"],
             "low": g["nps"]["low"], "high": g["nps"]["high"], "n": g["nps"]["n"]}
            for g in data.get("by_count", []) if g["nps"].get("enough")]
    if with_charts and bars:
        section.charts.append(charts.bars_with_intervals(
            bars, w.language, charts.Measure("NPS", (-100.0, 100.0)),
            title=t("value_page.nps_by_count"), element_id="value-nps-chart"))
    return section


def _kano(data: Sequence[Mapping[str, Any]], w: Writer, ws: ActiveWorkspace,
          with_charts: bool) -> Section:
    """Kano per feature (analytics/kano.Feature as plain figures)."""
    t = w.t
    if not data:
        return _section(help=t("value_page.kano_intro"), empty=t("value_page.kano_none"))
    wording = {(s.id, q.id, f.id): localized(f.functional, w.language)
               for s in ws.document.surveys for q in s.questions if isinstance(q, Kano)
               for f in q.features}

    def category(code: str | None) -> str:
        return t(f"value_page.kano.{kano_math.NAMES[code]}") if code in kano_math.NAMES \
            else ""

    rows: list[list[Cell]] = []
    points: list[dict[str, Any]] = []
    for f in data:
        name = wording.get((str(f.get("survey")), str(f.get("question")), str(f["feature"])),
                           str(f["feature"]))
        enough = f["n"] >= w.min_n
        tied = ", ".join(category(c) for c in f.get("tied") or [])
        shown = (category(f.get("category")) + (f" ({t('value_page.tied', categories=tied)})"
                                                 if tied else ""))
        rows.append([Cell(name, w.num(f["n"])),
                     Cell(shown) if enough else Cell(t("report.too_few"), style="too-few"),
                     Cell(plain(f.get("better"), w.language)),
                     Cell(plain(f.get("worse"), w.language))])
        if enough:
            points.append({"name": f["feature"], "better": f.get("better"),
                           "worse": f.get("worse"), "category": category(f.get("category")),
                           "n": f["n"]})
    section = _section(help=t("value_page.kano_intro"), grids=[Grid(
        (t("value_page.feature"), t("value_page.category"), "Better", "Worse"), rows)])
    if with_charts and points:
        section.charts.append(charts.kano_scatter(
            points, w.language, title=t("value_page.kano_chart"), element_id="kano-chart",
            css_class="chart kano-chart"))
    return section


def _outcomes(data: Mapping[str, Any], w: Writer, names: Mapping[str, str],
              with_charts: bool) -> Section:
    t = w.t
    outcome = t(f"value_page.outcome.{data['outcome']}")
    overall = w.score(data["overall"], 0, PERCENT)
    events = ", ".join(names.get(f"event:{e}", e) for e in data.get("events", []))
    notes = [t("value_page.outcomes_summary", events=events,
               judged=w.num(data["judged"]), open=w.num(data["open"]),
               as_of=i18n.day(date.fromisoformat(str(data["as_of"])[:10]), w.language))
             + " " + _inline(overall)]
    for key in ("easy_vs_hard", "promoter_vs_detractor"):
        d = data.get(key) or {}
        if d.get("value") is None:
            notes.append(f"{t('value_page.' + key)}: –")
            continue
        notes.append(
            f"{t('value_page.' + key)}: "
            f"{t('value_page.points', value=w.num(d['value'], signed=True))} "
            f"({w.interval(d.get('low'), d.get('high'), signed=True)}), "
            + t("value_page.significant" if d.get("significant")
                else "value_page.not_significant"))
    groups = [*data.get("by_effort", []), *data.get("by_nps", [])]
    rows = [[Cell(t(f"value_page.group.{g['group']}")), w.score(g["share"], 0, PERCENT)]
            for g in groups]
    section = _section(help=t("value_page.outcomes_intro", days=data.get("days", 90)),
                       notes=notes, grids=[Grid((t("value_page.group_label"), outcome), rows)])
    bars = [{"name": t(f"value_page.group.{g['group']}"), "value": g["share"]["value"] / 100,
             "low": g["share"]["low"] / 100, "high": g["share"]["high"] / 100,
             "n": g["share"]["n"]} for g in groups if g["share"].get("enough")]
    if with_charts and bars:
        section.charts.append(charts.bars_with_intervals(
            bars, w.language, charts.Measure(outcome, (0.0, 1.0), percent=True),
            title=t("value_page.outcome_chart", outcome=outcome, days=data.get("days", 90)),
            element_id="outcome-chart"))
    return section


def _silent(data: Mapping[str, Any], w: Writer, names: Mapping[str, str],
            with_charts: bool) -> Section:
    t = w.t
    rows: list[list[Cell]] = []
    bars: list[dict[str, Any]] = []
    for m in data.get("moments", []):
        i, traffic = m["inputs"], m.get("traffic") or {}
        where = names.get(m["touchpoint"], m["touchpoint"])
        if i.get("people_per_occasion") is None:
            formula = Cell(t("value_page.no_traffic"), style="muted")
        else:
            basket = i["basket"]
            people = plain(i["people_per_occasion"], w.language, 1)
            if i.get("people_source") == "events":
                people += "*"
            formula = Cell(" × ".join((
                people, plain(100 * i["share_buying"], w.language, 1) + PERCENT,
                money(basket, w.language, 2 if basket % 1 else 0),
                plain(i["occasions_per_day"], w.language),
                plain(i["days_per_year"], w.language))))
        rows.append([Cell(where), formula, Cell(money(m.get("per_day"), w.language)),
                     Cell(money(m.get("per_year"), w.language), style="strong")])
        if m.get("per_year") is not None:
            bars.append({"name": where, "value": m["per_year"], "low": m["per_year"],
                         "high": m["per_year"], "n": traffic.get("events", 0)})
    notes = []
    if any(m["inputs"].get("people_source") == "events" for m in data.get("moments", [])):
        notes.append(t("value_page.formula_note"))
    candidates = data.get("candidates", [])
    if candidates:
        notes.append(t("value_page.candidates") + " " + ", ".join(
            f"{names.get(c['touchpoint'], c['touchpoint'])} "
            f"({t('value_page.per_day_short', n=plain(c.get('per_day'), w.language, 1))})"
            for c in candidates))
    section = _section(help=t("value_page.silent_intro"), notes=notes, grids=[Grid(
        (t("value_page.touchpoint"), t("value_page.formula"), t("value_page.per_day"),
         t("value_page.per_year")), rows)] if rows else [],
        empty="" if rows else t("value_page.silent_none"))
    if with_charts and bars:
        section.charts.append(charts.bars_with_intervals(
            bars, w.language,
            charts.Measure(t("report.per_year_axis"),
                           (0.0, max(float(b["value"]) for b in bars) * 1.15 or 1.0)),
            title=t("report.silent_chart"), element_id="silent-chart"))
    return section


def _comments(data: Mapping[str, Any], w: Writer, names: Mapping[str, str],
              ws: ActiveWorkspace) -> Section:
    t = w.t
    terms = [d for d in (*data.get("words", []), *data.get("phrases", []))
             if d.get("significant")]

    def side(sign: int) -> str:
        chosen = sorted((d for d in terms if d["z"] * sign > 0), key=lambda d: -abs(d["z"]))
        return ", ".join(f"{d['term']} ({w.num(d['z'], 1, signed=True)})"
                         for d in chosen[:TERMS]) or t("value_page.no_terms")

    grids = [Grid((t("report.detractor_words"), t("report.promoter_words")),
                  [[Cell(side(1)), Cell(side(-1))]])]
    themes = {th.id: localized(th.name, w.language) for th in ws.document.insights.themes}
    if data.get("themes"):
        grids.append(Grid(
            (t("value_page.theme"), t("value_page.mentions"), t("value_page.share_of_comments"),
             t("value_page.nps_mentioning"), t("value_page.nps_others")),
            [[Cell(themes.get(th["theme"], th["theme"])), Cell(w.num(th["mentions"])),
              w.score(th["share"], 0, PERCENT), w.score(th["nps"]), w.score(th["nps_others"])]
             for th in data["themes"]], caption=t("value_page.themes")))
    if data.get("touchpoints"):
        grids.append(Grid(
            (t("value_page.touchpoint"), t("value_page.comments"),
             t("value_page.nps_commenting")),
            [[Cell(names.get(tp.get("touchpoint") or "", tp.get("touchpoint") or "–")),
              Cell(w.num(tp["comments"])), w.score(tp["nps"])] for tp in data["touchpoints"]],
            caption=t("value_page.by_touchpoint")))
    return _section(help=t("report.words_help", n=w.num(data.get("comments", 0))), grids=grids)


def _signals(data: Sequence[Mapping[str, Any]], w: Writer, ws: ActiveWorkspace) -> Section:
    t = w.t
    rows = []
    for s in data:
        shown = signal_pages.view(signal_service.Signal(**s), ws, w.language)
        rows.append([Cell(t(f"signals.{s['id']}.name"), style="strong" if s["fired"] else ""),
                     Cell(t(f"signals.severity.{s['severity']}"),
                          style="strong" if s["fired"] else "muted"),
                     Cell(shown.sentence)])
    return _section(grids=[Grid((t("report.signal"), t("report.severity"), t("report.says")),
                                rows)])


def _dropoff(data: Sequence[Mapping[str, Any]], w: Writer, names: Mapping[str, str],
             ws: ActiveWorkspace, with_charts: bool) -> Section:
    t = w.t
    journeys = {j.id: localized(j.name, w.language) for j in ws.document.journeys}
    rows: list[list[Cell]] = []
    waits: list[list[Cell]] = []
    bars: list[dict[str, Any]] = []
    for j in data:
        o = j["outcomes"]
        # the lost share of the decided journeys, as analytics.dropoff defines it per group
        lost = score_math.keep_rate(o["lost"], o["lost"] + o["reached"], w.min_n)
        name = journeys.get(j["journey"], j["journey"])
        rows.append([Cell(name), Cell(names.get(j["goal"], j["goal"])),
                     Cell(w.num(o["reached"])), Cell(w.num(o["in_flight"])),
                     Cell(w.num(o["lost"])), w.score(lost.as_dict(), 0, PERCENT)])
        if lost.enough and lost.value is not None:
            bars.append({"name": name, "value": lost.value / 100, "low": (lost.low or 0) / 100,
                         "high": (lost.high or 0) / 100, "n": lost.n})
        waits += [[Cell(name), Cell(names.get(s["touchpoint"], s["touchpoint"])),
                   Cell(w.num(s["steps"])), Cell(hours(s["median_s"], w.language)),
                   Cell(hours(s["p90_s"], w.language))] for s in j.get("stalls", [])[:STALLS]]
    if not rows:
        return _section(empty=t("report.no_journeys"))
    grids = [Grid((t("report.journey"), t("report.goal"), t("breakdowns.reached"),
                   t("breakdowns.in_flight"), t("breakdowns.lost"), t("breakdowns.lost_share")),
                  rows)]
    if waits:
        grids.append(Grid((t("report.journey"), t("report.touchpoint"), t("report.steps"),
                           t("report.median_wait"), t("report.p90_wait")), waits,
                          caption=t("report.stalls")))
    section = _section(help=t("report.dropoff_help", days=w.num(IDLE_DAYS)), grids=grids)
    if with_charts and bars:
        section.charts.append(charts.bars_with_intervals(
            bars, w.language, charts.Measure(t("breakdowns.lost_share"), (0.0, 1.0),
                                             percent=True),
            title=t("report.lost_chart"), element_id="dropoff-chart"))
    return section


def _inline(cell: Cell) -> str:
    """A cell as part of a sentence: "46 % (43 – 50), n = 700"."""
    return f"{cell.text}, n = {cell.n}" if cell.n else cell.text
