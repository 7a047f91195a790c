"""The gaps model of service quality (Parasuraman, Zeithaml, Berry 1985, 1988) as kokemus
measures it: arithmetic on counts and sums, no I/O (REFERENCE.md, "Gaps").

- experience gap (gap 5): perceived − expected (P − E), per item from the paired answers,
  per dimension (the mean of its items' gaps, respondent by respondent), and the SERVQUAL
  scores: unweighted (the mean of the dimension gaps) and weighted (Σ w_d · gap_d with
  weights that sum to 1); SERVPERF (Cronin & Taylor 1992): the mean perception alone;
- strategy gap (gaps 1-2): the target the company sets for an attribute − what customers
  expect of it (T − E): below zero, the company aims lower than its customers expect;
- delivery gap (gap 3): what was delivered against the specification: a commitment's keep
  rate − 100 % (every occurrence is meant to be kept), and a touchpoint's score against its
  target;
- communication gap (gap 4): the promise made against the promise kept: the keep rate of
  every commitment of the promise together, − 100 %.

Every figure is a Score (kokemus.domain.scores): n, value, 95% interval, and `enough`
False below the workspace's minimum n, where a person sees "too few".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kokemus.domain.scores import Z95, Score

RATER_DIMENSIONS = ("tangibles", "reliability", "responsiveness", "assurance", "empathy")


def mean(kind: str, n: int, total: float, squares: float, min_n: int = 1) -> Score:
    """The mean of `n` values from their sum and sum of squares, with its normal 95%
    interval (a paired difference's interval when the values are differences)."""
    if n == 0:
        return Score(kind, 0, None, None, None, False)
    value = total / n
    if n == 1:
        return Score(kind, 1, value, None, None, min_n <= 1, None)
    variance = max(squares - n * value**2, 0.0) / (n - 1)
    se = math.sqrt(variance / n)
    return Score(kind, n, value, value - Z95 * se, value + Z95 * se, n >= min_n, se)


def shifted(score: Score, by: float, kind: str, *, negate: bool = False) -> Score:
    """`score` − `by` (or `by` − `score` when `negate`), with its interval moved alike:
    a gap to a fixed target has the interval of the measured side."""
    if score.value is None:
        return Score(kind, score.n, None, None, None, False)

    def move(x: float | None) -> float | None:
        if x is None:
            return None
        return by - x if negate else x - by

    low, high = move(score.low), move(score.high)
    if negate:
        low, high = high, low
    return Score(kind, score.n, move(score.value), low, high, score.enough, score.se)


def scaled(score: Score, factor: float, kind: str | None = None) -> Score:
    def times(x: float | None) -> float | None:
        return None if x is None else x * factor

    return Score(kind or score.kind, score.n, times(score.value), times(score.low),
                 times(score.high), score.enough, times(score.se))


def normalised(weights: Mapping[str, float], dimensions: Sequence[str]) -> dict[str, float]:
    """Weights of the `dimensions` summing to 1: the given points (e.g. of 100) where there
    are any for these dimensions, equal weights otherwise."""
    given = {d: float(weights.get(d, 0.0)) for d in dimensions}
    total = sum(given.values())
    if not dimensions:
        return {}
    if total <= 0:
        return {d: 1 / len(dimensions) for d in dimensions}
    return {d: w / total for d, w in given.items()}


@dataclass(frozen=True)
class Sums:
    """Count, sum and sum of squares of one measure, as the engine adds them up."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    def score(self, kind: str, min_n: int) -> Score:
        return mean(kind, self.n, self.total, self.squares, min_n)


@dataclass(frozen=True)
class ItemGap:
    """One attribute asked as expected and perceived: the means of the pairs and the mean
    paired difference P − E with its interval; the target and the strategy gap T − E."""

    item: str
    dimension: str
    expected: Score
    perceived: Score
    gap: Score
    target: float | None = None
    strategy: Score | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"item": self.item, "dimension": self.dimension,
                "expected": self.expected.as_dict(), "perceived": self.perceived.as_dict(),
                "gap": self.gap.as_dict(), "target": self.target,
                "strategy_gap": self.strategy.as_dict() if self.strategy else None}


@dataclass(frozen=True)
class DimensionGap:
    """A dimension's gap: per respondent the mean of its items' gaps, then the mean over
    respondents; its weight in the weighted SERVQUAL score."""

    dimension: str
    expected: Score
    perceived: Score
    gap: Score
    weight: float

    def as_dict(self) -> dict[str, Any]:
        return {"dimension": self.dimension, "expected": self.expected.as_dict(),
                "perceived": self.perceived.as_dict(), "gap": self.gap.as_dict(),
                "weight": self.weight}


@dataclass(frozen=True)
class Servqual:
    """The overall scores, per respondent then averaged: unweighted SERVQUAL (the mean of the
    dimension gaps), weighted SERVQUAL (Σ w_d gap_d) and SERVPERF (the mean perception)."""

    unweighted: Score
    weighted: Score
    servperf: Score
    weights_from: str  # "equal" or "workspace"

    def as_dict(self) -> dict[str, Any]:
        return {"unweighted": self.unweighted.as_dict(), "weighted": self.weighted.as_dict(),
                "servperf": self.servperf.as_dict(), "weights_from": self.weights_from}


@dataclass(frozen=True)
class CommitmentGap:
    """Delivery gap of one commitment kept or broken at the touchpoint: its keep rate and
    the gap to keeping every occurrence (rate − 100), with the time used against the limit."""

    promise: str
    commitment: str
    text: str
    kept: int
    broken: int
    rate: Score
    gap: Score
    limit_s: float | None
    median_s: float | None
    p90_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"promise": self.promise, "commitment": self.commitment, "kept": self.kept,
                "broken": self.broken, "keep_rate": self.rate.as_dict(),
                "gap": self.gap.as_dict(), "limit_s": self.limit_s,
                "median_s": self.median_s, "p90_s": self.p90_s}


@dataclass(frozen=True)
class PromiseGap:
    """Communication gap: what the promise says against how often it is kept (every
    commitment of the promise judged on events, together)."""

    promise: str
    text: str
    kept: int
    broken: int
    rate: Score
    gap: Score

    def as_dict(self) -> dict[str, Any]:
        return {"promise": self.promise, "kept": self.kept, "broken": self.broken,
                "keep_rate": self.rate.as_dict(), "gap": self.gap.as_dict()}


@dataclass(frozen=True)
class ScoreGap:
    """A touchpoint's score (NPS, CES, CSAT) against the target set for it."""

    kind: str
    target: float
    measured: Score
    gap: Score

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "measured": self.measured.as_dict(),
                "gap": self.gap.as_dict()}


