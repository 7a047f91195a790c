"""Where the experience falls short: the gaps model per touchpoint, for the web page, the
CLI and the API alike (definitions in kokemus/domain/gaps.py and docs/insights.md).

- experience (P − E), with the SERVQUAL and SERVPERF scores: the expectation-perception
  answers, added up in the engine (analytics/gaps.py);
- strategy (T − E): an attribute's target (the touchpoint's `target.attributes`, by item or
  by dimension) against the expectations;
- delivery: each commitment's keep rate at the touchpoint where it is kept or broken (its
  end event's touchpoint for `within` and `respond`, its forbidden event's for `never`, its
  contact event's for `first_contact`), judged on the events (services/promises.py), and the
  touchpoint's scores against their targets;
- communication: each promise's commitments together, kept against promised.

The journey-event filter (customers who had, or had not, an event) applies to the answers:
the experience and strategy gaps. Keep rates and score targets are over every customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from kokemus.analytics import gaps as gap_sums
from kokemus.analytics import scores as score_analytics
from kokemus.bootstrap import Kokemus
from kokemus.domain import gaps, scores
from kokemus.domain.gaps import (
    CommitmentGap,
    DimensionGap,
    ItemGap,
    PromiseGap,
    ScoreGap,
    Servqual,
    TouchpointGaps,
)
from kokemus.domain.promises import FirstContact, Never, ScoreTarget, types_of
from kokemus.domain.texts import localized
from kokemus.domain.workspace import Workspace
from kokemus.services import promises
from kokemus.services.workspaces import ActiveWorkspace

SCORE_KINDS = ("nps", "ces", "csat")


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    event: str | None = None  # only customers who had an event of this type ...
    had: bool = True  # ... or who had none
    touchpoint: str | None = None


@dataclass(frozen=True)
class Report:
    filters: Filters
    min_answers: int
    weights: dict[str, float]  # per dimension, summing to 1 (equal when the workspace sets none)
    weights_from: str
    touchpoints: list[TouchpointGaps] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"min_answers": self.min_answers, "weights": self.weights,
                "weights_from": self.weights_from,
                "touchpoints": [t.as_dict() for t in self.touchpoints]}


def asked(workspace: Workspace) -> list[gap_sums.Asked]:
    """The workspace's expectation-perception questions with their items."""
    found: list[gap_sums.Asked] = []
    for survey in workspace.surveys:
        for q in survey.questions:
            if q.type == "expectation_perception":
                items = tuple(gap_sums.Item(i.id, i.dimension or i.id) for i in q.items())
                found.append(gap_sums.Asked(survey.id, q.id, survey.touchpoint, items))
    return found


def commitment_touchpoints(workspace: Workspace) -> dict[str, str]:
    """Commitment id -> the touchpoint where it is kept or broken (see the module)."""
    owner = workspace.touchpoint_for_event()
    out: dict[str, str] = {}
    for _, c in workspace.commitments():
        if isinstance(c, ScoreTarget):
            continue
        where = (types_of(c.event) if isinstance(c, Never | FirstContact)
                 else types_of(c.end))
        tp = next((owner[e] for e in where if e in owner), None)
        if tp is not None:
            out[c.id] = tp
    return out


