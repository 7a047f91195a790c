"""Elements of value: claimed (the value proposition) against perceived (the answers).

An `elements_of_value` question asks "How well did we do on these?" per element, 1-5; an
element is perceived by a respondent who answers 4 or 5 (kokemus.domain.value). The engine
unnests each response's answers to one row per element (a JSON object read as a MAP), so
Python only does arithmetic on counts:

- per element: respondents who answered it (n), how many perceive it, the share with its
  Wilson 95% interval, and whether the value proposition claims it;
- per respondent: how many elements they perceive, as a distribution;
- NPS by that number (the Bain finding: more elements, higher advocacy), each group with its
  adjusted-Wald interval. A respondent is one response that answered at least one element;
  its NPS is the same response's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import duckdb

from kokemus.analytics.scores import Filters, answers_sql, sql_text
from kokemus.domain import scores as score_math
from kokemus.domain import value as elements
from kokemus.domain.scores import Score
from kokemus.domain.surveys import ElementsOfValue
from kokemus.domain.workspace import Workspace


def share(successes: int, n: int, min_n: int) -> Score:
    """A share in per cent with its Wilson 95% interval (kind "share")."""
    return dataclasses.replace(score_math.keep_rate(successes, n, min_n), kind="share")


@dataclass(frozen=True)
class Element:
    element: str
    level: str | None
    claimed: bool
    asked: bool
    n: int
    perceived: int
    share: Score
    mean: float | None  # mean answer 1-5

    def as_dict(self) -> dict[str, Any]:
        return {"element": self.element, "level": self.level, "claimed": self.claimed,
                "asked": self.asked, "n": self.n, "perceived": self.perceived,
                "share": self.share.as_dict(), "mean": self.mean}


@dataclass(frozen=True)
class CountGroup:
    """Respondents who perceive this many elements, and their NPS."""

    group: str
    respondents: int
    share: Score  # of all respondents
    nps: Score

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.group, "respondents": self.respondents,
                "share": self.share.as_dict(), "nps": self.nps.as_dict()}


@dataclass(frozen=True)
class ValueReport:
    kind: str  # b2c or b2b
    questions: list[tuple[str, str]]  # (survey, question) read
    respondents: int
    mean_perceived: float | None  # elements perceived per respondent
    elements: list[Element]  # claimed first, then by share perceived
    counts: list[CountGroup]
    claimed_share: Score  # of claimed elements' answers, the share perceived
    unclaimed_share: Score

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "perceived_at": elements.PERCEIVED_AT,
                "questions": [{"survey": s, "question": q} for s, q in self.questions],
                "respondents": self.respondents, "mean_perceived": self.mean_perceived,
                "claimed_share": self.claimed_share.as_dict(),
                "unclaimed_share": self.unclaimed_share.as_dict(),
                "elements": [e.as_dict() for e in self.elements],
                "by_count": [c.as_dict() for c in self.counts]}


def questions(document: Workspace, kind: str) -> list[tuple[str, str]]:
    """(survey, question) of every elements_of_value question of the list `kind`."""
    return [(s.id, q.id) for s in document.surveys for q in s.questions
            if isinstance(q, ElementsOfValue) and q.kind == kind]


def asked_elements(document: Workspace, kind: str) -> set[str]:
    return {e for s in document.surveys for q in s.questions
            if isinstance(q, ElementsOfValue) and q.kind == kind for e in q.items()}


def _unnested(workspace_id: int, filters: Filters, pairs: list[tuple[str, str]]) -> str:
    """One row per (response, element answered): id, nps, element, answer."""
    source = answers_sql(workspace_id, filters)
    parts = [f"""SELECT id, nps, unnest(map_entries(json_transform(answers -> {sql_text(q)},
                        '"MAP(VARCHAR, INTEGER)"'))) AS e
                 FROM ({source}) AS s WHERE survey = {sql_text(s)}""" for s, q in pairs]
    return (f"SELECT id, nps, e.key AS element, e.value AS answer FROM ("
            f"{' UNION ALL '.join(parts)}) AS u WHERE e.value IS NOT NULL")


def report(cursor: duckdb.DuckDBPyConnection, workspace_id: int, document: Workspace,
           filters: Filters = Filters(), kind: str | None = None,
           min_n: int = 1) -> ValueReport:
    kind = kind or document.value_proposition.kind
    claimed = set(document.value_proposition.elements_of_value)
    pairs = questions(document, kind)
    asked = asked_elements(document, kind)
    per_element: dict[str, tuple[int, int, float]] = {}
    per_count: dict[str, tuple[int, int, int, int]] = {}
    total_perceived = 0
    if pairs:
        rows = _unnested(workspace_id, filters, pairs)
        with_at = elements.PERCEIVED_AT
        cap = elements.COUNT_CAP
        # the answers unnested once, counted two ways: per element, and per respondent's
        # number of elements perceived (part, key, five counts, a mean)
        for part, key, a, b, c, d, e, mean in cursor.execute(f"""
                WITH a AS MATERIALIZED ({rows}),
                per AS (
                    SELECT id, any_value(nps) AS nps,
                           count(*) FILTER (WHERE answer >= {with_at}) AS k
                    FROM a GROUP BY id)
                SELECT 'element', element, count(*),
                       count(*) FILTER (WHERE answer >= {with_at}), 0, 0, 0, avg(answer)
                FROM a GROUP BY element
                UNION ALL
                SELECT 'count', CASE WHEN k >= {cap} THEN '{cap}+' ELSE CAST(k AS VARCHAR) END,
                       count(*), count(*) FILTER (WHERE nps >= 9),
                       count(*) FILTER (WHERE nps BETWEEN 7 AND 8),
                       count(*) FILTER (WHERE nps <= 6), sum(k), NULL
                FROM per GROUP BY 2""").fetchall():
            if part == "element":
                per_element[key] = (int(a), int(b), float(mean))
            else:
                per_count[key] = (int(a), int(b), int(c), int(d))
                total_perceived += int(e)
    respondents = sum(c[0] for c in per_count.values())
    found: list[Element] = []
    listed = elements.ordered(kind)
    for element in [*listed, *sorted(set(per_element) - set(listed))]:
        if element not in claimed and element not in asked and element not in per_element:
            continue
        n, perceived, mean = per_element.get(element, (0, 0, float("nan")))
        found.append(Element(element, elements.level_of(element, kind), element in claimed,
                             element in asked, n, perceived, share(perceived, n, min_n),
                             None if n == 0 else mean))
    found.sort(key=lambda e: (not e.claimed, -(e.share.value or -1.0), e.element))
    counts = [CountGroup(g, per_count.get(g, (0, 0, 0, 0))[0],
                         share(per_count.get(g, (0, 0, 0, 0))[0], respondents, min_n),
                         score_math.nps(*per_count.get(g, (0, 0, 0, 0))[1:], min_n=min_n))
              for g in elements.count_groups()]

    def pooled(rows: list[Element]) -> Score:
        return share(sum(e.perceived for e in rows), sum(e.n for e in rows), min_n)

    return ValueReport(kind, pairs, respondents,
                       total_perceived / respondents if respondents else None, found, counts,
                       pooled([e for e in found if e.claimed]),
                       pooled([e for e in found if not e.claimed]))
