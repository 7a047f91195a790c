"""What to fix first: the key drivers of recommendation (or any outcome), for the web page,
the CLI and the API alike.

The engine builds the customers x drivers matrix (analytics/drivers.py); Johnson's relative
weights and their bootstrap intervals are arithmetic on it (domain/drivers.py). Each driver
comes with its performance: its mean on its own scale, and as a share of that scale
(0 = the scale's bottom, 1 = its top), which places the drivers of different scales on one
importance x performance quadrant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kokemus.analytics import drivers as driver_matrix
from kokemus.bootstrap import Kokemus
from kokemus.domain import drivers
from kokemus.domain.drivers import Missing
from kokemus.services.workspaces import ActiveWorkspace

DEFAULT_OUTCOME = "nps"


@dataclass(frozen=True)
class Filters:
    outcome: str = DEFAULT_OUTCOME
    since: datetime | None = None
    until: datetime | None = None
    segment: str | None = None
    days: float = 30  # an event outcome's window after the first answer
    missing: Missing = "pairwise"
    # the touchpoints' CES, CSAT and NPS among the drivers: None for the default, only for
    # an event outcome (beside an answer they are its halo, not a part of the experience)
    scores: bool | None = None


@dataclass(frozen=True)
class Driver:
    key: str
    touchpoint: str | None
    kind: str
    question: str | None
    item: str | None
    scale: tuple[float, float]
    found: drivers.Driver

    @property
    def performance(self) -> float:
        """The mean as a share of its scale, 0..1."""
        low, high = self.scale
        return (self.found.mean - low) / (high - low) if high > low else 0.0

    def as_dict(self) -> dict[str, Any]:
        f = self.found
        return {"driver": self.key, "touchpoint": self.touchpoint, "kind": self.kind,
                "question": self.question, "item": self.item,
                "share": f.share, "low": f.low, "high": f.high, "weight": f.weight,
                "sign": f.sign, "beta": f.beta, "correlation": f.correlation,
                "mean": f.mean, "scale": list(self.scale), "performance": self.performance,
                "n": f.n, "n_with_outcome": f.n_with_outcome, "enough": f.enough}


@dataclass(frozen=True)
class Report:
    filters: Filters
    min_answers: int
    analysis: drivers.Analysis
    drivers: list[Driver]
    customers: int
    outcome_scale: tuple[float, float]

    def as_dict(self) -> dict[str, Any]:
        a = self.analysis
        return {"outcome": self.filters.outcome, "missing": a.missing,
                "min_answers": self.min_answers, "customers": self.customers,
                "respondents": a.respondents, "used": a.used, "r2": _finite(a.r2),
                "r2_low": _finite(a.r2_low), "r2_high": _finite(a.r2_high),
                "resamples": a.resamples, "enough": a.enough,
                "drivers": [d.as_dict() for d in self.drivers], "dropped": a.dropped}


def _finite(value: float) -> float | None:
    return value if value == value else None  # NaN is not JSON


def outcomes(ws: ActiveWorkspace) -> list[str]:
    """The outcomes a person may choose: the scores, the workspace's rating questions, its
    repurchase and churn events, and each touchpoint event type."""
    doc = ws.document
    found = ["nps", "ces", "csat"]
    found += [f"{s.id}.{q.id}" for s in doc.surveys for q in s.questions if q.type == "rating"]
    found += [k for k in ("repurchase", "churn") if getattr(doc.insights.outcomes, k)]
    found += [f"event:{e}" for e in sorted(doc.touchpoint_for_event())]
    return found


def key_drivers(kk: Kokemus, ws: ActiveWorkspace, filters: Filters = Filters(), *,
                resamples: int = drivers.RESAMPLES, seed: int = drivers.SEED) -> Report:
    doc = ws.document
    min_n = doc.feedback.min_answers
    outcome = driver_matrix.outcome_of(doc, filters.outcome)
    # the summary scores drive an event outcome; beside an answer they are its halo
    event = filters.outcome in ("repurchase", "churn") or filters.outcome.startswith("event:")
    columns = driver_matrix.candidates(
        doc, scores=event if filters.scores is None else filters.scores)
    with kk.events.reading() as cursor:
        found = driver_matrix.matrix(
            cursor, ws.id, columns, outcome,
            driver_matrix.Filters(filters.since, filters.until, filters.segment),
            days=filters.days, min_n=min_n)
    by_key = {c.key: c for c in found.columns}
    analysis = drivers.analyse(found.values, [c.key for c in found.columns], filters.outcome,
                               min_n=min_n, missing=filters.missing, resamples=resamples,
                               seed=seed)
    listed = [Driver(d.name, by_key[d.name].touchpoint, by_key[d.name].kind,
                     by_key[d.name].question, by_key[d.name].item, by_key[d.name].scale, d)
              for d in analysis.drivers]
    return Report(filters, min_n, analysis, listed, found.customers, outcome.scale)
