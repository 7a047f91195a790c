"""The variant explorer: every distinct path customers travelled in a journey, page by page.

The journey map shows the ten commonest variants; this page lists them all, with the map's
filters (read and applied by the map's own code) and three of its own: only the journeys
that pass a chosen touchpoint, whether consecutive repeats of a touchpoint are merged, and
the page. The figures come from the analytics in the event store's engine; nothing here
counts or sorts paths in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode

from kokemus.analytics import journeys as journey_analytics
from kokemus.analytics import ordering
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import Log, literal
from kokemus.bootstrap import Kokemus
from kokemus.domain.journeys import Journey
from kokemus.domain.texts import localized
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people
from kokemus.web import i18n, journey_map
from kokemus.web.journey_map import Filters, Option, percent

PAGE_SIZE = 50
TOP = 10  # the summary's "the commonest N cover ..."
PAGE_LINKS = 2  # page links shown on each side of the current one

Repeats = Literal["merge", "keep"]


@dataclass(frozen=True)
class Explore:
    """The explorer's own inputs, checked at the edge like the map's filters."""

    through: str | None = None
    repeats: Repeats = "merge"
    page: int = 1
    errors: tuple[str, ...] = ()

    @property
    def query(self) -> dict[str, str]:
        """As GET parameters, without the page (links set their own)."""
        items = {"through": self.through or "",
                 "repeats": "" if self.repeats == "merge" else self.repeats}
        return {k: v for k, v in items.items() if v}


def parse_explore(through: str | None, repeats: str | None, page: str | None,
                  touchpoints: Sequence[str]) -> Explore:
    """A bad value is dropped and named. The page is checked against the page count later,
    once the variants are counted."""
    errors: list[str] = []
    chosen = through if through in touchpoints else None
    if through and chosen is None:
        errors.append("variants.bad_through")
    merged: Repeats = "merge"
    if repeats == "keep":
        merged = "keep"
    elif repeats and repeats != "merge":
        errors.append("variants.bad_repeats")
    number = 1
    if page is not None and page.strip():
        text = page.strip()
        if text.isascii() and text.isdigit() and 0 < int(text) < 10**9:
            number = int(text)
        else:
            errors.append("variants.bad_page")
    return Explore(chosen, merged, number, tuple(errors))


def explorer_log(log: Log, explore: Explore) -> Log:
    """The map's filtered log narrowed by the explorer: whole journeys that pass `through`
    among the events the filters keep (so every variant shown contains it), with
    consecutive repeats merged unless asked to keep them."""
    if explore.through is not None:
        log = Log(log.sql, case=log.case, order=log.order).of_cases(
            f"activity = {literal(explore.through)}")
    return journey_map.without_repeats(log) if explore.repeats == "merge" else log


# ---------------------------------------------------------------------------------------------
# Values the page shows


@dataclass(frozen=True)
class Step:
    id: str
    name: str
    designed: bool
    goal: bool


@dataclass(frozen=True)
class VariantRow:
    rank: int
    steps: list[Step]
    cases: int
    cases_text: str
    share: str
    cumulative: str
    length: int
    designed: bool
    reaches_goal: bool


@dataclass(frozen=True)
class PageLink:
    number: int
    href: str
    current: bool


@dataclass
class Explorer:
    slug: str
    workspace: str
    journey_id: str
    name: str
    filters: Filters
    explore: Explore
    errors: list[str]
    channels: list[Option]
    segments: list[Option]
    touchpoints: list[Option]
    designed_path: list[Step]
    goal: str | None
    map_href: str
    cases: int
    cases_text: str
    variants: int
    variants_text: str
    top: int
    top_share: str
    designed_cases_text: str
    designed_share: str
    rows: list[VariantRow]
    page: int
    pages: int
    first_rank: int
    last_rank: int
    page_links: list[PageLink]
    previous_href: str | None
    next_href: str | None


def _href(base: str, query: dict[str, str]) -> str:
    return f"{base}?{urlencode(query)}" if query else base


def page_numbers(page: int, pages: int, around: int = PAGE_LINKS) -> list[int]:
    """The first, the last and the pages near the current one; 0 marks a gap."""
    shown = sorted({1, pages, *range(max(1, page - around), min(pages, page + around) + 1)})
    out: list[int] = []
    for number in shown:
        if out and number > out[-1] + 1:
            out.append(0)
        out.append(number)
    return out


def build(kk: Kokemus, active: ActiveWorkspace, journey: Journey, filters: Filters,
          explore: Explore, language: str) -> Explorer:
    document = active.document
    names = {tp.id: localized(tp.name, language) for tp in journey.touchpoints}
    designed = [step for step in journey.designed_path if step in names]
    on_path = set(designed)

    def step(touchpoint: str) -> Step:
        return Step(touchpoint, names.get(touchpoint, touchpoint), touchpoint in on_path,
                    touchpoint in journey.goals)

    # The map's filters, as the map applies them (a segment is its members' journeys).
    members = (people.customers_in_segment(kk.db, active.id, filters.segment)
               if filters.segment else None)
    errors = list(filters.errors) + list(explore.errors)
    with kk.events.reading() as cursor:
        engine = DuckDBEngine(cursor)
        log = explorer_log(ordering.resolve(engine, journey_map.filtered_log(
            active.id, journey, filters, members)), explore)
        cases = journey_analytics.summary(engine, log)["cases"]
        count = journey_analytics.variant_count(engine, log)
        pages = max(1, -(-count // PAGE_SIZE))
        page = explore.page
        if page > pages:
            errors.append("variants.page_out_of_range")
            page = 1
        rows = journey_analytics.variants(engine, log, PAGE_SIZE, (page - 1) * PAGE_SIZE,
                                          running=True).to_pylist()
        top_cases = sum(int(r["cases"]) for r in
                        journey_analytics.variants(engine, log, TOP).to_pylist())
        designed_cases = journey_analytics.cases_following(engine, log, designed)

    base = f"/w/{active.slug}/journeys/{journey.id}"
    here = f"{base}/variants"
    kept = {**filters.query, **explore.query}

    def link(number: int) -> str:
        return _href(here, {**kept, "page": str(number)} if number > 1 else kept)

    views = []
    for row in rows:
        path = [str(s) for s in row["variant"]]
        views.append(VariantRow(
            rank=int(row["rank"]), steps=[step(s) for s in path], cases=int(row["cases"]),
            cases_text=i18n.number(int(row["cases"]), language),
            share=percent(float(row["share"]), language),
            cumulative=percent(float(row["cumulative_share"]), language),
            length=int(row["length"]), designed=path == designed,
            reaches_goal=any(goal in path for goal in journey.goals)))
    first = views[0].rank if views else 0
    return Explorer(
        slug=active.slug, workspace=localized(document.name, language), journey_id=journey.id,
        name=localized(journey.name, language), filters=filters,
        explore=Explore(explore.through, explore.repeats, page, explore.errors),
        errors=errors,
        channels=journey_map.channel_options(journey, document, language),
        segments=journey_map.segment_options(document, language),
        touchpoints=[Option(tp.id, names[tp.id]) for tp in journey.touchpoints],
        designed_path=[step(s) for s in designed],
        goal=names.get(journey.goal) if journey.goal else None,
        map_href=_href(base, filters.query),
        cases=cases, cases_text=i18n.number(cases, language),
        variants=count, variants_text=i18n.number(count, language),
        top=min(TOP, count), top_share=percent(top_cases / cases, language) if cases else "–",
        designed_cases_text=i18n.number(designed_cases, language),
        designed_share=percent(designed_cases / cases, language) if cases else "–",
        rows=views, page=page, pages=pages, first_rank=first,
        last_rank=views[-1].rank if views else 0,
        page_links=[PageLink(n, link(n) if n else "", n == page)
                    for n in page_numbers(page, pages)],
        previous_href=link(page - 1) if page > 1 else None,
        next_href=link(page + 1) if page < pages else None,
    )
