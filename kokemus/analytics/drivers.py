"""The key-driver matrix in the engine: one row per respondent (customer), one column per
driver, the outcome last; the regression itself is kokemus.domain.drivers.

Invariant: answers are read and averaged per customer in DuckDB, in one scan of the
responses (a CASE per driver column, grouped by customer); Python receives the matrix as
Arrow and hands it to numpy. A customer's value of a driver is the mean of their answers to
it in the period (most customers answer once).

Drivers (each with the scale its performance is read on):

- a touchpoint's CES (1-7), CSAT (1-5) and, when the outcome is not the recommendation
  itself, NPS (0-10): the score columns of the responses at that touchpoint;
- each `rating` question (its own min-max): it rates its survey's touchpoint, or the
  touchpoint its id names ("delivery" in a survey after the installation rates the
  delivery);
- each expectation-perception item's perception (1-7), at its survey's touchpoint.

Outcomes: `nps` (the recommendation, 0-10: the mean of the customer's NPS answers), `ces`,
`csat`, a question `<survey>.<question>` (a rating), or an event outcome as 0/1: `event:<type>`
(or `repurchase` / `churn`: the workspace's outcome events), 1 when the customer had such
an event within `days` after their first answer in the period. Customers whose window has
not ended by the last event stored are left out of an event outcome. The drivers of the
same measure as the outcome are left out (CES does not drive the CES it is part of).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np

from kokemus.analytics import scores as score_analytics
from kokemus.analytics.logs import literal, one_of
from kokemus.domain.drivers import Array
from kokemus.domain.errors import Invalid
from kokemus.domain.workspace import Workspace

SCALES = {"nps": (0.0, 10.0), "ces": (1.0, 7.0), "csat": (1.0, 5.0)}
EP_SCALE = (1.0, 7.0)


@dataclass(frozen=True)
class Column:
    """A driver: its key ("delivery:ces", "installation:quality.reliability"), where it is
    measured, what it is, and the scale its mean is read on."""

    key: str
    touchpoint: str | None
    kind: str  # nps, ces, csat, rating, perceived
    question: str | None
    item: str | None
    scale: tuple[float, float]
    sql: str  # the value in one response, or NULL


@dataclass(frozen=True)
class Outcome:
    key: str  # as asked: nps, ces, csat, survey.question, event:type, repurchase, churn
    kind: str  # nps, ces, csat, rating, event
    sql: str  # per response (an answer); unused for an event
    events: tuple[str, ...] = ()
    scale: tuple[float, float] = (0.0, 10.0)


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    segment: str | None = None


# What `_json_number` writes; `_parsed_once` finds it again to parse each answer once.
_ANSWER = re.compile(r"json_extract_string\(answers, '(\$[^']*)'\)")


def _parsed_once(expressions: Sequence[str]) -> tuple[str, list[str]]:
    """The answers' paths the `expressions` read, extracted together (one parse of each
    response's answers instead of one per driver): the select-list item `answer_texts` and
    the expressions rewritten to read it."""
    paths = list(dict.fromkeys(p for e in expressions for p in _ANSWER.findall(e)))
    if not paths:
        return "NULL AS answer_texts", list(expressions)
    place = {p: i + 1 for i, p in enumerate(paths)}
    listed = ", ".join(f"'{p}'" for p in paths)
    return (f"json_extract_string(answers, [{listed}]) AS answer_texts",
            [_ANSWER.sub(lambda m: f"answer_texts[{place[m.group(1)]}]", e)
             for e in expressions])


def _json_number(path: Sequence[str]) -> str:
    for part in path:
        if '"' in part or "'" in part:
            raise ValueError(f"not a plain id: {part!r}")
    inner = ".".join(f'"{p}"' for p in path)
    return f"TRY_CAST(json_extract_string(answers, '$.{inner}') AS DOUBLE)"


def candidates(workspace: Workspace, *, scores: bool = False) -> list[Column]:
    """Every driver the workspace's surveys can measure (its rating questions and perception
    items: the touchpoints' and attributes' scores; with `scores`, also each touchpoint's
    CES, CSAT and NPS), before the data says which have answers.

    The summary scores are left out by default: asked in the same survey as the outcome,
    they measure the same overall judgement (a halo), not a part of the experience, and
    would take the R² that the parts explain."""
    columns: list[Column] = []
    touchpoints = [t.id for t in workspace.touchpoints()]
    for tp in touchpoints if scores else ():
        for kind in ("ces", "csat", "nps"):
            columns.append(Column(f"{tp}:{kind}", tp, kind, None, None, SCALES[kind],
                                  f"CASE WHEN touchpoint = {literal(tp)} "
                                  f"THEN CAST({kind} AS DOUBLE) END"))
    known = set(touchpoints)
    for survey in workspace.surveys:
        for q in survey.questions:
            where = f"survey = {literal(survey.id)}"
            if q.type == "rating":
                rated = q.id if q.id in known else survey.touchpoint
                key = f"{rated}:{q.id}" if rated else f"{survey.id}.{q.id}"
                columns.append(Column(key, rated, "rating", f"{survey.id}.{q.id}", None,
                                      (float(q.min), float(q.max)),
                                      f"CASE WHEN {where} THEN {_json_number([q.id])} END"))
            elif q.type == "expectation_perception":
                for item in q.items():
                    at = survey.touchpoint
                    key = f"{at or survey.id}:{q.id}.{item.id}"
                    columns.append(Column(
                        key, at, "perceived", f"{survey.id}.{q.id}", item.id, EP_SCALE,
                        f"CASE WHEN {where} THEN "
                        f"{_json_number([q.id, item.id, 'perceived'])} END"))
    # two surveys may ask the same thing: one column per key, their answers together
    merged: dict[str, Column] = {}
    for c in columns:
        if c.key in merged:
            first = merged[c.key]
            merged[c.key] = Column(c.key, c.touchpoint, c.kind, c.question, c.item, c.scale,
                                   f"coalesce({first.sql}, {c.sql})")
        else:
            merged[c.key] = c
    return list(merged.values())


def outcome_of(workspace: Workspace, key: str) -> Outcome:
    """The outcome named `key`; Invalid naming the choices when there is none such."""
    if key in SCALES:
        return Outcome(key, key, f"CAST({key} AS DOUBLE)", scale=SCALES[key])
    outcomes = workspace.insights.outcomes
    if key in ("repurchase", "churn"):
        events = tuple(getattr(outcomes, key))
        if not events:
            raise Invalid(f"outcome: the workspace names no {key} events "
                          f"(insights.outcomes.{key})")
        return Outcome(key, "event", "NULL", events, (0.0, 1.0))
    if key.startswith("event:"):
        events = tuple(e for e in key.removeprefix("event:").split(",") if e)
        if not events:
            raise Invalid("outcome: name an event type after 'event:'")
        return Outcome(key, "event", "NULL", events, (0.0, 1.0))
    survey_id, _, question_id = key.partition(".")
    survey = workspace.survey(survey_id)
    q = survey.question(question_id) if survey else None
    if q is not None and q.type in ("rating", "nps", "ces", "csat"):
        low, high = ((float(q.min), float(q.max)) if q.type == "rating"
                     else SCALES[q.type])
        return Outcome(key, "rating",
                       f"CASE WHEN survey = {literal(survey_id)} THEN "
                       f"{_json_number([question_id])} END", scale=(low, high))
    raise Invalid(f"outcome: no outcome {key!r} (known: nps, ces, csat, repurchase, churn, "
                  "event:<type>, or <survey>.<question> of a rating question)")


def _excluded(column: Column, outcome: Outcome) -> bool:
    if outcome.kind in SCALES:
        return column.kind == outcome.kind
    if outcome.kind == "rating":
        return column.question == outcome.key
    return False


@dataclass(frozen=True)
class Matrix:
    columns: list[Column]
    values: Array  # customers x (drivers + outcome), NaN: not answered
    customers: int


def matrix(cursor: duckdb.DuckDBPyConnection, workspace_id: int, columns: Sequence[Column],
           outcome: Outcome, filters: Filters = Filters(), *, days: float = 30,
           min_n: int = 1) -> Matrix:
    """The customers x drivers matrix with the outcome last (see the module). Drivers that
    fewer than `min_n` customers answered are left out."""
    used = [c for c in columns if not _excluded(c, outcome)]
    source = score_analytics.answers_sql(workspace_id, score_analytics.Filters(
        segment=filters.segment, since=filters.since, until=filters.until))
    parsed, (outcome_sql, *driver_sql) = _parsed_once([outcome.sql, *(c.sql for c in used)])
    values = ", ".join(f"avg({e}) AS d{i}" for i, e in enumerate(driver_sql)) or "NULL AS d0"
    if outcome.kind == "event":
        target = f"""
            , firsts AS (SELECT customer, min(started_at) AS first FROM r GROUP BY customer)
            , horizon AS (SELECT max(occurred_at) AS last FROM events
                          WHERE workspace_id = {int(workspace_id)})
            , y AS (
                SELECT f.customer,
                       CAST(count(e.customer) > 0 AS DOUBLE) AS y
                FROM firsts f CROSS JOIN horizon h
                LEFT JOIN events e ON e.workspace_id = {int(workspace_id)}
                     AND e.customer = f.customer AND {one_of('e.type', outcome.events)}
                     AND e.occurred_at > f.first
                     AND e.occurred_at <= f.first + to_seconds({float(days) * 86400!r})
                WHERE f.first + to_seconds({float(days) * 86400!r}) <= h.last
                GROUP BY f.customer)"""
        outcome_value = "y.y"
        join = "LEFT JOIN y USING (customer)"
    else:
        target = ""
        outcome_value = f"avg({outcome_sql})"
        join = ""
    sql = f"""
        WITH r AS (SELECT *, {parsed} FROM ({source}) AS s
                   WHERE customer IS NOT NULL){target}
        SELECT {values}, {outcome_value} AS outcome
        FROM r {join}
        GROUP BY r.customer{', y.y' if outcome.kind == 'event' else ''}
        ORDER BY r.customer
    """  # rows in one order: the bootstrap's resamples (by row) repeat with the seed
    table = cursor.sql(sql).to_arrow_table()
    count = table.num_rows
    names = [f"d{i}" for i in range(len(used))] + ["outcome"]
    data = np.empty((count, len(names)), np.float64)
    for j, name in enumerate(names):
        data[:, j] = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
    answered = (~np.isnan(data[:, :-1])).sum(axis=0)
    keep = [j for j in range(len(used)) if answered[j] >= max(min_n, 1)]
    return Matrix([used[j] for j in keep], data[:, [*keep, len(names) - 1]], count)
