"""Kano categories per feature from the answers to `kano` questions.

The engine unnests each response's Kano answer (a JSON object of feature -> {functional,
dysfunctional}) and counts each answer pair per feature; kokemus.domain.kano turns the
(at most 25) pair counts of a feature into its category and its Better and Worse
coefficients. A response that answered only one side of a pair is not counted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from kokemus.analytics.scores import Filters, answers_sql
from kokemus.analytics.scores import sql_text as _text
from kokemus.domain import kano
from kokemus.domain.surveys import KANO_ANSWERS, Kano
from kokemus.domain.texts import Text
from kokemus.domain.workspace import Workspace


@dataclass(frozen=True)
class Feature:
    survey: str
    question: str
    functional: Text  # the functional question's wording, which names the feature
    result: kano.FeatureResult

    def as_dict(self) -> dict[str, Any]:
        return {"survey": self.survey, "question": self.question, **self.result.as_dict()}


def questions(document: Workspace) -> list[tuple[str, Kano]]:
    return [(s.id, q) for s in document.surveys for q in s.questions if isinstance(q, Kano)]


def report(cursor: duckdb.DuckDBPyConnection, workspace_id: int, document: Workspace,
           filters: Filters = Filters()) -> list[Feature]:
    """Every feature of every Kano question, in the survey's order."""
    asked = questions(document)
    if not asked:
        return []
    source = answers_sql(workspace_id, filters)
    shape = '"MAP(VARCHAR, STRUCT(functional VARCHAR, dysfunctional VARCHAR))"'
    parts = [f"""SELECT {_text(s)} AS survey, {_text(q.id)} AS question,
                        unnest(map_entries(json_transform(answers -> {_text(q.id)},
                                                          '{shape}'))) AS e
                 FROM ({source}) AS r WHERE survey = {_text(s)}""" for s, q in asked]
    pairs: dict[tuple[str, str, str], dict[tuple[str, str], int]] = {}
    for survey, question, feature, functional, dysfunctional, n in cursor.execute(f"""
            SELECT survey, question, e.key, e.value.functional, e.value.dysfunctional,
                   count(*)
            FROM ({' UNION ALL '.join(parts)}) AS u
            WHERE e.value.functional IS NOT NULL AND e.value.dysfunctional IS NOT NULL
            GROUP BY ALL""").fetchall():
        if functional in KANO_ANSWERS and dysfunctional in KANO_ANSWERS:
            pairs.setdefault((survey, question, feature), {})[(functional, dysfunctional)] = n
    return [Feature(s, q.id, f.functional, kano.classify(f.id, pairs.get((s, q.id, f.id), {})))
            for s, q in asked for f in q.features]
