"""The experience gap in the engine: expectation-perception answers added up per touchpoint.

Invariant: every row is read and every per-respondent figure is formed in DuckDB; Python
gets a few sums per touchpoint and does only the arithmetic (kokemus.domain.gaps).

An `expectation_perception` answer is stored as {question: {item: {expected, perceived}}}
in the response's `answers` JSON. For each such question of the workspace, one query reads
each item's pair, and per response forms

- the item gaps d_i = P_i − E_i (only where both sides are answered: the pairs);
- per dimension the means of E, P and d over its answered items (an item without a
  dimension is a dimension of its own);
- the unweighted SERVQUAL score (the mean of the dimension gaps), the weighted one
  (Σ w_d gap_d over the answered dimensions, the weights scaled to sum to 1 among them) and
  SERVPERF (the mean of the perceptions);

then adds up count, sum and sum of squares of each per touchpoint (the response's
touchpoint, else the survey's). A response counts once however many items it answered.

Filters: the period (on `started_at`) and a journey event: only the responses of customers
who had (or had not) an event of the type, any time up to the end of the period.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from kokemus.analytics import scores as score_analytics
from kokemus.analytics.logs import literal
from kokemus.domain import gaps as gap_math
from kokemus.domain.gaps import Sums


@dataclass(frozen=True)
class Item:
    id: str
    dimension: str  # the item's own id when it has no dimension


@dataclass(frozen=True)
class Asked:
    """An expectation-perception question of a survey, with its items."""

    survey: str
    question: str
    touchpoint: str | None
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    event: str | None = None  # customers who had an event of this type ...
    had: bool = True  # ... or, False, who had none
    touchpoint: str | None = None


@dataclass(frozen=True)
class Found:
    """The sums of one touchpoint: per item (expected, perceived, gap), per dimension
    (expected, perceived, gap), and the overall scores."""

    touchpoint: str
    responses: int
    items: dict[str, tuple[Sums, Sums, Sums]]
    dimensions: dict[str, tuple[Sums, Sums, Sums]]
    unweighted: Sums
    weighted: Sums
    servperf: Sums


def _path(question: str, item: str, side: str) -> str:
    for part in (question, item):
        if '"' in part or "'" in part:
            raise ValueError(f"not a plain id: {part!r}")
    return f"'$.\"{question}\".\"{item}\".\"{side}\"'"


def _mean_of(parts: Sequence[str]) -> str:
    """The mean of the non-NULL expressions, NULL when all are NULL."""
    total = " + ".join(f"coalesce({p}, 0)" for p in parts)
    count = " + ".join(f"CAST({p} IS NOT NULL AS INTEGER)" for p in parts)
    return f"(({total}) / nullif({count}, 0))"


def _sums(column: str) -> str:
    return (f"count({column}), coalesce(sum({column}), 0), "
            f"coalesce(sum({column} * {column}), 0)")


def responses_sql(workspace_id: int, survey: str, filters: Filters) -> str:
    """The survey's responses in the period, of customers with (or without) the event."""
    base = score_analytics.answers_sql(workspace_id, score_analytics.Filters(
        survey=survey, touchpoint=filters.touchpoint, since=filters.since,
        until=filters.until))
    if filters.event is None:
        return base
    before = f" AND occurred_at < {literal(filters.until)}" if filters.until else ""
    had = (f"SELECT DISTINCT customer FROM events WHERE workspace_id = {int(workspace_id)} "
           f"AND type = {literal(filters.event)}{before}")
    return (f"SELECT * FROM ({base}) AS b WHERE customer "
            f"{'IN' if filters.had else 'NOT IN'} ({had})"
            + ("" if filters.had else " AND customer IS NOT NULL"))