def report(kk: Kokemus, ws: ActiveWorkspace, filters: Filters = Filters(), *,
           as_of: datetime | None = None, language: str = "en",
           table: pa.Table | None = None) -> Report:
    """The gaps of every touchpoint (of `filters.touchpoint`); `table`: the period's
    occurrences (services/promises.occurrences) when the caller has them, as the report does."""
    doc = ws.document
    min_n = doc.feedback.min_answers
    questions = asked(doc)
    dims = list(dict.fromkeys(i.dimension for q in questions for i in q.items))
    given = doc.insights.gaps.weights
    weights = gaps.normalised(given, dims)
    weights_from = "workspace" if any(given.get(d, 0) > 0 for d in dims) else "equal"
    answers = gap_sums.Filters(filters.since, filters.until, filters.event, filters.had,
                               filters.touchpoint)
    per_touchpoint: dict[str, list[gap_sums.Found]] = {}
    with kk.events.reading() as cursor:
        for q in questions:
            for found in gap_sums.experience(cursor, ws.id, q, given, answers):
                per_touchpoint.setdefault(found.touchpoint, []).append(found)
        measured = score_analytics.breakdown(
            cursor, ws.id, "touchpoint",
            score_analytics.Filters(touchpoint=filters.touchpoint, since=filters.since,
                                    until=filters.until), min_n=min_n)
    by_score = {s.key: s for s in measured}
    if table is None:
        period = promises.Period(as_of or datetime.now(UTC), filters.since, filters.until)
        table = promises.occurrences(kk, ws, period)
    # The scorecard's keep rates (its `overall`), without its trend and departments.
    rates = promises.overall(table, min_n)
    where = commitment_touchpoints(doc)
    delivery: dict[str, list[CommitmentGap]] = {}
    promised: dict[str, list[int]] = {}
    promise_touchpoints: dict[str, set[str]] = {}
    for promise, c in doc.commitments():
        if isinstance(c, ScoreTarget) or c.id not in where:
            continue
        at = where[c.id]
        whole = rates.get((promise.id, c.id)) or promises.nothing(min_n)
        rate = whole.rate
        delivery.setdefault(at, []).append(CommitmentGap(
            promise.id, c.id, localized(c.text, language), whole.kept, whole.broken, rate,
            gaps.keep_gap(rate), c.seconds, whole.median_s, whole.p90_s))
        counts = promised.setdefault(promise.id, [0, 0])
        counts[0] += whole.kept
        counts[1] += whole.broken
        promise_touchpoints.setdefault(promise.id, set()).add(at)
    texts = {p.id: localized(p.text, language) for p in doc.promises}
    communication: dict[str, list[PromiseGap]] = {}
    for promise_id, (kept, broken) in promised.items():
        rate = scores.keep_rate(kept, kept + broken, min_n)
        gap = PromiseGap(promise_id, texts.get(promise_id, promise_id), kept, broken, rate,
                         gaps.keep_gap(rate))
        for at in promise_touchpoints[promise_id]:
            communication.setdefault(at, []).append(gap)
    out: list[TouchpointGaps] = []
    for tp in doc.touchpoints():
        if filters.touchpoint is not None and tp.id != filters.touchpoint:
            continue
        score_gaps: list[ScoreGap] = []
        for kind in SCORE_KINDS:
            target = getattr(tp.target, kind)
            found_scores = by_score.get(tp.id)
            if target is not None and found_scores is not None:
                score_gaps.append(gaps.score_gap(kind, float(target),
                                                 found_scores.score(kind)))
        parts = per_touchpoint.get(tp.id)
        items: list[ItemGap] = []
        dimensions: list[DimensionGap] = []
        servqual: Servqual | None = None
        responses = 0
        if parts:
            found = gap_sums.combine(parts)
            responses = found.responses
            targets = tp.target.attributes
            dimension_of = {i.id: i.dimension for q in questions for i in q.items}
            for item_id, (e, p, d) in found.items.items():
                dim = dimension_of.get(item_id, item_id)
                target = targets.get(item_id, targets.get(dim))
                if e.n == 0:
                    continue
                items.append(gaps.item_gap(item_id, dim, e, p, d, min_n, target))
            for dim, (e, p, d) in found.dimensions.items():
                if e.n == 0:
                    continue
                dimensions.append(DimensionGap(dim, e.score("expected", min_n),
                                               p.score("perceived", min_n),
                                               d.score("gap", min_n), weights.get(dim, 0.0)))
            servqual = Servqual(found.unweighted.score("servqual", min_n),
                                found.weighted.score("servqual_weighted", min_n),
                                found.servperf.score("servperf", min_n), weights_from)
        row = TouchpointGaps(tp.id, items, dimensions, servqual, responses,
                             delivery.get(tp.id, []), communication.get(tp.id, []),
                             score_gaps)
        if items or row.delivery or row.scores or row.communication:
            out.append(row)
    return Report(filters, min_n, weights, weights_from, out)
