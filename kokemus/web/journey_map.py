"""The journey map page: how customers really travel, drawn over the journey the company designed.

The figures come from the analytics (directly-follows graph, variants, starts and ends) run
in the event store's engine; this module turns them into plain values in one language and
into two server-rendered SVG drawings, so the page needs no script and loads nothing from
elsewhere:

- the map: touchpoints as circles sized by the cases that reached them, the designed path
  left to right on the middle row, other touchpoints above and below it in their stage's
  columns; edges sized by count and coloured by median time or by drop-off, designed edges
  strong, off-path edges lighter;
- a Sankey of the most common paths (consecutive repeats of a touchpoint merged).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import pairwise
from typing import Any, Literal
from xml.sax.saxutils import escape

from markupsafe import Markup

from kokemus.analytics import breakdowns, dropoff, ordering
from kokemus.analytics import journeys as journey_analytics
from kokemus.analytics.breakdowns import Condition, Known
from kokemus.analytics.engines import DuckDBEngine, Engine
from kokemus.analytics.logs import Log, Outcome, Subject, events_log, one_of
from kokemus.bootstrap import Kokemus
from kokemus.domain import calendar
from kokemus.domain.journeys import Journey
from kokemus.domain.texts import localized
from kokemus.domain.workspace import Workspace
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people
from kokemus.web import dropoff as dropoff_view
from kokemus.web import i18n
from kokemus.web.journey_layout import Link, Place, lay_out
from kokemus.web.page import filter_day
from kokemus.web.scores import Choice, check_by, check_where, choices

Colouring = Literal["time", "dropoff", "compare"]
COLOURINGS: tuple[Colouring, ...] = ("time", "dropoff", "compare")
TOP_VARIANTS = 10
SANKEY_VARIANTS = 8
MIN_SHARE_DRAWN = 0.005  # an off-path edge is drawn when at least this share of cases take it

# Five classes, light-to-dark is not needed: each class has its own hue, from calm to alarm.
PALETTE = ("#1b7f79", "#5b9a3c", "#d39a1c", "#e0632a", "#b3261e")
TIME_LIMITS_H = (1.0, 6.0, 24.0, 72.0)
DROPOFF_LIMITS = (0.1, 0.25, 0.5, 0.75)
# Transitions per journey shown minus per journey of the other outcome (compare colouring).
COMPARE_LIMITS = (-0.2, -0.05, 0.05, 0.2)
NO_DATA = "#9aa3ad"
INK = "#1f2933"
INK_SOFT = "#5b6572"
ACCENT = "#0f5c73"
TRACK = "#cfe6ee"
GOAL = "#1e6b3a"

# A touchpoint's circle, by the cases that reached it (SVG user units).
R_MIN = 7.0
R_MAX = 27.0
NAME_WIDTH = 14  # characters on a line of a touchpoint's name under its circle


# ---------------------------------------------------------------------------------------------
# Filters


@dataclass(frozen=True)
class Filters:
    start: date | None = None
    end: date | None = None
    channel: str | None = None
    colour: Colouring = "time"
    errors: tuple[str, ...] = ()
    segment: str | None = None
    outcome: Outcome | None = None  # only the journeys that reached the goal, or did not
    by: str | None = None  # drop-off by property:/attribute:/event: (kokemus.web.dropoff)
    where: tuple[Condition, ...] = ()  # only the journeys these name
    problems: tuple[str, ...] = ()  # what was wrong with a breakdown or filter, as said
    subject: Subject = "customer"  # a journey per person, or per B2B account (its committee)
    account: str | None = None  # only this account's people

    @property
    def query(self) -> dict[str, str]:
        """The filters as the form's GET parameters (for links that keep them)."""
        items = {"from": self.start.isoformat() if self.start else "",
                 "to": self.end.isoformat() if self.end else "",
                 "channel": self.channel or "", "segment": self.segment or "",
                 "outcome": self.outcome or "", "colour": self.colour,
                 "cases": self.subject if self.subject != "customer" else "",
                 "account": self.account or ""}
        return {k: v for k, v in items.items() if v}

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The query with the breakdown and the filters (`where` repeats)."""
        return ([*self.query.items()] + ([("by", self.by)] if self.by else [])
                + [("where", c.text) for c in self.where])


def parse_filters(journey: Journey, document: Workspace, start: str | None, end: str | None,
                  channel: str | None, colour: str | None, segment: str | None = None,
                  outcome: str | None = None, by: str | None = None,
                  where: list[str] | None = None, known: Known | None = None,
                  cases: str | None = None, account: str | None = None,
                  accounts: Sequence[str] = ()) -> Filters:
    """Form values checked at the edge against the journey and its workspace: a bad value
    is dropped and named, never passed on; a breakdown or filter the data does not know
    (`known`) is named with those it knows. `accounts`: the workspace's B2B accounts (none:
    journeys are only per person)."""
    channels = _channels(journey, document)
    segments = [g.id for g in document.segments]
    has_goal = journey.goal is not None
    errors: list[str] = []
    first = filter_day(start, "journey_map.bad_from", errors)
    last = filter_day(end, "journey_map.bad_to", errors)
    if first and last and last < first:
        errors.append("journey_map.bad_period")
        first = last = None
    picked = channel if channel in channels else None
    if channel and picked is None:
        errors.append("journey_map.bad_channel")
    group = segment if segment in segments else None
    if segment and group is None:
        errors.append("journey_map.bad_segment")
    outcomes: dict[str, Outcome] = {"reached": "reached", "not_reached": "not_reached"}
    result = outcomes.get(outcome or "") if has_goal else None
    if outcome and result is None:
        errors.append("journey_map.bad_outcome")
    shades: dict[str, Colouring] = {"dropoff": "dropoff", "compare": "compare"}
    shade = shades.get(colour or "", "time")
    if result is None and shade == "compare":
        shade = "time"  # nothing to compare with: every journey is shown
    elif result is not None and shade == "dropoff":
        # Among only lost (or only successful) journeys every edge has the same drop-off:
        # the colour that says something is the comparison with the other outcome.
        shade = "compare"
    subject: Subject = "account" if cases == "account" and accounts else "customer"
    if (cases and cases not in ("customer", "account")) or (cases == "account" and not accounts):
        errors.append("journey_map.bad_cases")
    one = account if account in accounts else None
    if account and one is None:
        errors.append("journey_map.bad_account")
    problems: list[str] = []
    chosen: str | None = None
    if by and has_goal:  # lookups only: the map's own filters are the form's other fields
        found, problem = check_by(by, (), known, default="")
        chosen = found or None
        problems += [problem] if problem else []
    elif by:
        errors.append("journey_map.bad_by")
    conditions, problem = check_where(where, (), known)
    problems += [problem] if problem else []
    return Filters(first, last, picked, shade, tuple(errors), group, result, chosen,
                   conditions, tuple(problems), subject, one)


def filtered_log(workspace_id: int, journey: Journey, filters: Filters,
                 members: Sequence[str] | None = None) -> Log:
    """The journey's events with the filters; `members`: the chosen segment's customers.
    Cases are people, or B2B accounts (each account's committee as one journey), or the
    episodes the journey cuts them into (logs.episodes)."""
    log = events_log(workspace_id, journey, filters.subject)
    if members is not None:
        # A person's events; whole cases when a case is one person's.
        log = (log.among(members) if filters.subject == "customer" and not journey.episodes
               else log.where(one_of("customer", members) if members else "1 = 0"))
    if filters.account is not None:
        log = log.where(one_of("account", [filters.account]))
    start, end = calendar.period(filters.start, filters.end)
    log = log.between(start, end).on_channels([filters.channel] if filters.channel else [])
    if filters.outcome is not None and journey.goals:
        # Whole journeys that reached a goal (at any time), or none; as the CLI's --outcome.
        reached = one_of("activity", journey.goals)
        log = log.of_cases(reached) if filters.outcome == "reached" else (
            log.without_cases(reached))
    return log


def without_repeats(log: Log) -> Log:
    """The log with consecutive repeats of a touchpoint in a case merged into the first
    (its window keys kept: the rows keep their columns)."""
    return Log(
        f"SELECT * FROM (SELECT *, lag(activity) OVER ({log.window}) AS previous_activity "
        f"FROM ({log.sql}) AS l) AS r "
        "WHERE previous_activity IS NULL OR previous_activity <> activity",
        case=log.case, order=log.order,
    )


# ---------------------------------------------------------------------------------------------
# Values the page shows


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass
class NodeView:
    id: str
    name: str
    stage: str
    designed: bool
    goal: bool
    cases: int = 0
    events: int = 0
    lost: int = 0
    r: float = R_MIN


@dataclass(frozen=True)
class EdgeView:
    source: str
    target: str
    source_name: str
    target_name: str
    count: int
    median_s: float | None
    p90_s: float | None
    lost: int
    designed: bool
    median: str
    p90: str
    lost_share: str
    colour: str
    count_text: str


@dataclass(frozen=True)
class VariantView:
    steps: list[str]
    cases: int
    cases_text: str
    share: str
    designed: bool


@dataclass(frozen=True)
class LegendItem:
    colour: str
    label: str


@dataclass
class JourneyMap:
    slug: str
    workspace: str
    journey_id: str
    name: str
    filters: Filters
    channels: list[Option]
    segments: list[Option]
    designed_path: list[str]
    goal: str | None
    cases: int
    cases_text: str
    events_text: str
    lost: int
    lost_text: str
    nodes: list[NodeView]
    edges: list[EdgeView]
    variants: list[VariantView]
    variant_cases_text: str
    variant_share: str
    legend: list[LegendItem]
    graph: Markup = field(default_factory=lambda: Markup(""))
    sankey: Markup = field(default_factory=lambda: Markup(""))
    hidden_edges: int = 0
    min_count: int = 1
    breakdown: dropoff_view.Breakdown | None = None  # drop-off by the chosen breakdown
    choices: list[Choice] = field(default_factory=list)  # the breakdowns offered
    accounts: list[Option] = field(default_factory=list)  # B2B accounts, to see one
    goal_names: list[str] = field(default_factory=list)  # each goal's name (`goal` joins them)


def hours(seconds: float | None, language: str) -> str:
    """Seconds as hours with one decimal, the language's decimal mark; days past 72 h."""
    if seconds is None or math.isnan(seconds):
        return "–"
    value, unit = seconds / 3600, "h"
    if value >= 72:
        value, unit = value / 24, "d"
    text = f"{value:.1f}"
    if language == "fi":
        text = text.replace(".", ",")
    return f"{text}\u00a0{i18n.translate(f'unit.{unit}', language)}"


def percent(share: float, language: str) -> str:
    text = f"{100 * share:.1f}"
    if language == "fi":
        return text.replace(".", ",") + "\u00a0%"
    return text + "%"


def _bucket(value: float, limits: Sequence[float]) -> int:
    return sum(1 for limit in limits if value >= limit)


def time_colour(median_s: float | None) -> str:
    if median_s is None or math.isnan(median_s):
        return NO_DATA
    return PALETTE[_bucket(median_s / 3600, TIME_LIMITS_H)]


def compare_colour(difference: float | None) -> str:
    """Calm where the shown journeys take a transition less often than the others, alarm
    where more often (per journey)."""
    if difference is None:
        return NO_DATA
    return PALETTE[_bucket(difference, COMPARE_LIMITS)]


def dropoff_colour(share: float | None) -> str:
    if share is None:
        return NO_DATA
    return PALETTE[_bucket(share, DROPOFF_LIMITS)]


def legend(colour: Colouring, language: str) -> list[LegendItem]:
    t = i18n.translator(language)
    if colour == "compare":
        per = [f"{round(100 * x):+d}" for x in COMPARE_LIMITS]
        labels = [f"< {per[0]}", f"{per[0]}…{per[1]}", f"{per[1]}…{per[2]}",
                  f"{per[2]}…{per[3]}", f"> {per[3]}"]
    elif colour == "time":
        h, d = t("unit.h"), t("unit.d")
        labels = [f"< 1\u00a0{h}", f"1–6\u00a0{h}", f"6–24\u00a0{h}", f"1–3\u00a0{d}",
                  f"> 3\u00a0{d}"]
    else:
        limits = [percent(x, language).replace(",0", "").replace(".0", "")
                  for x in DROPOFF_LIMITS]
        labels = [f"< {limits[0]}", f"{limits[0]}–{limits[1]}", f"{limits[1]}–{limits[2]}",
                  f"{limits[2]}–{limits[3]}", f"≥ {limits[3]}"]
    return [LegendItem(c, label) for c, label in zip(PALETTE, labels, strict=True)]


# ---------------------------------------------------------------------------------------------
# Figures from the engine


def _touchpoint_counts(engine: Engine, log: Log) -> dict[str, tuple[int, int]]:
    """Per touchpoint: the cases that reached it and its events."""
    rows = engine.query(f"""
        SELECT activity, count(DISTINCT case_id) AS cases, count(*) AS events
        FROM ({log.sql}) AS l GROUP BY activity
    """).to_pylist()
    return {str(r["activity"]): (int(r["cases"]), int(r["events"])) for r in rows}


def _lost(engine: Engine, log: Log, goals: list[str]) -> tuple[Log, dict[str, int]]:
    """The cases that end without any goal, and how many of them ended at each touchpoint
    (the drop-off: the last touchpoint before leaving). Without a goal, nothing is lost."""
    if not goals:
        return log.where("FALSE"), {}
    lost_log = log.without_cases(one_of("activity", goals))
    ends = journey_analytics.start_end(engine, lost_log).to_pylist()
    return lost_log, {str(r["activity"]): int(r["ends"]) for r in ends if r["ends"]}


def _versus(engine: Engine, workspace_id: int, journey: Journey, filters: Filters,
            members: Sequence[str] | None, lookup: breakdowns.Source) -> dict[tuple[str, str],
                                                                              int]:
    """The other outcome's transitions (under the same filters) and, under ("", ""), its
    journeys: what the journeys shown are compared with."""
    other: Outcome = "not_reached" if filters.outcome == "reached" else "reached"
    log = ordering.resolve(engine, dropoff.where_cases(
        engine, filtered_log(workspace_id, journey, replace(filters, outcome=other), members),
        filters.where, lookup))
    found = {(str(r["source"]), str(r["target"])): int(r["count"])
             for r in journey_analytics.dfg(engine, log).to_pylist()}
    found[("", "")] = journey_analytics.summary(engine, log)["cases"]
    return found


def build(kk: Kokemus, active: ActiveWorkspace, journey: Journey, filters: Filters,
          language: str, known: Known | None = None) -> JourneyMap:
    """The page's view; `known`: the workspace's properties, attributes and event types,
    which the drop-off breakdown offers."""
    document = active.document
    t = i18n.translator(language)
    names = {tp.id: localized(tp.name, language) for tp in journey.touchpoints}
    stage_names = {s.id: localized(s.name, language) for s in journey.stages}
    designed = [step for step in journey.designed_path if step in names]
    designed_edges = set(pairwise(designed))

    members = (people.customers_in_segment(kk.db, active.id, filters.segment)
               if filters.segment else None)
    lookups = [breakdowns.parse(filters.by)] if filters.by else []
    lookups += [c.dimension for c in filters.where]
    tables = breakdowns.tables_for(kk.db, active.id, lookups)
    with kk.events.reading() as cursor, breakdowns.attached(cursor, tables):
        engine = DuckDBEngine(cursor)
        lookup = breakdowns.Source(active.id, engine.dialect)
        log = dropoff.where_cases(engine, filtered_log(active.id, journey, filters, members),
                                  filters.where, lookup)
        log = ordering.resolve(engine, log)
        dfg = journey_analytics.dfg(engine, log).to_pylist()
        counts = _touchpoint_counts(engine, log)
        summary = journey_analytics.summary(engine, log)
        lost_log, lost_at = _lost(engine, log, journey.goals)
        lost_edges = {(str(r["source"]), str(r["target"])): int(r["count"])
                      for r in journey_analytics.dfg(engine, lost_log).to_pylist()}
        lost_cases = journey_analytics.summary(engine, lost_log)["cases"]
        variant_rows = journey_analytics.variants(
            engine, without_repeats(log), TOP_VARIANTS).to_pylist()
        versus = (_versus(engine, active.id, journey, filters, members, lookup)
                  if filters.colour == "compare" else {})
        by_group = (dropoff_view.build(engine, log, journey.goals, filters.by, lookup,
                                       document.feedback.min_answers, language, filters.pairs)
                    if filters.by and journey.goal else None)

    nodes = [
        NodeView(id=tp.id, name=names[tp.id], stage=tp.stage, designed=tp.id in designed,
                 goal=tp.id in journey.goals, cases=counts.get(tp.id, (0, 0))[0],
                 events=counts.get(tp.id, (0, 0))[1], lost=lost_at.get(tp.id, 0))
        for tp in journey.touchpoints
    ]
    most = max((n.cases for n in nodes), default=0)
    for node in nodes:  # the circle's area grows with the cases
        node.r = R_MIN + (R_MAX - R_MIN) * math.sqrt(node.cases / most) if most else R_MIN
    edges: list[EdgeView] = []
    for row in dfg:
        source, target, count = str(row["source"]), str(row["target"]), int(row["count"])
        lost = lost_edges.get((source, target), 0)
        share = lost / count if count and journey.goal else None
        difference = None
        if filters.colour == "compare" and summary["cases"]:
            other_count, other_cases = versus.get((source, target), 0), versus.get(("", ""), 0)
            difference = count / summary["cases"] - (other_count / other_cases
                                                     if other_cases else 0.0)
        colour = (time_colour(row["median_s"]) if filters.colour == "time"
                  else compare_colour(difference) if filters.colour == "compare"
                  else dropoff_colour(share))
        edges.append(EdgeView(
            source=source, target=target, source_name=names.get(source, source),
            target_name=names.get(target, target), count=count,
            median_s=row["median_s"], p90_s=row["p90_s"], lost=lost,
            designed=(source, target) in designed_edges,
            median=hours(row["median_s"], language), p90=hours(row["p90_s"], language),
            lost_share=percent(share, language) if share is not None else "–",
            colour=colour, count_text=i18n.number(count, language)))

    variants = [
        VariantView(steps=[names.get(str(s), str(s)) for s in row["variant"]],
                    cases=int(row["cases"]), cases_text=i18n.number(int(row["cases"]), language),
                    share=percent(float(row["share"]), language),
                    designed=[str(s) for s in row["variant"]] == designed)
        for row in variant_rows
    ]
    shown = sum(v.cases for v in variants)
    cases = summary["cases"]
    view = JourneyMap(
        slug=active.slug, workspace=localized(document.name, language), journey_id=journey.id,
        name=localized(journey.name, language), filters=filters,
        segments=segment_options(document, language),
        channels=channel_options(journey, document, language),
        designed_path=[names[s] for s in designed],
        goal=", ".join(names.get(g, g) for g in journey.goals) or None,
        goal_names=[names.get(g, g) for g in journey.goals],
        cases=cases, cases_text=i18n.number(cases, language),
        events_text=i18n.number(summary["events"], language),
        lost=lost_cases, lost_text=i18n.number(lost_cases, language),
        nodes=nodes, edges=edges, variants=variants,
        variant_cases_text=i18n.number(shown, language),
        variant_share=percent(shown / cases, language) if cases else "–",
        legend=legend(filters.colour, language),
        accounts=[Option(i, name) for i, name in account_names(kk, active.id)],
        breakdown=by_group,
        choices=choices((), known or Known(), t, event=lambda e: document.event_name(e, language))
        if journey.goal else [],
    )
    # Rare off-path transitions would hide the picture: they stay in the table, not drawn.
    view.min_count = max(2, math.ceil(cases * MIN_SHARE_DRAWN))
    view.hidden_edges = sum(1 for e in edges if not e.designed and e.count < view.min_count)
    view.graph = map_svg(view, journey, stage_names, t, language)
    view.sankey = sankey_svg(variant_rows[:SANKEY_VARIANTS], names, set(designed), t, language)
    return view


def account_names(kk: Kokemus, workspace_id: int) -> list[tuple[str, str]]:
    """The workspace's B2B accounts (id, name): a map per account is offered when any."""
    return people.account_names(kk.db, workspace_id)


def channel_options(journey: Journey, document: Workspace, language: str) -> list[Option]:
    """The channel filter's choices, by their names in `language`."""
    names = {c.id: localized(c.name, language) for c in document.channels}
    return sorted((Option(c, names.get(c, c)) for c in _channels(journey, document)),
                  key=lambda o: o.label)


def segment_options(document: Workspace, language: str) -> list[Option]:
    return [Option(g.id, localized(g.name, language)) for g in document.segments]


def _channels(journey: Journey, document: Any) -> list[str]:
    """The channels worth filtering on: the workspace's (events carry their own channel)."""
    ids = [c.id for c in document.channels]
    for tp in journey.touchpoints:
        if tp.channel not in ids:
            ids.append(tp.channel)
    return ids


# ---------------------------------------------------------------------------------------------
# SVG


def _attr(value: object) -> str:
    return escape(str(value), {'"': "&quot;"})


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _wrap(text: str, width: int = 17, lines: int = 2, longest: int = 19) -> list[str]:
    """`text` in at most `lines` lines of about `width` characters; a single word may run
    to `longest` characters before it is cut."""
    words, out, current = text.split(), [], ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if len(candidate) <= width or not current:
            current = candidate
        else:
            out.append(current)
            current = word
    out.append(current)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: width - 1].rstrip() + "…"
    return [line if len(line) <= max(width + 2, longest) else line[: longest - 1] + "…"
            for line in out]