def experience(cursor: duckdb.DuckDBPyConnection, workspace_id: int, asked: Asked,
               weights: Mapping[str, float], filters: Filters = Filters()) -> list[Found]:
    """The sums of `asked`'s answers per touchpoint (see the module)."""
    items = asked.items
    if not items:
        return []
    dims = list(dict.fromkeys(i.dimension for i in items))
    share = gap_math.normalised(weights, dims)
    # Every side of every item from one parse of the answer (a list of paths gives a list
    # of texts): a path of its own per side parsed each answer ten times for five items.
    paths: list[str] = []
    reads: list[str] = []
    for k, item in enumerate(items):
        for side, name in (("expected", "e"), ("perceived", "p")):
            paths.append(_path(asked.question, item.id, side))
            reads.append(f"TRY_CAST(sides[{len(paths)}] AS DOUBLE) AS {name}{k}")
    # an item counts where both sides are answered
    pairs = []
    for k in range(len(items)):
        both = f"e{k} IS NOT NULL AND p{k} IS NOT NULL"
        pairs += [f"CASE WHEN {both} THEN e{k} END AS pe{k}",
                  f"CASE WHEN {both} THEN p{k} END AS pp{k}",
                  f"CASE WHEN {both} THEN p{k} - e{k} END AS pd{k}"]
    per_dim: list[str] = []
    for j, dim in enumerate(dims):
        members = [k for k, i in enumerate(items) if i.dimension == dim]
        for side in ("e", "p", "d"):
            per_dim.append(f"{_mean_of([f'p{side}{k}' for k in members])} AS {side}_dim{j}")
    gaps_ = [f"d_dim{j}" for j in range(len(dims))]
    weighted_total = " + ".join(f"coalesce(d_dim{j}, 0) * {share[d]!r}"
                                for j, d in enumerate(dims))
    weighted_count = " + ".join(f"CASE WHEN d_dim{j} IS NOT NULL THEN {share[d]!r} ELSE 0 END"
                                for j, d in enumerate(dims))
    overall = [f"{_mean_of(gaps_)} AS unweighted",
               f"(({weighted_total}) / nullif({weighted_count}, 0)) AS weighted",
               f"{_mean_of([f'pp{k}' for k in range(len(items))])} AS servperf"]
    measures: list[str] = []
    for k in range(len(items)):
        measures += [_sums(f"pe{k}"), _sums(f"pp{k}"), _sums(f"pd{k}")]
    for j in range(len(dims)):
        measures += [_sums(f"e_dim{j}"), _sums(f"p_dim{j}"), _sums(f"d_dim{j}")]
    measures += [_sums("unweighted"), _sums("weighted"), _sums("servperf")]
    fallback = literal(asked.touchpoint) if asked.touchpoint else "NULL"
    rows = cursor.execute(f"""
        WITH read AS (
            SELECT coalesce(touchpoint, {fallback}) AS touchpoint, {', '.join(reads)}
            FROM (SELECT touchpoint,
                         json_extract_string(answers, [{', '.join(paths)}]) AS sides
                  FROM ({responses_sql(workspace_id, asked.survey, filters)}) AS r) AS r
        ), paired AS (
            SELECT touchpoint, {', '.join(pairs)} FROM read
        ), dimensions AS (
            SELECT *, {', '.join(per_dim)} FROM paired
        ), scored AS (
            SELECT *, {', '.join(overall)} FROM dimensions
        )
        SELECT touchpoint, count(*) FILTER (WHERE unweighted IS NOT NULL) AS responses,
               {', '.join(measures)}
        FROM scored
        WHERE touchpoint IS NOT NULL
        GROUP BY touchpoint
        ORDER BY touchpoint
    """).fetchall()
    found: list[Found] = []
    for touchpoint, responses, *values in rows:
        sums = [Sums(int(values[i]), float(values[i + 1]), float(values[i + 2]))
                for i in range(0, len(values), 3)]
        per_item = {item.id: (sums[3 * k], sums[3 * k + 1], sums[3 * k + 2])
                    for k, item in enumerate(items)}
        offset = 3 * len(items)
        per_dim_sums = {dim: (sums[offset + 3 * j], sums[offset + 3 * j + 1],
                              sums[offset + 3 * j + 2]) for j, dim in enumerate(dims)}
        last = offset + 3 * len(dims)
        found.append(Found(str(touchpoint), int(responses), per_item, per_dim_sums,
                           sums[last], sums[last + 1], sums[last + 2]))
    return found


def combine(parts: Sequence[Found]) -> Found:
    """Two questions asked at one touchpoint, added up (their items and dimensions apart;
    the scores of a respondent who answered both count twice)."""
    if len(parts) == 1:
        return parts[0]

    def add(a: Sums, b: Sums) -> Sums:
        return Sums(a.n + b.n, a.total + b.total, a.squares + b.squares)

    def merge(maps: Sequence[Mapping[str, tuple[Sums, Sums, Sums]]]
              ) -> dict[str, tuple[Sums, Sums, Sums]]:
        out: dict[str, tuple[Sums, Sums, Sums]] = {}
        for m in maps:
            for key, triple in m.items():
                if key in out:
                    before = out[key]
                    out[key] = (add(before[0], triple[0]), add(before[1], triple[1]),
                                add(before[2], triple[2]))
                else:
                    out[key] = triple
        return out

    first = parts[0]
    unweighted, weighted, servperf = first.unweighted, first.weighted, first.servperf
    for p in parts[1:]:
        unweighted, weighted = add(unweighted, p.unweighted), add(weighted, p.weighted)
        servperf = add(servperf, p.servperf)
    return Found(first.touchpoint, sum(p.responses for p in parts),
                 merge([p.items for p in parts]), merge([p.dimensions for p in parts]),
                 unweighted, weighted, servperf)

