"""The journey map's drop-off by group: the journeys of each value of a breakdown (an event
property, a customer attribute, whether an event happened on the journey), how many reached
the goal, are in flight or were lost, and the lost share with its 95% interval; then each
group against the others, the significantly worse first ("where is it worst?").

The figures are kokemus.analytics.dropoff's `groups` and `worst`, the same as the API's and
the CLI's `dropoff --by`; this module writes them in one language. A group's lost share below
the workspace's minimum n is shown as "too few", never as a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from kokemus.analytics import breakdowns, dropoff
from kokemus.analytics.engines import Engine
from kokemus.analytics.logs import Log
from kokemus.web import i18n
from kokemus.web.scores import Figure, Worse, figure, label, worse

IDLE_DAYS = 30.0  # a journey without the goal is lost once idle this long (the API's default)


@dataclass(frozen=True)
class GroupRow:
    key: str
    name: str
    reached: str
    in_flight: str
    lost: str
    share: Figure  # the lost share of the decided journeys (reached + lost)
    pooled: int = 0  # the `other` row: how many small groups it holds
    only: str = ""  # the page's query with a filter to this group


@dataclass
class Breakdown:
    by: str
    by_label: str
    idle_days: str
    min_n: str  # groups with fewer decided journeys are pooled as `other`
    rows: list[GroupRow] = field(default_factory=list)
    worst: list[Worse] = field(default_factory=list)


def build(engine: Engine, log: Log, goal: str | list[str], by: str, source: breakdowns.Source,
          min_n: int, language: str, query: Sequence[tuple[str, str]]) -> Breakdown:
    """Drop-off by `by` over `log` (already filtered, its lookup tables attached);
    `query`: the page's other parameters, kept in each group's link."""
    t = i18n.translator(language)
    found = dropoff.groups(engine, log, [goal] if isinstance(goal, str) else goal,
                           breakdowns.parse(by), source,
                           idle_days=IDLE_DAYS, min_n=min_n)
    yes_no = {v: t(f"breakdowns.{v}") for v in ("yes", "no")} if by.startswith("event:") else {}

    def name(key: str, pooled: int) -> str:
        return t("breakdowns.other", n=pooled) if pooled else yes_no.get(key, key)

    view = Breakdown(by, label(by, t), i18n.number(IDLE_DAYS, language),
                     i18n.number(min_n, language))
    view.rows = [GroupRow(g.key, name(g.key, g.pooled), i18n.number(g.reached, language),
                          i18n.number(g.in_flight, language), i18n.number(g.lost, language),
                          figure(g.lost_share, language), g.pooled,
                          "" if g.pooled else _only(query, f"{by}={g.key}"))
                 for g in found]
    names = {g.key: name(g.key, g.pooled) for g in found}
    view.worst = [worse(c, names.get(c.key, c.key), language)
                  for c in dropoff.worst(found, min_n)]
    return view


def _only(query: Sequence[tuple[str, str]], condition: str) -> str:
    """The page's query narrowed to one group (a `where` added once)."""
    wanted = [v for k, v in query if k == "where"] + [condition]
    kept = [(k, v) for k, v in query if k != "where"]
    return urlencode(kept + [("where", w) for w in dict.fromkeys(wanted)])