def _edge_title(edge: EdgeView, t: i18n.Translate) -> str:
    return t("journey_map.edge_title", source=edge.source_name, target=edge.target_name,
             count=edge.count_text, median=edge.median, p90=edge.p90, lost=edge.lost_share)


def _stroke(count: int, top: int) -> float:
    """An edge's width by its count: the area-like square root, 1.2 to 10.2 units."""
    return 1.2 + 9 * math.sqrt(count / top) if top else 1.2


def _node_sub(node: NodeView, view: JourneyMap, t: i18n.Translate, language: str) -> str:
    sub = t("journey_map.node_cases", n=i18n.number(node.cases, language))
    if view.filters.colour == "dropoff" and node.lost:
        sub += " · " + t("journey_map.node_lost", n=i18n.number(node.lost, language))
    return sub


def map_svg(view: JourneyMap, journey: Journey, stage_names: dict[str, str],
            t: i18n.Translate, language: str) -> Markup:
    """The map: ELK lays it out (journey_layout), this draws it. Stage bands under
    everything, the designed path's pale track under its edges, off-path edges under
    designed ones, then the touchpoints, then the counts on top."""
    nodes = view.nodes
    by_id = {n.id: n for n in nodes}
    top = max((e.count for e in view.edges), default=0)
    designed = [n for n in journey.designed_path if n in by_id]
    designed_pairs = [(a, b) for a, b in pairwise(designed) if a != b]
    shown = [e for e in view.edges if e.source in by_id and e.target in by_id
             and (e.designed or e.count >= view.min_count)]
    stage_order = {s.id: i for i, s in enumerate(journey.stages)}
    places = [Place(n.id, n.r, stage_order.get(n.stage, len(journey.stages)),
                    _wrap(n.name, NAME_WIDTH, 3), _node_sub(n, view, t, language))
              for n in nodes]
    links = [Link(e.source, e.target, _stroke(e.count, top),
                  ("↻ " if e.source == e.target else "") + e.count_text, e.designed)
             for e in shown]
    drawn_pairs = {(e.source, e.target) for e in shown}
    # A designed step nobody took is still laid out (and drawn as the track): the path
    # stays one straight line.
    links += [Link(a, b, 1.2, "", True) for a, b in designed_pairs if (a, b) not in drawn_pairs]
    names = [stage_names.get(s.id, s.id) for s in journey.stages] + [t("journey_map.other_stage")]
    drawing = lay_out(places, links, names)
    width, height = drawing.width, drawing.height
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="journey-graph" id="journey-graph" '
        f'width="{_num(width)}" height="{_num(height)}" viewBox="0 0 {_num(width)} '
        f'{_num(height)}" role="img" aria-labelledby="graph-title graph-desc" '
        f'data-colour="{view.filters.colour}" '
        f'font-family="system-ui, -apple-system, \'Segoe UI\', Roboto, sans-serif">',
        f'<title id="graph-title">{_attr(t("journey_map.graph_title", name=view.name))}</title>',
        f'<desc id="graph-desc">{_attr(t("journey_map.graph_desc", cases=view.cases_text))}'
        "</desc>",
    ]
    for i, band in enumerate(drawing.bands):
        fill = "#f4f6f8" if i % 2 == 0 else "#ffffff"
        out.append(f'<rect x="{_num(band.x)}" y="0" width="{_num(band.width)}" '
                   f'height="{_num(height)}" fill="{fill}"/>')
        label = _wrap(band.name, max(int(band.width / (12.5 * 0.6)), 6), 1)[0]
        out.append(f'<text x="{_num(band.x + band.width / 2)}" y="22" text-anchor="middle" '
                   f'font-size="12.5" font-weight="600" fill="{INK_SOFT}" '
                   f'class="stage-name"><title>{_attr(band.name)}</title>{_attr(label)}</text>')
    # The designed route: a wide pale track under each designed step, used or not.
    for a_id, b_id in designed_pairs:
        route = drawing.routes[(a_id, b_id)]
        out.append(f'<path class="designed-track" data-source="{_attr(a_id)}" '
                   f'data-target="{_attr(b_id)}" d="{route.path}" fill="none" '
                   f'stroke="{TRACK}" stroke-width="22" stroke-linecap="round"/>')
    labels: list[str] = []
    for edge in sorted(shown, key=lambda e: (e.designed, e.count)):
        route = drawing.routes[(edge.source, edge.target)]
        stroke = _stroke(edge.count, top)
        opacity = "1" if edge.designed else "0.45"
        klass = "edge designed" if edge.designed else "edge off-path"
        out.append(f'<g class="{klass}" data-source="{_attr(edge.source)}" '
                   f'data-target="{_attr(edge.target)}" data-count="{edge.count}" '
                   f'data-colour="{edge.colour}" opacity="{opacity}">'
                   f"<title>{_attr(_edge_title(edge, t))}</title>"
                   f'<path d="{route.path}" fill="none" stroke="{edge.colour}" '
                   f'stroke-width="{_num(stroke)}" stroke-linecap="round"/>'
                   f'<polygon points="{route.arrow}" fill="{edge.colour}"/></g>')
        text = ("↻ " if route.loop else "") + edge.count_text
        labels.append(f'<text x="{_num(route.label_x)}" y="{_num(route.label_y + 3.8)}" '
                      f'text-anchor="middle" font-size="10.5" font-weight="600" '
                      f'fill="{INK}" class="edge-label halo" data-source="{_attr(edge.source)}" '
                      f'data-target="{_attr(edge.target)}">{_attr(text)}</text>')
    for node in nodes:
        x, y = drawing.centres[node.id]
        ring = GOAL if node.goal else ACCENT if node.designed else "#8a949e"
        ring_w = 3 if node.designed else 1.5
        klass = "node designed" if node.designed else "node off-path"
        if node.cases == 0:
            klass += " unused"
        tip = t("journey_map.node_title", name=node.name,
                cases=i18n.number(node.cases, language), events=i18n.number(node.events, language),
                lost=i18n.number(node.lost, language))
        inner = GOAL if node.goal else ACCENT if node.designed else "#b9c2cb"
        out.append(f'<g class="{klass}" data-touchpoint="{_attr(node.id)}" '
                   f'data-cases="{node.cases}"><title>{_attr(tip)}</title>')
        dash = ' stroke-dasharray="3 3"' if node.cases == 0 else ""
        out.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" r="{_num(node.r)}" '
                   f'fill="#ffffff" stroke="{ring}" stroke-width="{ring_w}"{dash}/>')
        if node.cases:
            out.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" '
                       f'r="{_num(max(node.r - 4.5, 2.5))}" fill="{inner}" '
                       f'fill-opacity="{0.9 if node.designed or node.goal else 0.7}"/>')
        line_y = y + node.r + 14
        weight = "600" if node.designed else "400"
        for line in _wrap(node.name, NAME_WIDTH, 3):
            out.append(f'<text x="{_num(x)}" y="{_num(line_y)}" text-anchor="middle" '
                       f'font-size="11.5" font-weight="{weight}" fill="{INK}" '
                       f'class="node-name halo">{_attr(line)}</text>')
            line_y += 13
        colour = PALETTE[4] if view.filters.colour == "dropoff" and node.lost else INK_SOFT
        out.append(f'<text x="{_num(x)}" y="{_num(line_y)}" text-anchor="middle" '
                   f'font-size="10.5" fill="{colour}" class="node-cases halo">'
                   f"{_attr(_node_sub(node, view, t, language))}</text></g>")
    out.extend(labels)
    out.append("</svg>")
    return Markup("".join(out))