@dataclass(frozen=True)
class TouchpointGaps:
    touchpoint: str
    items: list[ItemGap] = field(default_factory=list)
    dimensions: list[DimensionGap] = field(default_factory=list)
    servqual: Servqual | None = None
    responses: int = 0  # responses with at least one expectation-perception pair
    delivery: list[CommitmentGap] = field(default_factory=list)
    communication: list[PromiseGap] = field(default_factory=list)
    scores: list[ScoreGap] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"touchpoint": self.touchpoint, "responses": self.responses,
                "experience": {"items": [i.as_dict() for i in self.items],
                               "dimensions": [d.as_dict() for d in self.dimensions],
                               "servqual": self.servqual.as_dict() if self.servqual else None},
                "strategy": [{"item": i.item, "target": i.target,
                              "expected": i.expected.as_dict(),
                              "gap": i.strategy.as_dict()}
                             for i in self.items if i.strategy is not None],
                "delivery": [c.as_dict() for c in self.delivery],
                "scores": [s.as_dict() for s in self.scores],
                "communication": [p.as_dict() for p in self.communication]}


def item_gap(item: str, dimension: str, expected: Sums, perceived: Sums, gap: Sums,
             min_n: int, target: float | None = None) -> ItemGap:
    e = expected.score("expected", min_n)
    strategy = shifted(e, target, "strategy_gap", negate=True) if target is not None else None
    return ItemGap(item, dimension, e, perceived.score("perceived", min_n),
                   gap.score("gap", min_n), target, strategy)


def keep_gap(rate: Score) -> Score:
    """A keep rate (per cent) as a gap to keeping every occurrence: rate − 100."""
    return shifted(rate, 100.0, "gap")


def score_gap(kind: str, target: float, measured: Score) -> ScoreGap:
    return ScoreGap(kind, target, measured, shifted(measured, target, "gap"))