def sankey_svg(rows: list[dict[str, Any]], names: dict[str, str], designed: set[str],
               t: i18n.Translate, language: str) -> Markup:
    """The most common paths as flows from step to step: a column per step, a bar per
    touchpoint reached at that step (height by cases), ribbons between consecutive steps."""
    if not rows:
        return Markup("")
    steps = max(len(r["variant"]) for r in rows)
    width, height, top_pad, bar = 1180.0, 330.0, 26.0, 12.0
    column_w = (width - 150) / max(steps - 1, 1)
    total = sum(int(r["cases"]) for r in rows)
    gap = 8.0
    # Nodes per step: touchpoint -> cases, in order of first appearance by popularity.
    columns: list[dict[str, int]] = [{} for _ in range(steps)]
    links: dict[tuple[int, str, str], int] = {}
    for row in rows:
        path = [str(s) for s in row["variant"]]
        for i, step in enumerate(path):
            columns[i][step] = columns[i].get(step, 0) + int(row["cases"])
            if i + 1 < len(path):
                key = (i, step, path[i + 1])
                links[key] = links.get(key, 0) + int(row["cases"])
    most = max(len(c) for c in columns)
    scale = (height - top_pad - 10 - gap * (most - 1)) / total
    spots: dict[tuple[int, str], tuple[float, float]] = {}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="journey-sankey" id="journey-sankey" '
           f'viewBox="0 0 {_num(width)} {_num(height)}" role="img" '
           f'aria-labelledby="sankey-title" '
           f'font-family="system-ui, -apple-system, \'Segoe UI\', Roboto, sans-serif">',
           f'<title id="sankey-title">{_attr(t("journey_map.sankey_title"))}</title>']
    for i, column in enumerate(columns):
        x = 8 + i * column_w
        out.append(f'<text x="{_num(x)}" y="14" font-size="11" fill="{INK_SOFT}">'
                   f'{_attr(t("journey_map.step", n=str(i + 1)))}</text>')
        y = top_pad
        for step, n in sorted(column.items(), key=lambda kv: (-kv[1], kv[0])):
            spots[(i, step)] = (x, y)
            y += n * scale + gap
    # Ribbons: stacked out of each bar, into each bar.
    out_offset: dict[tuple[int, str], float] = {}
    in_offset: dict[tuple[int, str], float] = {}
    for (i, a, b), n in sorted(links.items(), key=lambda kv: (kv[0][0], -kv[1])):
        (x0, y0), (x1, y1) = spots[(i, a)], spots[(i + 1, b)]
        o0 = out_offset.get((i, a), 0.0)
        o1 = in_offset.get((i + 1, b), 0.0)
        h = n * scale
        out_offset[(i, a)] = o0 + h
        in_offset[(i + 1, b)] = o1 + h
        xa, xb = x0 + bar, x1
        mx = (xa + xb) / 2
        colour = ACCENT if a in designed and b in designed else "#8a949e"
        tip = t("journey_map.flow_title", source=names.get(a, a), target=names.get(b, b),
                count=i18n.number(n, language))
        out.append(f'<path class="flow" d="M{_num(xa)},{_num(y0 + o0)} '
                   f'C{_num(mx)},{_num(y0 + o0)} {_num(mx)},{_num(y1 + o1)} {_num(xb)},'
                   f'{_num(y1 + o1)} L{_num(xb)},{_num(y1 + o1 + h)} C{_num(mx)},'
                   f'{_num(y1 + o1 + h)} {_num(mx)},{_num(y0 + o0 + h)} {_num(xa)},'
                   f'{_num(y0 + o0 + h)} Z" fill="{colour}" fill-opacity="0.22">'
                   f"<title>{_attr(tip)}</title></path>")
    for (i, step), (x, y) in spots.items():
        n = columns[i][step]
        h = max(n * scale, 1.5)
        colour = ACCENT if step in designed else "#8a949e"
        out.append(f'<g class="sankey-node"><title>{_attr(names.get(step, step))}: '
                   f'{_attr(t("journey_map.node_cases", n=i18n.number(n, language)))}</title>'
                   f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(bar)}" height="{_num(h)}" '
                   f'rx="2" fill="{colour}"/>')
        if h >= 11:
            label = _wrap(names.get(step, step), 16, 1)[0]
            out.append(f'<text x="{_num(x + bar + 5)}" y="{_num(y + min(h / 2, 12) + 4)}" '
                       f'font-size="11" fill="{INK}" class="halo">{_attr(label)} '
                       f'<tspan fill="{INK_SOFT}">{i18n.number(n, language)}</tspan></text>')
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))
